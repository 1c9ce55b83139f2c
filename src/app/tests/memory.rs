//! `Memory`: the storage contracts and `Services` in memory, for the pipeline tests. Like the
//! Durable Objects, it only loads rows, applies the core's transitions and saves the result;
//! tests reach into its fields to set up and to check what was stored.
use std::cell::{Cell, RefCell};
use std::collections::{BTreeSet, HashMap};

use serde_json::{json, Value};

use super::{provider, CALLBACK, OPERATOR, TEST_API};
use crate::app::{Services, UpstreamFailure, UpstreamResponse};
use crate::core::admin::{Outcome, SeenClient};
use crate::core::config::Config;
use crate::core::connection::{self, ConnectionKey, ConnectionRecord, Rotation};
use crate::core::history::{Author, Version};
use crate::core::ids::{Email, WorkspaceId};
use crate::core::oauth::cimd::FetchedDocument;
use crate::core::oauth::code::{self, AuthCode, CodeGrant, CodeRow, Presentation, Redemption};
use crate::core::oauth::keys::{test_keys, Keys};
use crate::core::oauth::register::ClientRegistration;
use crate::core::oauth::types::ClientId;
use crate::core::openapi::call::UpstreamRequest;
use crate::core::openapi::catalog::ApiCatalog;
use crate::core::ratelimit::{Limit, Subject};
use crate::core::store::*;

/// An upstream request the pipeline made, with its headers.
pub(crate) type UpstreamCall = (UpstreamRequest, Vec<(String, String)>);

pub(crate) struct Memory {
    pub(super) config: Config,
    pub(super) keys: Keys,
    pub(super) now: Cell<i64>,
    pub(super) counter: Cell<u8>,
    /// The Workspaces object's policy texts (strongly consistent): the admin API's view.
    pub(super) policies: RefCell<HashMap<String, String>>,
    /// What KV's cache still serves instead, when a test sets it: readers' (`policy_document`) view.
    pub(super) stale_kv: RefCell<HashMap<String, String>>,
    pub(super) connection_users: RefCell<HashMap<String, BTreeSet<String>>>,
    /// Registrations and when each expires.
    pub(super) clients: RefCell<HashMap<String, (ClientRegistration, i64)>>,
    /// The `AuthCodes` rows, by storage key.
    pub(super) codes: RefCell<HashMap<String, CodeRow>>,
    /// The `Connections` rows, by connection ID (each object's rows: `connection_rows`).
    pub(super) connections: RefCell<HashMap<String, ConnectionRecord>>,
    pub(super) outcomes: RefCell<HashMap<String, Vec<Outcome>>>,
    /// The Workspaces object's `history` and `clients` tables.
    pub(super) history: RefCell<HashMap<String, Vec<Version>>>,
    pub(super) seen: RefCell<HashMap<String, Vec<SeenClient>>>,
    pub(super) upstream_calls: RefCell<Vec<UpstreamCall>>,
    pub(super) secrets: RefCell<HashMap<String, (String, i64)>>,
    pub(super) upstream_answer: RefCell<Result<UpstreamResponse, UpstreamFailure>>,
    /// The OpenAPI document the catalog is built from (`TEST_API` unless a test replaces it).
    pub(super) api_document: RefCell<String>,
    /// While set, every storage method fails with `StoreError("memory store is down")`.
    pub(super) store_down: Cell<bool>,
    /// While set, the connection store alone fails (the other stores keep working).
    pub(super) connections_down: Cell<bool>,
    /// The identity provider `provider_fetch` talks to.
    pub(super) provider: provider::TestProvider,
    pub(super) provider_cache: RefCell<crate::core::oidc::jwks::ProviderCache>,
    pub(super) isolate: RefCell<crate::core::isolate::IsolateCache>,
    /// Client metadata documents by URL (`client_document`), and every URL fetched.
    pub(super) client_documents: RefCell<HashMap<String, Result<FetchedDocument, String>>>,
    pub(super) document_fetches: RefCell<Vec<String>>,
    /// Budgets per limit (none: unlimited), and what each (limit, key) has used.
    pub(super) rate_limits: RefCell<HashMap<Limit, u32>>,
    pub(super) rate_counts: RefCell<HashMap<(Limit, String), u32>>,
    /// Every audit event, as its JSON line parsed.
    pub(super) audits: RefCell<Vec<Value>>,
}

impl Memory {
    pub(super) fn new() -> Memory {
        Memory::with_vars(&[])
    }

    pub(super) fn with_vars(extra: &[(&str, &str)]) -> Memory {
        let extra: HashMap<String, String> = extra.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let config = Config::from_vars(|k| match k {
            "DEV_SIGN_IN" => extra.get("DEV_SIGN_IN").cloned().or(Some("on".to_string())),
            "ADMIN_TOKEN" => Some(OPERATOR.to_string()),
            // Tests change stores under the app and expect the next request to see it; the
            // caches' bounds have their own tests (`isolate.rs`), at the default values.
            "POLICY_CACHE_SECONDS" | "REVOCATION_CHECK_SECONDS" => extra.get(k).cloned().or(Some("0".to_string())),
            other => extra.get(other).cloned(),
        })
        .unwrap();
        let m = Memory {
            keys: test_keys(),
            now: Cell::new(1_800_000_000),
            counter: Cell::new(0),
            policies: RefCell::default(),
            stale_kv: RefCell::default(),
            connection_users: RefCell::default(),
            clients: RefCell::default(),
            codes: RefCell::default(),
            connections: RefCell::default(),
            outcomes: RefCell::default(),
            history: RefCell::default(),
            seen: RefCell::default(),
            upstream_calls: RefCell::default(),
            secrets: RefCell::default(),
            upstream_answer: RefCell::new(Ok(UpstreamResponse {
                status: 200,
                content_type: "application/json".into(),
                body: br#"{"id":"c_1","email":"ada@example.com"}"#.to_vec(),
            })),
            api_document: RefCell::new(TEST_API.to_string()),
            store_down: Cell::new(false),
            connections_down: Cell::new(false),
            provider: provider::TestProvider::new(),
            provider_cache: RefCell::default(),
            isolate: RefCell::new(crate::core::isolate::IsolateCache::new(config.policy_cache_seconds, config.revocation_check_seconds)),
            client_documents: RefCell::default(),
            document_fetches: RefCell::default(),
            rate_limits: RefCell::default(),
            rate_counts: RefCell::default(),
            audits: RefCell::default(),
            config,
        };
        m.set_policy("acme", |_| {});
        m
    }

    /// A deployment with other secrets (`wrangler secret put` deploys): its isolates start with
    /// empty caches; the stores stay.
    pub(super) fn redeploy(&mut self, keys: Keys) {
        self.keys = keys;
        let fresh = crate::core::isolate::IsolateCache::new(self.config.policy_cache_seconds, self.config.revocation_check_seconds);
        self.isolate = RefCell::new(fresh);
        self.provider_cache = RefCell::default();
    }

    pub(super) fn set_policy(&self, ws: &str, edit: impl FnOnce(&mut Value)) {
        let mut doc = json!({
            "schema": 1, "name": "Acme", "mcp_enabled": true,
            "allowed_redirect_uris": [CALLBACK], "allowed_client_ids": [],
            "scope_ceiling": ["WORKSPACE_READ", "CONTACTS_READ"],
            "members": [{"email": "ada@example.com", "name": "Ada Lovelace", "role": "admin"}]
        });
        edit(&mut doc);
        self.hand_edit(ws, Some(&doc.to_string()));
    }

    /// `wrangler kv key put` (or `delete`, with `None`) as the Workspaces object sees it once it
    /// adopts the edit: the text, and a `HandEdit` version in the history.
    pub(super) fn hand_edit(&self, ws: &str, text: Option<&str>) {
        let before = match text {
            Some(t) => self.policies.borrow_mut().insert(ws.to_string(), t.to_string()),
            None => self.policies.borrow_mut().remove(ws),
        };
        self.record_version(ws, before.as_deref(), text, &Author::hand_edit());
    }

    /// Appends the versions `history::new_versions` gives, numbered as SQLite's AUTOINCREMENT
    /// numbers them, as the Workspaces object does; `before` is the text replaced, which was
    /// written at the previous version's time (or now, for a text no version records).
    fn record_version(&self, ws: &str, before: Option<&str>, text: Option<&str>, author: &Author) {
        let mut all = self.history.borrow_mut();
        let list = all.entry(ws.to_string()).or_default();
        let now = self.now.get();
        let written_at = list.last().map_or(now, |v| v.at);
        let before = before.map(|text| crate::core::history::Replaced { text, written_at });
        for version in crate::core::history::new_versions(list.is_empty(), before, text, author, now) {
            let number = list.iter().map(|v| v.version).max().unwrap_or(0) + 1;
            list.push(Version { version: number, ..version });
        }
        let dropped = crate::core::history::beyond_bound(list.iter().rev().map(|v| v.version).collect());
        list.retain(|v| !dropped.contains(&v.version));
    }
}

/// The in-memory store keeps rows in maps and applies the core's transitions to them
/// (`crate::core::store` names them), like the Durable Objects do: no contract logic of its own.
impl Memory {
    /// Every storage method starts here: a test can switch the store off (`store_down`).
    /// Fails while the whole store, or the connections alone, are down.
    fn connections_up(&self) -> Result<(), StoreError> {
        self.up()?;
        if self.connections_down.get() {
            return Err(StoreError("memory connections are down".into()));
        }
        Ok(())
    }

    fn up(&self) -> Result<(), StoreError> {
        if self.store_down.get() {
            return Err(StoreError("memory store is down".into()));
        }
        Ok(())
    }

    /// The rows of one `Connections` object: those of (`ws`, `user`).
    fn connection_rows(&self, ws: &WorkspaceId, user: &Email) -> Vec<ConnectionRecord> {
        self.connections.borrow().values().filter(|c| &c.workspace == ws && &c.user == user).cloned().collect()
    }

    fn connection_row(&self, key: &ConnectionKey) -> Option<ConnectionRecord> {
        self.connections.borrow().get(key.id.as_str()).filter(|c| c.workspace == key.workspace && c.user == key.user).cloned()
    }

    fn save_connections(&self, rows: impl IntoIterator<Item = ConnectionRecord>) {
        self.connections.borrow_mut().extend(rows.into_iter().map(|r| (r.id.to_string(), r)));
    }
}

impl PolicySource for Memory {
    async fn policy_document(&self, workspace: &WorkspaceId) -> Result<Option<String>, StoreError> {
        self.up()?;
        let ws = workspace.as_str();
        Ok(self.stale_kv.borrow().get(ws).or(self.policies.borrow().get(ws)).cloned())
    }
}

impl ClientStore for Memory {
    async fn client(&self, id: &ClientId) -> Result<Option<ClientRegistration>, StoreError> {
        self.up()?;
        Ok(self.clients.borrow().get(id.as_str()).filter(|(_, expires_at)| *expires_at > self.now.get()).map(|(c, _)| c.clone()))
    }
    async fn register(&self, client: &ClientRegistration, expires_at: i64) -> Result<(), StoreError> {
        self.up()?;
        self.clients.borrow_mut().insert(client.client_id.as_str().to_string(), (client.clone(), expires_at));
        Ok(())
    }
}

impl CodeStore for Memory {
    async fn insert(&self, code: &AuthCode, grant: &CodeGrant, expires_at: i64) -> Result<(), StoreError> {
        self.up()?;
        let key = code.storage_key();
        let row = code::insert(self.codes.borrow().get(&key), grant, expires_at).map_err(|e| StoreError(e.to_string()))?;
        self.codes.borrow_mut().insert(key, row);
        Ok(())
    }
    async fn redeem(&self, code: &AuthCode, now: i64, presented: &Presentation) -> Result<Redemption, StoreError> {
        self.up()?;
        let key = code.storage_key();
        let stored = self.codes.borrow().get(&key).cloned();
        let (write, outcome) = code::redeem(stored, now, presented);
        if let Some(row) = write {
            self.codes.borrow_mut().insert(key, row);
        }
        Ok(outcome)
    }
    async fn release(&self, code: &AuthCode, consumed_at: i64) -> Result<(), StoreError> {
        self.up()?;
        let key = code.storage_key();
        let stored = self.codes.borrow().get(&key).cloned();
        if let Some(row) = code::release(stored, consumed_at) {
            self.codes.borrow_mut().insert(key, row);
        }
        Ok(())
    }
}

impl ConnectionStore for Memory {
    async fn create(&self, c: &ConnectionRecord) -> Result<CreateOutcome, StoreError> {
        self.connections_up()?;
        let (row, outcome) = connection::create(self.connection_row(&c.key()), c);
        self.save_connections([row]);
        let forgotten: Vec<String> = self
            .connection_rows(&c.workspace, &c.user)
            .into_iter()
            .filter(|r| connection::forget_on_create(r, c))
            .map(|r| r.id.to_string())
            .collect();
        self.connections.borrow_mut().retain(|id, _| !forgotten.contains(id));
        let rows = self.connection_rows(&c.workspace, &c.user);
        if rows.len() > connection::MAX_PER_USER {
            let beyond: Vec<String> = connection::beyond_cap(&rows, c, c.created_at).iter().map(|id| id.to_string()).collect();
            self.connections.borrow_mut().retain(|id, _| !beyond.contains(id));
        }
        Ok(outcome)
    }
    async fn rotate(&self, key: &ConnectionKey, presented: u32, client_id: &ClientId, now: i64) -> Result<Rotation, StoreError> {
        self.connections_up()?;
        let (write, outcome) = connection::rotate_row(self.connection_row(key), presented, client_id, now);
        self.save_connections(write);
        Ok(outcome)
    }
    async fn touch(&self, key: &ConnectionKey, now: i64) -> Result<ConnectionStatus, StoreError> {
        self.connections_up()?;
        let (write, status) = connection::touch(self.connection_row(key), now);
        self.save_connections(write);
        Ok(status)
    }
    async fn revoke(&self, key: &ConnectionKey, client_id: Option<&ClientId>, now: i64) -> Result<RevokeOutcome, StoreError> {
        self.connections_up()?;
        let (write, outcome) = connection::revoke(self.connection_row(key), key, client_id, now);
        self.save_connections(write);
        Ok(outcome)
    }
    async fn list(&self, ws: &WorkspaceId, user: &Email) -> Result<Vec<ConnectionRecord>, StoreError> {
        self.connections_up()?;
        Ok(connection::list(self.connection_rows(ws, user)))
    }
    async fn revoke_all(&self, ws: &WorkspaceId, user: &Email, now: i64) -> Result<u32, StoreError> {
        self.connections_up()?;
        let (write, count) = connection::revoke_all(self.connection_rows(ws, user), now);
        self.save_connections(write);
        Ok(count)
    }
}

impl WorkspaceStore for Memory {
    async fn policy_text(&self, workspace: &WorkspaceId) -> Result<Option<String>, StoreError> {
        self.up()?;
        Ok(self.policies.borrow().get(workspace.as_str()).cloned())
    }
    async fn replace_policy(
        &self,
        workspace: &WorkspaceId,
        text: &str,
        if_match: Option<&str>,
        author: &Author,
    ) -> Result<ReplaceOutcome, StoreError> {
        self.up()?;
        let current = self.policies.borrow().get(workspace.as_str()).cloned();
        let (write, outcome) = crate::core::admin::replace_policy(current.as_deref(), text, if_match);
        if let Some(w) = write {
            self.policies.borrow_mut().insert(workspace.to_string(), w.text.to_string());
            self.record_version(workspace.as_str(), current.as_deref(), Some(w.text), author);
        }
        Ok(outcome)
    }
    async fn history(&self, workspace: &WorkspaceId) -> Result<Vec<Version>, StoreError> {
        self.up()?;
        let mut list = self.history.borrow().get(workspace.as_str()).cloned().unwrap_or_default();
        list.reverse();
        Ok(list.into_iter().map(|v| Version { text: None, ..v }).collect())
    }
    async fn policy_version(&self, workspace: &WorkspaceId, version: i64) -> Result<Option<Version>, StoreError> {
        self.up()?;
        Ok(self.history.borrow().get(workspace.as_str()).and_then(|l| l.iter().find(|v| v.version == version).cloned()))
    }
    async fn record_outcome(&self, workspace: &WorkspaceId, outcome: &Outcome) -> Result<(), StoreError> {
        self.up()?;
        let mut all = self.outcomes.borrow_mut();
        let list = all.entry(workspace.to_string()).or_default();
        list.insert(0, outcome.clone());
        *list = crate::core::admin::bound_outcomes(std::mem::take(list), |o| o.kind).0;
        let mut seen = self.seen.borrow_mut();
        let clients = seen.entry(workspace.to_string()).or_default();
        let existing = clients.iter().position(|c| c.client_id == outcome.client_id).map(|i| clients.remove(i));
        if let Some(row) = crate::core::admin::seen_client(existing, outcome) {
            clients.push(row);
        }
        clients.sort_by_key(|c| std::cmp::Reverse(c.last_seen));
        let dropped = crate::core::admin::beyond(clients.clone(), crate::core::admin::CLIENTS_KEPT);
        clients.retain(|c| !dropped.contains(c));
        Ok(())
    }
    async fn seen_clients(&self, workspace: &WorkspaceId) -> Result<Vec<SeenClient>, StoreError> {
        self.up()?;
        let mut list = self.seen.borrow().get(workspace.as_str()).cloned().unwrap_or_default();
        list.sort_by_key(|c| std::cmp::Reverse(c.last_seen));
        Ok(list)
    }
    async fn outcomes(&self, workspace: &WorkspaceId) -> Result<Vec<Outcome>, StoreError> {
        self.up()?;
        Ok(self.outcomes.borrow().get(workspace.as_str()).cloned().unwrap_or_default())
    }
    async fn upstream_secret(&self, workspace: &WorkspaceId) -> Result<Option<(String, i64)>, StoreError> {
        self.up()?;
        Ok(self.secrets.borrow().get(workspace.as_str()).cloned())
    }
    async fn set_upstream_secret(&self, workspace: &WorkspaceId, sealed: Option<&str>, now: i64) -> Result<(), StoreError> {
        self.up()?;
        match sealed {
            Some(s) => self.secrets.borrow_mut().insert(workspace.to_string(), (s.to_string(), now)),
            None => self.secrets.borrow_mut().remove(workspace.as_str()),
        };
        Ok(())
    }
    async fn reseal_upstream_secret(&self, workspace: &WorkspaceId, was: &str, sealed: &str) -> Result<bool, StoreError> {
        self.up()?;
        let mut all = self.secrets.borrow_mut();
        let Some(stored) = all.get_mut(workspace.as_str()).filter(|(s, _)| crate::core::secrets::reseal_applies(Some(s), was)) else {
            return Ok(false);
        };
        stored.0 = sealed.to_string();
        Ok(true)
    }
    async fn note_connection_user(&self, workspace: &WorkspaceId, user: &Email) -> Result<(), StoreError> {
        self.up()?;
        self.connection_users.borrow_mut().entry(workspace.to_string()).or_default().insert(user.to_string());
        Ok(())
    }
    async fn connection_users(&self, workspace: &WorkspaceId) -> Result<Vec<Email>, StoreError> {
        self.up()?;
        let noted = self.connection_users.borrow().get(workspace.as_str()).cloned().unwrap_or_default();
        Ok(noted.iter().map(|u| u.as_str().into()).collect())
    }
}

impl Services for Memory {
    fn config(&self) -> &Config {
        &self.config
    }
    fn keys(&self) -> &Keys {
        &self.keys
    }
    fn now(&self) -> i64 {
        self.now.get()
    }
    /// Seeded, distinct per call: deterministic tests.
    fn fill_random(&self, buf: &mut [u8]) {
        let n = self.counter.get().wrapping_add(1);
        self.counter.set(n);
        for (i, b) in buf.iter_mut().enumerate() {
            *b = n.wrapping_mul(31).wrapping_add(i as u8);
        }
    }
    fn log(&self, _: &str) {}

    async fn api_catalog(&self) -> std::rc::Rc<ApiCatalog> {
        std::rc::Rc::new(ApiCatalog::from_document(&self.api_document.borrow(), None, &self.config.catalog))
    }

    async fn upstream(&self, request: &UpstreamRequest, headers: &[(String, String)]) -> Result<UpstreamResponse, UpstreamFailure> {
        self.upstream_calls.borrow_mut().push((request.clone(), headers.to_vec()));
        self.upstream_answer.borrow().clone()
    }

    fn provider_cache(&self) -> &RefCell<crate::core::oidc::jwks::ProviderCache> {
        &self.provider_cache
    }

    fn isolate(&self) -> &RefCell<crate::core::isolate::IsolateCache> {
        &self.isolate
    }

    async fn provider_fetch(&self, request: &crate::core::oidc::ProviderRequest) -> Result<UpstreamResponse, String> {
        self.provider.fetch(request, self.now.get())
    }

    fn audit(&self, event: crate::core::audit::Event<'_>) {
        self.audits.borrow_mut().push(serde_json::from_str(&event.to_line()).unwrap());
    }

    async fn within_limit(&self, limit: Limit, subject: &Subject) -> bool {
        let Some(&budget) = self.rate_limits.borrow().get(&limit) else { return true };
        let mut counts = self.rate_counts.borrow_mut();
        let count = counts.entry((limit, subject.key())).or_insert(0);
        *count += 1;
        *count <= budget
    }

    async fn client_document(&self, url: &str) -> Result<FetchedDocument, String> {
        self.document_fetches.borrow_mut().push(url.to_string());
        self.client_documents.borrow().get(url).cloned().unwrap_or_else(|| Err("connection refused".into()))
    }

    async fn verify_signature(
        &self,
        alg: crate::core::oidc::JwsAlg,
        key: &crate::core::oidc::jwks::Jwk,
        input: &[u8],
        signature: &[u8],
    ) -> Result<bool, String> {
        provider::verify(alg, key, input, signature)
    }
}

//! `app::Services` on the Workers runtime.
use std::rc::Rc;

use serde::de::DeserializeOwned;
use worker::{Env, Method, Request, RequestInit, Stub};

use super::{policy_key, CLIENTS_KV, CODES_DO, CONNECTIONS_DO, POLICIES_KV, WORKSPACES_DO};
use crate::app::Services;
use crate::core::admin::{Outcome, SeenClient};
use crate::core::config::Config;
use crate::core::connection::{ConnectionKey, ConnectionRecord, Rotation};
use crate::core::history::{Author, Version};
use crate::core::ids::{Email, WorkspaceId};
use crate::core::messages::{Call, CodesCall, ConnectionsCall, WorkspacesCall};
use crate::core::oauth::code::{AuthCode, CodeGrant, Presentation, Redemption};
use crate::core::oauth::keys::Keys;
use crate::core::oauth::register::ClientRegistration;
use crate::core::oauth::types::ClientId;
use crate::core::ratelimit::{Limit, Subject};
use crate::core::store::{
    ClientStore, CodeStore, ConnectionStatus, ConnectionStore, CreateOutcome, PolicySource, ReplaceOutcome, RevokeOutcome, StoreError,
    WorkspaceStore,
};

pub struct EdgeServices {
    env: Env,
    setup: Rc<super::Isolate>,
    provider_cache: Rc<std::cell::RefCell<crate::core::oidc::jwks::ProviderCache>>,
}

impl EdgeServices {
    pub fn new(env: Env, setup: Rc<super::Isolate>) -> EdgeServices {
        EdgeServices { env, setup, provider_cache: super::oidc::cache() }
    }

    fn stub(&self, binding: &str, name: &str) -> Result<Stub, StoreError> {
        let ns = self.env.durable_object(binding).map_err(err)?;
        ns.id_from_name(name).map_err(err)?.get_stub().map_err(err)
    }

    /// One message to a Durable Object (`core::messages`: a tagged enum per object, answered
    /// with the JSON of the reply type its variant names).
    async fn call<M: Call, T: DeserializeOwned>(&self, binding: &str, name: &str, message: &M) -> Result<T, StoreError> {
        let json = serde_json::to_string(message).map_err(err)?;
        let mut init = RequestInit::new();
        init.with_method(Method::Post).with_body(Some(json.into()));
        let req = Request::new_with_init(DO_URL, &init).map_err(err)?;
        let resp = self.stub(binding, name)?.fetch_with_request(req).await.map_err(err)?;
        let status = resp.status_code();
        // The body in one `text()` (worker's reader takes a stream lock and a read per chunk).
        let raw: web_sys::Response = resp.into();
        let text = match raw.text() {
            Ok(promise) => wasm_bindgen_futures::JsFuture::from(promise).await.ok().and_then(|v| v.as_string()).unwrap_or_default(),
            Err(_) => String::new(),
        };
        if status != 200 {
            return Err(StoreError(format!("{binding}/{}: {status} {text}", message.op())));
        }
        serde_json::from_str(&text).map_err(err)
    }
}

/// Every Durable Object message goes to this URL; the operation is in the body.
const DO_URL: &str = "https://do.internal/";

fn err(e: impl std::fmt::Display) -> StoreError {
    StoreError(e.to_string())
}

impl Services for EdgeServices {
    fn config(&self) -> &Config {
        &self.setup.config
    }

    fn keys(&self) -> &Keys {
        &self.setup.keys
    }

    fn isolate(&self) -> &std::cell::RefCell<crate::core::isolate::IsolateCache> {
        &self.setup.cache
    }

    fn now(&self) -> i64 {
        (worker::Date::now().as_millis() / 1000) as i64
    }

    fn fill_random(&self, buf: &mut [u8]) {
        // crypto.getRandomValues cannot fail for buffers this small; an all-zero buffer would
        // be caught by nothing, so abort the request instead of continuing.
        getrandom::fill(buf).expect("crypto.getRandomValues is available in Workers");
    }

    fn log(&self, line: &str) {
        worker::console_log!("{line}");
    }

    async fn api_catalog(&self) -> Rc<crate::core::openapi::catalog::ApiCatalog> {
        super::upstream::catalog(self.config(), self.now()).await
    }

    async fn upstream(
        &self,
        request: &crate::core::openapi::call::UpstreamRequest,
        headers: &[(String, String)],
    ) -> Result<crate::app::UpstreamResponse, crate::app::UpstreamFailure> {
        super::upstream::call(self.config(), request, headers).await
    }

    fn provider_cache(&self) -> &std::cell::RefCell<crate::core::oidc::jwks::ProviderCache> {
        &self.provider_cache
    }

    async fn provider_fetch(&self, request: &crate::core::oidc::ProviderRequest) -> Result<crate::app::UpstreamResponse, String> {
        super::oidc::fetch(request).await
    }

    async fn client_document(&self, url: &str) -> Result<crate::core::oauth::cimd::FetchedDocument, String> {
        super::upstream::client_document(url).await
    }

    fn audit(&self, event: crate::core::audit::Event<'_>) {
        worker::console_log!("{}", event.to_line());
    }

    async fn within_limit(&self, limit: Limit, subject: &Subject) -> bool {
        let limiter = match self.env.rate_limiter(limit.binding()) {
            Ok(l) => l,
            Err(e) => {
                worker::console_warn!("rate limit: the {} binding is missing ({e}); not limiting", limit.binding());
                return true;
            }
        };
        match limiter.limit(subject.key()).await {
            Ok(outcome) => outcome.success,
            Err(e) => {
                worker::console_warn!("rate limit: {} failed ({e}); not limiting", limit.binding());
                true
            }
        }
    }

    async fn verify_signature(
        &self,
        alg: crate::core::oidc::JwsAlg,
        key: &crate::core::oidc::jwks::Jwk,
        signing_input: &[u8],
        signature: &[u8],
    ) -> Result<bool, String> {
        super::oidc::verify(alg, key, signing_input, signature).await
    }
}

impl PolicySource for EdgeServices {
    async fn policy_document(&self, workspace: &WorkspaceId) -> Result<Option<String>, StoreError> {
        let kv = self.env.kv(POLICIES_KV).map_err(err)?;
        kv.get(&policy_key(workspace)).text().await.map_err(err)
    }
}

impl ClientStore for EdgeServices {
    async fn client(&self, id: &ClientId) -> Result<Option<ClientRegistration>, StoreError> {
        let kv = self.env.kv(CLIENTS_KV).map_err(err)?;
        let Some(text) = kv.get(&format!("client:{}", id.as_str())).text().await.map_err(err)? else {
            return Ok(None);
        };
        // A stored registration is parsed as a new one is (redirect URIs included). One that no
        // longer parses (written under older rules) is treated as unknown: the client gets
        // `invalid_client` and registers again, instead of a store error forever.
        match serde_json::from_str(&text) {
            Ok(client) => Ok(Some(client)),
            Err(e) => {
                worker::console_log!("client {}: the stored registration is no longer valid ({e}); treated as unknown", id.as_str());
                Ok(None)
            }
        }
    }

    async fn register(&self, client: &ClientRegistration, expires_at: i64) -> Result<(), StoreError> {
        let kv = self.env.kv(CLIENTS_KV).map_err(err)?;
        let json = serde_json::to_string(client).map_err(err)?;
        let expiration = u64::try_from(expires_at).map_err(err)?;
        kv.put(&format!("client:{}", client.client_id.as_str()), json).map_err(err)?.expiration(expiration).execute().await.map_err(err)
    }
}

fn code_shard(code: &AuthCode) -> String {
    format!("codes-{:02x}", code.shard())
}

impl CodeStore for EdgeServices {
    async fn insert(&self, code: &AuthCode, grant: &CodeGrant, expires_at: i64) -> Result<(), StoreError> {
        let call = CodesCall::Insert { key: code.storage_key(), grant: grant.clone(), expires_at };
        self.call(CODES_DO, &code_shard(code), &call).await
    }

    async fn redeem(&self, code: &AuthCode, now: i64, presented: &Presentation) -> Result<Redemption, StoreError> {
        let call = CodesCall::Redeem { key: code.storage_key(), now, presented: presented.clone() };
        self.call(CODES_DO, &code_shard(code), &call).await
    }

    async fn release(&self, code: &AuthCode, consumed_at: i64) -> Result<(), StoreError> {
        self.call(CODES_DO, &code_shard(code), &CodesCall::Release { key: code.storage_key(), consumed_at }).await
    }
}

impl EdgeServices {
    /// One Durable Object per (workspace, user): see docs/storage.md for why.
    async fn connections<T: DeserializeOwned>(
        &self,
        workspace: &WorkspaceId,
        user: &Email,
        call: ConnectionsCall,
    ) -> Result<T, StoreError> {
        self.call(CONNECTIONS_DO, &format!("{workspace}\n{user}"), &call).await
    }
}

impl ConnectionStore for EdgeServices {
    async fn create(&self, connection: &ConnectionRecord) -> Result<CreateOutcome, StoreError> {
        let call = ConnectionsCall::Create { connection: connection.clone() };
        self.connections(&connection.workspace, &connection.user, call).await
    }

    async fn rotate(&self, key: &ConnectionKey, presented: u32, client_id: &ClientId, now: i64) -> Result<Rotation, StoreError> {
        let call = ConnectionsCall::Rotate { id: key.id.clone(), presented, client_id: client_id.clone(), now };
        self.connections(&key.workspace, &key.user, call).await
    }

    async fn touch(&self, key: &ConnectionKey, now: i64) -> Result<ConnectionStatus, StoreError> {
        self.connections(&key.workspace, &key.user, ConnectionsCall::Touch { id: key.id.clone(), now }).await
    }

    async fn revoke(&self, key: &ConnectionKey, client_id: Option<&ClientId>, now: i64) -> Result<RevokeOutcome, StoreError> {
        let call = ConnectionsCall::Revoke { connection: key.clone(), client_id: client_id.cloned(), now };
        self.connections(&key.workspace, &key.user, call).await
    }

    async fn list(&self, workspace: &WorkspaceId, user: &Email) -> Result<Vec<ConnectionRecord>, StoreError> {
        self.connections(workspace, user, ConnectionsCall::List).await
    }

    async fn revoke_all(&self, workspace: &WorkspaceId, user: &Email, now: i64) -> Result<u32, StoreError> {
        self.connections(workspace, user, ConnectionsCall::RevokeAll { now }).await
    }
}

impl WorkspaceStore for EdgeServices {
    async fn policy_text(&self, workspace: &WorkspaceId) -> Result<Option<String>, StoreError> {
        self.call(WORKSPACES_DO, workspace.as_str(), &WorkspacesCall::Policy { workspace: workspace.clone() }).await
    }

    async fn replace_policy(
        &self,
        workspace: &WorkspaceId,
        text: &str,
        if_match: Option<&str>,
        author: &Author,
    ) -> Result<ReplaceOutcome, StoreError> {
        let (text, if_match, author) = (text.to_string(), if_match.map(str::to_string), author.clone());
        let call = WorkspacesCall::Replace { workspace: workspace.clone(), text, if_match, author };
        self.call(WORKSPACES_DO, workspace.as_str(), &call).await
    }

    async fn history(&self, workspace: &WorkspaceId) -> Result<Vec<Version>, StoreError> {
        self.call(WORKSPACES_DO, workspace.as_str(), &WorkspacesCall::History).await
    }

    async fn policy_version(&self, workspace: &WorkspaceId, version: i64) -> Result<Option<Version>, StoreError> {
        self.call(WORKSPACES_DO, workspace.as_str(), &WorkspacesCall::Version { version }).await
    }

    async fn seen_clients(&self, workspace: &WorkspaceId) -> Result<Vec<SeenClient>, StoreError> {
        self.call(WORKSPACES_DO, workspace.as_str(), &WorkspacesCall::Clients).await
    }

    async fn record_outcome(&self, workspace: &WorkspaceId, outcome: &Outcome) -> Result<(), StoreError> {
        self.call(WORKSPACES_DO, workspace.as_str(), &WorkspacesCall::Record { outcome: outcome.clone() }).await
    }

    async fn outcomes(&self, workspace: &WorkspaceId) -> Result<Vec<Outcome>, StoreError> {
        self.call(WORKSPACES_DO, workspace.as_str(), &WorkspacesCall::Outcomes).await
    }

    async fn upstream_secret(&self, workspace: &WorkspaceId) -> Result<Option<(String, i64)>, StoreError> {
        self.call(WORKSPACES_DO, workspace.as_str(), &WorkspacesCall::Secret).await
    }

    async fn set_upstream_secret(&self, workspace: &WorkspaceId, sealed: Option<&str>, now: i64) -> Result<(), StoreError> {
        self.call(WORKSPACES_DO, workspace.as_str(), &WorkspacesCall::SetSecret { sealed: sealed.map(str::to_string), now }).await
    }

    async fn reseal_upstream_secret(&self, workspace: &WorkspaceId, was: &str, sealed: &str) -> Result<bool, StoreError> {
        let call = WorkspacesCall::ResealSecret { was: was.to_string(), sealed: sealed.to_string() };
        self.call(WORKSPACES_DO, workspace.as_str(), &call).await
    }

    async fn note_connection_user(&self, workspace: &WorkspaceId, user: &Email) -> Result<(), StoreError> {
        self.call(WORKSPACES_DO, workspace.as_str(), &WorkspacesCall::NoteUser { user: user.clone() }).await
    }

    async fn connection_users(&self, workspace: &WorkspaceId) -> Result<Vec<Email>, StoreError> {
        self.call(WORKSPACES_DO, workspace.as_str(), &WorkspacesCall::Users).await
    }
}

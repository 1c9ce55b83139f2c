//! The whole request pipeline, natively, against in-memory stores that keep the storage
//! contracts (single-use codes, revocation tombstones). The same flows run end to end against
//! `wrangler dev` in tests/e2e.
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::future::Future;
use std::task::{Context, Poll, Waker};

use serde_json::{json, Value};

use super::{handle, Services, UpstreamFailure, UpstreamResponse};
use crate::core::openapi::call::UpstreamRequest;
use crate::core::openapi::catalog::ApiCatalog;
use crate::core::admin::{etag, Outcome};
use crate::core::config::Config;
use crate::core::connection::{rotate, ConnectionRecord, Rotation};
use crate::core::http::{Method, Request, Response};
use crate::core::oauth::code::{AuthCode, CodeGrant, Redemption};
use crate::core::oauth::keys::{test_keys, Keys};
use crate::core::oauth::register::ClientRegistration;
use crate::core::oauth::types::ClientId;
use crate::core::store::*;

const ORIGIN: &str = "http://127.0.0.1:8081";
const OPERATOR: &str = "operator-token-operator-token-0123456789";
const CALLBACK: &str = "http://localhost:3118/callback";
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

/// Every store future here is ready at once; poll it once.
fn block_on<F: Future>(f: F) -> F::Output {
    let mut f = std::pin::pin!(f);
    match f.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(v) => v,
        Poll::Pending => panic!("in-memory services never wait"),
    }
}

struct Memory {
    config: Config,
    keys: Keys,
    now: Cell<i64>,
    counter: Cell<u8>,
    policies: RefCell<HashMap<String, String>>,
    clients: RefCell<HashMap<String, ClientRegistration>>,
    codes: RefCell<HashMap<String, (CodeGrant, i64, bool)>>,
    connections: RefCell<HashMap<String, ConnectionRecord>>,
    outcomes: RefCell<HashMap<String, Vec<Outcome>>>,
    upstream_calls: RefCell<Vec<(UpstreamRequest, Vec<(String, String)>)>>,
    secrets: RefCell<HashMap<String, (String, i64)>>,
    upstream_answer: RefCell<Result<UpstreamResponse, UpstreamFailure>>,
}

impl Memory {
    fn new() -> Memory {
        Memory::with_vars(&[])
    }

    fn with_vars(extra: &[(&str, &str)]) -> Memory {
        let extra: HashMap<String, String> = extra.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let config = Config::from_vars(|k| match k {
            "DEV_SIGN_IN" => Some("on".to_string()),
            "ADMIN_TOKEN" => Some(OPERATOR.to_string()),
            other => extra.get(other).cloned(),
        })
        .unwrap();
        let m = Memory {
            config,
            keys: test_keys(),
            now: Cell::new(1_800_000_000),
            counter: Cell::new(0),
            policies: RefCell::default(),
            clients: RefCell::default(),
            codes: RefCell::default(),
            connections: RefCell::default(),
            outcomes: RefCell::default(),
            upstream_calls: RefCell::default(),
            secrets: RefCell::default(),
            upstream_answer: RefCell::new(Ok(UpstreamResponse { status: 200, content_type: "application/json".into(), body: br#"{"id":"c_1","email":"ada@example.com"}"#.to_vec() })),
        };
        m.set_policy("acme", |_| {});
        m
    }

    fn set_policy(&self, ws: &str, edit: impl FnOnce(&mut Value)) {
        let mut doc = json!({
            "schema": 1, "name": "Acme", "mcp_enabled": true,
            "allowed_redirect_uris": [CALLBACK], "allowed_client_ids": [],
            "scope_ceiling": ["WORKSPACE_READ", "CONTACTS_READ"],
            "members": [{"email": "ada@example.com", "name": "Ada Lovelace", "role": "admin"}]
        });
        edit(&mut doc);
        self.policies.borrow_mut().insert(ws.to_string(), doc.to_string());
    }
}

impl PolicySource for Memory {
    async fn policy_document(&self, workspace: &str) -> Result<Option<String>, StoreError> {
        Ok(self.policies.borrow().get(workspace).cloned())
    }
}

impl ClientStore for Memory {
    async fn client(&self, id: &ClientId) -> Result<Option<ClientRegistration>, StoreError> {
        Ok(self.clients.borrow().get(id.as_str()).cloned())
    }
    async fn register(&self, client: &ClientRegistration) -> Result<(), StoreError> {
        self.clients.borrow_mut().insert(client.client_id.as_str().to_string(), client.clone());
        Ok(())
    }
}

impl CodeStore for Memory {
    async fn insert(&self, code: &AuthCode, grant: &CodeGrant, expires_at: i64) -> Result<(), StoreError> {
        self.codes.borrow_mut().insert(code.storage_key(), (grant.clone(), expires_at, false));
        Ok(())
    }
    async fn redeem(&self, code: &AuthCode, now: i64) -> Result<Redemption, StoreError> {
        let mut codes = self.codes.borrow_mut();
        Ok(match codes.get_mut(&code.storage_key()) {
            None => Redemption::Unknown,
            Some((grant, _, true)) => Redemption::Replayed { grant: grant.clone() },
            Some((_, exp, false)) if *exp <= now => Redemption::Expired,
            Some((grant, _, used)) => {
                *used = true;
                Redemption::Redeemed { grant: grant.clone() }
            }
        })
    }
}

impl ConnectionStore for Memory {
    async fn create(&self, c: &ConnectionRecord) -> Result<CreateOutcome, StoreError> {
        let mut all = self.connections.borrow_mut();
        let revoked_at = all.get(&c.id).and_then(|r| r.revoked_at);
        all.insert(c.id.clone(), ConnectionRecord { revoked_at, ..c.clone() });
        Ok(if revoked_at.is_some() { CreateOutcome::AlreadyRevoked } else { CreateOutcome::Created })
    }
    async fn rotate(&self, _: &str, _: &str, id: &str, presented: u32, client_id: &str, now: i64) -> Result<Rotation, StoreError> {
        Ok(match self.connections.borrow_mut().get_mut(id) {
            None => Rotation::Missing,
            Some(record) => rotate(record, presented, client_id, now),
        })
    }
    async fn touch(&self, _: &str, _: &str, id: &str, _: i64) -> Result<ConnectionStatus, StoreError> {
        Ok(match self.connections.borrow().get(id) {
            None => ConnectionStatus::Missing,
            Some(r) if r.revoked_at.is_some() => ConnectionStatus::Revoked,
            Some(_) => ConnectionStatus::Active,
        })
    }
    async fn revoke(&self, ws: &str, user: &str, id: &str, client_id: Option<&str>, now: i64) -> Result<RevokeOutcome, StoreError> {
        let mut all = self.connections.borrow_mut();
        let record = all.entry(id.to_string()).or_insert_with(|| ConnectionRecord {
            id: id.into(), workspace: ws.into(), user: user.into(), client_id: String::new(), client_name: String::new(),
            scopes: vec![], created_at: now, last_used_at: None, generation: 0, refresh_expires_at: 0, revoked_at: None,
        });
        if client_id.is_some_and(|c| !record.client_id.is_empty() && c != record.client_id) {
            return Ok(RevokeOutcome::WrongClient);
        }
        record.revoked_at.get_or_insert(now);
        Ok(RevokeOutcome::Revoked)
    }
    async fn list(&self, ws: &str, user: &str) -> Result<Vec<ConnectionRecord>, StoreError> {
        Ok(self.connections.borrow().values().filter(|c| c.workspace == ws && c.user == user && !c.client_id.is_empty()).cloned().collect())
    }
    async fn revoke_all(&self, ws: &str, user: &str, now: i64) -> Result<u32, StoreError> {
        let mut n = 0;
        for c in self.connections.borrow_mut().values_mut().filter(|c| c.workspace == ws && c.user == user && c.revoked_at.is_none()) {
            c.revoked_at = Some(now);
            n += 1;
        }
        Ok(n)
    }
}

impl WorkspaceStore for Memory {
    async fn policy_text(&self, workspace: &str) -> Result<Option<String>, StoreError> {
        Ok(self.policies.borrow().get(workspace).cloned())
    }
    async fn replace_policy(&self, workspace: &str, text: &str, if_match: Option<&str>) -> Result<ReplaceOutcome, StoreError> {
        let mut all = self.policies.borrow_mut();
        let current = all.get(workspace).map(|t| etag(t));
        if current.as_deref() != if_match {
            return Ok(ReplaceOutcome::Conflict { current_etag: current });
        }
        all.insert(workspace.to_string(), text.to_string());
        Ok(ReplaceOutcome::Replaced { etag: etag(text) })
    }
    async fn record_outcome(&self, workspace: &str, outcome: &Outcome) -> Result<(), StoreError> {
        self.outcomes.borrow_mut().entry(workspace.to_string()).or_default().insert(0, outcome.clone());
        Ok(())
    }
    async fn outcomes(&self, workspace: &str) -> Result<Vec<Outcome>, StoreError> {
        Ok(self.outcomes.borrow().get(workspace).cloned().unwrap_or_default())
    }
    async fn upstream_secret(&self, workspace: &str) -> Result<Option<(String, i64)>, StoreError> {
        Ok(self.secrets.borrow().get(workspace).cloned())
    }
    async fn set_upstream_secret(&self, workspace: &str, sealed: Option<&str>, now: i64) -> Result<(), StoreError> {
        match sealed {
            Some(s) => self.secrets.borrow_mut().insert(workspace.to_string(), (s.to_string(), now)),
            None => self.secrets.borrow_mut().remove(workspace),
        };
        Ok(())
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
        std::rc::Rc::new(ApiCatalog::from_document(TEST_API, None, &self.config.catalog))
    }

    async fn upstream(&self, request: &UpstreamRequest, headers: &[(String, String)]) -> Result<UpstreamResponse, UpstreamFailure> {
        self.upstream_calls.borrow_mut().push((request.clone(), headers.to_vec()));
        self.upstream_answer.borrow().clone()
    }
}

/// A two-operation API for the pipeline tests; the real sample is config/openapi.json.
const TEST_API: &str = r#"{
  "openapi": "3.1.0", "servers": [{"url": "https://api.example/v1"}],
  "paths": {
    "/contacts/{id}": {"get": {"summary": "Get a contact", "description": "**Required scope:** CONTACTS_READ",
      "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string"}}]}},
    "/contacts": {"post": {"summary": "Create a contact", "description": "**Required scope:** CONTACTS_WRITE",
      "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object", "required": ["email"], "properties": {"email": {"type": "string"}}}}}}}}
  }
}"#;

/// A browser-ish client with a cookie jar.
struct Browser<'a> {
    svc: &'a Memory,
    cookies: HashMap<String, String>,
}

impl<'a> Browser<'a> {
    fn new(svc: &'a Memory) -> Browser<'a> {
        Browser { svc, cookies: HashMap::new() }
    }

    fn send(&mut self, method: Method, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Response {
        let mut all: Vec<(String, String)> = headers.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        if !self.cookies.is_empty() {
            let jar: Vec<String> = self.cookies.iter().map(|(k, v)| format!("{k}={v}")).collect();
            all.push(("cookie".into(), jar.join("; ")));
        }
        let req = Request { method, url: url::Url::parse(&format!("{ORIGIN}{path}")).unwrap(), headers: all, body: body.to_vec() };
        let resp = block_on(handle(self.svc, &req));
        for (k, v) in &resp.headers {
            if k == "set-cookie" {
                let (name, rest) = v.split_once('=').unwrap();
                self.cookies.insert(name.to_string(), rest.split(';').next().unwrap().to_string());
            }
        }
        resp
    }

    fn get(&mut self, path: &str) -> Response {
        self.send(Method::Get, path, &[], b"")
    }

    fn post_form(&mut self, path: &str, form: &[(&str, &str)]) -> Response {
        let body = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(form).finish();
        self.send(Method::Post, path, &[("content-type", "application/x-www-form-urlencoded")], body.as_bytes())
    }
}

fn body_json(r: &Response) -> Value {
    serde_json::from_slice(&r.body).unwrap_or(Value::Null)
}

fn body_text(r: &Response) -> String {
    String::from_utf8_lossy(&r.body).to_string()
}

/// The value of `<input … name="NAME" value="…">` in a page.
fn input_value(page: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = page.find(&marker).unwrap_or_else(|| panic!("no input {name}")) + marker.len();
    page[start..].split('"').next().unwrap().replace("&amp;", "&")
}

fn register(b: &mut Browser) -> String {
    let r = b.send(Method::Post, "/register", &[("content-type", "application/json")], json!({"redirect_uris": [CALLBACK], "client_name": "Claude Code"}).to_string().as_bytes());
    assert_eq!(r.status, 201);
    body_json(&r)["client_id"].as_str().unwrap().to_string()
}

fn authorize_path(client_id: &str, scope: Option<&str>) -> String {
    let mut q = url::form_urlencoded::Serializer::new(String::new());
    q.extend_pairs([("response_type", "code"), ("client_id", client_id), ("redirect_uri", CALLBACK), ("code_challenge", CHALLENGE), ("code_challenge_method", "S256"), ("state", "st"), ("resource", &format!("{ORIGIN}/mcp"))]);
    if let Some(s) = scope {
        q.append_pair("scope", s);
    }
    format!("/authorize?{}", q.finish())
}

fn sign_in(b: &mut Browser, authorize: &str, ws: &str, email: &str) -> Response {
    let r = b.get(authorize);
    assert_eq!(r.status, 303, "{}", body_text(&r));
    let signin = b.get(r.header("location").unwrap());
    let page = body_text(&signin);
    let r = b.post_form("/signin", &[("next", &input_value(&page, "next")), ("csrf", &input_value(&page, "csrf")), ("workspace", ws), ("email", email)]);
    assert_eq!(r.status, 303, "{}", body_text(&r));
    b.get(r.header("location").unwrap())
}

/// Consent → Approve → the code from the redirect.
fn approve(b: &mut Browser, consent: &Response) -> String {
    assert_eq!(consent.status, 200, "{}", body_text(consent));
    let page = body_text(consent);
    let mut form: Vec<(String, String)> = ["response_type", "client_id", "redirect_uri", "code_challenge", "code_challenge_method", "state", "resource", "scope", "csrf"]
        .iter()
        .filter(|n| page.contains(&format!("name=\"{n}\"")))
        .map(|n| (n.to_string(), input_value(&page, n)))
        .collect();
    form.push(("decision".into(), "approve".into()));
    let pairs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let r = b.post_form("/authorize", &pairs);
    assert_eq!(r.status, 302, "{}", body_text(&r));
    let location = url::Url::parse(r.header("location").unwrap()).unwrap();
    assert!(location.as_str().starts_with(CALLBACK));
    let q: HashMap<String, String> = location.query_pairs().into_owned().collect();
    assert_eq!(q["state"], "st");
    assert_eq!(q["iss"], ORIGIN);
    q["code"].clone()
}

fn exchange(b: &mut Browser, client_id: &str, code: &str, verifier: &str) -> Response {
    b.post_form("/token", &[("grant_type", "authorization_code"), ("code", code), ("client_id", client_id), ("redirect_uri", CALLBACK), ("code_verifier", verifier), ("resource", &format!("{ORIGIN}/mcp"))])
}

fn mcp(b: &mut Browser, token: &str, body: Value) -> Response {
    let auth = format!("Bearer {token}");
    b.send(Method::Post, "/mcp", &[("authorization", &auth), ("content-type", "application/json"), ("mcp-protocol-version", "2025-11-25")], body.to_string().as_bytes())
}

fn connect(svc: &Memory, scope: Option<&str>) -> (String, String, Value) {
    let mut b = Browser::new(svc);
    let client_id = register(&mut b);
    let consent = sign_in(&mut b, &authorize_path(&client_id, scope), "acme", "ada@example.com");
    let code = approve(&mut b, &consent);
    let r = exchange(&mut b, &client_id, &code, VERIFIER);
    assert_eq!(r.status, 200, "{}", body_text(&r));
    assert_eq!(r.header("cache-control"), Some("no-store"));
    (client_id, code, body_json(&r))
}

#[test]
fn the_whole_path_ends_in_whoami_with_the_consented_scopes() {
    let svc = Memory::new();
    let (client_id, _, tokens) = connect(&svc, Some("offline_access"));
    assert_eq!(tokens["scope"], "CONTACTS_READ WORKSPACE_READ");
    assert!(tokens["refresh_token"].as_str().unwrap().starts_with("rt1."));
    let mut b = Browser::new(&svc);
    let access = tokens["access_token"].as_str().unwrap();
    let init = mcp(&mut b, access, json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}}));
    assert_eq!(body_json(&init)["result"]["protocolVersion"], "2025-11-25");
    let note = mcp(&mut b, access, json!({"jsonrpc": "2.0", "method": "notifications/initialized"}));
    assert_eq!((note.status, note.body.len()), (202, 0));
    let who = body_json(&mcp(&mut b, access, json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "mcp_whoami", "arguments": {}}})));
    let s = &who["result"]["structuredContent"];
    assert_eq!(s["user"], json!({"email": "ada@example.com", "name": "Ada Lovelace"}));
    assert_eq!(s["workspace"], json!({"id": "acme", "name": "Acme"}));
    assert_eq!(s["client"], json!({"id": client_id, "name": "Claude Code"}));
    assert_eq!(s["scopes"], json!(["CONTACTS_READ", "WORKSPACE_READ"]));
    assert_eq!(s["expires_in"], 3600);
}

#[test]
fn a_replayed_code_fails_and_revokes_what_the_first_redemption_issued() {
    let svc = Memory::new();
    let (client_id, code, tokens) = connect(&svc, None);
    let mut b = Browser::new(&svc);
    let again = exchange(&mut b, &client_id, &code, VERIFIER);
    assert_eq!((again.status, body_json(&again)["error"].as_str()), (400, Some("invalid_grant")));
    let r = mcp(&mut b, tokens["access_token"].as_str().unwrap(), json!({"jsonrpc": "2.0", "id": 1, "method": "ping"}));
    assert_eq!(r.status, 401);
    assert!(body_json(&r)["error_description"].as_str().unwrap().starts_with("Token validation failed: connection"));
    assert!(r.header("www-authenticate").unwrap().contains("error=\"invalid_token\""));
}

#[test]
fn the_consent_page_may_lead_only_to_its_own_redirect_uri() {
    let svc = Memory::new();
    let mut b = Browser::new(&svc);
    let client_id = register(&mut b);
    let consent = sign_in(&mut b, &authorize_path(&client_id, None), "acme", "ada@example.com");
    let csp = consent.header("content-security-policy").unwrap();
    assert!(csp.contains("form-action 'self' http://localhost:3118;"), "{csp}");
    assert!(csp.contains("frame-ancestors 'none'"));
}

#[test]
fn wrong_verifier_and_expired_codes_are_invalid_grant() {
    let svc = Memory::new();
    let mut b = Browser::new(&svc);
    let client_id = register(&mut b);
    let consent = sign_in(&mut b, &authorize_path(&client_id, None), "acme", "ada@example.com");
    let code = approve(&mut b, &consent);
    let r = exchange(&mut b, &client_id, &code, &"x".repeat(43));
    assert_eq!(body_json(&r)["error"], "invalid_grant");
    assert!(body_json(&r)["error_description"].as_str().unwrap().contains("PKCE"));
    let consent = b.get(&authorize_path(&client_id, None));
    let code = approve(&mut b, &consent);
    svc.now.set(svc.now.get() + 61);
    let r = exchange(&mut b, &client_id, &code, VERIFIER);
    assert_eq!(body_json(&r)["error"], "invalid_grant");
    assert!(body_json(&r)["error_description"].as_str().unwrap().contains("expired"));
    let r = exchange(&mut b, "nobody", &code, VERIFIER);
    assert_eq!((r.status, body_json(&r)["error"].as_str()), (401, Some("invalid_client")));
}

#[test]
fn policy_rules_are_pages_with_the_exact_message_and_no_redirect() {
    let svc = Memory::new();
    svc.set_policy("pinned", |d| {
        d["allowed_client_ids"] = json!(["someone-else"]);
    });
    svc.set_policy("elsewhere", |d| d["allowed_redirect_uris"] = json!(["http://localhost:9999/callback"]));
    let cases = [("acme", Some("CONTACTS_WRITE"), "Requested scopes are not allowed"), ("pinned", None, "OAuth client_id is not allowed"), ("elsewhere", None, "redirect_uri is not allowed")];
    for (ws, scope, message) in cases {
        let mut b = Browser::new(&svc);
        let client_id = register(&mut b);
        let page = sign_in(&mut b, &authorize_path(&client_id, scope), ws, "ada@example.com");
        assert_eq!(page.status, 403, "{ws}");
        assert!(page.header("location").is_none());
        assert!(body_text(&page).contains(&format!("<p id=\"error-message\" class=\"error\" role=\"alert\">{message}</p>")), "{ws}: {}", body_text(&page));
    }
}

#[test]
fn disabling_mcp_ends_access_at_the_next_call() {
    let svc = Memory::new();
    let (_, _, tokens) = connect(&svc, None);
    svc.set_policy("acme", |d| d["mcp_enabled"] = json!(false));
    let mut b = Browser::new(&svc);
    let r = mcp(&mut b, tokens["access_token"].as_str().unwrap(), json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}));
    assert_eq!(r.status, 401);
    assert_eq!(body_json(&r)["error_description"], "Token validation failed: policy: MCP is disabled for the workspace");
}

#[test]
fn consent_post_without_the_csrf_cookie_is_refused() {
    let svc = Memory::new();
    let mut b = Browser::new(&svc);
    let client_id = register(&mut b);
    let consent = sign_in(&mut b, &authorize_path(&client_id, None), "acme", "ada@example.com");
    let csrf = input_value(&body_text(&consent), "csrf");
    b.cookies.remove(crate::core::cookies::CSRF_COOKIE);
    let r = b.post_form("/authorize", &[("client_id", &client_id), ("csrf", &csrf), ("decision", "approve")]);
    assert_eq!(r.status, 403);
    assert!(r.header("location").is_none());
}

#[test]
fn mcp_transport_rules() {
    let svc = Memory::new();
    let (_, _, tokens) = connect(&svc, None);
    let access = tokens["access_token"].as_str().unwrap();
    let mut b = Browser::new(&svc);
    let r = b.send(Method::Post, "/mcp", &[("content-type", "application/json")], b"{}");
    assert_eq!(r.status, 401);
    assert_eq!(r.header("www-authenticate").unwrap(), format!("Bearer resource_metadata=\"{ORIGIN}/.well-known/oauth-protected-resource/mcp\""));
    assert_eq!(b.get("/mcp").status, 405);
    let auth = format!("Bearer {access}");
    let ping = json!({"jsonrpc": "2.0", "id": 1, "method": "ping"}).to_string();
    let r = b.send(Method::Post, "/mcp", &[("authorization", &auth), ("content-type", "application/json"), ("origin", "https://evil.example")], ping.as_bytes());
    assert_eq!(r.status, 403);
    let r = b.send(Method::Post, "/mcp", &[("authorization", &auth), ("content-type", "application/json"), ("mcp-protocol-version", "2024-01-01")], ping.as_bytes());
    assert_eq!(r.status, 400);
    let r = b.send(Method::Post, "/mcp", &[("authorization", &auth), ("content-type", "application/json")], b"[]");
    assert_eq!((r.status, body_json(&r)["error"]["code"].as_i64()), (400, Some(-32600)));
    let r = b.send(Method::Post, "/mcp", &[("authorization", &format!("{auth}x")), ("content-type", "application/json")], ping.as_bytes());
    assert_eq!(r.status, 401);
    assert!(r.header("www-authenticate").unwrap().contains("invalid_token"));
}

#[test]
fn discovery_and_unknown_paths() {
    let svc = Memory::new();
    let mut b = Browser::new(&svc);
    assert_eq!(body_json(&b.get("/.well-known/oauth-authorization-server"))["issuer"], ORIGIN);
    assert_eq!(body_json(&b.get("/.well-known/oauth-protected-resource/mcp"))["resource"], format!("{ORIGIN}/mcp"));
    assert_eq!(b.get("/.well-known/openid-configuration").status, 404);
    assert_eq!(b.get("/nothing").status, 404);
    assert_eq!(b.get("/token").status, 405);
}

fn refresh(b: &mut Browser, client_id: &str, token: &str) -> Response {
    b.post_form("/token", &[("grant_type", "refresh_token"), ("refresh_token", token), ("client_id", client_id)])
}

fn whoami_scopes(b: &mut Browser, access: &str) -> Value {
    let r = mcp(b, access, json!({"jsonrpc": "2.0", "id": 9, "method": "tools/call", "params": {"name": "mcp_whoami"}}));
    body_json(&r)["result"]["structuredContent"]["scopes"].clone()
}

#[test]
fn refresh_rotates_with_one_grace_retry_and_reuse_revokes_the_connection() {
    let svc = Memory::new();
    let (client_id, _, first) = connect(&svc, None);
    let mut b = Browser::new(&svc);
    let r1 = first["refresh_token"].as_str().unwrap();
    let second = body_json(&refresh(&mut b, &client_id, r1));
    let r2 = second["refresh_token"].as_str().unwrap();
    assert_ne!(r2, r1);
    assert_ne!(second["access_token"], first["access_token"]);
    // The response was lost: retrying with r1 gives r2 again.
    let retry = body_json(&refresh(&mut b, &client_id, r1));
    assert_eq!(retry["refresh_token"], r2);
    // r2 is used, so r1 is now an old token of the family: reuse revokes the connection.
    let third = body_json(&refresh(&mut b, &client_id, r2));
    assert!(third["refresh_token"].is_string());
    let reuse = refresh(&mut b, &client_id, r1);
    assert_eq!(body_json(&reuse)["error"], "invalid_grant");
    assert!(body_json(&reuse)["error_description"].as_str().unwrap().contains("revoked"));
    let r = mcp(&mut b, third["access_token"].as_str().unwrap(), json!({"jsonrpc": "2.0", "id": 1, "method": "ping"}));
    assert_eq!(r.status, 401);
    let after = refresh(&mut b, &client_id, third["refresh_token"].as_str().unwrap());
    assert_eq!(body_json(&after)["error_description"], "Token validation failed: connection: the connection was revoked");
}

#[test]
fn refresh_follows_the_live_policy() {
    let svc = Memory::new();
    let (client_id, _, tokens) = connect(&svc, None);
    let mut b = Browser::new(&svc);
    svc.set_policy("acme", |d| d["scope_ceiling"] = json!(["CONTACTS_READ"]));
    // Effective scopes narrow at once on /mcp, and the next refresh says so.
    assert_eq!(whoami_scopes(&mut b, tokens["access_token"].as_str().unwrap()), json!(["CONTACTS_READ"]));
    let narrowed = body_json(&refresh(&mut b, &client_id, tokens["refresh_token"].as_str().unwrap()));
    assert_eq!(narrowed["scope"], "CONTACTS_READ");
    assert_eq!(whoami_scopes(&mut b, narrowed["access_token"].as_str().unwrap()), json!(["CONTACTS_READ"]));
    svc.set_policy("acme", |d| d["members"] = json!([{"email": "bob@example.com", "role": "member"}]));
    let gone = refresh(&mut b, &client_id, narrowed["refresh_token"].as_str().unwrap());
    assert_eq!(body_json(&gone)["error_description"], "Token validation failed: user is no longer a member of the workspace");
    let r = mcp(&mut b, narrowed["access_token"].as_str().unwrap(), json!({"jsonrpc": "2.0", "id": 1, "method": "ping"}));
    assert_eq!(body_json(&r)["error_description"], "Token validation failed: user is no longer a member of the workspace");
}

#[test]
fn revoking_either_token_ends_the_connection() {
    let svc = Memory::new();
    let mut b = Browser::new(&svc);
    assert_eq!(b.post_form("/revoke", &[("token", "whatever")]).status, 200, "unknown tokens: 200");
    assert_eq!(b.post_form("/revoke", &[]).status, 400);
    for which in ["refresh_token", "access_token"] {
        let (client_id, _, tokens) = connect(&svc, None);
        let token = tokens[which].as_str().unwrap();
        let wrong = b.post_form("/revoke", &[("token", token), ("client_id", "someone-else")]);
        assert_eq!((wrong.status, body_json(&wrong)["error"].as_str()), (400, Some("unauthorized_client")), "{which}");
        assert_eq!(b.post_form("/revoke", &[("token", token), ("client_id", &client_id)]).status, 200);
        let r = mcp(&mut b, tokens["access_token"].as_str().unwrap(), json!({"jsonrpc": "2.0", "id": 1, "method": "ping"}));
        assert_eq!(r.status, 401, "{which}");
        assert_eq!(body_json(&refresh(&mut b, &client_id, tokens["refresh_token"].as_str().unwrap()))["error"], "invalid_grant");
    }
}

fn admin_get(b: &mut Browser, path: &str, auth: Option<&str>) -> Response {
    let bearer = auth.map(|t| format!("Bearer {t}"));
    let headers: Vec<(&str, &str)> = bearer.iter().map(|h| ("authorization", h.as_str())).collect();
    b.send(Method::Get, path, &headers, b"")
}

fn admin_put_policy(b: &mut Browser, ws: &str, body: &Value, if_match: &str, csrf: Option<&str>) -> Response {
    let mut headers = vec![("content-type", "application/json"), ("if-match", if_match)];
    let auth = format!("Bearer {OPERATOR}");
    match csrf {
        Some(t) => headers.push(("x-csrf-token", t)),
        None => headers.push(("authorization", auth.as_str())),
    }
    b.send(Method::Put, &format!("/admin/api/workspaces/{ws}/policy"), &headers, body.to_string().as_bytes())
}

#[test]
fn admin_api_is_for_admins_of_the_workspace_and_the_operator() {
    let svc = Memory::new();
    svc.set_policy("other", |d| d["members"] = json!([{"email": "eve@example.com", "role": "admin"}]));
    svc.set_policy("acme", |d| d["members"] = json!([{"email": "ada@example.com", "role": "admin"}, {"email": "bob@example.com", "role": "member"}]));
    let mut anon = Browser::new(&svc);
    assert_eq!(admin_get(&mut anon, "/admin/api/workspaces/acme/policy", None).status, 401);
    assert_eq!(admin_get(&mut anon, "/admin/api/workspaces/acme/policy", Some("wrong")).status, 401);
    assert_eq!(admin_get(&mut anon, "/admin/api/workspaces/acme/policy", Some(OPERATOR)).status, 200);
    for (ws, email, status) in [("acme", "bob@example.com", 403), ("other", "eve@example.com", 403), ("acme", "ada@example.com", 200)] {
        let mut b = Browser::new(&svc);
        let next = "/admin";
        let page = body_text(&b.get("/signin?next=%2Fadmin"));
        let r = b.post_form("/signin", &[("next", next), ("csrf", &input_value(&page, "csrf")), ("workspace", ws), ("email", email)]);
        assert_eq!(r.status, 303);
        assert_eq!(admin_get(&mut b, "/admin/api/workspaces/acme/policy", None).status, status, "{email} of {ws}");
        assert_eq!(admin_get(&mut b, "/admin/api/workspaces/acme/connections", None).status, status, "{email} of {ws}");
    }
}

#[test]
fn concurrent_policy_writes_with_one_etag_one_wins_one_gets_412() {
    let svc = Memory::new();
    let mut b = Browser::new(&svc);
    let read = body_json(&admin_get(&mut b, "/admin/api/workspaces/acme/policy", Some(OPERATOR)));
    let tag = read["etag"].as_str().unwrap().to_string();
    let mut first = read["policy"].clone();
    first["allowed_redirect_uris"] = json!([CALLBACK, "http://localhost:4000/callback"]);
    let mut second = read["policy"].clone();
    second["mcp_enabled"] = json!(false);
    assert_eq!(admin_put_policy(&mut b, "acme", &first, &tag, None).status, 200);
    let lost = admin_put_policy(&mut b, "acme", &second, &tag, None);
    assert_eq!(lost.status, 412);
    let now = body_json(&admin_get(&mut b, "/admin/api/workspaces/acme/policy", Some(OPERATOR)));
    assert_eq!(now["policy"]["allowed_redirect_uris"][1], "http://localhost:4000/callback");
    assert_eq!(now["policy"]["mcp_enabled"], true, "the second write did not silently land");
    let bad = admin_put_policy(&mut b, "acme", &json!({"schema": 1}), now["etag"].as_str().unwrap(), None);
    assert_eq!(bad.status, 400);
    assert!(body_json(&bad)["error_description"].as_str().unwrap().contains("workspace `acme`"));
}

#[test]
fn a_malformed_policy_fails_closed_everywhere_with_the_field_named() {
    let svc = Memory::new();
    svc.policies.borrow_mut().insert("acme".into(), sample_broken_policy());
    let mut b = Browser::new(&svc);
    let r = admin_get(&mut b, "/admin/api/workspaces/acme/policy", Some(OPERATOR));
    assert_eq!(r.status, 422);
    assert!(body_json(&r)["error"].as_str().unwrap().contains("`scope_ceiling`: unknown scope `CONTACTS_EVERYTHING`"));
    let client_id = register(&mut b);
    let page = sign_in_page_error(&mut b, &client_id);
    assert!(page.contains("unknown scope `CONTACTS_EVERYTHING`"), "{page}");
}

fn sample_broken_policy() -> String {
    json!({
        "schema": 1, "name": "Acme", "mcp_enabled": true, "allowed_redirect_uris": [CALLBACK],
        "scope_ceiling": ["CONTACTS_EVERYTHING"], "members": [{"email": "ada@example.com", "role": "admin"}]
    })
    .to_string()
}

/// Signing in to a workspace whose policy is broken: the sign-in page says why.
fn sign_in_page_error(b: &mut Browser, client_id: &str) -> String {
    let r = b.get(&authorize_path(client_id, None));
    let page = body_text(&b.get(r.header("location").unwrap()));
    let r = b.post_form("/signin", &[("next", &input_value(&page, "next")), ("csrf", &input_value(&page, "csrf")), ("workspace", "acme"), ("email", "ada@example.com")]);
    assert_eq!(r.status, 403);
    body_text(&r)
}

#[test]
fn outcomes_explain_rejections_and_admins_revoke_connections() {
    let svc = Memory::new();
    let (_, _, tokens) = connect(&svc, None);
    let mut b = Browser::new(&svc);
    let client_id = register(&mut b);
    let page = sign_in(&mut b, &authorize_path(&client_id, Some("CONTACTS_WRITE")), "acme", "ada@example.com");
    assert_eq!(page.status, 403);
    let outcomes = body_json(&admin_get(&mut b, "/admin/api/workspaces/acme/outcomes", Some(OPERATOR)));
    assert_eq!(outcomes["rejected"][0]["rule"], "Requested scopes are not allowed");
    assert_eq!(outcomes["rejected"][0]["scopes"], json!(["CONTACTS_WRITE"]));
    assert_eq!(outcomes["approved"].as_array().unwrap().len(), 1);
    let list = body_json(&admin_get(&mut b, "/admin/api/workspaces/acme/connections", Some(OPERATOR)));
    let conn = &list["connections"][0];
    assert_eq!(conn["active"], true);
    let auth = format!("Bearer {OPERATOR}");
    let body = json!({"user": conn["user"], "id": conn["id"]}).to_string();
    let r = b.send(Method::Post, "/admin/api/workspaces/acme/connections/revoke", &[("authorization", &auth), ("content-type", "application/json")], body.as_bytes());
    assert_eq!(r.status, 200);
    let r = mcp(&mut b, tokens["access_token"].as_str().unwrap(), json!({"jsonrpc": "2.0", "id": 1, "method": "ping"}));
    assert_eq!(r.status, 401);
}

#[test]
fn cookie_authenticated_admin_changes_need_the_csrf_header() {
    let svc = Memory::new();
    let mut b = Browser::new(&svc);
    let page = body_text(&b.get("/signin?next=%2Fadmin"));
    b.post_form("/signin", &[("next", "/admin"), ("csrf", &input_value(&page, "csrf")), ("workspace", "acme"), ("email", "ada@example.com")]);
    let read = body_json(&admin_get(&mut b, "/admin/api/workspaces/acme/policy", None));
    let tag = read["etag"].as_str().unwrap().to_string();
    assert_eq!(admin_put_policy(&mut b, "acme", &read["policy"], &tag, Some("forged")).status, 403);
    let csrf = body_json(&admin_get(&mut b, "/admin/api/session", None))["csrf"].as_str().unwrap().to_string();
    assert_eq!(admin_put_policy(&mut b, "acme", &read["policy"], &tag, Some(&csrf)).status, 200);
}

fn call_tool(b: &mut Browser, access: &str, name: &str, args: Value) -> Value {
    let r = mcp(b, access, json!({"jsonrpc": "2.0", "id": 5, "method": "tools/call", "params": {"name": name, "arguments": args}}));
    body_json(&r)["result"].clone()
}

#[test]
fn api_tools_are_listed_by_scope_and_called_without_the_clients_token() {
    let svc = Memory::new();
    let (_, _, tokens) = connect(&svc, None);
    let access = tokens["access_token"].as_str().unwrap();
    let mut b = Browser::new(&svc);
    let list = body_json(&mcp(&mut b, access, json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"})));
    let names: Vec<&str> = list["result"]["tools"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(names, vec!["mcp_whoami", "get_a_contact"], "read scopes only: no write tool");
    let denied = call_tool(&mut b, access, "create_a_contact", json!({"body": {"email": "x@y.z"}}));
    assert_eq!(denied["isError"], true);
    assert!(denied["content"][0]["text"].as_str().unwrap().starts_with("Tool requires scopes: CONTACTS_WRITE."));
    let bad = call_tool(&mut b, access, "get_a_contact", json!({"pathParams": {}}));
    assert_eq!(bad["isError"], true);
    assert!(bad["content"][0]["text"].as_str().unwrap().contains("arguments.pathParams.id: is required"));
    assert!(svc.upstream_calls.borrow().is_empty(), "nothing is sent for refused calls");
    let ok = call_tool(&mut b, access, "get_a_contact", json!({"pathParams": {"id": "c 1"}}));
    assert_eq!(ok["structuredContent"]["id"], "c_1");
    let calls = svc.upstream_calls.borrow();
    let (req, headers) = &calls[0];
    assert_eq!(req.url, "https://api.example/v1/contacts/c%201");
    let auth = &headers.iter().find(|(k, _)| k == "authorization").unwrap().1;
    assert!(!auth.contains(access), "the client's token is never forwarded");
    let assertion = auth.strip_prefix("Bearer ").unwrap();
    let untrusted = jwt_compact::UntrustedToken::new(assertion).unwrap();
    use jwt_compact::AlgorithmExt;
    let keys = svc.keys();
    let claims = keys.algorithm.validator::<crate::core::openapi::assertion::AssertionClaims>(&keys.pair.pk).validate(&untrusted).unwrap();
    assert_eq!(claims.claims().custom.aud, "https://api.example");
    assert_eq!(claims.claims().custom.scope, "CONTACTS_READ");
    assert_eq!(claims.claims().custom.sub, "ada@example.com");
}

#[test]
fn upstream_failures_become_tool_errors() {
    let svc = Memory::new();
    let (_, _, tokens) = connect(&svc, None);
    let access = tokens["access_token"].as_str().unwrap();
    let mut b = Browser::new(&svc);
    let cases = [
        (Ok(UpstreamResponse { status: 404, content_type: "application/json".into(), body: br#"{"error":"not found"}"#.to_vec() }), "The API answered HTTP 404"),
        (Ok(UpstreamResponse { status: 500, content_type: "text/plain".into(), body: vec![b'x'; 5000] }), "The API answered HTTP 500"),
        (Err(UpstreamFailure::Timeout { after_ms: 10_000 }), "did not answer within 10000 ms"),
    ];
    for (answer, needle) in cases {
        *svc.upstream_answer.borrow_mut() = answer;
        let r = call_tool(&mut b, access, "get_a_contact", json!({"pathParams": {"id": "1"}}));
        assert_eq!(r["isError"], true);
        let text = r["content"][0]["text"].as_str().unwrap();
        assert!(text.contains(needle), "{text}");
        assert!(text.len() < 2200, "bounded excerpt");
    }
}

#[test]
fn per_workspace_api_keys_are_write_only_and_sent_instead_of_an_assertion() {
    let svc = Memory::with_vars(&[("UPSTREAM_AUTH", "api_key")]);
    let (_, _, tokens) = connect(&svc, None);
    let access = tokens["access_token"].as_str().unwrap();
    let mut b = Browser::new(&svc);
    let missing = call_tool(&mut b, access, "get_a_contact", json!({"pathParams": {"id": "1"}}));
    assert!(missing["content"][0]["text"].as_str().unwrap().contains("has no upstream API key"));
    let auth = format!("Bearer {OPERATOR}");
    let r = b.send(Method::Put, "/admin/api/workspaces/acme/upstream-key", &[("authorization", &auth), ("content-type", "application/json")], br#"{"api_key":"sk_live_secret"}"#);
    assert_eq!(r.status, 200);
    assert!(!body_text(&r).contains("sk_live_secret"));
    let read = admin_get(&mut b, "/admin/api/workspaces/acme/upstream-key", Some(OPERATOR));
    assert_eq!(body_json(&read)["configured"], true);
    assert!(!body_text(&read).contains("sk_live_secret"), "never readable back");
    assert!(!svc.secrets.borrow()["acme"].0.contains("sk_live_secret"), "encrypted at rest");
    call_tool(&mut b, access, "get_a_contact", json!({"pathParams": {"id": "1"}}));
    let calls = svc.upstream_calls.borrow();
    let headers = &calls.last().unwrap().1;
    assert!(headers.contains(&("x-api-key".to_string(), "sk_live_secret".to_string())));
    assert!(!headers.iter().any(|(k, _)| k == "authorization"));
}

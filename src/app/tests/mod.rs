//! The whole request pipeline, natively, against in-memory stores that keep the storage
//! contracts (single-use codes, revocation tombstones). The same flows run end to end against
//! `wrangler dev` in tests/e2e.
use std::collections::HashMap;
use std::future::Future;
use std::task::{Context, Poll, Waker};

use serde_json::{json, Value};

use super::{handle, Services, UpstreamFailure, UpstreamResponse};
use crate::core::admin::Outcome;
use crate::core::config::Config;
use crate::core::connection::{self, ConnectionKey, ConnectionRecord, Rotation};
use crate::core::http::{Method, Request, Response};
use crate::core::oauth::code::{AuthCode, CodeGrant, Presentation, Redemption};
use crate::core::ratelimit::Limit;
use crate::core::store::*;

pub(super) const ORIGIN: &str = "http://127.0.0.1:8081";
pub(super) const OPERATOR: &str = "operator-token-operator-token-0123456789";
pub(super) const CALLBACK: &str = "http://localhost:3118/callback";
pub(super) const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
pub(super) const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

/// Every store future here is ready at once; poll it once.
pub(super) fn block_on<F: Future>(f: F) -> F::Output {
    let mut f = std::pin::pin!(f);
    match f.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(v) => v,
        Poll::Pending => panic!("in-memory services never wait"),
    }
}

/// A two-operation API for the pipeline tests; the real sample is config/openapi.json.
pub(super) const TEST_API: &str = r#"{
  "openapi": "3.1.0", "servers": [{"url": "https://api.example/v1"}],
  "paths": {
    "/contacts/{id}": {"get": {"summary": "Get a contact", "description": "**Required scope:** CONTACTS_READ",
      "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string"}}]}},
    "/contacts": {"post": {"summary": "Create a contact", "description": "**Required scope:** CONTACTS_WRITE",
      "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object", "required": ["email"], "properties": {"email": {"type": "string"}}}}}}}}
  }
}"#;

/// A browser-ish client with a cookie jar.
pub(super) struct Browser<'a> {
    pub(super) svc: &'a Memory,
    pub(super) cookies: HashMap<String, String>,
}

impl<'a> Browser<'a> {
    pub(super) fn new(svc: &'a Memory) -> Browser<'a> {
        Browser { svc, cookies: HashMap::new() }
    }

    pub(super) fn send(&mut self, method: Method, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Response {
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

    pub(super) fn get(&mut self, path: &str) -> Response {
        self.send(Method::Get, path, &[], b"")
    }

    pub(super) fn post_form(&mut self, path: &str, form: &[(&str, &str)]) -> Response {
        self.post_form_with(path, form, &[])
    }

    /// A form POST with these headers besides its content type.
    pub(super) fn post_form_with(&mut self, path: &str, form: &[(&str, &str)], headers: &[(&str, &str)]) -> Response {
        let body = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(form).finish();
        let mut all = vec![("content-type", "application/x-www-form-urlencoded")];
        all.extend_from_slice(headers);
        self.send(Method::Post, path, &all, body.as_bytes())
    }
}

pub(super) fn body_json(r: &Response) -> Value {
    serde_json::from_slice(&r.body).unwrap_or(Value::Null)
}

pub(super) fn body_text(r: &Response) -> String {
    String::from_utf8_lossy(&r.body).to_string()
}

/// The value of `<input … name="NAME" value="…">` in a page.
pub(super) fn input_value(page: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = page.find(&marker).unwrap_or_else(|| panic!("no input {name}")) + marker.len();
    page[start..].split('"').next().unwrap().replace("&amp;", "&")
}

pub(super) fn register(b: &mut Browser) -> String {
    let r = b.send(
        Method::Post,
        "/register",
        &[("content-type", "application/json")],
        json!({"redirect_uris": [CALLBACK], "client_name": "Claude Code"}).to_string().as_bytes(),
    );
    assert_eq!(r.status, 201);
    body_json(&r)["client_id"].as_str().unwrap().to_string()
}

pub(super) fn authorize_path(client_id: &str, scope: Option<&str>) -> String {
    let mut q = url::form_urlencoded::Serializer::new(String::new());
    q.extend_pairs([
        ("response_type", "code"),
        ("client_id", client_id),
        ("redirect_uri", CALLBACK),
        ("code_challenge", CHALLENGE),
        ("code_challenge_method", "S256"),
        ("state", "st"),
        ("resource", &format!("{ORIGIN}/mcp")),
    ]);
    if let Some(s) = scope {
        q.append_pair("scope", s);
    }
    format!("/authorize?{}", q.finish())
}

pub(super) fn sign_in(b: &mut Browser, authorize: &str, ws: &str, email: &str) -> Response {
    let r = b.get(authorize);
    assert_eq!(r.status, 303, "{}", body_text(&r));
    let signin = b.get(r.header("location").unwrap());
    let page = body_text(&signin);
    let r = b.post_form(
        "/signin",
        &[("next", &input_value(&page, "next")), ("csrf", &input_value(&page, "csrf")), ("workspace", ws), ("email", email)],
    );
    assert_eq!(r.status, 303, "{}", body_text(&r));
    b.get(r.header("location").unwrap())
}

/// Posts the consent page's form with Approve, as the browser would.
pub(super) fn post_approve(b: &mut Browser, consent: &Response) -> Response {
    let page = body_text(consent);
    let mut form: Vec<(String, String)> = [
        "response_type",
        "client_id",
        "redirect_uri",
        "code_challenge",
        "code_challenge_method",
        "state",
        "resource",
        "scope",
        "csrf",
        "shown",
    ]
    .iter()
    .filter(|n| page.contains(&format!("name=\"{n}\"")))
    .map(|n| (n.to_string(), input_value(&page, n)))
    .collect();
    form.push(("decision".into(), "approve".into()));
    let pairs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    b.post_form("/authorize", &pairs)
}

/// Consent → Approve → the code from the redirect.
pub(super) fn approve(b: &mut Browser, consent: &Response) -> String {
    assert_eq!(consent.status, 200, "{}", body_text(consent));
    let r = post_approve(b, consent);
    assert_eq!(r.status, 302, "{}", body_text(&r));
    let location = url::Url::parse(r.header("location").unwrap()).unwrap();
    assert!(location.as_str().starts_with(CALLBACK));
    let q: HashMap<String, String> = location.query_pairs().into_owned().collect();
    assert_eq!(q["state"], "st");
    assert_eq!(q["iss"], ORIGIN);
    q["code"].clone()
}

pub(super) fn exchange(b: &mut Browser, client_id: &str, code: &str, verifier: &str) -> Response {
    b.post_form(
        "/token",
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("client_id", client_id),
            ("redirect_uri", CALLBACK),
            ("code_verifier", verifier),
            ("resource", &format!("{ORIGIN}/mcp")),
        ],
    )
}

pub(super) fn mcp(b: &mut Browser, token: &str, body: Value) -> Response {
    let auth = format!("Bearer {token}");
    b.send(
        Method::Post,
        "/mcp",
        &[("authorization", &auth), ("content-type", "application/json"), ("mcp-protocol-version", "2025-11-25")],
        body.to_string().as_bytes(),
    )
}

/// A new client's code for ada@example.com in acme, approved and not yet redeemed.
pub(super) fn approved_code(b: &mut Browser, scope: Option<&str>) -> (String, String) {
    let client_id = register(b);
    let consent = sign_in(b, &authorize_path(&client_id, scope), "acme", "ada@example.com");
    let code = approve(b, &consent);
    (client_id, code)
}

pub(super) fn connect(svc: &Memory, scope: Option<&str>) -> (String, String, Value) {
    let mut b = Browser::new(svc);
    let (client_id, code) = approved_code(&mut b, scope);
    let r = exchange(&mut b, &client_id, &code, VERIFIER);
    assert_eq!(r.status, 200, "{}", body_text(&r));
    assert_eq!(r.header("cache-control"), Some("no-store"));
    (client_id, code, body_json(&r))
}

mod abuse;
mod memory;
pub(super) use memory::Memory;
mod admin;
mod audit;
mod cimd;
mod errors;
mod faults;
mod fixes;
mod isolate;
mod oauth;
mod oidc;
mod provider;
mod rotation;
mod site;
mod tokens;
mod tools;

mod contract;

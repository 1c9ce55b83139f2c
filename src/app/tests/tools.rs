//! Issue #5: OpenAPI tools.
use serde_json::{json, Value};

use super::admin::admin_get;
use super::*;
use crate::core::openapi::assertion::AssertionClaims;

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
    let claims = under_upstream_jwks(&svc, assertion).expect("the assertion verifies with /.well-known/upstream-jwks.json");
    assert_eq!(claims.claims().custom.aud, "https://api.example");
    assert_eq!(claims.claims().custom.scope, "CONTACTS_READ");
    assert_eq!(claims.claims().custom.sub, "ada@example.com");
}

/// Verifies `token` as an upstream would: the key its `kid` names in
/// `/.well-known/upstream-jwks.json`, and the assertion `typ`.
fn under_upstream_jwks(svc: &Memory, token: &str) -> Option<jwt_compact::Token<AssertionClaims>> {
    use jwt_compact::AlgorithmExt;
    let jwks = body_json(&Browser::new(svc).get("/.well-known/upstream-jwks.json"));
    let untrusted = jwt_compact::UntrustedToken::new(token).ok()?;
    if untrusted.header().token_type.as_deref() != Some(crate::core::openapi::assertion::TOKEN_TYPE) {
        return None;
    }
    let jwk = jwks["keys"].as_array()?.iter().find(|k| k["kid"].as_str() == untrusted.header().key_id.as_deref())?;
    let jwk: jwt_compact::jwk::JsonWebKey = serde_json::from_value(jwk.clone()).ok()?;
    let key = ed25519_compact::PublicKey::try_from(&jwk).ok()?;
    jwt_compact::alg::Ed25519.validator::<AssertionClaims>(&key).validate(&untrusted).ok()
}

/// Access tokens and upstream assertions are signed by different keys, published apart: an
/// assertion an upstream received is no access token here (not at `/mcp`, not at `/revoke`),
/// and an access token does not verify with the keys upstreams use.
#[test]
fn an_assertion_is_no_access_token_and_an_access_token_no_assertion() {
    let svc = Memory::new();
    let (client_id, _, tokens) = connect(&svc, None);
    let access = tokens["access_token"].as_str().unwrap();
    let mut b = Browser::new(&svc);
    call_tool(&mut b, access, "get_a_contact", json!({"pathParams": {"id": "1"}}));
    let auth = svc.upstream_calls.borrow()[0].1.iter().find(|(k, _)| k == "authorization").unwrap().1.clone();
    let assertion = auth.strip_prefix("Bearer ").unwrap();
    let r = mcp(&mut b, assertion, json!({"jsonrpc": "2.0", "id": 1, "method": "ping"}));
    assert_eq!(r.status, 401);
    assert!(r.header("www-authenticate").unwrap().contains("error=\"invalid_token\""));
    // Nothing of ours at /revoke: answered 200 with nothing done, and refused as a Bearer.
    let r = b.post_form("/revoke", &[("token", assertion), ("client_id", &client_id)]);
    assert_eq!(r.status, 200);
    assert_eq!(mcp(&mut b, access, json!({"jsonrpc": "2.0", "id": 2, "method": "ping"})).status, 200, "the connection lives");
    let r = b.post_form_with("/revoke", &[("token", access)], &[("authorization", &auth)]);
    assert_eq!((r.status, body_json(&r)["error"].as_str()), (401, Some("invalid_client")));
    // The two documents publish different keys, and the access token's signature holds under
    // none of the upstream ones.
    let upstream = b.get("/.well-known/upstream-jwks.json");
    assert_eq!((upstream.status, upstream.header("cache-control")), (200, Some("public, max-age=300")));
    let (upstream, ours) = (body_json(&upstream), body_json(&b.get("/.well-known/jwks.json")));
    assert_ne!(upstream["keys"][0]["x"], ours["keys"][0]["x"]);
    assert_ne!(upstream["keys"][0]["kid"], ours["keys"][0]["kid"]);
    assert!(under_upstream_jwks(&svc, assertion).is_some());
    assert!(under_upstream_jwks(&svc, access).is_none());
    let untrusted = jwt_compact::UntrustedToken::new(access).unwrap();
    for jwk in upstream["keys"].as_array().unwrap() {
        use jwt_compact::AlgorithmExt;
        let jwk: jwt_compact::jwk::JsonWebKey = serde_json::from_value(jwk.clone()).unwrap();
        let key = ed25519_compact::PublicKey::try_from(&jwk).unwrap();
        assert!(jwt_compact::alg::Ed25519.validator::<Value>(&key).validate(&untrusted).is_err());
    }
}

#[test]
fn upstream_failures_become_tool_errors() {
    let svc = Memory::new();
    let (_, _, tokens) = connect(&svc, None);
    let access = tokens["access_token"].as_str().unwrap();
    let mut b = Browser::new(&svc);
    let cases = [
        (
            Ok(UpstreamResponse { status: 404, content_type: "application/json".into(), body: br#"{"error":"not found"}"#.to_vec() }),
            "The API answered HTTP 404",
        ),
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
    let r = b.send(
        Method::Put,
        "/admin/api/workspaces/acme/upstream-key",
        &[("authorization", &auth), ("content-type", "application/json")],
        br#"{"api_key":"sk_live_secret"}"#,
    );
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

#[test]
fn native_tools_are_never_shadowed_and_unscoped_operations_need_all() {
    let svc = Memory::new();
    let mut doc: Value = serde_json::from_str(TEST_API).unwrap();
    doc["paths"]["/me"] = json!({"get": {"summary": "MCP whoami", "description": "**Required scope:** CONTACTS_READ"}});
    doc["paths"]["/export"] = json!({"get": {"summary": "Export everything", "description": "No scope line here."}});
    *svc.api_document.borrow_mut() = doc.to_string();
    let (_, _, tokens) = connect(&svc, None);
    let access = tokens["access_token"].as_str().unwrap();
    let mut b = Browser::new(&svc);
    let list = body_json(&mcp(&mut b, access, json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"})));
    let names: Vec<&str> = list["result"]["tools"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(names, vec!["mcp_whoami", "get_a_contact", "mcp_whoami_2"], "no unscoped tool; the native name stays unique");
    let who = call_tool(&mut b, access, "mcp_whoami", json!({}));
    assert_eq!(who["structuredContent"]["user"]["email"], "ada@example.com");
    assert_eq!(who["structuredContent"]["api_tools"]["available"], 2);
    assert_eq!(who["structuredContent"]["api_tools"]["total"], 4);
    let unscoped = call_tool(&mut b, access, "export_everything", json!({}));
    assert!(unscoped["content"][0]["text"].as_str().unwrap().starts_with("Tool requires scopes: ALL."), "{unscoped}");
    assert!(svc.upstream_calls.borrow().is_empty());
}

#[test]
fn whoami_says_why_a_broken_document_gives_no_tools() {
    let svc = Memory::new();
    *svc.api_document.borrow_mut() = "{not json".to_string();
    let (_, _, tokens) = connect(&svc, None);
    let access = tokens["access_token"].as_str().unwrap();
    let mut b = Browser::new(&svc);
    let list = body_json(&mcp(&mut b, access, json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"})));
    assert_eq!(list["result"]["tools"].as_array().unwrap().len(), 1, "mcp_whoami only");
    let who = call_tool(&mut b, access, "mcp_whoami", json!({}));
    assert_eq!(who["isError"], false);
    let problems = &who["structuredContent"]["api_tools"]["problems"];
    assert!(problems[0].as_str().unwrap().contains("not valid JSON"), "{problems}");
    let text = who["content"][0]["text"].as_str().unwrap();
    assert!(
        text.contains(
            "API tools: 0 of 0 available to this connection.\nThe API document has problems:\n- the OpenAPI document is not valid JSON"
        ),
        "{text}"
    );
}

/// `STEP_UP=challenge`: a tool the ceiling allows but the token lacks is listed, and calling it
/// answers 403 `insufficient_scope` with held ∪ needed; re-authorizing with that scope works.
/// A tool beyond the ceiling stays the tool error (a re-authorization could not help).
#[test]
fn step_up_challenges_name_the_union_within_the_ceiling() {
    let svc = Memory::with_vars(&[("STEP_UP", "challenge")]);
    svc.set_policy("acme", |p| p["scope_ceiling"] = json!(["WORKSPACE_READ", "CONTACTS_READ", "CONTACTS_WRITE"]));
    let (client_id, _, tokens) = connect(&svc, Some("WORKSPACE_READ CONTACTS_READ"));
    let access = tokens["access_token"].as_str().unwrap();
    let mut b = Browser::new(&svc);
    let list = body_json(&mcp(&mut b, access, json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"})));
    let names: Vec<&str> = list["result"]["tools"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(names, vec!["mcp_whoami", "create_a_contact", "get_a_contact"], "what the ceiling allows");
    let call = json!({"jsonrpc": "2.0", "id": 5, "method": "tools/call", "params": {"name": "create_a_contact", "arguments": {"body": {"email": "x@y.z"}}}});
    let r = mcp(&mut b, access, call.clone());
    assert_eq!(r.status, 403);
    assert_eq!(
        r.header("www-authenticate").unwrap(),
        format!("Bearer resource_metadata=\"{ORIGIN}/.well-known/oauth-protected-resource/mcp\", error=\"insufficient_scope\", scope=\"CONTACTS_READ WORKSPACE_READ CONTACTS_WRITE\", error_description=\"Tool requires scopes: CONTACTS_WRITE\"")
    );
    assert_eq!(body_json(&r)["error"], "insufficient_scope");
    assert!(svc.upstream_calls.borrow().is_empty());
    // The client re-authorizes with the scope the challenge named, and the call goes through.
    let consent =
        sign_in(&mut b, &authorize_path(&client_id, Some("CONTACTS_READ WORKSPACE_READ CONTACTS_WRITE")), "acme", "ada@example.com");
    let code = approve(&mut b, &consent);
    let wider = body_json(&exchange(&mut b, &client_id, &code, VERIFIER));
    let r = mcp(&mut b, wider["access_token"].as_str().unwrap(), call);
    assert_eq!(r.status, 200, "{}", body_text(&r));
    assert_eq!(body_json(&r)["result"]["isError"], false);
    // Beyond the ceiling: the tool error, as without step-up.
    svc.set_policy("acme", |p| p["scope_ceiling"] = json!(["WORKSPACE_READ", "CONTACTS_READ"]));
    let beyond = call_tool(&mut b, access, "create_a_contact", json!({"body": {"email": "x@y.z"}}));
    assert!(
        beyond["content"][0]["text"].as_str().unwrap().starts_with("Tool requires scopes: CONTACTS_WRITE. This connection has:"),
        "{beyond}"
    );
}

#[test]
fn step_up_must_be_a_known_mode() {
    let e = crate::core::config::Config::from_vars(|k| (k == "STEP_UP").then(|| "ask".to_string())).unwrap_err();
    assert_eq!(e, "STEP_UP must be `tool_error` or `challenge`, not `ask`");
}

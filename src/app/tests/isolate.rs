//! Issue #10: `/mcp` without a storage round trip in the common case — and the bounds that
//! buys, at the default configuration (`DEFAULT_CACHE_SECONDS`).
use serde_json::{json, Value};

use super::*;
use crate::core::config::DEFAULT_CACHE_SECONDS;
use crate::core::isolate::IsolateCache;
use crate::core::oauth::register::RENEW_EVERY;

fn with_default_caches() -> Memory {
    let seconds = DEFAULT_CACHE_SECONDS.to_string();
    Memory::with_vars(&[("POLICY_CACHE_SECONDS", &seconds), ("REVOCATION_CHECK_SECONDS", &seconds)])
}

fn ping(svc: &Memory, access: &str) -> Response {
    mcp(&mut Browser::new(svc), access, json!({"jsonrpc": "2.0", "id": 1, "method": "ping"}))
}

fn whoami(svc: &Memory, access: &str) -> Value {
    let r =
        mcp(&mut Browser::new(svc), access, json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "mcp_whoami"}}));
    assert_eq!(r.status, 200, "{}", body_text(&r));
    body_json(&r)["result"]["structuredContent"].clone()
}

fn access(tokens: &Value) -> String {
    tokens["access_token"].as_str().unwrap().to_string()
}

/// Another isolate (or an operator) revokes: only the Durable Object knows.
fn revoke_behind_the_isolates_back(svc: &Memory) {
    for row in svc.connections.borrow_mut().values_mut() {
        row.revoked_at = Some(svc.now.get());
    }
}

fn advance(svc: &Memory, seconds: i64) {
    svc.now.set(svc.now.get() + seconds);
}

#[test]
fn a_revocation_elsewhere_ends_mcp_calls_within_the_revocation_bound() {
    let svc = with_default_caches();
    let (_, _, tokens) = connect(&svc, None);
    let token = access(&tokens);
    assert_eq!(ping(&svc, &token).status, 200, "seen active: remembered");
    revoke_behind_the_isolates_back(&svc);
    advance(&svc, DEFAULT_CACHE_SECONDS - 1);
    assert_eq!(ping(&svc, &token).status, 200, "within the bound a call may pass");
    advance(&svc, 1);
    let r = ping(&svc, &token);
    assert_eq!(r.status, 401, "at the bound the Durable Object is asked again");
    assert!(r.header("www-authenticate").unwrap().contains("the connection was revoked"));
}

#[test]
fn a_revocation_through_this_isolate_ends_mcp_calls_at_once() {
    let svc = with_default_caches();
    let (client_id, _, tokens) = connect(&svc, None);
    let token = access(&tokens);
    assert_eq!(ping(&svc, &token).status, 200);
    let r = Browser::new(&svc).post_form("/revoke", &[("token", &token), ("client_id", &client_id)]);
    assert_eq!(r.status, 200);
    assert_eq!(ping(&svc, &token).status, 401, "the /revoke endpoint");

    let (_, _, tokens) = connect(&svc, None);
    let token = access(&tokens);
    assert_eq!(ping(&svc, &token).status, 200);
    let mut operator = Browser::new(&svc);
    let path = "/admin/api/workspaces/acme/connections/revoke";
    let r = operator.send(
        Method::Post,
        path,
        &[("content-type", "application/json"), ("authorization", &format!("Bearer {OPERATOR}"))],
        json!({"user": "ada@example.com"}).to_string().as_bytes(),
    );
    assert_eq!(r.status, 200, "{}", body_text(&r));
    assert_eq!(ping(&svc, &token).status, 401, "the admin API");
}

#[test]
fn refresh_token_reuse_ends_mcp_calls_at_once() {
    let svc = with_default_caches();
    let (client_id, _, first) = connect(&svc, None);
    let mut b = Browser::new(&svc);
    let refresh = |b: &mut Browser, t: &str| {
        body_json(&b.post_form("/token", &[("grant_type", "refresh_token"), ("refresh_token", t), ("client_id", &client_id)]))
    };
    let second = refresh(&mut b, first["refresh_token"].as_str().unwrap());
    let third = refresh(&mut b, second["refresh_token"].as_str().unwrap());
    assert_eq!(ping(&svc, &access(&third)).status, 200);
    advance(&svc, 120); // past the grace of the previous token
    assert_eq!(refresh(&mut b, first["refresh_token"].as_str().unwrap())["error"], "invalid_grant");
    assert_eq!(ping(&svc, &access(&third)).status, 401);
}

#[test]
fn a_hand_edit_of_the_policy_takes_effect_within_the_policy_bound() {
    let svc = with_default_caches();
    let (_, _, tokens) = connect(&svc, None);
    let token = access(&tokens);
    assert_eq!(ping(&svc, &token).status, 200);
    svc.set_policy("acme", |d| d["mcp_enabled"] = json!(false));
    advance(&svc, DEFAULT_CACHE_SECONDS - 1);
    assert_eq!(ping(&svc, &token).status, 200, "within the bound the parsed policy is used");
    advance(&svc, 1);
    let r = ping(&svc, &token);
    assert_eq!(r.status, 401);
    assert!(r.header("www-authenticate").unwrap().contains("MCP is disabled"), "{:?}", r.header("www-authenticate"));
}

#[test]
fn an_admin_api_write_takes_effect_in_this_isolate_at_once() {
    let svc = with_default_caches();
    let (_, _, tokens) = connect(&svc, None);
    let token = access(&tokens);
    assert_eq!(whoami(&svc, &token)["scopes"], json!(["CONTACTS_READ", "WORKSPACE_READ"]));
    admin::operator_edit(&mut Browser::new(&svc), "acme", |d| d["scope_ceiling"] = json!(["CONTACTS_READ"]));
    assert_eq!(whoami(&svc, &token)["scopes"], json!(["CONTACTS_READ"]));
}

#[test]
fn the_hot_path_reads_no_store_and_survives_an_outage_within_the_bounds() {
    let svc = with_default_caches();
    let (_, _, tokens) = connect(&svc, None);
    let token = access(&tokens);
    assert_eq!(ping(&svc, &token).status, 200);
    // Every storage method now fails: a call within both bounds needs none of them.
    svc.store_down.set(true);
    let me = whoami(&svc, &token);
    assert_eq!((me["client"]["name"].as_str(), me["user"]["email"].as_str()), (Some("Claude Code"), Some("ada@example.com")));
    // Past the bounds the store is needed again, and its failure is a 503, not remembered.
    advance(&svc, DEFAULT_CACHE_SECONDS);
    assert_eq!(ping(&svc, &token).status, 503);
    svc.store_down.set(false);
    assert_eq!(ping(&svc, &token).status, 200);
}

#[test]
fn a_missing_policy_is_remembered_like_a_present_one() {
    let svc = with_default_caches();
    let (_, _, tokens) = connect(&svc, None);
    let token = access(&tokens);
    let text = svc.policies.borrow_mut().remove("acme").unwrap();
    advance(&svc, DEFAULT_CACHE_SECONDS);
    assert_eq!(ping(&svc, &token).status, 401);
    svc.policies.borrow_mut().insert("acme".into(), text);
    assert_eq!(ping(&svc, &token).status, 401, "within the bound, still missing");
    advance(&svc, DEFAULT_CACHE_SECONDS);
    assert_eq!(ping(&svc, &token).status, 200);
}

/// Issue #12: a registration is written again once a day at most per client, wherever its
/// codes are redeemed — not once a day per isolate, and never right after it was made.
#[test]
fn a_registration_is_renewed_at_most_once_a_day_in_every_isolate_together() {
    let svc = with_default_caches();
    let mut b = Browser::new(&svc);
    let client_id = register(&mut b);
    let expiry = || svc.clients.borrow()[&client_id].1;
    let another_isolate = || *svc.isolate.borrow_mut() = IsolateCache::new(DEFAULT_CACHE_SECONDS, DEFAULT_CACHE_SECONDS);
    let exchange_once = |b: &mut Browser| {
        let consent = sign_in(b, &authorize_path(&client_id, None), "acme", "ada@example.com");
        let code = approve(b, &consent);
        assert_eq!(exchange(b, &client_id, &code, VERIFIER).status, 200);
    };
    let registered = expiry();
    advance(&svc, 3600);
    exchange_once(&mut b);
    assert_eq!(expiry(), registered, "a fresh registration is not written again");
    advance(&svc, RENEW_EVERY);
    another_isolate();
    exchange_once(&mut b);
    let renewed = expiry();
    assert_eq!(renewed, svc.now.get() + svc.config.client_ttl(), "a day after it was made: renewed");
    advance(&svc, 3600);
    another_isolate();
    exchange_once(&mut b);
    assert_eq!(expiry(), renewed, "within a day, another isolate does not write it again");
    advance(&svc, RENEW_EVERY);
    exchange_once(&mut b);
    assert_eq!(expiry(), svc.now.get() + svc.config.client_ttl(), "a day later: renewed again");
}

#[test]
fn a_remembered_token_still_expires_and_still_belongs_to_its_origin() {
    let svc = with_default_caches();
    let (_, _, tokens) = connect(&svc, None);
    let token = access(&tokens);
    assert_eq!(ping(&svc, &token).status, 200, "verified once: remembered");
    // The same text on another loopback origin of the development server: not ours there.
    let auth = format!("Bearer {token}");
    let elsewhere = Browser::new(&svc).send(
        Method::Post,
        "/mcp",
        &[("host", "localhost:8787"), ("authorization", &auth), ("content-type", "application/json")],
        json!({"jsonrpc": "2.0", "id": 1, "method": "ping"}).to_string().as_bytes(),
    );
    assert_eq!(elsewhere.status, 401);
    assert!(
        elsewhere.header("www-authenticate").unwrap().contains("issued by another server"),
        "{:?}",
        elsewhere.header("www-authenticate")
    );
    advance(&svc, svc.config.access_token_ttl + 1);
    let r = ping(&svc, &token);
    assert_eq!(r.status, 401);
    assert!(r.header("www-authenticate").unwrap().contains("expired"), "{:?}", r.header("www-authenticate"));
}

#[test]
fn discovery_documents_are_remembered_per_origin() {
    let svc = with_default_caches();
    let get = |host: &str| {
        let r = Browser::new(&svc).send(Method::Get, "/.well-known/oauth-authorization-server", &[("host", host)], b"");
        assert_eq!((r.status, r.header("content-type")), (200, Some("application/json")));
        body_json(&r)["issuer"].as_str().unwrap().to_string()
    };
    for _ in 0..2 {
        assert_eq!(get("127.0.0.1:8081"), "http://127.0.0.1:8081");
        assert_eq!(get("localhost:8787"), "http://localhost:8787");
    }
}

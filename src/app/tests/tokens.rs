//! Issue #3: refresh rotation, live policy, revocation.
use serde_json::{json, Value};

use super::*;

pub(super) fn refresh(b: &mut Browser, client_id: &str, token: &str) -> Response {
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
    assert!(body_json(&after)["error_description"]
        .as_str()
        .unwrap()
        .starts_with("Token validation failed: connection: the connection was revoked. "));
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
    assert!(body_json(&gone)["error_description"]
        .as_str()
        .unwrap()
        .starts_with("Token validation failed: user is no longer a member of the workspace. "));
    let r = mcp(&mut b, narrowed["access_token"].as_str().unwrap(), json!({"jsonrpc": "2.0", "id": 1, "method": "ping"}));
    assert!(body_json(&r)["error_description"]
        .as_str()
        .unwrap()
        .starts_with("Token validation failed: user is no longer a member of the workspace. "));
}

#[test]
fn a_refused_refresh_does_not_move_the_family_on() {
    let svc = Memory::new();
    let (client_id, _, tokens) = connect(&svc, None);
    let mut b = Browser::new(&svc);
    let first = tokens["refresh_token"].as_str().unwrap();
    svc.set_policy("acme", |d| d["mcp_enabled"] = json!(false));
    let refused = refresh(&mut b, &client_id, first);
    assert_eq!((refused.status, body_json(&refused)["error"].as_str()), (400, Some("invalid_grant")));
    // Long past the grace: had the refused refresh rotated the family, this would be reuse.
    svc.now.set(svc.now.get() + 10 * crate::core::connection::REFRESH_GRACE_SECONDS);
    svc.set_policy("acme", |_| {});
    let again = refresh(&mut b, &client_id, first);
    assert_eq!(again.status, 200, "{}", body_text(&again));
    let r = mcp(&mut b, body_json(&again)["access_token"].as_str().unwrap(), json!({"jsonrpc": "2.0", "id": 1, "method": "ping"}));
    assert_eq!(r.status, 200);
}

#[test]
fn revoking_either_token_ends_the_connection() {
    let svc = Memory::new();
    let mut b = Browser::new(&svc);
    let (other_client, _, other_tokens) = connect(&svc, None);
    let other_access = other_tokens["access_token"].as_str().unwrap();
    assert_eq!(b.post_form("/revoke", &[("token", "whatever"), ("client_id", &other_client)]).status, 200, "unknown tokens: 200");
    assert_eq!(b.post_form("/revoke", &[]).status, 400);
    let ping = || json!({"jsonrpc": "2.0", "id": 1, "method": "ping"});
    for which in ["refresh_token", "access_token"] {
        let (client_id, _, tokens) = connect(&svc, None);
        let token = tokens[which].as_str().unwrap();
        let access = tokens["access_token"].as_str().unwrap();
        let anonymous = b.post_form("/revoke", &[("token", token)]);
        assert_eq!((anonymous.status, body_json(&anonymous)["error"].as_str()), (400, Some("invalid_request")), "{which}");
        let unknown = b.post_form("/revoke", &[("token", token), ("client_id", "nobody-registered-this")]);
        assert_eq!((unknown.status, body_json(&unknown)["error"].as_str()), (400, Some("unauthorized_client")), "{which}");
        let foreign = b.post_form_with("/revoke", &[("token", token)], &[("authorization", &format!("Bearer {}", other_access))]);
        assert_eq!((foreign.status, body_json(&foreign)["error"].as_str()), (400, Some("unauthorized_client")), "{which}");
        let wrong = b.post_form("/revoke", &[("token", token), ("client_id", &other_client)]);
        assert_eq!((wrong.status, body_json(&wrong)["error"].as_str()), (400, Some("unauthorized_client")), "{which}");
        assert_eq!(mcp(&mut b, access, ping()).status, 200, "{which}: refused revocations changed nothing");
        assert_eq!(b.post_form("/revoke", &[("token", token), ("client_id", &client_id)]).status, 200);
        let r = mcp(&mut b, access, ping());
        assert_eq!(r.status, 401, "{which}");
        assert_eq!(body_json(&refresh(&mut b, &client_id, tokens["refresh_token"].as_str().unwrap()))["error"], "invalid_grant");
    }
}

#[test]
fn revoking_an_expired_access_token_still_ends_its_connection() {
    let svc = Memory::new();
    let mut b = Browser::new(&svc);
    let (client_id, _, tokens) = connect(&svc, None);
    svc.now.set(svc.now.get() + 7200);
    let expired = tokens["access_token"].as_str().unwrap();
    assert_eq!(b.post_form("/revoke", &[("token", expired), ("client_id", &client_id)]).status, 200);
    let r = refresh(&mut b, &client_id, tokens["refresh_token"].as_str().unwrap());
    assert!(body_json(&r)["error_description"]
        .as_str()
        .unwrap()
        .starts_with("Token validation failed: connection: the connection was revoked. "));
}

#[test]
fn approving_the_same_client_again_adds_a_connection_and_keeps_the_others() {
    let svc = Memory::new();
    let mut b = Browser::new(&svc);
    let client_id = register(&mut b);
    let consent = sign_in(&mut b, &authorize_path(&client_id, None), "acme", "ada@example.com");
    let code = approve(&mut b, &consent);
    let first = body_json(&exchange(&mut b, &client_id, &code, VERIFIER));
    let consent = b.get(&authorize_path(&client_id, None));
    let code = approve(&mut b, &consent);
    let second = body_json(&exchange(&mut b, &client_id, &code, VERIFIER));
    assert_eq!(svc.connections.borrow().len(), 2);
    for tokens in [&first, &second] {
        let r = mcp(&mut b, tokens["access_token"].as_str().unwrap(), json!({"jsonrpc": "2.0", "id": 1, "method": "ping"}));
        assert_eq!(r.status, 200);
    }
}

/// `claude mcp logout` (2.1.332, docs/protocol.md §8): the refresh token, then the access token,
/// each with `client_id` and no secret; after a 401 the same again with `Authorization: Bearer
/// <access token>` and no `client_id`. Both first tries succeed even when the registration
/// has lapsed, and the Bearer form works by itself.
#[test]
fn logout_revokes_at_the_first_try_even_after_the_registration_lapsed() {
    let svc = Memory::new();
    let mut b = Browser::new(&svc);
    let (client_id, _, tokens) = connect(&svc, None);
    let (refresh_token, access) = (tokens["refresh_token"].as_str().unwrap(), tokens["access_token"].as_str().unwrap());
    svc.clients.borrow_mut().clear();
    svc.isolate.borrow_mut().clients = crate::core::isolate::Fresh::new(60, 1);
    for (token, hint) in [(refresh_token, "refresh_token"), (access, "access_token")] {
        let r = b.post_form("/revoke", &[("token", token), ("token_type_hint", hint), ("client_id", &client_id)]);
        assert_eq!(r.status, 200, "{hint}: {}", body_text(&r));
    }
    assert_eq!(mcp(&mut b, access, json!({"jsonrpc": "2.0", "id": 1, "method": "ping"})).status, 401);

    // The retry form: Bearer instead of client_id, even with an expired access token.
    let (client_id, _, tokens) = connect(&svc, None);
    let (refresh_token, access) = (tokens["refresh_token"].as_str().unwrap(), tokens["access_token"].as_str().unwrap());
    svc.now.set(svc.now.get() + 7200);
    let bearer = format!("Bearer {access}");
    let r = b.post_form_with("/revoke", &[("token", refresh_token), ("token_type_hint", "refresh_token")], &[("authorization", &bearer)]);
    assert_eq!(r.status, 200, "{}", body_text(&r));
    assert_eq!(body_json(&refresh(&mut b, &client_id, refresh_token))["error"], "invalid_grant");

    // What the Bearer form refuses, each saying what to send instead.
    for (form, auth, status, error, needle) in [
        (vec![("token", access)], "Bearer not-ours", 401, "invalid_client", "was not issued by this server"),
        (
            vec![("token", access), ("client_id", "someone-else")],
            bearer.as_str(),
            400,
            "invalid_request",
            "is not the client of the Authorization",
        ),
        (vec![("token", access)], "Basic Y2w6", 400, "invalid_request", "client_id is required"),
        (vec![("token", access), ("client_id", "bad\u{7f}id")], "", 401, "invalid_client", "printable ASCII"),
    ] {
        let headers: Vec<(&str, &str)> = if auth.is_empty() { vec![] } else { vec![("authorization", auth)] };
        let r = b.post_form_with("/revoke", &form, &headers);
        let body = body_json(&r);
        assert_eq!((r.status, body["error"].as_str()), (status, Some(error)), "{auth}: {body}");
        assert!(body["error_description"].as_str().unwrap().contains(needle), "{auth}: {body}");
    }
}

#[test]
fn a_refresh_may_narrow_its_scopes_never_widen_them_and_a_refused_one_spends_nothing() {
    let svc = Memory::new();
    let (client_id, _, tokens) = connect(&svc, Some("CONTACTS_READ WORKSPACE_READ"));
    let mut b = Browser::new(&svc);
    let first = tokens["refresh_token"].as_str().unwrap();
    let with = |b: &mut Browser, extra: &[(&str, &str)]| {
        let mut form = vec![("grant_type", "refresh_token"), ("refresh_token", first), ("client_id", client_id.as_str())];
        form.extend_from_slice(extra);
        b.post_form("/token", &form)
    };
    let refusals = [
        (&[("scope", "CONTACTS_READ CONTACTS_WRITE")][..], "invalid_scope", "scope CONTACTS_WRITE was not granted to this connection; a refresh can keep or narrow its scopes, not widen them (authorize again for more)"),
        (&[("scope", "CONTACTS_READ\u{0}")], "invalid_scope", "Unknown scope: CONTACTS_READ\\u{0000}"),
        (&[("scope", "NOPE")], "invalid_scope", "Unknown scope: NOPE"),
        (&[("resource", "https://evil.example/mcp")], "invalid_target", "resource `https://evil.example/mcp` is not served by this server; use http://127.0.0.1:8081/mcp"),
    ];
    for (extra, error, description) in refusals {
        let r = with(&mut b, extra);
        assert_eq!(
            (r.status, body_json(&r)["error"].as_str(), body_json(&r)["error_description"].as_str()),
            (400, Some(error), Some(description)),
            "{extra:?}"
        );
    }
    // Long past the grace: had a refusal rotated the family, the first token would be reuse now.
    svc.now.set(svc.now.get() + 10 * crate::core::connection::REFRESH_GRACE_SECONDS);
    let narrowed = with(&mut b, &[("scope", "CONTACTS_READ"), ("resource", "http://127.0.0.1:8081/mcp")]);
    assert_eq!(narrowed.status, 200, "{}", body_text(&narrowed));
    let narrowed = body_json(&narrowed);
    assert_eq!(narrowed["scope"], "CONTACTS_READ");
    assert_eq!(whoami_scopes(&mut b, narrowed["access_token"].as_str().unwrap()), json!(["CONTACTS_READ"]));
    // The grant itself is unchanged: the next refresh without `scope` has it all again.
    let whole = body_json(&refresh(&mut b, &client_id, narrowed["refresh_token"].as_str().unwrap()));
    assert_eq!(whole["scope"], "CONTACTS_READ WORKSPACE_READ");
}

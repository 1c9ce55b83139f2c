//! Issue #12: rotating `SIGNING_KEY` with `SIGNING_KEY_PREVIOUS` (README, "Rotating the signing
//! key"). Secret A is `test_secret(1)`, B is `test_secret(2)`.
use serde_json::json;

use super::tokens::refresh;
use super::*;
use crate::core::oauth::keys::rotated_keys;
use crate::core::oauth::refresh::RefreshToken;

fn ping(b: &mut Browser, access: &str) -> u16 {
    mcp(b, access, json!({"jsonrpc": "2.0", "id": 1, "method": "ping"})).status
}

/// A connection, a browser's sign-in and a stored API key made under A keep working once B is
/// current with A previous; what is made then is B's; once A is withdrawn only that works.
#[test]
fn a_connection_made_before_a_rotation_keeps_working_after_it() {
    let mut svc = Memory::with_vars(&[("UPSTREAM_AUTH", "api_key")]);
    svc.redeploy(rotated_keys(1, None));
    let (client_id, _, before) = connect(&svc, None);
    let (access_a, refresh_a) = (before["access_token"].as_str().unwrap(), before["refresh_token"].as_str().unwrap());
    let mut b = Browser::new(&svc);
    let auth = format!("Bearer {OPERATOR}");
    let put = b.send(
        Method::Put,
        "/admin/api/workspaces/acme/upstream-key",
        &[("authorization", &auth), ("content-type", "application/json")],
        br#"{"api_key":"sk_live_secret"}"#,
    );
    assert_eq!(put.status, 200);
    // A browser signed in under A, with a consent page (its form token and digest) shown under A.
    let mut browser = Browser::new(&svc);
    let consent = sign_in(&mut browser, &authorize_path(&client_id, None), "acme", "ada@example.com");
    let jar = browser.cookies.clone();
    let set_by_admin = svc.secrets.borrow()["acme"].1;
    svc.now.set(svc.now.get() + 60);

    svc.redeploy(rotated_keys(2, Some(1)));
    let mut b = Browser::new(&svc);
    assert_eq!(ping(&mut b, access_a), 200, "an access token of A, by its kid");
    let after = refresh(&mut b, &client_id, refresh_a);
    assert_eq!(after.status, 200, "{}", body_text(&after));
    let after = body_json(&after);
    let (access_b, refresh_b) = (after["access_token"].as_str().unwrap(), after["refresh_token"].as_str().unwrap());
    let successor = RefreshToken::parse(&rotated_keys(2, None), refresh_b).expect("the successor is B's");
    assert_eq!(successor.generation, RefreshToken::parse(&rotated_keys(1, None), refresh_a).unwrap().generation + 1);
    assert!(RefreshToken::parse(&rotated_keys(1, None), refresh_b).is_none());
    let call = json!({"jsonrpc": "2.0", "id": 5, "method": "tools/call", "params": {"name": "get_a_contact", "arguments": {"pathParams": {"id": "1"}}}});
    let r = body_json(&mcp(&mut b, access_b, call.clone()));
    assert_eq!(r["result"]["isError"], false, "{r}");
    let sent = svc.upstream_calls.borrow().last().unwrap().1.clone();
    assert!(sent.contains(&("x-api-key".to_string(), "sk_live_secret".to_string())), "the key sealed under A opens");
    let (resealed, set_at) = svc.secrets.borrow()["acme"].clone();
    assert_eq!(
        crate::core::secrets::open(&rotated_keys(2, None), &resealed, "acme").as_deref(),
        Some(&b"sk_live_secret"[..]),
        "and is sealed again under B"
    );
    assert_eq!(set_at, set_by_admin, "when the admin set it stays");
    let mut browser = Browser { svc: &svc, cookies: jar };
    let code = approve(&mut browser, &consent);
    assert_eq!(exchange(&mut browser, &client_id, &code, VERIFIER).status, 200, "the sign-in and the page of A are accepted");

    svc.redeploy(rotated_keys(2, None));
    let mut b = Browser::new(&svc);
    assert_eq!(ping(&mut b, access_a), 401);
    assert_eq!(ping(&mut b, access_b), 200);
    let stale = refresh(&mut b, &client_id, refresh_a);
    assert_eq!(body_json(&stale)["error_description"], "The refresh token is invalid");
    assert_eq!(refresh(&mut b, &client_id, refresh_b).status, 200);
    let r = body_json(&mcp(&mut b, access_b, call));
    assert_eq!(r["result"]["isError"], false, "the API key re-sealed under B: {r}");
}

/// An admin reading whether a key is set re-seals one sealed under the previous secret, so a
/// workspace whose tools nobody calls during the rotation keeps its key too.
#[test]
fn an_admin_read_seals_a_key_of_the_previous_secret_again() {
    let mut svc = Memory::with_vars(&[("UPSTREAM_AUTH", "api_key")]);
    svc.redeploy(rotated_keys(1, None));
    let mut b = Browser::new(&svc);
    let auth = format!("Bearer {OPERATOR}");
    let headers = [("authorization", auth.as_str()), ("content-type", "application/json")];
    assert_eq!(b.send(Method::Put, "/admin/api/workspaces/acme/upstream-key", &headers, br#"{"api_key":"sk_live_secret"}"#).status, 200);
    let under_a = svc.secrets.borrow()["acme"].0.clone();
    svc.redeploy(rotated_keys(2, Some(1)));
    let mut b = Browser::new(&svc);
    let read = super::admin::admin_get(&mut b, "/admin/api/workspaces/acme/upstream-key", Some(OPERATOR));
    assert_eq!(body_json(&read)["configured"], true);
    let now = svc.secrets.borrow()["acme"].0.clone();
    assert_ne!(now, under_a);
    assert_eq!(crate::core::secrets::open(&rotated_keys(2, None), &now, "acme").as_deref(), Some(&b"sk_live_secret"[..]));
    super::admin::admin_get(&mut b, "/admin/api/workspaces/acme/upstream-key", Some(OPERATOR));
    assert_eq!(svc.secrets.borrow()["acme"].0, now, "a key under the current secret is left as it is");
}

/// RFC 7009 during a rotation: a refresh token or access token of A names its connection, and
/// revoking it ends that connection.
#[test]
fn revoking_a_token_of_the_previous_secret_ends_its_connection() {
    let mut svc = Memory::new();
    svc.redeploy(rotated_keys(1, None));
    let (client_id, _, first) = connect(&svc, None);
    let (_, _, second) = connect(&svc, None);
    svc.redeploy(rotated_keys(2, Some(1)));
    let mut b = Browser::new(&svc);
    let r = b.post_form("/revoke", &[("token", first["refresh_token"].as_str().unwrap()), ("client_id", &client_id)]);
    assert_eq!(r.status, 200);
    assert_eq!(ping(&mut b, first["access_token"].as_str().unwrap()), 401);
    let access = second["access_token"].as_str().unwrap();
    let bearer = format!("Bearer {access}");
    let r = b.post_form_with("/revoke", &[("token", access)], &[("authorization", &bearer)]);
    assert_eq!(r.status, 200, "{}", body_text(&r));
    assert_eq!(ping(&mut b, access), 401);
}

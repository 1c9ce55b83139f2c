//! Issue #4: the admin API.
use serde_json::{json, Value};

use super::*;

pub(super) fn admin_get(b: &mut Browser, path: &str, auth: Option<&str>) -> Response {
    let bearer = auth.map(|t| format!("Bearer {t}"));
    let headers: Vec<(&str, &str)> = bearer.iter().map(|h| ("authorization", h.as_str())).collect();
    b.send(Method::Get, path, &headers, b"")
}

/// A browser signed in to `ws` as `email` (through the sign-in page, as the admin page does).
pub(super) fn signed_in<'a>(svc: &'a Memory, ws: &str, email: &str) -> Browser<'a> {
    let mut b = Browser::new(svc);
    let page = body_text(&b.get("/signin?next=%2Fadmin"));
    let r = b.post_form("/signin", &[("next", "/admin"), ("csrf", &input_value(&page, "csrf")), ("workspace", ws), ("email", email)]);
    assert_eq!(r.status, 303, "{}", body_text(&r));
    b
}

pub(super) fn operator_post(b: &mut Browser, path: &str, body: &Value) -> Response {
    let auth = format!("Bearer {OPERATOR}");
    b.send(Method::Post, path, &[("authorization", &auth), ("content-type", "application/json")], body.to_string().as_bytes())
}

/// The operator replaces the policy of `ws` with the current one changed by `edit`.
pub(super) fn operator_edit(b: &mut Browser, ws: &str, edit: impl FnOnce(&mut Value)) {
    let read = body_json(&admin_get(b, &format!("/admin/api/workspaces/{ws}/policy"), Some(OPERATOR)));
    let mut doc = read["policy"].clone();
    edit(&mut doc);
    let r = admin_put_policy(b, ws, &doc, read["etag"].as_str().unwrap(), None);
    assert_eq!(r.status, 200, "{}", body_text(&r));
}

pub(super) fn admin_put_policy(b: &mut Browser, ws: &str, body: &Value, if_match: &str, csrf: Option<&str>) -> Response {
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
    svc.set_policy("acme", |d| {
        d["members"] = json!([{"email": "ada@example.com", "role": "admin"}, {"email": "bob@example.com", "role": "member"}])
    });
    let mut anon = Browser::new(&svc);
    assert_eq!(admin_get(&mut anon, "/admin/api/workspaces/acme/policy", None).status, 401);
    assert_eq!(admin_get(&mut anon, "/admin/api/workspaces/acme/policy", Some("wrong")).status, 401);
    assert_eq!(admin_get(&mut anon, "/admin/api/workspaces/acme/policy", Some(OPERATOR)).status, 200);
    for (ws, email, status) in [("acme", "bob@example.com", 403), ("other", "eve@example.com", 403), ("acme", "ada@example.com", 200)] {
        let mut b = signed_in(&svc, ws, email);
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
    // Creating what exists says so, and gives the ETag to replace it with.
    let auth = format!("Bearer {OPERATOR}");
    let headers = [("authorization", auth.as_str()), ("content-type", "application/json"), ("if-none-match", "*")];
    let exists = b.send(Method::Put, "/admin/api/workspaces/acme/policy", &headers, now["policy"].to_string().as_bytes());
    assert_eq!(exists.status, 412);
    assert_eq!(exists.header("etag"), now["etag"].as_str());
    let message = body_json(&exists)["error_description"].as_str().unwrap().to_string();
    assert_eq!(message, "Workspace `acme` already has a policy; read it and send If-Match with its ETag to replace it");
}

#[test]
fn a_malformed_policy_fails_closed_everywhere_with_the_field_named() {
    let svc = Memory::new();
    svc.policies.borrow_mut().insert("acme".into(), sample_broken_policy());
    let mut b = Browser::new(&svc);
    let r = admin_get(&mut b, "/admin/api/workspaces/acme/policy", Some(OPERATOR));
    assert_eq!(r.status, 422);
    assert!(body_json(&r)["error"].as_str().unwrap().contains("`scope_ceiling[0]`: unknown scope `CONTACTS_EVERYTHING`"));
    let client_id = register(&mut b);
    let page = sign_in_page_error(&mut b, &client_id);
    assert!(page.contains(crate::app::signin::SIGN_IN_REFUSED), "{page}");
    assert!(!page.contains("CONTACTS_EVERYTHING"), "an anonymous visitor is told nothing about the policy: {page}");
    // A member signed in before the policy broke is told why (they belong to the workspace).
    svc.set_policy("acme", |_| {});
    let mut member = Browser::new(&svc);
    sign_in(&mut member, &authorize_path(&client_id, None), "acme", "ada@example.com");
    svc.policies.borrow_mut().insert("acme".into(), sample_broken_policy());
    let page = body_text(&member.get(&authorize_path(&client_id, None)));
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
    let r = b.post_form(
        "/signin",
        &[
            ("next", &input_value(&page, "next")),
            ("csrf", &input_value(&page, "csrf")),
            ("workspace", "acme"),
            ("email", "ada@example.com"),
        ],
    );
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
    let r = b.send(
        Method::Post,
        "/admin/api/workspaces/acme/connections/revoke",
        &[("authorization", &auth), ("content-type", "application/json")],
        body.as_bytes(),
    );
    assert_eq!(r.status, 200);
    let r = mcp(&mut b, tokens["access_token"].as_str().unwrap(), json!({"jsonrpc": "2.0", "id": 1, "method": "ping"}));
    assert_eq!(r.status, 401);
}

#[test]
fn cookie_authenticated_admin_changes_need_the_csrf_header() {
    let svc = Memory::new();
    let mut b = Browser::new(&svc);
    let page = body_text(&b.get("/signin?next=%2Fadmin"));
    b.post_form(
        "/signin",
        &[("next", "/admin"), ("csrf", &input_value(&page, "csrf")), ("workspace", "acme"), ("email", "ada@example.com")],
    );
    let read = body_json(&admin_get(&mut b, "/admin/api/workspaces/acme/policy", None));
    let tag = read["etag"].as_str().unwrap().to_string();
    assert_eq!(admin_put_policy(&mut b, "acme", &read["policy"], &tag, Some("forged")).status, 403);
    let csrf = body_json(&admin_get(&mut b, "/admin/api/session", None))["csrf"].as_str().unwrap().to_string();
    assert_eq!(admin_put_policy(&mut b, "acme", &read["policy"], &tag, Some(&csrf)).status, 200);
}

fn with_bob(svc: &Memory) {
    svc.set_policy("acme", |d| {
        d["members"] = json!([{"email": "ada@example.com", "role": "admin"}, {"email": "bob@example.com", "role": "member"}])
    });
}

/// A connection of bob@example.com (register, sign in, approve, exchange).
fn connect_bob(svc: &Memory) -> Value {
    let mut b = Browser::new(svc);
    let client_id = register(&mut b);
    let consent = sign_in(&mut b, &authorize_path(&client_id, None), "acme", "bob@example.com");
    let code = approve(&mut b, &consent);
    let r = exchange(&mut b, &client_id, &code, VERIFIER);
    assert_eq!(r.status, 200, "{}", body_text(&r));
    body_json(&r)
}

fn connections_of(b: &mut Browser, user: &str) -> Vec<Value> {
    let list = body_json(&admin_get(b, "/admin/api/workspaces/acme/connections", Some(OPERATOR)));
    list["connections"].as_array().unwrap().iter().filter(|c| c["user"] == user).cloned().collect()
}

#[test]
fn a_demoted_admin_loses_access_at_once_while_kv_still_serves_the_old_policy() {
    let svc = Memory::new();
    with_bob(&svc);
    let mut ada = signed_in(&svc, "acme", "ada@example.com");
    assert_eq!(admin_get(&mut ada, "/admin/api/workspaces/acme/policy", None).status, 200);
    let before = svc.policies.borrow()["acme"].clone();
    let mut operator = Browser::new(&svc);
    // Bob becomes the admin in the same write (the last admin cannot be demoted).
    operator_edit(&mut operator, "acme", |d| {
        d["members"][0]["role"] = json!("member");
        d["members"][1]["role"] = json!("admin");
    });
    // KV's cache in this location still serves the old text for up to 60 s.
    svc.stale_kv.borrow_mut().insert("acme".into(), before);
    assert_eq!(admin_get(&mut ada, "/admin/api/workspaces/acme/policy", None).status, 403);
    assert_eq!(admin_get(&mut ada, "/admin/api/workspaces/acme/connections", None).status, 403);
}

#[test]
fn revoke_normalises_the_user_and_refuses_unknown_connections() {
    let svc = Memory::new();
    connect(&svc, None);
    let mut b = Browser::new(&svc);
    let conn = connections_of(&mut b, "ada@example.com").remove(0);
    let path = "/admin/api/workspaces/acme/connections/revoke";
    let r = operator_post(&mut b, path, &json!({"user": "ada@example.com", "id": "no-such-connection"}));
    assert_eq!(r.status, 404, "{}", body_text(&r));
    assert!(!svc.connections.borrow().contains_key("no-such-connection"), "no tombstone left behind");
    let r = operator_post(&mut b, path, &json!({"user": "  ADA@Example.com ", "id": conn["id"]}));
    assert_eq!(body_json(&r), json!({"revoked": 1}));
    assert_eq!(connections_of(&mut b, "ada@example.com")[0]["active"], false);
    let r = operator_post(&mut b, path, &json!({"user": "ada@example.com", "id": conn["id"]}));
    assert_eq!(body_json(&r), json!({"revoked": 0}), "already revoked");
    assert_eq!(operator_post(&mut b, path, &json!({"user": "not an e-mail"})).status, 400);
    assert_eq!(operator_post(&mut b, path, &json!({"user": "ada@example.com", "id": 7})).status, 400);
}

#[test]
fn revoking_all_of_a_user_normalises_the_user() {
    let svc = Memory::new();
    connect(&svc, None);
    connect(&svc, None);
    let mut b = Browser::new(&svc);
    let r = operator_post(&mut b, "/admin/api/workspaces/acme/connections/revoke", &json!({"user": "Ada@EXAMPLE.com"}));
    assert_eq!(body_json(&r), json!({"revoked": 2}));
    assert!(connections_of(&mut b, "ada@example.com").iter().all(|c| c["active"] == false));
}

#[test]
fn a_removed_members_connections_stay_listed_and_revocable() {
    let svc = Memory::new();
    with_bob(&svc);
    let tokens = connect_bob(&svc);
    let mut b = Browser::new(&svc);
    // Listed while bob is a member: the listing notes him in the workspace's index.
    let listed = connections_of(&mut b, "bob@example.com");
    assert_eq!((listed.len(), &listed[0]["member"]), (1, &json!(true)));
    assert!(svc.connection_users.borrow()["acme"].contains("bob@example.com"));
    operator_edit(&mut b, "acme", |d| d["members"] = json!([{"email": "ada@example.com", "role": "admin"}]));
    let listed = connections_of(&mut b, "bob@example.com");
    assert_eq!(listed.len(), 1, "a removed member's connection is still listed");
    assert_eq!((&listed[0]["member"], &listed[0]["active"]), (&json!(false), &json!(true)));
    let r =
        operator_post(&mut b, "/admin/api/workspaces/acme/connections/revoke", &json!({"user": "bob@example.com", "id": listed[0]["id"]}));
    assert_eq!(body_json(&r), json!({"revoked": 1}));
    assert_eq!(connections_of(&mut b, "bob@example.com")[0]["active"], false);
    let r = mcp(&mut b, tokens["access_token"].as_str().unwrap(), json!({"jsonrpc": "2.0", "id": 1, "method": "ping"}));
    assert_eq!(r.status, 401);
}

#[test]
fn connections_noted_at_creation_are_listed_after_removal_and_while_the_policy_is_invalid() {
    let svc = Memory::new();
    with_bob(&svc);
    connect_bob(&svc);
    // What the token endpoint does after creating a connection.
    block_on(svc.note_connection_user(&"acme".into(), &"bob@example.com".into())).unwrap();
    svc.set_policy("acme", |_| {});
    let mut b = Browser::new(&svc);
    assert_eq!(connections_of(&mut b, "bob@example.com")[0]["member"], false);
    svc.policies.borrow_mut().insert("acme".into(), "{\"schema\": 1}".into());
    assert_eq!(connections_of(&mut b, "bob@example.com").len(), 1, "the operator still sees them");
}

#[test]
fn an_invalid_policy_put_names_the_field() {
    let svc = Memory::new();
    let mut b = Browser::new(&svc);
    let read = body_json(&admin_get(&mut b, "/admin/api/workspaces/acme/policy", Some(OPERATOR)));
    let tag = read["etag"].as_str().unwrap().to_string();
    for (edit, needle) in [
        (json!({"mcp_enabled": "yes"}), "`mcp_enabled` must be a boolean (true or false), not the string `yes`"),
        (json!({"members": [{"email": "ada@example.com", "role": "admin"}, {"email": "@", "role": "member"}]}), "`members[1].email`: `@`"),
        (json!({"members": [{"email": "ada@example.com", "role": "owner"}]}), "`members[0].role`"),
        (json!({"schema": 2}), "`schema` is 2, this server reads schema 1"),
    ] {
        let mut doc = read["policy"].clone();
        for (k, v) in edit.as_object().unwrap() {
            doc[k] = v.clone();
        }
        let r = admin_put_policy(&mut b, "acme", &doc, &tag, None);
        assert_eq!(r.status, 400);
        let message = body_json(&r)["error_description"].as_str().unwrap().to_string();
        assert!(message.contains(needle), "{needle}: {message}");
    }
}

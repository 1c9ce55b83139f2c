//! Issue #4: the admin API.
use serde_json::{json, Value};

use super::*;

pub(super) fn admin_get(b: &mut Browser, path: &str, auth: Option<&str>) -> Response {
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
    svc.set_policy("acme", |d| {
        d["members"] = json!([{"email": "ada@example.com", "role": "admin"}, {"email": "bob@example.com", "role": "member"}])
    });
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

//! Issue #13: admins fix what they see — fixes from a rejection, the connection check, the
//! history with revert, the clients seen, the last admin, and the page's validation.
use serde_json::{json, Value};

use super::admin::{admin_get, admin_put_policy, operator_edit, operator_post, signed_in};
use super::*;

/// ada@example.com on the admin page: her browser and the page's CSRF token.
fn ada(svc: &Memory) -> (Browser<'_>, String) {
    let mut b = signed_in(svc, "acme", "ada@example.com");
    let csrf = body_json(&admin_get(&mut b, "/admin/api/session", None))["csrf"].as_str().unwrap().to_string();
    (b, csrf)
}

fn page_post(b: &mut Browser, csrf: &str, path: &str, body: &Value, if_match: Option<&str>) -> Response {
    let mut headers = vec![("content-type", "application/json"), ("x-csrf-token", csrf)];
    if let Some(tag) = if_match {
        headers.push(("if-match", tag));
    }
    b.send(Method::Post, &format!("/admin/api/workspaces/acme/{path}"), &headers, body.to_string().as_bytes())
}

fn policy_of(b: &mut Browser) -> Value {
    body_json(&admin_get(b, "/admin/api/workspaces/acme/policy", Some(OPERATOR)))
}

#[test]
fn a_rejection_carries_its_fix_and_writing_it_lets_the_same_attempt_through() {
    let svc = Memory::new();
    let mut b = Browser::new(&svc);
    let client_id = register(&mut b);
    let refused = sign_in(&mut b, &authorize_path(&client_id, Some("CONTACTS_WRITE")), "acme", "ada@example.com");
    assert_eq!(refused.status, 403);

    let (mut page, csrf) = ada(&svc);
    let outcomes = body_json(&admin_get(&mut page, "/admin/api/workspaces/acme/outcomes", None));
    let verdict = &outcomes["rejected"][0]["verdict"];
    assert_eq!(verdict["verdict"], "refused");
    assert_eq!(verdict["rule"], "Requested scopes are not allowed");
    let fix = &verdict["fix"];
    assert_eq!(fix["label"], "Add CONTACTS_WRITE to the ceiling");
    assert_eq!(fix["changes"], json!({"scope_ceiling": {"added": ["CONTACTS_WRITE"], "removed": []}}));
    let tag = outcomes["etag"].as_str().unwrap();
    let r = admin_put_policy(&mut page, "acme", &fix["policy"], tag, Some(&csrf));
    assert_eq!(r.status, 200, "{}", body_text(&r));

    // The same attempt now passes, and the rejection says so.
    let consent = b.get(&authorize_path(&client_id, Some("CONTACTS_WRITE")));
    approve(&mut b, &consent);
    let outcomes = body_json(&admin_get(&mut page, "/admin/api/workspaces/acme/outcomes", None));
    assert_eq!(outcomes["rejected"][0]["verdict"], json!({"verdict": "passes", "scopes": ["CONTACTS_WRITE"]}));
}

#[test]
fn a_fix_prepared_before_another_edit_is_refused_and_the_edit_stands() {
    let svc = Memory::new();
    let mut b = Browser::new(&svc);
    let client_id = register(&mut b);
    sign_in(&mut b, &authorize_path(&client_id, Some("CONTACTS_WRITE")), "acme", "ada@example.com");
    let (mut page, csrf) = ada(&svc);
    let outcomes = body_json(&admin_get(&mut page, "/admin/api/workspaces/acme/outcomes", None));
    // Someone else renames the workspace meanwhile.
    operator_edit(&mut b, "acme", |d| d["name"] = json!("Renamed"));
    let fix = &outcomes["rejected"][0]["verdict"]["fix"];
    let r = admin_put_policy(&mut page, "acme", &fix["policy"], outcomes["etag"].as_str().unwrap(), Some(&csrf));
    assert_eq!(r.status, 412);
    let now = policy_of(&mut b);
    assert_eq!(now["policy"]["name"], "Renamed");
    assert_eq!(now["policy"]["scope_ceiling"], json!(["WORKSPACE_READ", "CONTACTS_READ"]), "the fix was not written");
}

#[test]
fn the_connection_check_answers_before_anyone_tries() {
    let svc = Memory::new();
    let (mut page, csrf) = ada(&svc);
    let ok = json!({"redirect_uri": CALLBACK, "client_id": "any-client", "scope": "CONTACTS_READ"});
    let r = page_post(&mut page, &csrf, "check", &ok, None);
    assert_eq!(body_json(&r)["verdict"], "passes", "{}", body_text(&r));
    let other = json!({"redirect_uri": "http://localhost:9999/callback", "client_id": "any-client", "user": "ada@example.com"});
    let v = body_json(&page_post(&mut page, &csrf, "check", &other, None));
    assert_eq!((v["rule"].as_str(), v["fix"]["label"].as_str()), (Some("redirect_uri is not allowed"), Some("Allow this redirect URI")));
    assert!(v["hint"].as_str().unwrap().contains("http://localhost:9999/callback"));
    assert!(v["etag"].is_string());
    let stranger = json!({"redirect_uri": CALLBACK, "client_id": "c", "user": "eve@example.com"});
    let v = body_json(&page_post(&mut page, &csrf, "check", &stranger, None));
    assert_eq!(v["rule"], "You are not a member of this workspace");
    assert!(v.get("fix").is_none() && v["why"].as_str().unwrap().contains("Members"), "{v}");
    // Bad input: what to fix.
    for (body, says) in [
        (json!({"client_id": "c"}), "Send JSON {\"redirect_uri\""),
        (json!({"redirect_uri": "http://example.com/cb", "client_id": "c"}), "`redirect_uri`: "),
        (json!({"redirect_uri": CALLBACK, "client_id": "c", "scope": "NOPE"}), "Unknown scope: NOPE"),
    ] {
        let r = page_post(&mut page, &csrf, "check", &body, None);
        assert_eq!(r.status, 400, "{body}");
        assert!(body_json(&r)["error_description"].as_str().unwrap().starts_with(says), "{}", body_text(&r));
    }
}

#[test]
fn the_last_admin_cannot_be_removed_or_demoted_by_the_page_or_the_api() {
    let svc = Memory::new();
    let (mut page, csrf) = ada(&svc);
    let read = policy_of(&mut page);
    let tag = read["etag"].as_str().unwrap();
    let mut demoted = read["policy"].clone();
    demoted["members"][0]["role"] = json!("member");
    let mut removed = read["policy"].clone();
    removed["members"] = json!([{"email": "bob@example.com", "role": "member"}]);
    for (doc, csrf) in [(&demoted, Some(csrf.as_str())), (&removed, Some(csrf.as_str())), (&demoted, None)] {
        let r = admin_put_policy(&mut page, "acme", doc, tag, csrf);
        assert_eq!(r.status, 409, "{}", body_text(&r));
        let body = body_json(&r);
        assert_eq!(body["error"], "last_admin");
        assert!(body["error_description"].as_str().unwrap().starts_with("`ada@example.com` is the last admin of workspace `acme`"));
    }
    assert_eq!(policy_of(&mut page)["etag"], read["etag"], "nothing was written");
    // The page's validation gives the same message, before saving.
    let v = body_json(&page_post(&mut page, &csrf, "policy/validate", &removed, None));
    assert_eq!(v["valid"], false);
    assert_eq!(v["path"], "members");
    assert!(v["message"].as_str().unwrap().ends_with("cannot be removed; make another member an admin first"));
}

#[test]
fn validation_names_the_field_with_the_message_a_save_would_give() {
    let svc = Memory::new();
    let (mut page, csrf) = ada(&svc);
    let mut draft = policy_of(&mut page)["policy"].clone();
    assert_eq!(body_json(&page_post(&mut page, &csrf, "policy/validate", &draft, None)), json!({"valid": true}));
    draft["allowed_redirect_uris"] = json!([CALLBACK, "http://example.com/cb"]);
    let v = body_json(&page_post(&mut page, &csrf, "policy/validate", &draft, None));
    assert_eq!(v["path"], "allowed_redirect_uris[1]");
    let saved = admin_put_policy(&mut page, "acme", &draft, "\"any\"", Some(&csrf));
    assert_eq!(saved.status, 400);
    assert!(body_json(&saved)["error_description"].as_str().unwrap().ends_with(v["message"].as_str().unwrap()), "the same message");
    let r = page.send(Method::Post, "/admin/api/workspaces/acme/policy/validate", &[("x-csrf-token", &csrf)], b"{}");
    assert_eq!(r.status, 415, "JSON only, as every admin write");
    // Each version is kept in the history: a policy the admin API writes is bounded.
    let mut big = policy_of(&mut page)["policy"].clone();
    big["name"] = json!("Acme");
    big["allowed_redirect_uris"] = json!((0..4000).map(|i| format!("http://127.0.0.1:{}/callback", 1024 + i)).collect::<Vec<_>>());
    let v = body_json(&page_post(&mut page, &csrf, "policy/validate", &big, None));
    assert!(v["message"].as_str().unwrap().ends_with("the admin API writes at most 131072 (128 KiB)"), "{v}");
    let tag = policy_of(&mut page)["etag"].as_str().unwrap().to_string();
    assert_eq!(admin_put_policy(&mut page, "acme", &big, &tag, Some(&csrf)).status, 413);
}

#[test]
fn the_history_records_who_from_where_and_what_and_a_revert_is_a_new_version() {
    let svc = Memory::new();
    let (mut page, csrf) = ada(&svc);
    let read = policy_of(&mut page);
    let mut doc = read["policy"].clone();
    doc["mcp_enabled"] = json!(false);
    let r = admin_put_policy(&mut page, "acme", &doc, read["etag"].as_str().unwrap(), Some(&csrf));
    assert_eq!(r.status, 200);
    operator_edit(&mut page, "acme", |d| d["allowed_redirect_uris"] = json!([CALLBACK, "http://127.0.0.1:7777/cb"]));
    svc.now.set(svc.now.get() + 60);
    let mut hand = policy_of(&mut page)["policy"].clone();
    hand["name"] = json!("Acme by hand");
    svc.hand_edit("acme", Some(&hand.to_string()));

    let list = body_json(&admin_get(&mut page, "/admin/api/workspaces/acme/policy/history", None));
    let versions = list["versions"].as_array().unwrap();
    let summary: Vec<(i64, &str, Option<&str>)> =
        versions.iter().map(|v| (v["version"].as_i64().unwrap(), v["source"].as_str().unwrap(), v["by"].as_str())).collect();
    assert_eq!(
        summary,
        [(4, "hand_edit", None), (3, "api", Some("operator")), (2, "page", Some("ada@example.com")), (1, "hand_edit", None)]
    );
    assert_eq!(versions[0]["changes"], json!({"name": {"from": "Acme", "to": "Acme by hand"}}));
    assert_eq!(versions[2]["changes"], json!({"mcp_enabled": {"from": true, "to": false}}));
    assert!(versions.iter().all(|v| v.get("text").is_none() && v["at"].is_i64()));

    // Revert to version 1 (MCP on, one redirect URI, the first name): a new version, ETag-guarded.
    let current = policy_of(&mut page)["etag"].as_str().unwrap().to_string();
    let r = page_post(&mut page, &csrf, "policy/revert", &json!({"version": 1}), Some("\"stale\""));
    assert_eq!(r.status, 412);
    let r = page_post(&mut page, &csrf, "policy/revert", &json!({"version": 1}), Some(&current));
    assert_eq!(r.status, 200, "{}", body_text(&r));
    let now = policy_of(&mut page)["policy"].clone();
    assert_eq!((now["mcp_enabled"].as_bool(), now["name"].as_str()), (Some(true), Some("Acme")));
    let newest = body_json(&admin_get(&mut page, "/admin/api/workspaces/acme/policy/history", None))["versions"][0].clone();
    assert_eq!((newest["version"].as_i64(), newest["reverts"].as_i64(), newest["source"].as_str()), (Some(5), Some(1), Some("page")));
    assert_eq!(newest["changes"]["allowed_redirect_uris"]["removed"], json!(["http://127.0.0.1:7777/cb"]));
    // One version with its document.
    let one = body_json(&admin_get(&mut page, "/admin/api/workspaces/acme/policy/history/2", None));
    assert_eq!(one["policy"]["mcp_enabled"], false);
    assert_eq!(one["restores"]["mcp_enabled"], json!({"from": true, "to": false}), "what reverting to it would change");
    for (path, status) in [("policy/history/99", 404), ("policy/history/x", 400), ("policy/history/0", 400)] {
        assert_eq!(admin_get(&mut page, &format!("/admin/api/workspaces/acme/{path}"), None).status, status, "{path}");
    }
    let r = page_post(&mut page, &csrf, "policy/revert", &json!({"version": "1"}), Some(&current));
    assert_eq!(r.status, 400);
    assert!(body_json(&r)["error_description"].as_str().unwrap().starts_with("`version` must be the number"));
}

#[test]
fn a_version_that_would_leave_no_admin_is_not_restored() {
    let svc = Memory::new();
    svc.set_policy("acme", |d| d["members"] = json!([{"email": "bob@example.com", "role": "member"}]));
    svc.set_policy("acme", |_| {});
    let mut b = Browser::new(&svc);
    let tag = policy_of(&mut b)["etag"].as_str().unwrap().to_string();
    let r = b.send(
        Method::Post,
        "/admin/api/workspaces/acme/policy/revert",
        &[("authorization", &format!("Bearer {OPERATOR}")), ("content-type", "application/json"), ("if-match", &tag)],
        json!({"version": 2}).to_string().as_bytes(),
    );
    assert_eq!(r.status, 409, "{}", body_text(&r));
    assert_eq!(body_json(&r)["error"], "last_admin");
    assert_eq!(policy_of(&mut b)["etag"], tag.as_str(), "nothing was written");
    assert_eq!(
        body_json(&admin_get(&mut b, "/admin/api/workspaces/acme/policy/history", Some(OPERATOR)))["versions"].as_array().unwrap().len(),
        3
    );
}

#[test]
fn clients_seen_are_listed_with_their_connections_and_pinning_is_suggested_after_the_first_approval() {
    let svc = Memory::new();
    let mut b = Browser::new(&svc);
    let list = |b: &mut Browser| body_json(&admin_get(b, "/admin/api/workspaces/acme/clients", Some(OPERATOR)));
    assert_eq!(list(&mut b)["clients"], json!([]));
    assert_eq!(list(&mut b)["suggest_pin"], Value::Null);
    let (first, _, _) = connect(&svc, None);
    svc.now.set(svc.now.get() + 5);
    let second = register(&mut b);
    sign_in(&mut b, &authorize_path(&second, Some("CONTACTS_WRITE")), "acme", "ada@example.com");

    let seen = list(&mut b);
    let clients = seen["clients"].as_array().unwrap();
    assert_eq!(clients.len(), 2);
    assert_eq!(clients[0]["client_id"], second.as_str(), "most recently seen first");
    assert_eq!((clients[0]["rejected"].as_u64(), clients[0]["connections"].as_u64()), (Some(1), Some(0)));
    assert_eq!((clients[1]["approved"].as_u64(), clients[1]["connections"].as_u64()), (Some(1), Some(1)));
    assert_eq!(clients[1]["name"], "Claude Code");
    assert_eq!(clients[1]["metadata_document"], Value::Null);
    assert_eq!(seen["suggest_pin"], first.as_str(), "the client that connected first");

    operator_edit(&mut b, "acme", |d| d["allowed_client_ids"] = json!([first]));
    let seen = list(&mut b);
    assert_eq!(seen["clients"][1]["pinned"], true);
    assert_eq!(seen["clients"][0]["pinned"], false);
    assert_eq!(seen["suggest_pin"], Value::Null, "pinned: nothing to suggest");
    // Another client is now refused by the pin.
    let refused = b.get(&authorize_path(&second, None));
    assert_eq!(refused.status, 403);
    assert!(body_text(&refused).contains("OAuth client_id is not allowed"));
}

#[test]
fn new_admin_routes_answer_wrong_methods_with_405() {
    let svc = Memory::new();
    let mut b = Browser::new(&svc);
    for path in ["policy/validate", "policy/revert", "check"] {
        let r = admin_get(&mut b, &format!("/admin/api/workspaces/acme/{path}"), Some(OPERATOR));
        assert_eq!((r.status, r.header("allow")), (405, Some("POST")), "{path}");
        assert!(body_json(&r)["error_description"].as_str().unwrap().starts_with("Use POST"));
    }
    for path in ["clients", "policy/history", "policy/history/1"] {
        let r = operator_post(&mut b, &format!("/admin/api/workspaces/acme/{path}"), &json!({}));
        assert_eq!((r.status, r.header("allow")), (405, Some("GET")), "{path}");
    }
    let r = operator_post(&mut b, "/admin/api/workspaces/acme/policy", &json!({}));
    assert_eq!((r.status, r.header("allow")), (405, Some("GET, PUT")));
}

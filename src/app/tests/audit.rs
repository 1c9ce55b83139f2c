//! Issue #12: audit events. Each step of a connection's life is one JSON line naming who and
//! what by identifiers — and no line carries a token, code, verifier or secret.
use serde_json::{json, Value};

use super::admin::{admin_get, admin_put_policy, operator_post};
use super::*;

fn events(svc: &Memory) -> Vec<Value> {
    svc.audits.borrow().clone()
}

fn kinds(svc: &Memory) -> Vec<String> {
    events(svc).iter().map(|e| e["audit"].as_str().unwrap().to_string()).collect()
}

#[test]
fn a_connections_life_is_audited_by_identifiers_only() {
    let svc = Memory::new();
    let (client_id, code, tokens) = connect(&svc, None);
    let mut b = Browser::new(&svc);
    let refresh = tokens["refresh_token"].as_str().unwrap();
    let form = [("grant_type", "refresh_token"), ("refresh_token", refresh), ("client_id", client_id.as_str())];
    let next = body_json(&b.post_form("/token", &form));
    let access = next["access_token"].as_str().unwrap().to_string();
    let call = json!({"jsonrpc": "2.0", "id": 5, "method": "tools/call", "params": {"name": "get_a_contact", "arguments": {"pathParams": {"id": "c1"}}}});
    assert_eq!(mcp(&mut b, &access, call).status, 200);
    let refused = json!({"jsonrpc": "2.0", "id": 6, "method": "tools/call", "params": {"name": "create_a_contact", "arguments": {"body": {"email": "x@y.z"}}}});
    mcp(&mut b, &access, refused);
    svc.now.set(svc.now.get() + crate::core::connection::REFRESH_GRACE_SECONDS + 1);
    assert_eq!(b.post_form("/token", &form).status, 400, "the old refresh token again, past its grace: reuse");
    assert_eq!(kinds(&svc), ["approved", "token_issued", "refreshed", "tool_called", "tool_called", "reuse_detected", "revoked"]);
    let all = events(&svc);
    let connection = all[0]["connection"].as_str().unwrap();
    assert!(all.iter().all(|e| e["workspace"] == "acme" && e["user"] == "ada@example.com"), "{all:#?}");
    assert!(all.iter().all(|e| e["connection"] == connection), "one connection throughout: {all:#?}");
    assert_eq!(all[0]["client_id"], client_id.as_str());
    assert_eq!(all[0]["scopes"], json!(["CONTACTS_READ", "WORKSPACE_READ"]));
    assert_eq!(all[2]["generation"], 2);
    assert_eq!((all[3]["tool"].as_str(), all[3]["outcome"].as_str()), (Some("get_a_contact"), Some("ok")));
    assert_eq!(all[4]["outcome"], "tool_error", "refused for its scopes");
    assert_eq!((all[5]["what"].as_str(), all[6]["by"].as_str()), (Some("refresh_token"), Some("server")));
    let text = all.iter().map(Value::to_string).collect::<String>();
    for secret in [refresh, &access, tokens["access_token"].as_str().unwrap(), &code, VERIFIER, OPERATOR] {
        assert!(!text.contains(secret), "an audit line holds a secret");
    }
}

#[test]
fn denials_revocations_and_policy_changes_say_who_and_what() {
    let svc = Memory::new();
    let mut b = Browser::new(&svc);
    let client_id = register(&mut b);
    sign_in(&mut b, &authorize_path(&client_id, Some("CONTACTS_WRITE")), "acme", "ada@example.com");
    let denied = events(&svc).pop().unwrap();
    assert_eq!((denied["audit"].as_str(), denied["rule"].as_str()), (Some("denied"), Some("Requested scopes are not allowed")));
    let read = body_json(&admin_get(&mut b, "/admin/api/workspaces/acme/policy", Some(OPERATOR)));
    let mut edited = read["policy"].clone();
    edited["mcp_enabled"] = json!(false);
    edited["members"].as_array_mut().unwrap().push(json!({"email": "bob@example.com", "role": "member"}));
    assert_eq!(admin_put_policy(&mut b, "acme", &edited, read["etag"].as_str().unwrap(), None).status, 200);
    let change = events(&svc).pop().unwrap();
    assert_eq!(change["audit"], "policy_changed");
    assert_eq!(change["by"], "operator");
    assert_eq!(change["changed"]["mcp_enabled"], json!({"from": true, "to": false}));
    assert_eq!(change["changed"]["members"]["added"], json!(["bob@example.com"]));
    assert_eq!(operator_post(&mut b, "/admin/api/workspaces/acme/connections/revoke", &json!({"user": "ada@example.com"})).status, 200);
    let revoked = events(&svc).pop().unwrap();
    assert_eq!(
        (revoked["audit"].as_str(), revoked["by"].as_str(), revoked["count"].as_u64()),
        (Some("revoked"), Some("operator"), Some(0))
    );
}

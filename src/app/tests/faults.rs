//! Issue #12: faults. A store that fails halfway through a grant leaves no half-finished grant:
//! the client gets 503 with `Retry-After`, and its retry can still succeed.
use super::*;

#[test]
fn a_connection_store_failure_after_the_code_is_consumed_gives_the_code_back() {
    let svc = Memory::new();
    let mut b = Browser::new(&svc);
    let (client_id, code) = approved_code(&mut b, None);
    svc.connections_down.set(true);
    let failed = exchange(&mut b, &client_id, &code, VERIFIER);
    assert_eq!((failed.status, failed.header("retry-after")), (503, Some("5")));
    assert_eq!(body_json(&failed)["error"], "temporarily_unavailable");
    let key = AuthCode::parse(&code).unwrap().storage_key();
    assert_eq!(svc.codes.borrow()[&key].consumed_at, None, "the code was given back");
    assert!(svc.connections.borrow().is_empty());
    svc.connections_down.set(false);
    let retried = exchange(&mut b, &client_id, &code, VERIFIER);
    assert_eq!(retried.status, 200, "the retry succeeds: {}", body_text(&retried));
    let again = exchange(&mut b, &client_id, &code, VERIFIER);
    assert!(body_json(&again)["error_description"].as_str().unwrap().contains("already used"), "and the code is single-use again");
}

#[test]
fn a_policy_refusal_after_the_code_is_consumed_keeps_it_consumed() {
    let svc = Memory::new();
    let mut b = Browser::new(&svc);
    let (client_id, code) = approved_code(&mut b, None);
    svc.set_policy("acme", |d| d["mcp_enabled"] = serde_json::json!(false));
    let refused = exchange(&mut b, &client_id, &code, VERIFIER);
    assert_eq!(refused.status, 400, "{}", body_text(&refused));
    let key = AuthCode::parse(&code).unwrap().storage_key();
    assert!(svc.codes.borrow()[&key].consumed_at.is_some(), "a decided refusal is final: nothing to retry");
}

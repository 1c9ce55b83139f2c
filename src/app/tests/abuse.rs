//! Issue #12: abuse limits. Each limited endpoint counts against its binding per address, the
//! code and token endpoints per client too, and a refusal is a 429 that says when to retry.
use super::*;

fn limited(svc: &Memory, limit: Limit, budget: u32) {
    svc.rate_limits.borrow_mut().insert(limit, budget);
}

fn register_from(b: &mut Browser, address: &str) -> Response {
    let body = br#"{"redirect_uris":["http://localhost:3118/callback"],"client_name":"Abuse","token_endpoint_auth_method":"none"}"#;
    b.send(Method::Post, "/register", &[("content-type", "application/json"), ("cf-connecting-ip", address)], body)
}

#[test]
fn registrations_past_the_budget_of_an_address_are_429_with_retry_after_and_nothing_stored() {
    let svc = Memory::new();
    limited(&svc, Limit::Register, 3);
    let mut b = Browser::new(&svc);
    for _ in 0..3 {
        assert_eq!(register_from(&mut b, "203.0.113.9").status, 201);
    }
    let refused = register_from(&mut b, "203.0.113.9");
    assert_eq!(refused.status, 429);
    assert_eq!(refused.header("retry-after"), Some("60"));
    assert_eq!(body_json(&refused)["error"], "too_many_requests");
    assert_eq!(body_json(&refused)["error_description"], "Too many client registrations from this address; try again in 60 seconds");
    assert_eq!(svc.clients.borrow().len(), 3, "the refused one stored nothing");
    assert_eq!(register_from(&mut b, "198.51.100.4").status, 201, "another address has its own budget");
}

#[test]
fn token_requests_count_per_client_wherever_they_come_from() {
    let svc = Memory::new();
    let (client_id, _, tokens) = connect(&svc, None);
    limited(&svc, Limit::Client, 2);
    let refresh = tokens["refresh_token"].as_str().unwrap().to_string();
    let mut b = Browser::new(&svc);
    let mut send = |address: &str, token: &str| {
        let form = [("grant_type", "refresh_token"), ("refresh_token", token), ("client_id", client_id.as_str())];
        b.post_form_with("/token", &form, &[("cf-connecting-ip", address)])
    };
    let first = send("203.0.113.1", &refresh);
    assert_eq!(first.status, 200, "{}", body_text(&first));
    let next = body_json(&first)["refresh_token"].as_str().unwrap().to_string();
    assert_eq!(send("203.0.113.2", &next).status, 200);
    let refused = send("203.0.113.3", "rt2.whatever");
    assert_eq!((refused.status, refused.header("retry-after")), (429, Some("60")));
    assert!(body_json(&refused)["error_description"]
        .as_str()
        .unwrap()
        .starts_with("Too many authorization and token requests for OAuth client"));
}

#[test]
fn sign_in_and_authorize_pages_past_their_budget_are_pages_that_say_so() {
    let svc = Memory::new();
    let mut b = Browser::new(&svc);
    let client_id = register(&mut b);
    limited(&svc, Limit::OAuth, 1);
    assert_ne!(b.get(&authorize_path(&client_id, None)).status, 429);
    let page = b.get(&authorize_path(&client_id, None));
    assert_eq!(page.status, 429);
    assert_eq!(page.header("retry-after"), Some("60"));
    assert!(page.header("content-type").unwrap().starts_with("text/html"));
    assert!(body_text(&page).contains("Too many OAuth requests from this address; try again in 60 seconds"), "{}", body_text(&page));
    limited(&svc, Limit::SignIn, 0);
    let signin = b.post_form("/signin", &[("workspace", "acme"), ("email", "ada@example.com")]);
    assert_eq!(signin.status, 429);
    assert!(body_text(&signin).contains("Too many sign-in requests"));
}

#[test]
fn the_admin_api_and_mcp_are_limited_only_where_they_should_be() {
    let svc = Memory::new();
    let (_, _, tokens) = connect(&svc, None);
    for limit in Limit::ALL {
        limited(&svc, limit, 0);
    }
    let mut b = Browser::new(&svc);
    let api = b.send(Method::Get, "/admin/api/workspaces/acme/policy", &[("authorization", &format!("Bearer {OPERATOR}"))], b"");
    assert_eq!(api.status, 429);
    assert!(body_json(&api)["error_description"].as_str().unwrap().starts_with("Too many admin requests"));
    let call = mcp(&mut b, tokens["access_token"].as_str().unwrap(), serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": "ping"}));
    assert_eq!(call.status, 200, "/mcp is not limited: tokens already bound it to a person");
    assert_eq!(b.get("/.well-known/oauth-authorization-server").status, 200);
}

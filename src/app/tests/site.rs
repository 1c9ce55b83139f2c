//! Issue #9: a deployment safe off loopback — the `Host` and `Origin` rules on every route,
//! the development sign-in interlock, sign-in refusals that reveal nothing, sign-out, and CSRF
//! tokens bound to the session.
use serde_json::json;

use super::*;
use crate::app::signin::SIGN_IN_REFUSED;

const EVIL_HOST: &str = "evil.example.com:8081";
const EVIL_ORIGIN: &str = "http://evil.example.com:8081";

/// Every route a rebinding page could reach, with a body it might send.
const ROUTES: [(Method, &str, &str); 10] = [
    (Method::Post, "/mcp", r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#),
    (Method::Get, "/signin?next=%2Fadmin", ""),
    (Method::Post, "/signin", "workspace=acme&email=ada%40example.com"),
    (Method::Get, "/authorize?client_id=x", ""),
    (Method::Post, "/authorize", "decision=approve"),
    (Method::Get, "/admin/api/workspaces/acme/policy", ""),
    (Method::Put, "/admin/api/workspaces/acme/policy", "{}"),
    (Method::Post, "/register", r#"{"redirect_uris":["http://localhost:3118/callback"]}"#),
    (Method::Post, "/token", "grant_type=authorization_code&code=x"),
    (Method::Get, "/.well-known/oauth-authorization-server", ""),
];

#[test]
fn a_rebinding_page_is_refused_on_every_route_and_never_named_as_issuer() {
    let svc = Memory::new();
    let mut b = Browser::new(&svc);
    for (method, path, body) in ROUTES {
        let r = b.send(method, path, &[("host", EVIL_HOST), ("origin", EVIL_ORIGIN)], body.as_bytes());
        let text = body_text(&r);
        assert_eq!(r.status, 421, "{path}: {text}");
        assert!(text.contains("Server misconfigured: PUBLIC_ORIGIN is required off loopback"), "{path}: {text}");
        assert!(!text.contains("\"issuer\"") && r.header("set-cookie").is_none(), "{path}: {text}");
    }
    // The same requests with a loopback Host are served.
    let metadata = body_json(&b.send(Method::Get, "/.well-known/oauth-authorization-server", &[("host", "localhost:8081")], b""));
    assert_eq!(metadata["issuer"], "http://localhost:8081");
}

#[test]
fn a_public_origin_serves_only_its_own_host() {
    let svc = Memory::with_vars(&[("DEV_SIGN_IN", ""), ("PUBLIC_ORIGIN", "https://mcp.example.com")]);
    let mut b = Browser::new(&svc);
    for host in ["127.0.0.1:8081", "evil.example.com", "mcp.example.com:8443"] {
        let r = b.send(Method::Get, "/.well-known/oauth-authorization-server", &[("host", host)], b"");
        assert_eq!(r.status, 421, "{host}");
        assert!(body_text(&r).contains("this server answers for https://mcp.example.com"), "{}", body_text(&r));
    }
    let r = b.send(Method::Get, "/.well-known/oauth-authorization-server", &[("host", "mcp.example.com")], b"");
    assert_eq!(body_json(&r)["issuer"], "https://mcp.example.com");
    let page = b.send(Method::Get, "/authorize?client_id=x", &[("host", "evil.example.com")], b"");
    assert!(page.header("content-type").unwrap().starts_with("text/html") && body_text(&page).contains("Wrong address"));
}

#[test]
fn development_sign_in_is_off_unless_configured_and_refused_with_a_public_origin() {
    let off = Memory::with_vars(&[("DEV_SIGN_IN", "")]);
    assert!(!off.config.dev_sign_in);
    let r = Browser::new(&off).get("/signin?next=%2Fadmin");
    assert_eq!(r.status, 503);
    assert!(body_text(&r).contains("Sign-in is not configured"));
    let refused = Config::from_vars(|k| match k {
        "DEV_SIGN_IN" => Some("on".into()),
        "PUBLIC_ORIGIN" => Some("https://mcp.example.com".into()),
        _ => None,
    })
    .unwrap_err();
    assert!(refused.starts_with("DEV_SIGN_IN is set on a non-loopback origin"), "{refused}");
}

#[test]
fn a_loopback_host_from_another_machine_gets_no_development_sign_in() {
    let svc = Memory::new();
    let mut b = Browser::new(&svc);
    let r = b.send(Method::Get, "/signin?next=%2Fadmin", &[("host", "localhost:8081"), ("cf-connecting-ip", "203.0.113.9")], b"");
    assert_eq!(r.status, 503);
    assert!(body_text(&r).contains("Server misconfigured: DEV_SIGN_IN is set on a non-loopback origin"), "{}", body_text(&r));
    let r = b.send(Method::Get, "/signin?next=%2Fadmin", &[("host", "localhost:8081"), ("cf-connecting-ip", "127.0.0.1")], b"");
    assert_eq!(r.status, 200, "wrangler dev's own peer address");
}

#[test]
fn unsafe_methods_from_another_site_are_refused_except_where_clients_call_cross_origin() {
    let svc = Memory::new();
    let mut b = Browser::new(&svc);
    let form = [("content-type", "application/x-www-form-urlencoded"), ("origin", "https://evil.example")];
    for path in ["/authorize", "/signin", "/signout"] {
        let r = b.send(Method::Post, path, &form, b"decision=approve");
        assert_eq!(r.status, 403, "{path}");
        assert!(body_text(&r).contains("Origin https://evil.example is not allowed"), "{path}: {}", body_text(&r));
    }
    let r = b.send(Method::Put, "/admin/api/workspaces/acme/policy", &[("origin", "http://localhost:6274")], b"{}");
    assert_eq!((r.status, body_json(&r)["error"].as_str()), (403, Some("forbidden_origin")), "only /mcp takes loopback peers");
    // Browser-based MCP clients exchange codes from their own origin: no cookie is read there.
    let r = b.send(Method::Post, "/token", &form, b"grant_type=authorization_code");
    assert_eq!((r.status, body_json(&r)["error"].as_str()), (400, Some("invalid_request")), "{}", body_text(&r));
    let r = b.send(
        Method::Post,
        "/register",
        &[("origin", "http://localhost:6274"), ("content-type", "application/json")],
        json!({"redirect_uris": [CALLBACK]}).to_string().as_bytes(),
    );
    assert_eq!(r.status, 201);
}

/// The error line of the sign-in page.
fn refusal(page: &str) -> String {
    let start = page.find("id=\"error-message\"").expect("an error message");
    page[start..].split_once('>').unwrap().1.split('<').next().unwrap().to_string()
}

fn try_sign_in(svc: &Memory, ws: &str, email: &str) -> Response {
    let mut b = Browser::new(svc);
    let page = body_text(&b.get("/signin?next=%2Fadmin"));
    b.post_form("/signin", &[("next", "/admin"), ("csrf", &input_value(&page, "csrf")), ("workspace", ws), ("email", email)])
}

#[test]
fn a_refused_sign_in_says_the_same_whatever_the_reason_and_the_admin_sees_why() {
    let svc = Memory::new();
    svc.policies.borrow_mut().insert("broken".into(), "{\"schema\": 1, \"name\": \"SECRET-TEXT\"".into());
    let mut seen = Vec::new();
    for (ws, email) in [("nowhere", "ada@example.com"), ("acme", "eve@example.com"), ("broken", "ada@example.com"), ("a c m e", "x")] {
        let r = try_sign_in(&svc, ws, email);
        let page = body_text(&r);
        assert_eq!(r.status, 403, "{ws}/{email}");
        assert!(!page.contains("SECRET-TEXT") && !page.contains("no policy") && !page.contains("not a member"), "{page}");
        seen.push(refusal(&page));
    }
    assert!(seen.iter().all(|m| m == &crate::core::pages::escape(SIGN_IN_REFUSED)), "{seen:?}");
    let outcomes = svc.outcomes.borrow()["acme"].clone();
    assert_eq!(outcomes.len(), 1);
    assert_eq!(outcomes[0].user, "eve@example.com");
    assert_eq!(outcomes[0].rule.as_deref(), Some("Sign-in refused: eve@example.com is not a member of this workspace"));
    assert_eq!(try_sign_in(&svc, "acme", "ADA@example.com ").status, 303, "a member still signs in");
}

#[test]
fn the_consent_page_names_the_workspace_id_and_signs_out() {
    let svc = Memory::new();
    let mut b = Browser::new(&svc);
    let client_id = register(&mut b);
    let authorize = authorize_path(&client_id, None);
    let consent = sign_in(&mut b, &authorize, "acme", "ada@example.com");
    let page = body_text(&consent);
    assert!(page.contains("<code id=\"workspace-id\">acme</code>"), "{page}");
    let csrf = input_value(&page, "csrf");
    let forged = b.post_form("/signout", &[("csrf", "forged"), ("next", &authorize)]);
    assert_eq!(forged.status, 403);
    assert!(body_text(&forged).contains("The sign-out form could not be verified"), "{}", body_text(&forged));
    let out = b.post_form("/signout", &[("csrf", &csrf), ("next", &authorize)]);
    assert_eq!((out.status, out.header("location")), (303, Some(authorize.as_str())));
    assert!(out.header("set-cookie").unwrap().starts_with("mcp_edge_session=; Path=/; Max-Age=0"), "{:?}", out.header("set-cookie"));
    let again = b.get(&authorize);
    assert_eq!((again.status, again.header("location").map(|l| l.starts_with("/signin?"))), (303, Some(true)), "signed out");
    let csrf = input_value(&body_text(&b.get("/signin")), "csrf");
    let nowhere = b.post_form("/signout", &[("csrf", &csrf)]);
    assert!(body_text(&nowhere).contains("You are signed out"));
}

#[test]
fn csrf_tokens_are_bound_to_the_session_they_were_shown_in() {
    let svc = Memory::new();
    let mut b = Browser::new(&svc);
    let client_id = register(&mut b);
    let authorize = authorize_path(&client_id, None);
    let first = sign_in(&mut b, &authorize, "acme", "ada@example.com");
    // The same browser signs in again (another tab): the first page's form no longer counts.
    let form = body_text(&b.get("/signin?next=%2Fadmin"));
    let again = b.post_form(
        "/signin",
        &[("next", "/admin"), ("csrf", &input_value(&form, "csrf")), ("workspace", "acme"), ("email", "ada@example.com")],
    );
    assert_eq!(again.status, 303);
    let r = post_approve(&mut b, &first);
    assert_eq!(r.status, 403, "{}", body_text(&r));
    assert!(body_text(&r).contains("The consent form could not be verified (missing or wrong CSRF token)"));
    let fresh = b.get(&authorize);
    assert_eq!(post_approve(&mut b, &fresh).status, 302);
}

/// RFC 9700 §2.6 and §4.2: the authorization endpoint and the pages a person sees answer no
/// cross-origin reads, and send no URL (codes, states) on in a `Referer`; the endpoints clients
/// call from their own origin do allow it.
#[test]
fn pages_and_the_authorization_endpoint_allow_no_cross_origin_reads_and_send_no_referrer_off_site() {
    let svc = Memory::new();
    let mut b = Browser::new(&svc);
    let client_id = register(&mut b);
    let authorize = authorize_path(&client_id, None);
    let consent = sign_in(&mut b, &authorize, "acme", "ada@example.com");
    let signin = b.get("/signin");
    for (what, page) in [("consent", &consent), ("sign-in", &signin), ("authorize refusal", &b.get("/authorize?client_id=x"))] {
        assert_eq!(page.header("access-control-allow-origin"), None, "{what}");
        assert_eq!(page.header("referrer-policy"), Some("same-origin"), "{what}");
    }
    assert_eq!(b.get("/.well-known/oauth-authorization-server").header("access-control-allow-origin"), Some("*"));
    // `next` leads back to this server's authorization or admin page, never elsewhere.
    for next in ["https%3A%2F%2Fevil.example%2F", "%2F%2Fevil.example%2F", "%2F%5Cevil.example", "%2Fsignout"] {
        let form = body_text(&b.get(&format!("/signin?next={next}")));
        assert_eq!(input_value(&form, "next"), "/authorize", "{next}");
    }
}

/// Browsers ask every site for `/favicon.ico`: the pages' icon, not a JSON 404.
#[test]
fn the_favicon_is_the_pages_icon() {
    let svc = Memory::new();
    let mut b = Browser::new(&svc);
    let r = b.get("/favicon.ico");
    assert_eq!((r.status, r.header("content-type")), (200, Some("image/svg+xml")));
    assert!(body_text(&r).starts_with("<svg"));
    assert!(body_text(&b.get("/signin")).contains(r#"<link rel="icon" href="/favicon.ico""#), "the pages name it");
    assert_eq!(b.send(Method::Post, "/favicon.ico", &[], b"").header("allow"), Some("GET"));
}

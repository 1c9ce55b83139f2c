//! Issue #8: one error type, rendered in one place. A store that is down reaches every surface as
//! a fixed "temporarily unavailable" answer with `Retry-After`, never with what the store said;
//! and the layering rules that keep it so hold in the source.
use serde_json::json;

use super::*;

const STORE_TEXT: &str = "memory store is down";

fn assert_unavailable(r: &Response, surface: &str) {
    assert_eq!(r.status, 503, "{surface}: {}", body_text(r));
    assert_eq!(r.header("retry-after"), Some("5"), "{surface}");
    assert!(!body_text(r).contains(STORE_TEXT), "{surface} shows the store's own words: {}", body_text(r));
}

#[test]
fn a_store_outage_is_a_fixed_503_with_retry_after_on_every_surface() {
    let svc = Memory::new();
    let (client_id, _, tokens) = connect(&svc, Some("offline_access"));
    let access = tokens["access_token"].as_str().unwrap().to_string();
    let mut b = Browser::new(&svc);
    // Past the minute the token endpoint remembers a registration it found: it reads the store.
    svc.now.set(svc.now.get() + crate::core::isolate::CLIENT_SECONDS);
    svc.store_down.set(true);

    let r = b.post_form("/token", &[("grant_type", "refresh_token"), ("refresh_token", "x"), ("client_id", &client_id)]);
    assert_unavailable(&r, "/token");
    assert_eq!(body_json(&r)["error"], "temporarily_unavailable");
    assert_eq!(body_json(&r)["error_description"], "The client registry is temporarily unavailable; try again in a few seconds");
    assert_eq!(r.header("cache-control"), Some("no-store"));

    let r = mcp(&mut b, &access, json!({"jsonrpc": "2.0", "id": 1, "method": "ping"}));
    assert_unavailable(&r, "/mcp");
    assert_eq!(body_json(&r)["error_description"], "The workspace policy store is temporarily unavailable; try again in a few seconds");

    let r = b.get(&authorize_path(&client_id, None));
    assert_unavailable(&r, "/authorize");
    assert!(r.header("content-type").unwrap().starts_with("text/html"));
    assert!(body_text(&r).contains("The client registry is temporarily unavailable"), "{}", body_text(&r));

    let r = b.send(Method::Get, "/admin/api/workspaces/acme/policy", &[("authorization", &format!("Bearer {OPERATOR}"))], b"");
    assert_unavailable(&r, "admin API");
    assert_eq!(body_json(&r)["error_description"], "The workspace store is temporarily unavailable; try again in a few seconds");

    let r = b.send(
        Method::Post,
        "/register",
        &[("content-type", "application/json")],
        br#"{"redirect_uris":["http://localhost:3118/callback"]}"#,
    );
    assert_unavailable(&r, "/register");
}

#[test]
fn a_store_outage_at_sign_in_is_a_page_not_the_store_text() {
    let svc = Memory::new();
    let mut b = Browser::new(&svc);
    let page = body_text(&b.get("/signin?next=%2Fadmin"));
    svc.store_down.set(true);
    let r = b.post_form(
        "/signin",
        &[("next", "/admin"), ("csrf", &input_value(&page, "csrf")), ("workspace", "acme"), ("email", "ada@example.com")],
    );
    assert_unavailable(&r, "/signin");
    assert!(body_text(&r).contains("The workspace policy store is temporarily unavailable"));
}

#[test]
fn a_refresh_during_an_outage_does_not_move_the_family_on() {
    let svc = Memory::new();
    let (client_id, _, tokens) = connect(&svc, Some("offline_access"));
    let refresh = tokens["refresh_token"].as_str().unwrap();
    let mut b = Browser::new(&svc);
    let form = [("grant_type", "refresh_token"), ("refresh_token", refresh), ("client_id", client_id.as_str())];
    svc.store_down.set(true);
    assert_eq!(b.post_form("/token", &form).status, 503);
    svc.store_down.set(false);
    let r = b.post_form("/token", &form);
    assert_eq!(r.status, 200, "the retry after the outage is the first use: {}", body_text(&r));
}

/// The source files of `src/app` (not the tests), with their names.
/// Every source file of `src/app` outside its tests, named by its path below `src/app`
/// (`error/pages.rs` is part of the error module).
fn app_sources() -> Vec<(String, String)> {
    fn walk(dir: &std::path::Path, prefix: &str, files: &mut Vec<(String, String)>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let name = format!("{prefix}{}", path.file_name().unwrap().to_string_lossy());
            if path.is_dir() && name != "tests" {
                walk(&path, &format!("{name}/"), files);
            } else if path.extension().is_some_and(|x| x == "rs") {
                files.push((name, std::fs::read_to_string(&path).unwrap()));
            }
        }
    }
    let mut files = Vec::new();
    walk(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/app"), "", &mut files);
    files.sort();
    assert!(files.len() >= 10, "found {files:?}");
    files
}

#[test]
fn error_bodies_are_built_only_in_the_error_module() {
    for (name, text) in app_sources().iter().filter(|(n, _)| n != "error.rs" && !n.starts_with("error/")) {
        for forbidden in [
            "\"error\":",
            "\"error\" :",
            "Response::json(4",
            "Response::json(5",
            "Response::json_text(4",
            "Response::json_text(5",
            "pages::error(",
        ] {
            assert!(!text.contains(forbidden), "src/app/{name} builds an error response itself (`{forbidden}`); return an AppError");
        }
    }
}

#[test]
fn forms_bearer_tokens_and_cookies_are_read_only_by_the_extractors() {
    for (name, text) in app_sources().iter().filter(|(n, _)| n != "extract.rs") {
        for forbidden in
            ["form_urlencoded::parse", "query_pairs()", "header(\"authorization\")", "header(\"cookie\")", "CSRF_COOKIE", "SESSION_COOKIE)"]
        {
            assert!(!text.contains(forbidden), "src/app/{name} reads request input by hand (`{forbidden}`); use an extractor");
        }
    }
}

/// The sign-in page's form, posted with `content_type`, as the given browser.
fn post_signin(b: &mut Browser, content_type: Option<&str>) -> Response {
    let page = body_text(&b.get("/signin?next=%2Fadmin"));
    let body = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs([("next", "/admin"), ("csrf", &input_value(&page, "csrf")), ("workspace", "acme"), ("email", "ada@example.com")])
        .finish();
    let headers: Vec<(&str, &str)> = content_type.map(|c| ("content-type", c)).into_iter().collect();
    b.send(Method::Post, "/signin", &headers, body.as_bytes())
}

#[test]
fn the_sign_in_form_is_read_whatever_its_declared_type() {
    let svc = Memory::new();
    for content_type in [Some("application/x-www-form-urlencoded"), Some("text/plain"), None] {
        let r = post_signin(&mut Browser::new(&svc), content_type);
        assert_eq!((r.status, r.header("location")), (303, Some("/admin")), "{content_type:?}: {}", body_text(&r));
    }
}

/// `Set-Cookie` headers of a sign-in over `origin` (the request's own scheme and host).
fn sign_in_cookies(svc: &Memory, origin: &str) -> Vec<String> {
    let get = Request {
        method: Method::Get,
        url: url::Url::parse(&format!("{origin}/signin?next=%2Fadmin")).unwrap(),
        headers: vec![],
        body: vec![],
    };
    let shown = block_on(handle(svc, &get));
    assert_eq!(shown.status, 200, "{}", body_text(&shown));
    let csrf_cookie = shown.header("set-cookie").unwrap().split(';').next().unwrap().to_string();
    let body = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs([
            ("next", "/admin"),
            ("csrf", &input_value(&body_text(&shown), "csrf")),
            ("workspace", "acme"),
            ("email", "ada@example.com"),
        ])
        .finish();
    let req = Request {
        method: Method::Post,
        url: url::Url::parse(&format!("{origin}/signin")).unwrap(),
        headers: vec![("content-type".into(), "application/x-www-form-urlencoded".into()), ("cookie".into(), csrf_cookie.clone())],
        body: body.into_bytes(),
    };
    let r = block_on(handle(svc, &req));
    assert_eq!(r.status, 303, "{}", body_text(&r));
    vec![shown.header("set-cookie").unwrap().to_string(), r.header("set-cookie").unwrap().to_string()]
}

#[test]
fn cookies_are_host_prefixed_and_secure_over_https_and_plain_only_on_http_loopback() {
    let svc = Memory::new();
    for cookie in sign_in_cookies(&svc, ORIGIN) {
        assert!(cookie.starts_with("mcp_edge_") && !cookie.contains("Secure"), "local development over http: {cookie}");
    }
    for cookie in sign_in_cookies(&svc, "https://127.0.0.1:8443") {
        assert!(cookie.starts_with("__Host-mcp_edge_") && cookie.contains("; Secure"), "{cookie}");
        assert!(
            cookie.contains("; Path=/;") && cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax") && !cookie.contains("Domain")
        );
    }
}

#[test]
fn admin_bodies_are_read_by_field_and_anything_but_an_object_has_none() {
    let svc = Memory::new();
    let mut b = Browser::new(&svc);
    let auth = format!("Bearer {OPERATOR}");
    let post = |b: &mut Browser, path: &str, body: &str| {
        b.send(Method::Post, path, &[("authorization", &auth), ("content-type", "application/json")], body.as_bytes())
    };
    for body in [r#"["ada@example.com"]"#, "null", r#""ada@example.com""#] {
        let r = post(&mut b, "/admin/api/workspaces/acme/connections/revoke", body);
        assert_eq!((r.status, body_json(&r)["error_description"].as_str()), (400, Some("`user` is empty")), "{body}");
    }
    let json = [("authorization", auth.as_str()), ("content-type", "application/json")];
    let r = b.send(Method::Put, "/admin/api/workspaces/acme/upstream-key", &json, br#"["k"]"#);
    assert_eq!(r.status, 400, "{}", body_text(&r));
    // A body not declared JSON is refused before it is read, whatever it holds.
    let policy = body_json(&super::admin::admin_get(&mut b, "/admin/api/workspaces/acme/policy", Some(OPERATOR)));
    let etag = policy["etag"].as_str().unwrap();
    for (method, path, body) in [
        (Method::Put, "/admin/api/workspaces/acme/policy", policy["policy"].to_string()),
        (Method::Put, "/admin/api/workspaces/acme/upstream-key", r#"{"api_key":"k"}"#.to_string()),
        (Method::Post, "/admin/api/workspaces/acme/connections/revoke", r#"{"user":"ada@example.com"}"#.to_string()),
    ] {
        let r = b.send(method, path, &[("authorization", &auth), ("content-type", "text/plain"), ("if-match", etag)], body.as_bytes());
        assert_eq!(
            (r.status, body_json(&r)["error_description"].as_str()),
            (415, Some("Send the body as Content-Type: application/json")),
            "{path}"
        );
    }
    assert_eq!(
        body_json(&super::admin::admin_get(&mut b, "/admin/api/workspaces/acme/policy", Some(OPERATOR)))["etag"],
        etag,
        "nothing was written"
    );
}

/// Issue #12: every answer — page, JSON, error, asset, preflight, redirect — says `nosniff`, once.
#[test]
fn every_answer_carries_nosniff_once() {
    let svc = Memory::new();
    let mut b = Browser::new(&svc);
    let answers = [
        b.get("/"),
        b.get("/.well-known/oauth-authorization-server"),
        b.get("/.well-known/jwks.json"),
        b.get("/nowhere"),
        b.get("/assets/style.css"),
        b.get("/authorize"),
        b.get("/signin"),
        b.get("/admin"),
        b.send(Method::Options, "/token", &[], b""),
        b.send(Method::Post, "/token", &[("content-type", "application/json")], b"{"),
        b.send(Method::Post, "/mcp", &[("content-type", "application/json")], b"{}"),
        b.send(Method::Post, "/register", &[("content-type", "application/json")], b"<script>"),
        b.send(Method::Post, "/signout", &[], b""),
    ];
    for r in answers {
        let sniffs: Vec<_> = r.headers.iter().filter(|(k, _)| k == "x-content-type-options").collect();
        assert_eq!(sniffs.len(), 1, "{} {:?}", r.status, r.headers);
        assert_eq!(sniffs[0].1, "nosniff");
    }
}

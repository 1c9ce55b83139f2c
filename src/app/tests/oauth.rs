//! Issue #2: the authorization path, end to end in process.
use serde_json::json;

use super::*;

#[test]
pub(super) fn the_whole_path_ends_in_whoami_with_the_consented_scopes() {
    let svc = Memory::new();
    let (client_id, _, tokens) = connect(&svc, Some("offline_access"));
    assert_eq!(tokens["scope"], "CONTACTS_READ WORKSPACE_READ");
    assert!(tokens["refresh_token"].as_str().unwrap().starts_with("rt2."));
    let mut b = Browser::new(&svc);
    let access = tokens["access_token"].as_str().unwrap();
    let init = mcp(
        &mut b,
        access,
        json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}}),
    );
    assert_eq!(body_json(&init)["result"]["protocolVersion"], "2025-11-25");
    let note = mcp(&mut b, access, json!({"jsonrpc": "2.0", "method": "notifications/initialized"}));
    assert_eq!((note.status, note.body.len()), (202, 0));
    let who = body_json(&mcp(
        &mut b,
        access,
        json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "mcp_whoami", "arguments": {}}}),
    ));
    let s = &who["result"]["structuredContent"];
    assert_eq!(s["user"], json!({"email": "ada@example.com", "name": "Ada Lovelace"}));
    assert_eq!(s["workspace"], json!({"id": "acme", "name": "Acme"}));
    assert_eq!(s["client"], json!({"id": client_id, "name": "Claude Code"}));
    assert_eq!(s["scopes"], json!(["CONTACTS_READ", "WORKSPACE_READ"]));
    assert_eq!(s["expires_in"], 3600);
}

#[test]
pub(super) fn a_replayed_code_fails_and_revokes_what_the_first_redemption_issued() {
    let svc = Memory::new();
    let (client_id, code, tokens) = connect(&svc, None);
    let mut b = Browser::new(&svc);
    let again = exchange(&mut b, &client_id, &code, VERIFIER);
    assert_eq!((again.status, body_json(&again)["error"].as_str()), (400, Some("invalid_grant")));
    let r = mcp(&mut b, tokens["access_token"].as_str().unwrap(), json!({"jsonrpc": "2.0", "id": 1, "method": "ping"}));
    assert_eq!(r.status, 401);
    assert!(body_json(&r)["error_description"].as_str().unwrap().starts_with("Token validation failed: connection"));
    assert!(r.header("www-authenticate").unwrap().contains("error=\"invalid_token\""));
}

#[test]
pub(super) fn the_consent_page_may_lead_only_to_its_own_redirect_uri() {
    let svc = Memory::new();
    let mut b = Browser::new(&svc);
    let client_id = register(&mut b);
    let consent = sign_in(&mut b, &authorize_path(&client_id, None), "acme", "ada@example.com");
    let csp = consent.header("content-security-policy").unwrap();
    assert!(csp.contains("form-action 'self' http://localhost:3118;"), "{csp}");
    assert!(csp.contains("frame-ancestors 'none'"));
}

#[test]
pub(super) fn wrong_verifier_and_expired_codes_are_invalid_grant() {
    let svc = Memory::new();
    let mut b = Browser::new(&svc);
    let client_id = register(&mut b);
    let consent = sign_in(&mut b, &authorize_path(&client_id, None), "acme", "ada@example.com");
    let code = approve(&mut b, &consent);
    let r = exchange(&mut b, &client_id, &code, &"x".repeat(43));
    assert_eq!(body_json(&r)["error"], "invalid_grant");
    assert!(body_json(&r)["error_description"].as_str().unwrap().contains("PKCE"));
    let consent = b.get(&authorize_path(&client_id, None));
    let code = approve(&mut b, &consent);
    svc.now.set(svc.now.get() + 61);
    let r = exchange(&mut b, &client_id, &code, VERIFIER);
    assert_eq!(body_json(&r)["error"], "invalid_grant");
    assert!(body_json(&r)["error_description"].as_str().unwrap().contains("expired"));
    let r = exchange(&mut b, "nobody", &code, VERIFIER);
    assert_eq!((r.status, body_json(&r)["error"].as_str()), (401, Some("invalid_client")));
}

#[test]
pub(super) fn policy_rules_are_pages_with_the_exact_message_and_no_redirect() {
    let svc = Memory::new();
    svc.set_policy("pinned", |d| {
        d["allowed_client_ids"] = json!(["someone-else"]);
    });
    svc.set_policy("elsewhere", |d| d["allowed_redirect_uris"] = json!(["http://localhost:9999/callback"]));
    svc.set_policy("off", |d| {
        d["mcp_enabled"] = json!(false);
        d["allowed_redirect_uris"] = json!(["http://localhost:9999/callback"]);
    });
    // The rule, and the error the client hears if the person returns to it: only once the
    // redirect URI is registered and allowed, and not for a rule the person can fix here.
    let cases = [
        ("acme", Some("CONTACTS_WRITE"), "Requested scopes are not allowed", Some("invalid_scope")),
        ("pinned", None, "OAuth client_id is not allowed", Some("access_denied")),
        ("elsewhere", None, "redirect_uri is not allowed", None),
        ("off", None, "MCP is disabled for this workspace", None),
    ];
    for (ws, scope, message, back) in cases {
        let mut b = Browser::new(&svc);
        let client_id = register(&mut b);
        let page = sign_in(&mut b, &authorize_path(&client_id, scope), ws, "ada@example.com");
        assert_eq!(page.status, 403, "{ws}");
        assert!(page.header("location").is_none(), "the page offers the way back; it does not take it");
        let text = body_text(&page);
        assert!(text.contains(&format!("<p id=\"error-message\" class=\"error\" role=\"alert\">{message}</p>")), "{ws}: {text}");
        match back {
            None => assert!(!text.contains("return-to-client"), "{ws}: {text}"),
            Some(code) => {
                let href =
                    text.split("id=\"return-to-client\" class=\"button primary\" href=\"").nth(1).unwrap().split('"').next().unwrap();
                let url = url::Url::parse(&href.replace("&amp;", "&")).unwrap();
                assert!(url.as_str().starts_with(CALLBACK), "{url}");
                let q: HashMap<String, String> = url.query_pairs().into_owned().collect();
                assert_eq!(
                    (q["error"].as_str(), q["error_description"].as_str(), q["state"].as_str(), q["iss"].as_str()),
                    (code, message, "st", ORIGIN),
                    "{ws}"
                );
                assert!(text.contains(">Return to Claude Code</a>"), "{ws}");
            }
        }
    }
    // MCP off, with the redirect URI allowed: the client hears access_denied.
    svc.set_policy("off", |d| d["mcp_enabled"] = json!(false));
    let mut b = Browser::new(&svc);
    let client_id = register(&mut b);
    let text = body_text(&sign_in(&mut b, &authorize_path(&client_id, None), "off", "ada@example.com"));
    assert!(text.contains("error=access_denied&amp;error_description=MCP+is+disabled+for+this+workspace&amp;state=st"), "{text}");
}

#[test]
pub(super) fn disabling_mcp_ends_access_at_the_next_call() {
    let svc = Memory::new();
    let (_, _, tokens) = connect(&svc, None);
    svc.set_policy("acme", |d| d["mcp_enabled"] = json!(false));
    let mut b = Browser::new(&svc);
    let r = mcp(&mut b, tokens["access_token"].as_str().unwrap(), json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}));
    assert_eq!(r.status, 401);
    assert!(body_json(&r)["error_description"]
        .as_str()
        .unwrap()
        .starts_with("Token validation failed: policy: MCP is disabled for the workspace. "));
}

#[test]
pub(super) fn consent_post_without_the_csrf_cookie_is_refused() {
    let svc = Memory::new();
    let mut b = Browser::new(&svc);
    let client_id = register(&mut b);
    let consent = sign_in(&mut b, &authorize_path(&client_id, None), "acme", "ada@example.com");
    let csrf = input_value(&body_text(&consent), "csrf");
    b.cookies.remove(crate::core::cookies::CSRF_COOKIE);
    let r = b.post_form("/authorize", &[("client_id", &client_id), ("csrf", &csrf), ("decision", "approve")]);
    assert_eq!(r.status, 403);
    assert!(r.header("location").is_none());
}

#[test]
pub(super) fn mcp_transport_rules() {
    let svc = Memory::new();
    let (_, _, tokens) = connect(&svc, None);
    let access = tokens["access_token"].as_str().unwrap();
    let mut b = Browser::new(&svc);
    let r = b.send(Method::Post, "/mcp", &[("content-type", "application/json")], b"{}");
    assert_eq!(r.status, 401);
    assert_eq!(
        r.header("www-authenticate").unwrap(),
        format!("Bearer resource_metadata=\"{ORIGIN}/.well-known/oauth-protected-resource/mcp\"")
    );
    assert_eq!(b.get("/mcp").status, 405);
    let auth = format!("Bearer {access}");
    let ping = json!({"jsonrpc": "2.0", "id": 1, "method": "ping"}).to_string();
    let mut ping_from = |origin: &str| {
        b.send(Method::Post, "/mcp", &[("authorization", &auth), ("content-type", "application/json"), ("origin", origin)], ping.as_bytes())
            .status
    };
    assert_eq!(ping_from("https://evil.example"), 403);
    for rebinding in ["http://127.0.0.1.evil.example:8081", "http://localhost.evil.example"] {
        assert_eq!(ping_from(rebinding), 403, "{rebinding}: a DNS-rebinding origin is not loopback");
    }
    for loopback in [ORIGIN, "http://localhost:8081", "http://[::1]:9"] {
        assert_eq!(ping_from(loopback), 200, "{loopback}: a loopback origin while served on loopback");
    }
    let r = b.send(
        Method::Post,
        "/mcp",
        &[("authorization", &auth), ("content-type", "application/json"), ("mcp-protocol-version", "2024-01-01")],
        ping.as_bytes(),
    );
    assert_eq!(r.status, 400);
    let r = b.send(Method::Post, "/mcp", &[("authorization", &auth), ("content-type", "application/json")], b"[]");
    assert_eq!((r.status, body_json(&r)["error"]["code"].as_i64()), (400, Some(-32600)));
    let r = b.send(Method::Post, "/mcp", &[("authorization", &format!("{auth}x")), ("content-type", "application/json")], ping.as_bytes());
    assert_eq!(r.status, 401);
    assert!(r.header("www-authenticate").unwrap().contains("invalid_token"));
}

#[test]
pub(super) fn discovery_and_unknown_paths() {
    let svc = Memory::new();
    let mut b = Browser::new(&svc);
    assert_eq!(body_json(&b.get("/.well-known/oauth-authorization-server"))["issuer"], ORIGIN);
    assert_eq!(body_json(&b.get("/.well-known/oauth-protected-resource/mcp"))["resource"], format!("{ORIGIN}/mcp"));
    assert_eq!(b.get("/.well-known/openid-configuration").status, 404);
    assert_eq!(b.get("/nothing").status, 404);
    // Each path names the methods it answers; a path that serves nothing is 404 whatever the method.
    for (method, path, allow) in [
        (Method::Get, "/token", "POST"),
        (Method::Get, "/register", "POST"),
        (Method::Put, "/revoke", "POST"),
        (Method::Get, "/mcp", "POST"),
        (Method::Other, "/", "GET"),
        (Method::Post, "/assets/style.css", "GET"),
        (Method::Post, "/.well-known/jwks.json", "GET"),
        (Method::Delete, "/authorize", "GET, POST"),
    ] {
        let r = b.send(method, path, &[], b"");
        assert_eq!((r.status, r.header("allow")), (405, Some(allow)), "{method:?} {path}");
        assert_eq!(body_json(&r)["error_description"], format!("Use {allow}"));
    }
    assert_eq!(b.get("/oidc/callback?code=c&state=s").status, 404, "no identity provider here");
    for (method, path) in [(Method::Post, "/.well-known/nothing"), (Method::Get, "/.well-known/nothing"), (Method::Delete, "/nothing")] {
        assert_eq!(b.send(method, path, &[], b"").status, 404, "{method:?} {path}");
    }
}

#[test]
pub(super) fn an_approval_grants_only_what_the_consent_page_showed() {
    let svc = Memory::new();
    let mut b = Browser::new(&svc);
    let client_id = register(&mut b);
    let consent = sign_in(&mut b, &authorize_path(&client_id, None), "acme", "ada@example.com");
    assert_eq!(body_text(&consent).matches("data-scope=").count(), 2);
    // The admin raises the ceiling while the page is open: the request asked for no scope, so a
    // fresh evaluation would grant three scopes where the page showed two.
    svc.set_policy("acme", |p| p["scope_ceiling"] = json!(["WORKSPACE_READ", "CONTACTS_READ", "COMPANIES_READ"]));
    let again = post_approve(&mut b, &consent);
    assert_eq!(again.status, 200, "shown again, not approved");
    assert!(again.header("location").is_none());
    let text = body_text(&again);
    assert!(text.contains("id=\"consent-notice\""), "{text}");
    assert_eq!(text.matches("data-scope=").count(), 3, "the page now shows what would be granted");
    assert!(svc.codes.borrow().is_empty(), "no code was issued for the unseen grant");
    let code = approve(&mut b, &again);
    let tokens = body_json(&exchange(&mut b, &client_id, &code, VERIFIER));
    assert_eq!(tokens["scope"], "COMPANIES_READ CONTACTS_READ WORKSPACE_READ");
}

#[test]
pub(super) fn registrations_expire_unless_used_for_a_code() {
    let svc = Memory::new();
    let mut b = Browser::new(&svc);
    let ttl = svc.config().client_ttl();
    let (unused, used) = (register(&mut b), register(&mut b));
    svc.now.set(svc.now.get() + 30 * 86_400);
    let consent = sign_in(&mut b, &authorize_path(&used, None), "acme", "ada@example.com");
    let code = approve(&mut b, &consent);
    assert_eq!(exchange(&mut b, &used, &code, VERIFIER).status, 200);
    svc.now.set(svc.now.get() + ttl - 30 * 86_400 + 1);
    let gone = b.get(&authorize_path(&unused, None));
    assert_eq!(gone.status, 400, "an unused registration expired");
    assert!(body_text(&gone).contains("Unknown OAuth client"));
    assert_eq!(b.get(&authorize_path(&used, None)).status, 303, "a code renewed the other: on to sign-in");
}

/// MCP 2026-07-28 beside the legacy revisions on the same endpoint, chosen per request, with the
/// revision's HTTP statuses (docs/protocol.md §10).
#[test]
pub(super) fn both_mcp_eras_on_one_endpoint() {
    let svc = Memory::new();
    let (_, _, tokens) = connect(&svc, None);
    let auth = format!("Bearer {}", tokens["access_token"].as_str().unwrap());
    let mut b = Browser::new(&svc);
    let meta = json!({"io.modelcontextprotocol/protocolVersion": "2026-07-28", "io.modelcontextprotocol/clientCapabilities": {}});
    let mut post = |method: &str, params: Value, extra: &[(&str, &str)]| {
        let mut headers = vec![("authorization", auth.as_str()), ("content-type", "application/json")];
        headers.extend_from_slice(extra);
        let body = json!({"jsonrpc": "2.0", "id": 7, "method": method, "params": params}).to_string();
        let r = b.send(Method::Post, "/mcp", &headers, body.as_bytes());
        (r.status, body_json(&r))
    };
    let modern = [("mcp-protocol-version", "2026-07-28"), ("mcp-method", "tools/call"), ("mcp-name", "mcp_whoami")];
    let (status, r) = post("tools/call", json!({"name": "mcp_whoami", "_meta": meta}), &modern);
    assert_eq!(status, 200, "{r}");
    assert_eq!(r["result"]["resultType"], "complete");
    assert_eq!(r["result"]["structuredContent"]["user"]["email"], "ada@example.com");
    let (status, r) =
        post("server/discover", json!({"_meta": meta}), &[("mcp-protocol-version", "2026-07-28"), ("mcp-method", "server/discover")]);
    assert_eq!((status, r["result"]["supportedVersions"][0].as_str()), (200, Some("2026-07-28")));
    // Errors carry their status and the request's ID.
    let (status, r) = post("tools/call", json!({"name": "mcp_whoami", "_meta": meta}), &[modern[0], modern[1], ("mcp-name", "other")]);
    assert_eq!((status, r["error"]["code"].as_i64(), r["id"].as_i64()), (400, Some(-32020), Some(7)));
    let (status, r) = post("ping", json!({"_meta": meta}), &[("mcp-protocol-version", "2026-07-28"), ("mcp-method", "ping")]);
    assert_eq!((status, r["error"]["code"].as_i64()), (404, Some(-32601)));
    let (status, r) = post("tools/call", json!({"name": "nope", "_meta": meta}), &[modern[0], modern[1], ("mcp-name", "nope")]);
    assert_eq!((status, r["error"]["code"].as_i64()), (400, Some(-32602)));
    let future = json!({"io.modelcontextprotocol/protocolVersion": "2027-01-01", "io.modelcontextprotocol/clientCapabilities": {}});
    let (status, r) =
        post("server/discover", json!({"_meta": future}), &[("mcp-protocol-version", "2027-01-01"), ("mcp-method", "server/discover")]);
    assert_eq!((status, r["error"]["code"].as_i64()), (400, Some(-32022)));
    assert_eq!(r["error"]["data"]["supported"], json!(["2026-07-28", "2025-11-25", "2025-06-18", "2025-03-26"]));
    // The legacy era is as it was: initialize, ping, errors answered 200.
    let (status, r) =
        post("initialize", json!({"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}), &[]);
    assert_eq!((status, r["result"]["protocolVersion"].as_str()), (200, Some("2025-06-18")));
    assert_eq!(post("ping", json!({}), &[("mcp-protocol-version", "2025-11-25")]).0, 200);
    let (status, r) = post("nope", json!({}), &[("mcp-protocol-version", "2025-11-25")]);
    assert_eq!((status, r["error"]["code"].as_i64()), (200, Some(-32601)));
}

/// Issue #12: whoever sees a code — another registered client, someone without the verifier —
/// can neither burn it nor, once it is redeemed, revoke the connection it made.
#[test]
pub(super) fn a_foreign_presentation_neither_consumes_the_code_nor_revokes_its_connection() {
    let svc = Memory::new();
    let mut b = Browser::new(&svc);
    let client_id = register(&mut b);
    let intruder = register(&mut b);
    let consent = sign_in(&mut b, &authorize_path(&client_id, None), "acme", "ada@example.com");
    let code = approve(&mut b, &consent);
    let foreign = [(intruder.as_str(), VERIFIER), (intruder.as_str(), &*"x".repeat(43)), (client_id.as_str(), &*"x".repeat(43))];
    let refused = |b: &mut Browser, (who, verifier): (&str, &str)| {
        let r = exchange(b, who, &code, verifier);
        assert_eq!((r.status, body_json(&r)["error"].as_str()), (400, Some("invalid_grant")), "{who}");
        body_json(&r)["error_description"].as_str().unwrap().to_string()
    };
    assert_eq!(refused(&mut b, foreign[0]), "The authorization code was issued to another client");
    assert!(refused(&mut b, foreign[1]).starts_with("The authorization code was issued to another client"));
    assert!(refused(&mut b, foreign[2]).starts_with("PKCE verification failed"));
    let tokens = exchange(&mut b, &client_id, &code, VERIFIER);
    assert_eq!(tokens.status, 200, "the code survived: {}", body_text(&tokens));
    let access = body_json(&tokens)["access_token"].as_str().unwrap().to_string();
    for attempt in foreign {
        assert!(!refused(&mut b, attempt).contains("already used"), "not treated as a replay");
    }
    let r = mcp(&mut b, &access, json!({"jsonrpc": "2.0", "id": 1, "method": "ping"}));
    assert_eq!(r.status, 200, "the connection is alive: {}", body_text(&r));
    let replay = exchange(&mut b, &client_id, &code, VERIFIER);
    assert!(body_json(&replay)["error_description"].as_str().unwrap().contains("already used"));
    assert_eq!(mcp(&mut b, &access, json!({"jsonrpc": "2.0", "id": 2, "method": "ping"})).status, 401, "the bound client's replay revokes");
}

//! Client ID Metadata Documents through the whole pipeline: a client whose ID is its document's
//! URL authorizes, gets tokens, calls /mcp and revokes, with the document fetched once and
//! checked; documents that lie are refused with what is wrong, on the page and at /token.
use serde_json::{json, Value};

use super::*;
use crate::core::oauth::cimd::FetchedDocument;

const DOC: &str = "https://claude.ai/oauth/claude-code-client-metadata";

fn document(fields: Value) -> FetchedDocument {
    FetchedDocument {
        status: 200,
        content_type: "application/json".into(),
        cache_control: Some("max-age=600".into()),
        body: fields.to_string().into_bytes(),
    }
}

fn claude_code() -> Value {
    // As Anthropic publishes it: loopback callbacks without a port (RFC 8252 §7.3).
    json!({
        "client_id": DOC,
        "client_name": "Claude Code",
        "redirect_uris": ["http://localhost/callback", "http://127.0.0.1/callback"],
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "token_endpoint_auth_method": "none",
        "application_type": "native"
    })
}

fn serve(svc: &Memory, url: &str, doc: Result<FetchedDocument, String>) {
    svc.client_documents.borrow_mut().insert(url.to_string(), doc);
}

#[test]
fn a_document_client_connects_on_any_loopback_port_and_is_shown_as_verified() {
    let svc = Memory::new();
    serve(&svc, DOC, Ok(document(claude_code())));
    let mut b = Browser::new(&svc);
    let consent = sign_in(&mut b, &authorize_path(DOC, None), "acme", "ada@example.com");
    let page = body_text(&consent);
    assert!(page.contains("id=\"client-verified\">from claude.ai</span>"), "{page}");
    assert!(page.contains(">Claude Code</span>"));
    let code = approve(&mut b, &consent);
    let r = exchange(&mut b, DOC, &code, VERIFIER);
    assert_eq!(r.status, 200, "{}", body_text(&r));
    let tokens = body_json(&r);
    let who = mcp(
        &mut b,
        tokens["access_token"].as_str().unwrap(),
        json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "mcp_whoami"}}),
    );
    assert_eq!(body_json(&who)["result"]["structuredContent"]["client"], json!({"id": DOC, "name": "Claude Code"}));
    assert_eq!(svc.document_fetches.borrow().len(), 1, "fetched once, then kept per Cache-Control");
    assert!(svc.clients.borrow().is_empty(), "a document client is never stored as a registration");
    // Refresh and revoke name the client by its URL too.
    let refreshed = b.post_form(
        "/token",
        &[("grant_type", "refresh_token"), ("refresh_token", tokens["refresh_token"].as_str().unwrap()), ("client_id", DOC)],
    );
    assert_eq!(refreshed.status, 200, "{}", body_text(&refreshed));
    let access = body_json(&refreshed)["access_token"].as_str().unwrap().to_string();
    let refresh_token = body_json(&refreshed)["refresh_token"].as_str().unwrap().to_string();
    // Signing out needs no document: with its host unreachable (an offline laptop) and nothing
    // cached (another isolate), `claude mcp logout` still revokes both tokens at the first try.
    serve(&svc, DOC, Err("the host could not be reached".into()));
    svc.isolate.borrow_mut().client_documents = crate::core::isolate::Fresh::new(60, 1);
    let fetches = svc.document_fetches.borrow().len();
    for (token, hint) in [(&refresh_token, "refresh_token"), (&access, "access_token")] {
        let r = b.post_form("/revoke", &[("token", token), ("token_type_hint", hint), ("client_id", DOC)]);
        assert_eq!(r.status, 200, "{hint}: {}", body_text(&r));
    }
    assert_eq!(svc.document_fetches.borrow().len(), fetches, "revocation fetches no document");
    assert_eq!(mcp(&mut b, &access, json!({"jsonrpc": "2.0", "id": 1, "method": "ping"})).status, 401);
    serve(&svc, DOC, Ok(document(claude_code())));
    // The document's redirect URIs, not anything on loopback: another path is refused.
    let other = authorize_path(DOC, None).replace("%2Fcallback", "%2Felsewhere");
    let r = b.get(&other);
    assert_eq!(r.status, 400);
    assert!(body_text(&r).contains("is not registered for this client"));
}

#[test]
fn registered_clients_are_shown_as_unverified() {
    let svc = Memory::new();
    let mut b = Browser::new(&svc);
    let client_id = register(&mut b);
    let consent = sign_in(&mut b, &authorize_path(&client_id, None), "acme", "ada@example.com");
    assert!(body_text(&consent).contains("id=\"client-unverified\">unverified</span>"));
}

#[test]
fn the_pinned_list_takes_document_urls_and_the_allowlist_still_matches_exactly() {
    let svc = Memory::new();
    serve(&svc, DOC, Ok(document(claude_code())));
    let other = "https://tools.example/mcp-client.json";
    serve(&svc, other, Ok(document(json!({"client_id": other, "redirect_uris": [CALLBACK]}))));
    svc.set_policy("acme", |p| p["allowed_client_ids"] = json!([DOC]));
    let mut b = Browser::new(&svc);
    let consent = sign_in(&mut b, &authorize_path(DOC, None), "acme", "ada@example.com");
    assert_eq!(consent.status, 200, "{}", body_text(&consent));
    let r = b.get(&authorize_path(other, None));
    assert_eq!(r.status, 403);
    assert!(body_text(&r).contains("OAuth client_id is not allowed"), "{}", body_text(&r));
    // The document allows any loopback port; the workspace allowlist names 3118 exactly.
    let moved = authorize_path(DOC, None).replace("3118", "3119");
    let r = b.get(&moved);
    assert_eq!(r.status, 403);
    assert!(body_text(&r).contains("redirect_uri is not allowed"), "{}", body_text(&r));
}

#[test]
fn documents_that_cannot_be_used_are_refused_with_what_failed() {
    let svc = Memory::new();
    let lying = "https://a.example/lies.json";
    serve(
        &svc,
        lying,
        Ok(document(json!({"client_id": "https://claude.ai/oauth/claude-code-client-metadata", "redirect_uris": [CALLBACK]}))),
    );
    let secret = "https://a.example/secret.json";
    serve(&svc, secret, Ok(document(json!({"client_id": secret, "client_secret": "s3cr3t", "redirect_uris": [CALLBACK]}))));
    let big = "https://a.example/big.json";
    serve(&svc, big, Ok(FetchedDocument { body: vec![b' '; 6000], ..document(json!({})) }));
    let slow = "https://a.example/slow.json";
    serve(&svc, slow, Err("no answer within 3000 ms".into()));
    let mut b = Browser::new(&svc);
    for (url, needle) in [
        (lying, "its client_id is `https://claude.ai/oauth/claude-code-client-metadata`; it must be the document's own URL"),
        (secret, "must not carry secrets"),
        (big, "larger than 5120 bytes"),
        (slow, "could not be fetched: no answer within 3000 ms"),
        ("https://a.example/", "it must have a path"),
    ] {
        let r = b.get(&authorize_path(url, None));
        assert_eq!(r.status, 400, "{url}");
        let page = body_text(&r);
        assert!(page.contains("Client metadata document unusable"), "{url}: {page}");
        assert!(page.contains(&needle.replace('\'', "&#39;")), "{url}: {needle}\n{page}");
        let t = b.post_form("/token", &[("grant_type", "refresh_token"), ("refresh_token", "r"), ("client_id", url)]);
        assert_eq!((t.status, body_json(&t)["error"].as_str()), (401, Some("invalid_client")), "{url}");
        assert!(body_json(&t)["error_description"].as_str().unwrap().contains(needle), "{url}: {}", body_text(&t));
    }
    // Each broken document was fetched once, for /authorize: /token met the remembered failure.
    let fetched = |url: &str| svc.document_fetches.borrow().iter().filter(|f| f.as_str() == url).count();
    assert_eq!([lying, secret, big, slow].map(fetched), [1, 1, 1, 1]);
    // A fixed document is used once the failure is forgotten (cimd::FAILURE_SECONDS).
    serve(&svc, slow, Ok(document(json!({"client_id": slow, "redirect_uris": [CALLBACK]}))));
    assert_eq!(b.get(&authorize_path(slow, None)).status, 400, "still remembered as failed");
    svc.now.set(svc.now.get() + crate::core::oauth::cimd::FAILURE_SECONDS);
    assert_eq!(sign_in(&mut b, &authorize_path(slow, None), "acme", "ada@example.com").status, 200);
    assert_eq!(fetched(slow), 2);
}

/// `CLIENT_ID_METADATA_DOCUMENTS=off`: the metadata no longer offers documents (Claude Code then
/// registers), and a document URL presented anyway is refused without a fetch.
#[test]
fn with_documents_turned_off_clients_register_and_no_document_is_fetched() {
    let svc = Memory::with_vars(&[("CLIENT_ID_METADATA_DOCUMENTS", "off")]);
    serve(&svc, DOC, Ok(document(claude_code())));
    let mut b = Browser::new(&svc);
    let metadata = body_json(&b.get("/.well-known/oauth-authorization-server"));
    assert!(metadata.get("client_id_metadata_document_supported").is_none(), "{metadata}");
    let r = b.get(&authorize_path(DOC, None));
    assert_eq!(r.status, 400);
    assert!(body_text(&r).contains("this server does not accept those (CLIENT_ID_METADATA_DOCUMENTS=off)"), "{}", body_text(&r));
    assert!(svc.document_fetches.borrow().is_empty());
    let client_id = register(&mut b);
    assert_eq!(sign_in(&mut b, &authorize_path(&client_id, None), "acme", "ada@example.com").status, 200, "a registered client connects");
}

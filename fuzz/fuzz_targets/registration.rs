//! Client metadata, both ways a client can present it: a dynamic registration body (RFC 7591,
//! `parse_registration`) and a Client ID Metadata Document fetched from its `client_id` URL
//! (`cimd::document_url`, `cimd::client_from_document`). Input: the JSON body / document.
//!
//! Properties: nothing panics; an accepted client has 1–10 distinct redirect URIs that each
//! parse again, a bounded name without control characters, an https `client_uri`, survives
//! storage (serde) unchanged, and its registration response has no nulls; a document is
//! accepted only when its `client_id` is the URL it came from, and a URL is fetched only when
//! it is https, canonical, with a path and no fragment, user information or dot segments.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mcp_edge::core::oauth::cimd::{self, FetchedDocument, DEFAULT_CACHE_SECONDS};
use mcp_edge::core::oauth::register::{parse_registration, ClientRegistration};
use mcp_edge::core::oauth::types::{ClientId, RedirectUri};
use mcp_edge_fuzz::{client_id, NOW};
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    if let Ok(client) = parse_registration(data, client_id("c1"), NOW) {
        check_client(&client);
        let response = client.to_response_json();
        assert!(!has_null(&response), "{response}");
        assert_eq!(response["token_endpoint_auth_method"], "none");
    }

    // The document's own `client_id` names where it was fetched from (when it is one).
    let doc: Option<Value> = serde_json::from_slice(data).ok();
    let named = doc.as_ref().and_then(|d| d.get("client_id")).and_then(Value::as_str).and_then(ClientId::parse);
    let id = named.unwrap_or_else(|| client_id("https://client.example/oauth/metadata.json"));
    if let Ok(url) = cimd::document_url(&id, false) {
        let raw = id.as_str();
        assert_eq!(url.as_str(), raw, "a document URL is canonical");
        assert_eq!(url.scheme(), "https");
        assert!(url.fragment().is_none() && url.username().is_empty() && url.password().is_none(), "{raw}");
        assert!(url.path() != "/" && !url.path().split('/').any(|s| s == "." || s == ".."), "{raw}");
        assert!(cimd::verified_host(&id).is_some_and(|h| Some(h.as_str()) == url.host_str()));
    }
    let fetched = FetchedDocument { status: 200, content_type: "application/json".into(), cache_control: None, body: data.to_vec() };
    if let Ok((client, until)) = cimd::client_from_document(&id, &fetched, NOW) {
        assert_eq!(client.client_id, id);
        assert_eq!(doc.as_ref().and_then(|d| d.get("client_id")).and_then(Value::as_str), Some(id.as_str()));
        assert_eq!(until, NOW + DEFAULT_CACHE_SECONDS);
        check_client(&client);
    }
});

fn check_client(client: &ClientRegistration) {
    let uris = &client.redirect_uris;
    assert!((1..=10).contains(&uris.len()), "{} redirect URIs", uris.len());
    for (i, uri) in uris.iter().enumerate() {
        assert_eq!(RedirectUri::parse(uri.as_str()).as_ref(), Ok(uri));
        assert!(!uris[..i].contains(uri), "{uri:?} twice");
    }
    if let Some(name) = &client.client_name {
        assert!(!name.trim().is_empty() && name.chars().count() <= 200 && !name.chars().any(char::is_control), "{name:?}");
    }
    if let Some(uri) = &client.client_uri {
        assert_eq!(url::Url::parse(uri).map(|u| u.scheme().to_string()).ok().as_deref(), Some("https"), "{uri:?}");
    }
    let stored = serde_json::to_string(client).expect("serialises");
    let loaded: ClientRegistration =
        serde_json::from_str(&stored).unwrap_or_else(|e| panic!("a stored client does not load ({e}): {stored}"));
    assert_eq!(&loaded, client, "storage changed the client");
}

fn has_null(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Array(items) => items.iter().any(has_null),
        Value::Object(map) => map.values().any(has_null),
        _ => false,
    }
}

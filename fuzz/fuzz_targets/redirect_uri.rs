//! Redirect URIs: `RedirectUri::parse` and the registration match of /authorize
//! (`ClientRegistration::match_redirect_uri`: exact, or a port-less loopback URI on any port).
//! Input: lines; every line but the last is registered, the last is requested.
//!
//! Properties: an accepted URI has no fragment or user information and uses http only on a
//! loopback host; adding the response's query parameters never changes where it points; it
//! survives storage (serde) unchanged. A requested URI that matches is returned as sent and
//! reaches the same scheme, host and path (and query) as a registered one, on the same port
//! unless that one is a port-less loopback http URI.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mcp_edge::core::oauth::register::ClientRegistration;
use mcp_edge::core::oauth::types::RedirectUri;
use mcp_edge_fuzz::{client_id, is_loopback, text, NOW};
use url::Url;

fuzz_target!(|data: &[u8]| {
    let Some(input) = text(data) else { return };
    let lines: Vec<&str> = input.split('\n').collect();
    let (requested, registered) = lines.split_last().expect("split yields at least one item");
    let mut uris = Vec::new();
    for raw in lines.iter().copied() {
        if let Ok(uri) = RedirectUri::parse(raw) {
            check_accepted(raw, &uri);
            if registered.contains(&raw) && !uris.contains(&uri) {
                uris.push(uri);
            }
        }
    }
    if uris.is_empty() {
        return;
    }
    let client = ClientRegistration {
        client_id: client_id("c1"),
        client_name: None,
        client_uri: None,
        redirect_uris: uris,
        client_id_issued_at: NOW,
        renewed_at: None,
    };
    if let Ok(matched) = client.match_redirect_uri(Some(requested)) {
        assert_eq!(matched.as_str(), *requested, "the code goes where the client asked, or nowhere");
        let got = Url::parse(requested).expect("a matched URI parses");
        let allowed = client.redirect_uris.iter().any(|r| {
            let reg = Url::parse(r.as_str()).expect("a registered URI parses");
            let same = got.scheme() == reg.scheme() && got.host() == reg.host() && got.path() == reg.path() && got.query() == reg.query();
            let port_ok = got.port() == reg.port() || (reg.port().is_none() && reg.scheme() == "http" && is_loopback(&reg));
            same && port_ok
        });
        assert!(allowed, "{requested:?} matched none of {:?}", client.redirect_uris);
    }
    if client.redirect_uris.len() == 1 {
        assert_eq!(client.match_redirect_uri(None).as_ref(), Ok(&client.redirect_uris[0]));
    }
});

fn check_accepted(raw: &str, uri: &RedirectUri) {
    assert_eq!(uri.as_str(), raw);
    let url = Url::parse(raw).expect("an accepted redirect URI parses");
    assert!(!raw.contains('#') && url.fragment().is_none(), "fragment in {raw:?}");
    assert!(url.username().is_empty() && url.password().is_none(), "user information in {raw:?}");
    assert!(!["javascript", "data", "vbscript", "file", "about", "blob"].contains(&url.scheme()), "scheme of {raw:?}");
    if url.scheme() == "http" {
        assert!(is_loopback(&url), "http on a non-loopback host: {raw:?}");
    }
    if matches!(url.scheme(), "http" | "https") {
        assert!(url.host_str().is_some_and(|h| !h.is_empty()), "no host in {raw:?}");
    }
    // The success redirect: `code`, `state` and `iss` appended to the URI's own query.
    let with = Url::parse(&uri.with_params(&[("code", "c"), ("state", raw), ("iss", "https://x#y")])).expect("with_params parses");
    assert!(
        with.scheme() == url.scheme() && with.host() == url.host() && with.port() == url.port() && with.path() == url.path(),
        "with_params moved {raw:?} to {with}"
    );
    assert!(with.fragment().is_none(), "with_params added a fragment to {raw:?}");
    let state: Vec<String> = with.query_pairs().filter(|(k, _)| k == "state").map(|(_, v)| v.into_owned()).collect();
    assert_eq!(state.last().map(String::as_str), Some(raw), "state did not survive in {with}");
    let _ = (uri.display_host(), uri.csp_source(), uri.is_native_app_uri());
    let stored = serde_json::to_string(uri).expect("serialises");
    assert_eq!(serde_json::from_str::<RedirectUri>(&stored).as_ref().ok(), Some(uri), "storage changed {raw:?}");
}

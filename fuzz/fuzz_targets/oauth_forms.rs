//! The two urlencoded requests of the authorization server, parsed as the app does
//! (`form_urlencoded`, then the core): `/token`'s body (`token::parse`) and `/authorize`'s
//! query (`AuthorizeParams::from_pairs`, `authorize::validate` against a registered client).
//! Input: one urlencoded string, read as both.
//!
//! Properties: nothing panics; a parameter the endpoint reads that appears twice is refused; an
//! accepted code has the issued shape `c<2 lowercase hex digits>_<43 base64url>` and the resource
//! is this server's; an accepted authorization request's redirect URI matches the client's
//! registration, its scopes are the catalog's, and its success and error redirects go to that
//! URI (same scheme, host, port and path) carrying `state` and `iss`; the sign-in round trip
//! (`to_path`) gives back the same parameters.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mcp_edge::core::oauth::authorize::{self, AuthorizeParams, PARAMS};
use mcp_edge::core::oauth::error::OAuthError;
use mcp_edge::core::oauth::register::parse_registration;
use mcp_edge::core::oauth::token::{self, TokenRequest};
use mcp_edge_fuzz::{catalog, client_id, same_endpoint, ORIGIN};
use url::Url;

const KNOWN: [&str; 8] = ["grant_type", "code", "redirect_uri", "client_id", "code_verifier", "resource", "refresh_token", "scope"];

fuzz_target!(|data: &[u8]| {
    let pairs: Vec<(String, String)> = url::form_urlencoded::parse(data).into_owned().collect();
    let twice = |known: &[&str]| known.iter().any(|k| pairs.iter().filter(|(n, _)| n == k).count() > 1);
    let value = |name: &str| pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());

    match token::parse(&pairs, ORIGIN) {
        Ok(_) if twice(&KNOWN) => panic!("a repeated parameter was accepted: {pairs:?}"),
        Ok(TokenRequest::AuthorizationCode { code, presented }) => {
            let (client_id, resource) = (presented.client_id, presented.resource);
            let text = code.as_str();
            let (shard, secret) = text.strip_prefix('c').and_then(|t| t.split_once('_')).expect("c<shard>_<secret>");
            assert!(shard.len() == 2 && shard.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)), "shard of {text:?}");
            assert_eq!(u8::from_str_radix(shard, 16).ok(), Some(code.shard()));
            assert!(secret.len() == 43 && secret.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'), "{text:?}");
            assert_eq!(Some(client_id.as_str()), value("client_id"));
            assert_eq!(resource, format!("{ORIGIN}/mcp"));
        }
        Ok(TokenRequest::RefreshToken { refresh_token, client_id, .. }) => {
            assert_eq!(Some(refresh_token.as_str()), value("refresh_token"));
            assert_eq!(Some(client_id.as_str()), value("client_id"));
        }
        Err(e) => check_error(&e),
    }

    let params = match AuthorizeParams::from_pairs(&pairs) {
        Ok(p) => p,
        Err(e) => {
            assert!(twice(&PARAMS), "refused without a repeated parameter: {pairs:?}");
            return check_error(&e);
        }
    };
    assert!(!twice(&PARAMS));
    let back: Vec<(String, String)> =
        Url::parse(&format!("{ORIGIN}{}", params.to_path())).expect("to_path is a path").query_pairs().into_owned().collect();
    assert_eq!(AuthorizeParams::from_pairs(&back).as_ref(), Ok(&params), "to_path does not round-trip");

    let body = br#"{"redirect_uris":["http://localhost/callback","https://app.example/cb?x=1","com.example.app:/oauth"]}"#;
    let client = parse_registration(body, client_id("c1"), 0).expect("the fixed registration parses");
    let request = match authorize::validate(&params, &client, catalog(), ORIGIN) {
        Ok(r) => r,
        Err(e) => return check_error(&e),
    };
    let asked = params.get("redirect_uri");
    assert_eq!(request.redirect_uri_sent, asked.is_some());
    assert!(asked.is_none_or(|a| a == request.redirect_uri.as_str()));
    assert!(client.match_redirect_uri(Some(request.redirect_uri.as_str())).is_ok());
    assert!(request.requested.scopes.iter().all(|s| catalog().contains(s)));
    assert!(request.state.as_ref().is_none_or(|s| !s.is_empty() && s.len() <= 2048));
    let target = Url::parse(request.redirect_uri.as_str()).expect("a matched URI parses");
    let error = OAuthError::invalid_request("fuzz");
    for location in [request.success_redirect("c00_code", ORIGIN), request.error_redirect(&error, ORIGIN)] {
        let url = Url::parse(&location).expect("a redirect parses");
        assert!(same_endpoint(&url, &target), "{location} is not {target}");
        let got = |name: &str| url.query_pairs().filter(|(k, _)| k == name).last().map(|(_, v)| v.into_owned());
        assert_eq!(got("iss").as_deref(), Some(ORIGIN));
        assert_eq!(got("state"), request.state, "{location}");
    }
});

fn check_error(e: &OAuthError) {
    assert!(!e.description.is_empty());
    assert!(!e.code.as_str().is_empty());
}

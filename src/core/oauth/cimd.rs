//! Client ID Metadata Documents (CIMD; draft-ietf-oauth-client-id-metadata-document, the MCP
//! authorization spec's preferred registration): a `client_id` that is an https URL names a JSON
//! document, served there by the client's owner, that says what the client is. This server
//! fetches it (the edge: a timeout, a size limit, no redirects), checks it here, and caches it
//! per `Cache-Control` within bounds (docs/protocol.md §7).
use serde_json::Value;

use super::register::{parse_metadata, ClientMetadata, ClientRegistration};
use super::types::{is_loopback_host, ClientId};

/// Documents are small (Claude Code's is under 1 KB); anything larger is refused.
pub const MAX_DOCUMENT_BYTES: usize = 5 * 1024;
pub const FETCH_TIMEOUT_MS: u64 = 3_000;
/// Kept this long when the answer says nothing about caching.
pub const DEFAULT_CACHE_SECONDS: i64 = 300;
/// Never kept longer than this, whatever the answer says.
pub const MAX_CACHE_SECONDS: i64 = 86_400;
/// Documents an isolate keeps at most.
pub const CACHE_ENTRIES: usize = 64;
/// How long an isolate remembers that a document could not be fetched or used: a client ID
/// with a broken document costs one fetch per this many seconds, however often it is presented.
pub const FAILURE_SECONDS: i64 = 10;

/// What the edge brought back from a document URL.
#[derive(Debug, Clone, PartialEq)]
pub struct FetchedDocument {
    pub status: u16,
    pub content_type: String,
    pub cache_control: Option<String>,
    /// At most `MAX_DOCUMENT_BYTES + 1` bytes: one more means the document is too large.
    pub body: Vec<u8>,
}

/// Whether a client ID is a metadata-document URL. Registered IDs are random tokens minted
/// here, never URLs, so the shape alone decides.
pub fn is_document_url(client_id: &ClientId) -> bool {
    let id = client_id.as_str();
    id.starts_with("https://") || id.starts_with("http://")
}

/// The URL to fetch, if this client ID may name a document: https with a path, no fragment, no
/// user information, no dot segments (the draft's rules). Plain http only for a loopback host,
/// and only while developing locally (`local_development`: no `PUBLIC_ORIGIN`).
pub fn document_url(client_id: &ClientId, local_development: bool) -> Result<url::Url, String> {
    let raw = client_id.as_str();
    let bad = |why: &str| format!("The client ID `{raw}` is not a usable metadata-document URL: {why}");
    let url = url::Url::parse(raw).map_err(|_| bad("it does not parse as a URL"))?;
    match url.scheme() {
        "https" => {}
        "http" if local_development && url.host_str().is_some_and(is_loopback_host) => {}
        "http" if url.host_str().is_some_and(is_loopback_host) => {
            return Err(bad("plain http is accepted only for a loopback document while developing locally (no PUBLIC_ORIGIN)"))
        }
        _ => return Err(bad("it must be an https URL")),
    }
    // The fetch comes from this server: an address (`https://169.254.169.254/…`, `10.0.0.1`,
    // `[fd00::1]`) could reach what only it can reach (SSRF); a document is named by a domain.
    if url.scheme() == "https" && !matches!(url.host(), Some(url::Host::Domain(_))) {
        return Err(bad("it must name its host by a domain name, not an IP address"));
    }
    if url.scheme() == "https" && !local_development && url.host_str().is_some_and(|h| h == "localhost" || h.ends_with(".localhost")) {
        return Err(bad("a `localhost` document is accepted only while developing locally"));
    }
    if raw.contains('#') || !url.username().is_empty() || url.password().is_some() {
        return Err(bad("it must not have a fragment or user information"));
    }
    if url.path() == "/" || raw.split(['?', '#']).next().unwrap_or("").split('/').skip(3).any(|s| s == "." || s == "..") {
        return Err(bad("it must have a path, without `.` or `..` segments"));
    }
    // The URL is compared with the document's `client_id` exactly: a parser's normalisation
    // (`HTTPS://X/a/./b` → `https://x/a/b`) must not make two spellings one client.
    if url.as_str() != raw {
        return Err(bad(&format!("it is not in canonical form (`{}`)", url.as_str())));
    }
    Ok(url)
}

/// The client a fetched document describes, and until when it may be kept (Unix seconds).
pub fn client_from_document(client_id: &ClientId, fetched: &FetchedDocument, now: i64) -> Result<(ClientRegistration, i64), String> {
    let url = client_id.as_str();
    let at = |why: String| format!("The client's metadata document at {url} cannot be used: {why}");
    if (300..400).contains(&fetched.status) {
        return Err(at(format!("it answered HTTP {} (redirects are not followed)", fetched.status)));
    }
    if fetched.status != 200 {
        return Err(at(format!("it answered HTTP {}", fetched.status)));
    }
    if fetched.body.len() > MAX_DOCUMENT_BYTES {
        return Err(at(format!("it is larger than {MAX_DOCUMENT_BYTES} bytes")));
    }
    let mime = fetched.content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    if mime != "application/json" && !mime.ends_with("+json") {
        return Err(at(format!("it is served as `{mime}`, not application/json")));
    }
    let doc: Value = serde_json::from_slice(&fetched.body).map_err(|e| at(format!("it is not JSON ({e})")))?;
    let Some(fields) = doc.as_object() else { return Err(at("it is not a JSON object".into())) };
    match fields.get("client_id").and_then(Value::as_str) {
        Some(id) if id == url => {}
        Some(id) => return Err(at(format!("its client_id is `{id}`; it must be the document's own URL"))),
        None => return Err(at("it has no client_id (it must be the document's own URL)".into())),
    }
    for secret in ["client_secret", "client_secret_expires_at"] {
        if fields.contains_key(secret) {
            return Err(at(format!("it contains `{secret}`; a metadata document is public and must not carry secrets")));
        }
    }
    match fields.get("token_endpoint_auth_method").and_then(Value::as_str) {
        None | Some("none") => {}
        Some(other) => {
            return Err(at(format!("it asks for token_endpoint_auth_method `{other}`; this server serves public clients only (`none`)")))
        }
    }
    let ClientMetadata { client_name, client_uri, redirect_uris } = parse_metadata(&doc).map_err(|e| at(e.description))?;
    let client = ClientRegistration {
        client_id: client_id.clone(),
        client_name,
        client_uri,
        redirect_uris,
        client_id_issued_at: now,
        renewed_at: None,
    };
    Ok((client, now + cache_seconds(fetched.cache_control.as_deref())))
}

/// How long to keep a document: `max-age` (capped at `MAX_CACHE_SECONDS`), nothing for
/// `no-store` or `no-cache`, `DEFAULT_CACHE_SECONDS` when the answer says nothing.
pub fn cache_seconds(cache_control: Option<&str>) -> i64 {
    let Some(header) = cache_control else { return DEFAULT_CACHE_SECONDS };
    let mut max_age = None;
    for directive in header.split(',').map(|d| d.trim().to_ascii_lowercase()) {
        if directive == "no-store" || directive == "no-cache" {
            return 0;
        }
        if let Some(v) = directive.strip_prefix("max-age=") {
            max_age = v.trim_matches('"').parse::<i64>().ok();
        }
    }
    max_age.map_or(DEFAULT_CACHE_SECONDS, |s| s.clamp(0, MAX_CACHE_SECONDS))
}

/// The document's host: who vouches for this client (the consent page shows it as verified).
pub fn verified_host(client_id: &ClientId) -> Option<String> {
    if !is_document_url(client_id) {
        return None;
    }
    url::Url::parse(client_id.as_str()).ok().and_then(|u| u.host_str().map(str::to_string))
}

#[cfg(test)]
mod tests {
    use super::*;

    const URL: &str = "https://claude.ai/oauth/claude-code-client-metadata";

    fn id(raw: &str) -> ClientId {
        ClientId::parse(raw).unwrap()
    }
    fn fetched(body: &str) -> FetchedDocument {
        FetchedDocument { status: 200, content_type: "application/json".into(), cache_control: None, body: body.as_bytes().to_vec() }
    }
    fn claude_code() -> String {
        format!(
            r#"{{"client_id":"{URL}","client_name":"Claude Code","redirect_uris":["http://localhost/callback","http://127.0.0.1/callback"],"grant_types":["authorization_code","refresh_token"],"response_types":["code"],"token_endpoint_auth_method":"none","application_type":"native"}}"#
        )
    }

    #[test]
    fn claude_codes_document_is_a_client_on_any_loopback_port() {
        let (client, until) = client_from_document(&id(URL), &fetched(&claude_code()), 1000).unwrap();
        assert_eq!(client.display_name(), "Claude Code");
        assert_eq!(until, 1000 + DEFAULT_CACHE_SECONDS);
        assert!(client.match_redirect_uri(Some("http://localhost:3118/callback")).is_ok());
        assert!(client.match_redirect_uri(Some("http://localhost:3118/elsewhere")).is_err());
        assert_eq!(verified_host(&id(URL)).as_deref(), Some("claude.ai"));
        assert_eq!(verified_host(&id("Zm9v")), None);
    }

    #[test]
    fn documents_that_lie_or_leak_are_refused_with_what_is_wrong() {
        let cases = [
            (claude_code().replace(URL, "https://claude.ai/other"), "its client_id is `https://claude.ai/other`"),
            (claude_code().replace("\"client_id\":", "\"client_secret\":\"s\",\"client_id\":"), "must not carry secrets"),
            (claude_code().replace("\"none\"", "\"private_key_jwt\""), "public clients only"),
            (claude_code().replace("\"redirect_uris\":[", "\"redirect_uris\":[\"javascript:x\","), "javascript"),
            (r#"{"client_name":"x"}"#.to_string(), "has no client_id"),
            ("[1]".to_string(), "not a JSON object"),
            ("{".to_string(), "not JSON"),
            (claude_code().replace("http://localhost/callback", "https://evil.example/cb"), "application_type native"),
        ];
        for (doc, needle) in cases {
            let e = client_from_document(&id(URL), &fetched(&doc), 0).unwrap_err();
            assert!(e.starts_with(&format!("The client's metadata document at {URL} cannot be used: ")), "{e}");
            assert!(e.contains(needle), "{needle}: {e}");
        }
        let big = FetchedDocument { body: vec![b' '; MAX_DOCUMENT_BYTES + 1], ..fetched("") };
        assert!(client_from_document(&id(URL), &big, 0).unwrap_err().contains("larger than 5120 bytes"));
        let moved = FetchedDocument { status: 302, ..fetched(&claude_code()) };
        assert!(client_from_document(&id(URL), &moved, 0).unwrap_err().contains("redirects are not followed"));
        let html = FetchedDocument { content_type: "text/html".into(), ..fetched(&claude_code()) };
        assert!(client_from_document(&id(URL), &html, 0).unwrap_err().contains("not application/json"));
    }

    #[test]
    fn only_canonical_https_urls_with_a_path_name_documents() {
        assert!(document_url(&id(URL), false).is_ok());
        for (raw, needle) in [
            ("http://claude.ai/oauth/x", "https"),
            ("https://claude.ai/", "path"),
            ("https://claude.ai/a/../b", "`..`"),
            ("https://user@claude.ai/a", "user information"),
            ("https://claude.ai/a#f", "fragment"),
            ("https://CLAUDE.ai/a", "canonical"),
            ("https://169.254.169.254/latest/meta-data", "domain name, not an IP address"),
            ("https://10.0.0.1/client.json", "domain name, not an IP address"),
            ("https://[fd00::1]/client.json", "domain name, not an IP address"),
            ("https://0x7f000001/client.json", "domain name, not an IP address"),
            ("https://localhost/client.json", "only while developing locally"),
        ] {
            let e = document_url(&id(raw), false).unwrap_err();
            assert!(e.contains(needle), "{raw}: {e}");
        }
        assert!(document_url(&id("http://127.0.0.1:9/client.json"), true).is_ok(), "loopback http while developing");
        let e = document_url(&id("http://127.0.0.1:9/client.json"), false).unwrap_err();
        assert!(e.contains("only for a loopback document while developing locally"), "{e}");
        assert!(document_url(&id("http://docs.example/client.json"), true).is_err(), "http elsewhere, never");
    }

    #[test]
    fn caching_follows_cache_control_within_bounds() {
        assert_eq!(cache_seconds(None), DEFAULT_CACHE_SECONDS);
        assert_eq!(cache_seconds(Some("public, max-age=600")), 600);
        assert_eq!(cache_seconds(Some("max-age=99999999")), MAX_CACHE_SECONDS);
        assert_eq!(cache_seconds(Some("no-store")), 0);
        assert_eq!(cache_seconds(Some("max-age=60, no-cache")), 0);
        assert_eq!(cache_seconds(Some("private")), DEFAULT_CACHE_SECONDS);
    }
}

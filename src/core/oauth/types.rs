//! Parsed protocol values: once a value has one of these types it has been checked.
use serde::{Deserialize, Serialize};

/// A client identifier we issued (or an admin pre-registered): printable, bounded.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ClientId(String);

impl ClientId {
    pub fn parse(raw: &str) -> Option<ClientId> {
        let ok = !raw.is_empty() && raw.len() <= 256 && raw.bytes().all(|b| b.is_ascii_graphic());
        ok.then(|| ClientId(raw.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A redirect URI that is safe to register and, once matched, to redirect to.
/// Kept as the exact string the client sent: matching is exact (RFC 6749 §3.1.2.3, OAuth 2.1 §4.1.3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct RedirectUri(String);

const FORBIDDEN_SCHEMES: [&str; 6] = ["javascript", "data", "vbscript", "file", "about", "blob"];

impl RedirectUri {
    /// RFC 6749 §3.1.2: absolute, no fragment. OAuth 2.1 §2.3.1 / RFC 8252 §7.3: plain `http`
    /// only for loopback. We also refuse userinfo and script-bearing schemes.
    pub fn parse(raw: &str) -> Result<RedirectUri, String> {
        // Bounded, as everything that is stored and shown again (registrations, outcomes).
        if raw.len() > MAX_REDIRECT_URI {
            return Err(format!("a redirect URI of {} characters is longer than {MAX_REDIRECT_URI}", raw.len()));
        }
        // Spaces and control characters would be silently dropped or encoded by the parse (and
        // by browsers), so the URI matched would not be the one registered: say which one to remove.
        if let Some(c) = raw.chars().find(|&c| c.is_whitespace() || crate::core::text::is_hidden(c)) {
            let found = crate::core::text::code_point(c);
            return Err(format!("a redirect URI must not contain spaces or control characters (found {found})"));
        }
        let url = url::Url::parse(raw).map_err(|e| match e {
            url::ParseError::RelativeUrlWithoutBase => format!("`{raw}` is not an absolute URI"),
            e => format!("`{raw}` is not a valid URI ({e})"),
        })?;
        // `/callback/../x` is `/x` once a browser follows it: register the path it leads to.
        let path = raw.split(['?', '#']).next().unwrap_or(raw);
        if path.split('/').skip(1).any(|s| matches!(s.to_ascii_lowercase().replace("%2e", ".").as_str(), "." | "..")) {
            return Err(format!("`{raw}` has `.` or `..` path segments; write the path they lead to"));
        }
        if raw.contains('#') {
            return Err(format!("`{raw}` has a fragment; redirect URIs must not"));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(format!("`{raw}` has user information; redirect URIs must not"));
        }
        let scheme = url.scheme();
        // `localhost:3118/callback` parses as the scheme `localhost:`; it is a typo for http.
        if scheme == "localhost" || url.path().starts_with(|c: char| c.is_ascii_digit()) && url.cannot_be_a_base() {
            return Err(format!("`{raw}` has no scheme; write it as http://{raw}"));
        }
        if FORBIDDEN_SCHEMES.contains(&scheme) {
            return Err(format!("`{raw}` uses the `{scheme}:` scheme, which is not allowed for redirects"));
        }
        if scheme == "http" && !is_loopback_host(url.host_str().unwrap_or("")) {
            return Err(format!("`{raw}` uses http on a non-loopback host; use https"));
        }
        if (scheme == "http" || scheme == "https") && url.host_str().is_none_or(str::is_empty) {
            return Err(format!("`{raw}` has no host"));
        }
        Ok(RedirectUri(raw.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// RFC 8252 §7.3: this is a loopback `http` URI without a port, and `requested` is the same
    /// URI with one (any port).
    pub fn matches_on_any_port(&self, requested: &str) -> bool {
        let (Ok(registered), Ok(requested)) = (url::Url::parse(&self.0), url::Url::parse(requested)) else { return false };
        let loopback = |u: &url::Url| u.scheme() == "http" && u.host_str().is_some_and(is_loopback_host);
        if !loopback(&registered) || registered.port().is_some() || requested.port().is_none() {
            return false;
        }
        let mut without_port = requested.clone();
        without_port.set_port(None).is_ok() && without_port == registered
    }

    /// Where a native app (RFC 8252) can receive a redirect: a loopback `http` URI, or a
    /// private-use URI scheme (`com.example.app:/cb`).
    pub fn is_native_app_uri(&self) -> bool {
        match url::Url::parse(&self.0) {
            Ok(u) if u.scheme() == "http" => u.host_str().is_some_and(is_loopback_host),
            Ok(u) => u.scheme() != "https",
            Err(_) => false,
        }
    }

    /// The host (and port) the consent page names, or the scheme for native-app URIs.
    pub fn display_host(&self) -> String {
        match url::Url::parse(&self.0) {
            Ok(u) => match (u.host_str(), u.port()) {
                (Some(h), Some(p)) => format!("{h}:{p}"),
                (Some(h), None) if !h.is_empty() => h.to_string(),
                _ => format!("{}:", u.scheme()),
            },
            Err(_) => self.0.clone(),
        }
    }

    /// The CSP source expression matching this URI: its origin, or `scheme:` for native apps.
    pub fn csp_source(&self) -> String {
        match url::Url::parse(&self.0) {
            Ok(u) if matches!(u.scheme(), "http" | "https") => u.origin().ascii_serialization(),
            Ok(u) => format!("{}:", u.scheme()),
            Err(_) => "'none'".to_string(),
        }
    }

    /// Appends query parameters (RFC 6749 §4.1.2: keep the URI's own query).
    pub fn with_params(&self, params: &[(&str, &str)]) -> String {
        let mut url = match url::Url::parse(&self.0) {
            Ok(u) => u,
            Err(_) => return self.0.clone(),
        };
        url.query_pairs_mut().extend_pairs(params.iter().copied());
        url.to_string()
    }
}

pub const MAX_REDIRECT_URI: usize = 2000;

// Stored records (registrations, codes, connections) and token claims deserialize through the
// same parse: a value of these types is always valid.
impl TryFrom<String> for ClientId {
    type Error = String;
    fn try_from(raw: String) -> Result<ClientId, String> {
        ClientId::parse(&raw).ok_or_else(|| format!("`{raw}` is not a client ID"))
    }
}

impl From<ClientId> for String {
    fn from(id: ClientId) -> String {
        id.0
    }
}

impl std::fmt::Display for ClientId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for RedirectUri {
    type Error = String;
    fn try_from(raw: String) -> Result<RedirectUri, String> {
        RedirectUri::parse(&raw)
    }
}

impl From<RedirectUri> for String {
    fn from(uri: RedirectUri) -> String {
        uri.0
    }
}

/// RFC 8252 §7.3 loopback: `localhost`, an IPv4 address in 127.0.0.0/8 or `[::1]` — parsed,
/// never a prefix match (`127.0.0.1.evil.example` is a domain name, not loopback).
pub fn is_loopback_host(host: &str) -> bool {
    if host.eq_ignore_ascii_case("localhost") {
        return true;
    }
    let bare = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host);
    bare.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_loopback_https_and_native_schemes() {
        for ok in [
            "http://localhost:3118/callback",
            "http://127.0.0.1:9/cb",
            "http://127.1.2.3/cb",
            "http://[::1]:3118/callback",
            "https://app.example/cb?x=1",
            "cursor://anysphere.cursor-retrieval/oauth/callback",
        ] {
            assert!(RedirectUri::parse(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn rejects_what_design_forbids() {
        for (bad, why) in [
            ("/callback", "absolute"),
            ("http://localhost:3118/callback#x", "fragment"),
            ("https://user:pw@app.example/cb", "user information"),
            ("javascript:alert(1)", "javascript"),
            ("data:text/html,hi", "data"),
            ("http://evil.example/cb", "non-loopback"),
            ("http://127.0.0.1.evil.example/cb", "non-loopback"),
            ("http://localhost.evil.example/cb", "non-loopback"),
            ("localhost:3118/callback", "no scheme"),
            ("http://localhost:3118.evil.com/callback", "not a valid URI (invalid port number)"),
            ("http://evil@localhost:3118/callback", "user information"),
            ("http://localhost:3118/callback/../x", "`..` path segments"),
            ("http://localhost:3118/callback/%2E/x", "`..` path segments"),
            ("http://localhost:3118/call back", "(found U+0020)"),
            ("http://localhost:3118/callback\n", "(found U+000A)"),
            ("http://localhost:3118/call\u{202E}back", "(found U+202E)"),
            (&format!("https://app.example/{}", "a".repeat(2000)), "longer than 2000"),
        ] {
            let err = RedirectUri::parse(bad).unwrap_err();
            assert!(err.contains(why), "{bad}: {err}");
        }
    }

    #[test]
    fn with_params_keeps_existing_query() {
        let r = RedirectUri::parse("https://app.example/cb?x=1").unwrap();
        assert_eq!(r.with_params(&[("code", "a b"), ("state", "s")]), "https://app.example/cb?x=1&code=a+b&state=s");
        assert_eq!(RedirectUri::parse("http://localhost:3118/callback").unwrap().display_host(), "localhost:3118");
    }

    #[test]
    fn stored_values_deserialize_only_through_the_parse() {
        assert!(serde_json::from_str::<RedirectUri>("\"http://localhost:3118/callback\"").is_ok());
        assert!(serde_json::from_str::<RedirectUri>("\"javascript:alert(1)\"").is_err());
        assert!(serde_json::from_str::<ClientId>("\"a b\"").is_err());
        let registration = r#"{"client_id":"c1","redirect_uris":["http://evil.example/cb"],"client_id_issued_at":1}"#;
        assert!(serde_json::from_str::<crate::core::oauth::register::ClientRegistration>(registration).is_err());
    }

    #[test]
    fn client_ids_are_bounded_and_printable() {
        assert!(ClientId::parse("abc").is_some());
        assert!(ClientId::parse("").is_none());
        assert!(ClientId::parse("a b").is_none());
        assert!(ClientId::parse(&"a".repeat(300)).is_none());
    }
}

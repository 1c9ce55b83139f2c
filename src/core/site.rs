//! Which origin a request is served as, decided once per request from the configuration and
//! the request's `Host` — the DNS-rebinding defence (docs/protocol.md §13, SECURITY.md "Origins and hosts").
//!
//! - With `PUBLIC_ORIGIN` the server has one origin and refuses every other `Host`.
//! - Without it the server is a local-development server: it answers loopback hosts only
//!   (`localhost`, `127.0.0.0/8`, `[::1]`), as their own origin. A page on
//!   `http://evil.example.com:8081` whose name was rebound to 127.0.0.1 still sends
//!   `Host: evil.example.com:8081`, and is refused before anything else is looked at.
use crate::core::http::printable;
use crate::core::oauth::types::is_loopback_host;

/// The origin a request is served as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Site {
    origin: String,
    loopback: bool,
    secure: bool,
}

/// Why a request's `Host` is not served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Misdirected {
    /// `PUBLIC_ORIGIN` names another host.
    Foreign { serves: String, host: String },
    /// No `PUBLIC_ORIGIN`, and the host is not loopback.
    NeedsPublicOrigin { host: String },
    /// No usable `Host` at all.
    BadHost { host: String },
}

impl std::fmt::Display for Misdirected {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Misdirected::Foreign { serves, host } => {
                write!(f, "Misdirected request: this server answers for {serves}, not for host `{host}`")
            }
            Misdirected::NeedsPublicOrigin { host } => write!(
                f,
                "Server misconfigured: PUBLIC_ORIGIN is required off loopback. Without it only loopback hosts (localhost, 127.0.0.1, [::1]) are served, not `{host}`"
            ),
            Misdirected::BadHost { host } => write!(f, "Bad request: `{host}` is not a host name"),
        }
    }
}

/// Cookie names carry the `__Host-` prefix whenever cookies are `Secure` (RFC 6265bis §4.1.3.2:
/// the browser then refuses the cookie unless it is `Secure`, `Path=/` and has no `Domain`, so
/// a sibling subdomain cannot plant or shadow it). Plain names only on http loopback.
const HOST_PREFIX: &str = "__Host-";

impl Site {
    /// Decides the site of a request made with `scheme` (`http`/`https`) to `authority` (the
    /// `Host` header, else the URL's `host[:port]`). `public_origin` is the parsed
    /// `PUBLIC_ORIGIN` (`scheme://host[:port]`).
    pub fn resolve(public_origin: Option<&str>, scheme: &str, authority: &str) -> Result<Site, Misdirected> {
        // Nearly every request names the pinned origin's own authority: that needs no parsing
        // (the origin was parsed and normalised once, by `Config`).
        if let Some((pinned, (pinned_scheme, pinned_authority))) = public_origin.and_then(|o| Some((o, o.split_once("://")?))) {
            if authority.eq_ignore_ascii_case(pinned_authority) {
                let host = pinned_authority
                    .rsplit_once(':')
                    .filter(|(_, port)| port.bytes().all(|b| b.is_ascii_digit()))
                    .map_or(pinned_authority, |(h, _)| h);
                let https = pinned_scheme == "https";
                return Ok(Site { origin: pinned.to_string(), loopback: is_loopback_host(host), secure: https || scheme == "https" });
            }
        }
        Site::parse_and_resolve(public_origin, scheme, authority)
    }

    fn parse_and_resolve(public_origin: Option<&str>, scheme: &str, authority: &str) -> Result<Site, Misdirected> {
        let bad = || Misdirected::BadHost { host: printable(authority) };
        let request = url::Url::parse(&format!("{scheme}://{authority}/")).map_err(|_| bad())?;
        let host = request.host_str().ok_or_else(bad)?;
        let plain_authority = request.username().is_empty() && request.password().is_none() && request.path() == "/";
        if !plain_authority || request.query().is_some() || authority.contains(['/', '?', '#', '@']) {
            return Err(bad());
        }
        match public_origin {
            Some(pinned) => {
                let pinned_url = url::Url::parse(pinned).map_err(|_| bad())?;
                let same_host = pinned_url.host_str().is_some_and(|h| h.eq_ignore_ascii_case(host));
                // A `Host` without a port is the host itself (a plain-http request to the
                // https origin is still ours); an explicit port must be the origin's.
                let same_port = request.port().is_none() || request.port_or_known_default() == pinned_url.port_or_known_default();
                if !(same_host && same_port) {
                    return Err(Misdirected::Foreign { serves: pinned.to_string(), host: printable(authority) });
                }
                let https = pinned.starts_with("https:");
                Ok(Site { origin: pinned.to_string(), loopback: is_loopback_host(host), secure: https || scheme == "https" })
            }
            None if is_loopback_host(host) => {
                let origin = request.origin().ascii_serialization();
                Ok(Site { origin, loopback: true, secure: scheme == "https" })
            }
            None => Err(Misdirected::NeedsPublicOrigin { host: printable(authority) }),
        }
    }

    /// `scheme://host[:port]`, no trailing slash: the issuer, and the base of every URL we name.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The same site for a request from `remote_loopback`: whether the connecting peer is
    /// loopback (Cloudflare's `CF-Connecting-IP`, which `wrangler dev` sets too). A loopback
    /// `Host` from a peer elsewhere (a `wrangler dev --ip 0.0.0.0`, a proxy passing `Host` on)
    /// gets none of the loopback site's conveniences.
    pub fn for_peer(self, remote_loopback: bool) -> Site {
        Site { loopback: self.loopback && remote_loopback, ..self }
    }

    /// Served on a loopback host, to a loopback peer (local development).
    pub fn is_loopback(&self) -> bool {
        self.loopback
    }

    /// Whether our cookies are `Secure` (and `__Host-` prefixed): an https origin or request.
    pub fn secure_cookies(&self) -> bool {
        self.secure
    }

    /// The name a cookie is stored under on this site.
    pub fn cookie_name(&self, base: &str) -> String {
        if self.secure {
            format!("{HOST_PREFIX}{base}")
        } else {
            base.to_string()
        }
    }

    /// Whether a request sent with `Origin: sent` may change something here: our own origin;
    /// with `loopback_peers`, while we are a loopback site, any loopback origin too (local MCP
    /// clients such as the Inspector; a rebinding page has its attacker's host as its origin).
    pub fn allows_origin(&self, sent: &str, loopback_peers: bool) -> bool {
        if sent == self.origin {
            return true;
        }
        let sent_host = url::Url::parse(sent).ok().filter(|u| u.path() == "/").and_then(|u| u.host_str().map(str::to_string));
        loopback_peers && self.loopback && sent_host.is_some_and(|h| is_loopback_host(&h))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PINNED: Option<&str> = Some("https://mcp.example.com");

    #[test]
    fn a_pinned_origin_serves_only_its_host() {
        let site = Site::resolve(PINNED, "https", "mcp.example.com").unwrap();
        assert_eq!((site.origin(), site.is_loopback(), site.secure_cookies()), ("https://mcp.example.com", false, true));
        assert_eq!(Site::resolve(PINNED, "https", "MCP.example.com:443").unwrap().origin(), "https://mcp.example.com");
        assert_eq!(Site::resolve(PINNED, "http", "mcp.example.com").unwrap().origin(), "https://mcp.example.com", "plain http: still ours");
        for foreign in ["evil.example.com", "mcp.example.com:8443", "mcp.example.com.evil.example", "127.0.0.1:8081", "localhost"] {
            assert!(matches!(Site::resolve(PINNED, "https", foreign), Err(Misdirected::Foreign { .. })), "{foreign}");
        }
        let loopback = Site::resolve(Some("http://127.0.0.1:8081"), "http", "127.0.0.1:8081").unwrap();
        assert!(loopback.is_loopback() && !loopback.secure_cookies());
        assert!(Site::resolve(Some("http://127.0.0.1:8081"), "http", "localhost:8081").is_err(), "another name of the same address");
    }

    #[test]
    fn without_a_public_origin_only_loopback_hosts_are_served() {
        for host in ["127.0.0.1:8081", "localhost:8081", "[::1]:8081", "LOCALHOST", "127.1.2.3"] {
            let site = Site::resolve(None, "http", host).unwrap();
            assert!(site.is_loopback(), "{host}");
        }
        assert_eq!(Site::resolve(None, "http", "localhost:8081").unwrap().origin(), "http://localhost:8081");
        for host in ["evil.example.com:8081", "127.0.0.1.evil.example", "10.0.0.7:8081", "0.0.0.0:8081"] {
            let refused = Site::resolve(None, "http", host).unwrap_err();
            assert!(matches!(refused, Misdirected::NeedsPublicOrigin { .. }), "{host}");
            assert!(refused.to_string().starts_with("Server misconfigured: PUBLIC_ORIGIN is required off loopback"), "{refused}");
        }
        for junk in ["", "a b", "user@127.0.0.1", "127.0.0.1/x", "127.0.0.1?x", "[::1"] {
            assert!(matches!(Site::resolve(None, "http", junk), Err(Misdirected::BadHost { .. })), "{junk:?}");
        }
    }

    #[test]
    fn a_loopback_host_from_a_remote_peer_is_no_loopback_site() {
        let site = Site::resolve(None, "http", "localhost:8081").unwrap();
        assert!(site.clone().for_peer(true).is_loopback());
        let remote = site.for_peer(false);
        assert!(!remote.is_loopback() && !remote.allows_origin("http://localhost:6274", true));
    }

    #[test]
    fn cookie_names_are_host_prefixed_when_secure() {
        assert_eq!(Site::resolve(PINNED, "https", "mcp.example.com").unwrap().cookie_name("s"), "__Host-s");
        assert_eq!(Site::resolve(None, "http", "127.0.0.1:8081").unwrap().cookie_name("s"), "s");
        assert_eq!(Site::resolve(None, "https", "127.0.0.1:8081").unwrap().cookie_name("s"), "__Host-s", "https loopback");
    }

    #[test]
    fn origins_that_may_change_something() {
        let pinned = Site::resolve(PINNED, "https", "mcp.example.com").unwrap();
        assert!(pinned.allows_origin("https://mcp.example.com", true));
        assert!(!pinned.allows_origin("http://localhost:6274", true), "loopback peers only on a loopback site");
        assert!(!pinned.allows_origin("null", false));
        let local = Site::resolve(None, "http", "127.0.0.1:8081").unwrap();
        assert!(local.allows_origin("http://localhost:6274", true));
        assert!(!local.allows_origin("http://localhost:6274", false));
        assert!(!local.allows_origin("http://evil.example.com:8081", true));
        assert!(!local.allows_origin("http://127.0.0.1.evil.example", true));
    }

    #[test]
    fn the_pinned_authority_shortcut_decides_as_the_full_parse_does() {
        for (pinned, scheme, authority) in [
            ("https://mcp.example.com", "https", "mcp.example.com"),
            ("https://mcp.example.com", "http", "MCP.Example.COM"),
            ("https://mcp.example.com:8443", "https", "mcp.example.com:8443"),
            ("http://127.0.0.1:8081", "http", "127.0.0.1:8081"),
            ("https://[::1]:8443", "https", "[::1]:8443"),
        ] {
            assert_eq!(
                Site::resolve(Some(pinned), scheme, authority),
                Site::parse_and_resolve(Some(pinned), scheme, authority),
                "{pinned} {authority}"
            );
        }
    }

    #[test]
    fn messages_never_carry_control_characters() {
        let refused = Site::resolve(PINNED, "https", "evil.example.com").unwrap_err();
        assert_eq!(
            refused.to_string(),
            "Misdirected request: this server answers for https://mcp.example.com, not for host `evil.example.com`"
        );
        assert_eq!(printable("a\u{202e}b\nc d"), "abc d");
    }
}

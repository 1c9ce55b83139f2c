//! Abuse limits: which endpoints count against which Workers Rate Limiting binding
//! (`[[ratelimits]]` in wrangler.toml, simulated by `wrangler dev`), keyed by the client's
//! address or by the OAuth client, and what a refusal says. The limits themselves (how many per
//! period) are the operator's, in wrangler.toml; README "Abuse limits" lists the defaults.
use crate::core::http::Method;

/// One rate-limit binding: a budget of requests per key per period, per Cloudflare location.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Limit {
    /// `POST /register`: each one is a KV write kept 90 days. Per address.
    Register,
    /// Starting a sign-in, returning from the identity provider, choosing a workspace. Per address.
    SignIn,
    /// `/authorize`, `/token`, `/revoke`. Per address.
    OAuth,
    /// `/authorize` and `/token` for one OAuth client, from wherever they come.
    Client,
    /// The admin page and API. Per address.
    Admin,
}

/// Every binding's period, in seconds (wrangler.toml must agree: `deploy-check` reads it).
pub const PERIOD_SECONDS: i64 = 60;

impl Limit {
    pub const ALL: [Limit; 5] = [Limit::Register, Limit::SignIn, Limit::OAuth, Limit::Client, Limit::Admin];

    /// The binding's name in wrangler.toml.
    pub fn binding(self) -> &'static str {
        match self {
            Limit::Register => "RATE_LIMIT_REGISTER",
            Limit::SignIn => "RATE_LIMIT_SIGN_IN",
            Limit::OAuth => "RATE_LIMIT_OAUTH",
            Limit::Client => "RATE_LIMIT_CLIENT",
            Limit::Admin => "RATE_LIMIT_ADMIN",
        }
    }

    /// What was counted, for the message.
    fn counted(self) -> &'static str {
        match self {
            Limit::Register => "client registrations",
            Limit::SignIn => "sign-in requests",
            Limit::OAuth => "OAuth requests",
            Limit::Client => "authorization and token requests",
            Limit::Admin => "admin requests",
        }
    }
}

/// The per-address limit a request counts against, if any (`/mcp`, metadata and assets: none).
/// `oauth_paths`: the token and revocation endpoints' paths, as lists.
pub fn for_address(method: Method, path: &str, register_paths: &[&str], oauth_paths: &[&[&str]]) -> Option<Limit> {
    match (method, path) {
        (Method::Options, _) => None,
        (Method::Post, p) if register_paths.contains(&p) => Some(Limit::Register),
        (Method::Post, "/signin" | "/signin/workspace") | (Method::Get, "/oidc/callback") => Some(Limit::SignIn),
        (_, "/authorize") => Some(Limit::OAuth),
        (Method::Post, p) if oauth_paths.iter().any(|paths| paths.contains(&p)) => Some(Limit::OAuth),
        (_, "/admin") => Some(Limit::Admin),
        (_, p) if p.starts_with("/admin/api/") => Some(Limit::Admin),
        _ => None,
    }
}

/// Who is counted: the address the request came from, or the client it names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subject {
    Address(String),
    Client(String),
}

impl Subject {
    /// The address from `CF-Connecting-IP` (set by Cloudflare, and by `wrangler dev` from the
    /// peer); requests without one share one key.
    pub fn address(header: Option<&str>) -> Subject {
        Subject::Address(header.map(str::trim).filter(|a| !a.is_empty()).unwrap_or("unknown").to_string())
    }

    /// The key passed to the binding (one namespace per binding, so the kind prefixes it).
    pub fn key(&self) -> String {
        match self {
            Subject::Address(a) => format!("address:{a}"),
            Subject::Client(c) => format!("client:{c}"),
        }
    }
}

/// A request over its budget: 429 with `Retry-After: PERIOD_SECONDS` and this message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limited {
    pub limit: Limit,
    pub subject: Subject,
}

impl std::fmt::Display for Limited {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let from = match &self.subject {
            Subject::Address(_) => "from this address".to_string(),
            Subject::Client(c) => format!("for OAuth client `{}`", crate::core::http::printable(c)),
        };
        write!(f, "Too many {} {from}; try again in {PERIOD_SECONDS} seconds", self.limit.counted())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const REGISTER: [&str; 1] = ["/register"];
    const OAUTH: [&[&str]; 2] = [&["/token"], &["/revoke"]];

    #[test]
    fn each_endpoint_counts_against_its_limit() {
        let limit = |m, p| for_address(m, p, &REGISTER, &OAUTH);
        assert_eq!(limit(Method::Post, "/register"), Some(Limit::Register));
        assert_eq!(limit(Method::Get, "/register"), None, "a GET is a 405, no write");
        assert_eq!(limit(Method::Post, "/signin"), Some(Limit::SignIn));
        assert_eq!(limit(Method::Get, "/signin"), None, "the form itself costs nothing");
        assert_eq!(limit(Method::Get, "/oidc/callback"), Some(Limit::SignIn));
        assert_eq!(limit(Method::Get, "/authorize"), Some(Limit::OAuth));
        assert_eq!(limit(Method::Post, "/token"), Some(Limit::OAuth));
        assert_eq!(limit(Method::Post, "/revoke"), Some(Limit::OAuth));
        assert_eq!(limit(Method::Get, "/admin"), Some(Limit::Admin));
        assert_eq!(limit(Method::Put, "/admin/api/workspaces/acme/policy"), Some(Limit::Admin));
        assert_eq!(limit(Method::Options, "/token"), None);
        for free in ["/mcp", "/.well-known/oauth-authorization-server", "/assets/style.css", "/"] {
            assert_eq!(limit(Method::Get, free), None, "{free}");
            assert_eq!(limit(Method::Post, free), None, "{free}");
        }
    }

    #[test]
    fn a_refusal_says_what_was_counted_and_when_to_retry() {
        let by_address = Limited { limit: Limit::Register, subject: Subject::address(Some(" 203.0.113.9 ")) };
        assert_eq!(by_address.to_string(), "Too many client registrations from this address; try again in 60 seconds");
        assert_eq!(by_address.subject.key(), "address:203.0.113.9");
        let by_client = Limited { limit: Limit::Client, subject: Subject::Client("c\n1".into()) };
        assert_eq!(by_client.to_string(), "Too many authorization and token requests for OAuth client `c1`; try again in 60 seconds");
        assert_eq!(Subject::address(None).key(), "address:unknown");
    }
}

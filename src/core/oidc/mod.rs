//! The OpenID Connect relying party: people sign in through the product's identity provider
//! (OpenID Connect Core 1.0, the authorization code flow with PKCE). Pure: the edge fetches and
//! verifies signatures; everything decided here is a function of what was fetched.
//!
//! - `discovery`: the provider's metadata (`/.well-known/openid-configuration`), checked.
//! - `flow`: the state kept in the browser between the redirect and the callback (`state`,
//!   `nonce`, the PKCE verifier), and the authorization and token requests.
//! - `id_token`: the ID token's signature input and its claims, checked (§3.1.3.7).
//! - `jwks`: the provider's public keys, and the cache of both documents.
pub mod discovery;
pub mod flow;
pub mod id_token;
pub mod jwks;

/// A request to the identity provider (the edge sends it with a timeout, following no
/// redirects).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderRequest {
    pub method: &'static str,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<String>,
}

impl ProviderRequest {
    pub fn get(url: &str) -> ProviderRequest {
        ProviderRequest { method: "GET", url: url.to_string(), headers: vec![("accept".into(), "application/json".into())], body: None }
    }
}

/// JWS algorithms accepted for ID tokens: what providers sign with. `none` and the HMAC
/// algorithms never are (RFC 8725 §2.1, §3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JwsAlg {
    Rs256,
    Es256,
}

impl JwsAlg {
    pub fn parse(alg: &str) -> Option<JwsAlg> {
        match alg {
            "RS256" => Some(JwsAlg::Rs256),
            "ES256" => Some(JwsAlg::Es256),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            JwsAlg::Rs256 => "RS256",
            JwsAlg::Es256 => "ES256",
        }
    }
}

//! How the worker authenticates to the upstream API without passing the client's token through
//! (the MCP spec forbids token passthrough): a short-lived JWT it signs itself, which the
//! upstream verifies with `/.well-known/upstream-jwks.json` (README, "What an upstream checks").
//!
//! An assertion is signed by its own key (`JwtPurpose::UpstreamAssertion`) and typed as itself
//! (RFC 8725 §3.11, explicit typing), so it is never an access token here and an access token is
//! never an assertion upstream, whatever else the two share.
use serde::{Deserialize, Serialize};

use crate::core::oauth::keys::{JwtPurpose, Keys};

/// The `typ` header of every assertion; an upstream refuses any other.
pub const TOKEN_TYPE: &str = "mcp-edge-assertion+jwt";
pub const LIFETIME: i64 = 60;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AssertionClaims {
    /// This server (`<origin>`).
    pub iss: String,
    /// The upstream API's origin.
    pub aud: String,
    /// The user the call is made for.
    pub sub: String,
    pub ws: String,
    pub client_id: String,
    /// The scopes this call needs (not all the connection holds).
    pub scope: String,
    pub jti: String,
}

pub fn sign(keys: &Keys, claims: &AssertionClaims, now: i64) -> String {
    keys.sign_jwt(JwtPurpose::UpstreamAssertion, TOKEN_TYPE, claims, now, now + LIFETIME)
}

/// The audience for a base URL: its origin.
pub fn audience(base_url: &str) -> String {
    url::Url::parse(base_url).map(|u| u.origin().ascii_serialization()).unwrap_or_else(|_| base_url.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::oauth::access_token;
    use crate::core::oauth::keys::test_keys;
    use jwt_compact::UntrustedToken;

    fn claims() -> AssertionClaims {
        AssertionClaims {
            iss: "https://h.example".into(),
            aud: audience("http://127.0.0.1:4010/v1"),
            sub: "ada@example.com".into(),
            ws: "acme".into(),
            client_id: "c".into(),
            scope: "CONTACTS_READ".into(),
            jti: "j".into(),
        }
    }

    #[test]
    fn verifies_with_the_upstream_key() {
        let keys = test_keys();
        let token = sign(&keys, &claims(), 100);
        let untrusted = UntrustedToken::new(&token).unwrap();
        assert_eq!(untrusted.header().key_id.as_deref(), Some(keys.kid(JwtPurpose::UpstreamAssertion)));
        assert_eq!(untrusted.header().token_type.as_deref(), Some("mcp-edge-assertion+jwt"));
        let verified = keys.verify_jwt::<AssertionClaims>(JwtPurpose::UpstreamAssertion, &untrusted).unwrap();
        assert_eq!(verified.claims().custom, claims());
        assert_eq!(verified.claims().custom.aud, "http://127.0.0.1:4010");
        assert_eq!(verified.claims().expiration.unwrap().timestamp(), 160);
    }

    #[test]
    fn is_not_an_access_token_even_typed_as_one() {
        let keys = test_keys();
        let (iss, aud) = ("https://h.example", "http://127.0.0.1:4010");
        let typed = sign(&keys, &claims(), 100);
        assert_eq!(access_token::verify_ignoring_expiry(&keys, &typed, iss, aud), Err(access_token::BearerError::Malformed));
        // Typed `at+jwt` under the assertion key (what a confused signer would make): the key is
        // not an access-token key.
        let retyped = keys.sign_jwt(JwtPurpose::UpstreamAssertion, access_token::TOKEN_TYPE, claims(), 100, 160);
        assert_eq!(access_token::verify_ignoring_expiry(&keys, &retyped, iss, aud), Err(access_token::BearerError::BadSignature));
    }
}

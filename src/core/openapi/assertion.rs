//! How the worker authenticates to the upstream API without passing the client's token through
//! (the MCP spec forbids token passthrough): a short-lived JWT it signs itself, which the
//! upstream verifies with `/.well-known/jwks.json`.
use serde::{Deserialize, Serialize};

use crate::core::oauth::keys::Keys;

pub const TOKEN_TYPE: &str = "JWT";
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
    keys.sign_jwt(TOKEN_TYPE, claims, now, now + LIFETIME)
}

/// The audience for a base URL: its origin.
pub fn audience(base_url: &str) -> String {
    url::Url::parse(base_url).map(|u| u.origin().ascii_serialization()).unwrap_or_else(|_| base_url.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::oauth::keys::test_keys;
    use jwt_compact::{AlgorithmExt, UntrustedToken};

    #[test]
    fn verifies_with_the_published_key() {
        let keys = test_keys();
        let claims = AssertionClaims {
            iss: "https://h.example".into(),
            aud: audience("http://127.0.0.1:4010/v1"),
            sub: "ada@example.com".into(),
            ws: "acme".into(),
            client_id: "c".into(),
            scope: "CONTACTS_READ".into(),
            jti: "j".into(),
        };
        let token = sign(&keys, &claims, 100);
        let untrusted = UntrustedToken::new(&token).unwrap();
        assert_eq!(untrusted.header().key_id.as_deref(), Some(keys.kid()));
        let verified = keys.algorithm.validator::<AssertionClaims>(&keys.pair.pk).validate(&untrusted).unwrap();
        assert_eq!(verified.claims().custom, claims);
        assert_eq!(verified.claims().custom.aud, "http://127.0.0.1:4010");
        assert_eq!(verified.claims().expiration.unwrap().timestamp(), 160);
    }
}

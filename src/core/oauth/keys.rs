//! The server's key material, derived from one secret (`SIGNING_KEY`: base64url of a 32-byte
//! Ed25519 seed): the access-token signing key (published in the JWKS) and the cookie MAC key.
use ed25519_compact::{KeyPair, Seed};
use hmac::{Hmac, Mac};
use jwt_compact::alg::Ed25519;
use jwt_compact::jwk::JsonWebKey;
use serde_json::{json, Value};
use sha2::Sha256;

use crate::core::b64;

pub struct Keys {
    pub(crate) algorithm: Ed25519,
    pub(crate) pair: KeyPair,
    pub(crate) kid: String,
    cookie_key: [u8; 32],
    refresh_key: [u8; 32],
    pub(crate) secrets_key: [u8; 32],
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keys").field("kid", &self.kid).finish_non_exhaustive()
    }
}

impl Keys {
    pub fn from_secret(secret: &str) -> Result<Keys, String> {
        let seed = b64::decode(secret.trim())
            .filter(|b| b.len() == Seed::BYTES)
            .ok_or("SIGNING_KEY must be the base64url encoding (no padding) of 32 random bytes")?;
        let mut bytes = [0u8; Seed::BYTES];
        bytes.copy_from_slice(&seed);
        let pair = KeyPair::from_seed(Seed::new(bytes));
        // RFC 7638 thumbprint of the public JWK as the key ID.
        let kid = b64::encode(&JsonWebKey::from(&pair.pk).thumbprint::<Sha256>());
        let cookie_key = hmac_sha256(&bytes, b"mcp-edge cookie key v1");
        let refresh_key = hmac_sha256(&bytes, b"mcp-edge refresh key v1");
        let secrets_key = hmac_sha256(&bytes, b"mcp-edge secrets key v1");
        Ok(Keys { algorithm: Ed25519, pair, kid, cookie_key, refresh_key, secrets_key })
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// `/.well-known/jwks.json` (RFC 7517).
    pub fn jwks(&self) -> Value {
        let jwk = JsonWebKey::from(&self.pair.pk);
        let mut key = serde_json::to_value(&jwk).unwrap_or(Value::Null);
        if let Value::Object(map) = &mut key {
            map.insert("kid".into(), json!(self.kid));
            map.insert("alg".into(), json!("EdDSA"));
            map.insert("use".into(), json!("sig"));
        }
        json!({ "keys": [key] })
    }

    /// HMAC-SHA256 under the cookie key: session cookies and CSRF tokens.
    pub fn cookie_mac(&self, data: &[u8]) -> [u8; 32] {
        hmac_sha256(&self.cookie_key, data)
    }
}

impl Keys {
    /// A compact EdDSA JWT with our key ID: access tokens (`at+jwt`) and upstream assertions.
    pub fn sign_jwt<T: serde::Serialize>(&self, token_type: &str, custom: T, issued_at: i64, expires_at: i64) -> String {
        use chrono::{TimeZone, Utc};
        use jwt_compact::AlgorithmExt;
        let header = jwt_compact::Header::empty().with_key_id(self.kid.clone()).with_token_type(token_type);
        let mut claims = jwt_compact::Claims::new(custom);
        claims.issued_at = Utc.timestamp_opt(issued_at, 0).single();
        claims.expiration = Utc.timestamp_opt(expires_at, 0).single();
        // Signing with an in-memory Ed25519 key and serialising plain strings cannot fail.
        self.algorithm.token(&header, &claims, &self.pair.sk).expect("JWT creation is infallible here")
    }

    /// HMAC-SHA256 under the refresh-token key.
    pub fn refresh_mac(&self, data: &[u8]) -> [u8; 32] {
        hmac_sha256(&self.refresh_key, data)
    }
}

fn hmac_sha256(key: &[u8], data: &[u8]) -> [u8; 32] {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC accepts keys of any length");
    mac.update(data);
    mac.finalize().into_bytes().into()
}

#[cfg(test)]
pub fn test_keys() -> Keys {
    Keys::from_secret(&b64::encode(&[7u8; 32])).expect("fixed test seed")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_must_be_32_bytes_of_base64url() {
        assert!(Keys::from_secret("short").is_err());
        assert!(Keys::from_secret(&b64::encode(&[1u8; 31])).is_err());
        assert!(Keys::from_secret(&b64::encode(&[1u8; 32])).is_ok());
    }

    #[test]
    fn jwks_publishes_only_the_public_key() {
        let jwks = test_keys().jwks();
        let key = &jwks["keys"][0];
        assert_eq!(key["kty"], "OKP");
        assert_eq!(key["crv"], "Ed25519");
        assert_eq!(key["kid"], test_keys().kid());
        assert!(key.get("d").is_none());
    }
}

//! The server's key material, derived from one secret (`SIGNING_KEY`: base64url of 32 random
//! bytes). Each purpose has its own key, HMAC-SHA256 of the secret under the purpose's label, so
//! nothing made for one purpose is valid for another:
//!
//! - access tokens: an Ed25519 key (seed = HMAC(secret, `mcp-edge access-token signing key v1`)),
//!   published at `/.well-known/jwks.json`;
//! - upstream assertions: another Ed25519 key (`mcp-edge upstream-assertion signing key v1`),
//!   published at `/.well-known/upstream-jwks.json` — an upstream that verifies assertions
//!   with it can never be handed an access token instead, nor the resource server an assertion;
//! - cookie and form MACs (`mcp-edge cookie key v1`), the refresh tokens' synthetic IV
//!   (`mcp-edge refresh key v1`) and sealing at rest (`mcp-edge secrets key v1`).
//!
//! Rotation: while `SIGNING_KEY_PREVIOUS` holds the secret's former value, everything new is
//! made under the current keys only, and everything made under the former ones is still
//! accepted — access tokens by `kid` (both JWKS documents publish both keys, current first),
//! refresh tokens, cookies and form tokens, sealed API keys (README, "Rotating the signing key").
use ed25519_compact::{KeyPair, PublicKey, Seed};
use hmac::{Hmac, Mac};
use jwt_compact::alg::Ed25519;
use jwt_compact::jwk::JsonWebKey;
use jwt_compact::{AlgorithmExt, Token, UntrustedToken, ValidationError};
use serde::de::DeserializeOwned;
use serde_json::{json, Value};
use sha2::Sha256;

use crate::core::b64;
use crate::core::oauth::pkce::constant_time_eq;

/// What a JWT we sign is for. Each purpose has its own Ed25519 key, `kid` and JWKS document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JwtPurpose {
    /// Access tokens (`at+jwt`), verified by this server's `/mcp` and `/revoke`.
    AccessToken,
    /// Assertions sent to the upstream API in place of the client's token.
    UpstreamAssertion,
}

impl JwtPurpose {
    fn label(self) -> &'static [u8] {
        match self {
            JwtPurpose::AccessToken => b"mcp-edge access-token signing key v1",
            JwtPurpose::UpstreamAssertion => b"mcp-edge upstream-assertion signing key v1",
        }
    }
}

/// An Ed25519 key pair and its key ID.
struct SigningKey {
    pair: KeyPair,
    kid: String,
}

impl SigningKey {
    fn derive(secret: &[u8], purpose: JwtPurpose) -> SigningKey {
        let pair = KeyPair::from_seed(Seed::new(hmac_sha256(secret, purpose.label())));
        // RFC 7638 thumbprint of the public JWK as the key ID.
        let kid = b64::encode(&JsonWebKey::from(&pair.pk).thumbprint::<Sha256>());
        SigningKey { pair, kid }
    }

    /// The public JWK (RFC 7517 §4) with its `kid`, `alg` and `use`.
    fn public_jwk(&self) -> Value {
        let mut key = serde_json::to_value(JsonWebKey::from(&self.pair.pk)).unwrap_or(Value::Null);
        if let Value::Object(map) = &mut key {
            map.insert("kid".into(), json!(self.kid));
            map.insert("alg".into(), json!("EdDSA"));
            map.insert("use".into(), json!("sig"));
        }
        key
    }
}

/// Every key derived from one value of the secret.
struct KeySet {
    access_token: SigningKey,
    upstream_assertion: SigningKey,
    cookie: [u8; 32],
    refresh: [u8; 32],
    secrets: [u8; 32],
}

impl KeySet {
    fn derive(secret: &[u8; 32]) -> KeySet {
        KeySet {
            access_token: SigningKey::derive(secret, JwtPurpose::AccessToken),
            upstream_assertion: SigningKey::derive(secret, JwtPurpose::UpstreamAssertion),
            cookie: hmac_sha256(secret, b"mcp-edge cookie key v1"),
            refresh: hmac_sha256(secret, b"mcp-edge refresh key v1"),
            secrets: hmac_sha256(secret, b"mcp-edge secrets key v1"),
        }
    }

    fn signing(&self, purpose: JwtPurpose) -> &SigningKey {
        match purpose {
            JwtPurpose::AccessToken => &self.access_token,
            JwtPurpose::UpstreamAssertion => &self.upstream_assertion,
        }
    }
}

pub struct Keys {
    current: KeySet,
    /// From `SIGNING_KEY_PREVIOUS`, during a rotation: accepted, never used to make anything.
    previous: Option<KeySet>,
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keys")
            .field("kid", &self.current.access_token.kid)
            .field("previous_kid", &self.previous.as_ref().map(|p| &p.access_token.kid))
            .finish_non_exhaustive()
    }
}

/// The secret as configured: base64url (no padding) of exactly 32 bytes.
fn parse_secret(name: &str, text: &str) -> Result<[u8; 32], String> {
    b64::decode(text.trim())
        .and_then(|bytes| <[u8; 32]>::try_from(bytes.as_slice()).ok())
        .ok_or_else(|| format!("{name} must be the base64url encoding (no padding) of 32 random bytes"))
}

impl Keys {
    /// The keys of `SIGNING_KEY` (`current`) and, during a rotation, of `SIGNING_KEY_PREVIOUS`.
    /// A malformed value is refused naming its variable. A previous value equal to the current
    /// one is no rotation (the first step of the procedure sets it so) and is ignored.
    pub fn from_secrets(current: &str, previous: Option<&str>) -> Result<Keys, String> {
        let current = parse_secret("SIGNING_KEY", current)?;
        let previous = previous.map(|p| parse_secret("SIGNING_KEY_PREVIOUS", p)).transpose()?.filter(|p| *p != current);
        Ok(Keys { current: KeySet::derive(&current), previous: previous.as_ref().map(KeySet::derive) })
    }

    /// The current key set, then the previous one: what verification accepts.
    fn accepted(&self) -> impl Iterator<Item = &KeySet> {
        std::iter::once(&self.current).chain(self.previous.as_ref())
    }

    /// The key ID new JWTs of `purpose` carry.
    pub fn kid(&self, purpose: JwtPurpose) -> &str {
        &self.current.signing(purpose).kid
    }

    /// The JWKS (RFC 7517 §5) of `purpose`: `/.well-known/jwks.json` for access tokens,
    /// `/.well-known/upstream-jwks.json` for upstream assertions: the current key, then the
    /// previous one during a rotation. Public keys only.
    pub fn jwks(&self, purpose: JwtPurpose) -> Value {
        let keys: Vec<Value> = self.accepted().map(|set| set.signing(purpose).public_jwk()).collect();
        json!({ "keys": keys })
    }

    /// A compact EdDSA JWT under `purpose`'s key, with its key ID.
    pub fn sign_jwt<T: serde::Serialize>(
        &self,
        purpose: JwtPurpose,
        token_type: &str,
        custom: T,
        issued_at: i64,
        expires_at: i64,
    ) -> String {
        use chrono::{TimeZone, Utc};
        let key = self.current.signing(purpose);
        let header = jwt_compact::Header::empty().with_key_id(key.kid.clone()).with_token_type(token_type);
        let mut claims = jwt_compact::Claims::new(custom);
        claims.issued_at = Utc.timestamp_opt(issued_at, 0).single();
        claims.expiration = Utc.timestamp_opt(expires_at, 0).single();
        // Signing with an in-memory Ed25519 key and serialising plain strings cannot fail.
        Ed25519.token(&header, &claims, &key.pair.sk).expect("JWT creation is infallible here")
    }

    /// Checks the signature of a JWT of `purpose` against the key its `kid` names. A `kid` that
    /// is not one of `purpose`'s keys — another purpose's included — fails as a bad signature.
    /// Claims other than the signature are the caller's to check.
    pub fn verify_jwt<T: DeserializeOwned>(&self, purpose: JwtPurpose, token: &UntrustedToken) -> Result<Token<T>, ValidationError> {
        let key = self.verifying_key(purpose, token.header().key_id.as_deref()).ok_or(ValidationError::InvalidSignature)?;
        Ed25519.validator::<T>(key).validate(token)
    }

    fn verifying_key(&self, purpose: JwtPurpose, kid: Option<&str>) -> Option<&PublicKey> {
        let kid = kid?;
        self.accepted().map(|set| set.signing(purpose)).find(|key| key.kid == kid).map(|key| &key.pair.pk)
    }

    /// HMAC-SHA256 under the current cookie key: session cookies and CSRF tokens.
    pub fn cookie_mac(&self, data: &[u8]) -> [u8; 32] {
        hmac_sha256(&self.current.cookie, data)
    }

    /// Whether `presented` is the cookie MAC of `data` under the current or the previous key
    /// (constant time).
    pub fn cookie_mac_matches(&self, data: &[u8], presented: &[u8]) -> bool {
        self.accepted().any(|set| constant_time_eq(&hmac_sha256(&set.cookie, data), presented))
    }

    /// HMAC-SHA256 under the current refresh-token key.
    pub fn refresh_mac(&self, data: &[u8]) -> [u8; 32] {
        hmac_sha256(&self.current.refresh, data)
    }

    /// The XChaCha20-Poly1305 key that seals secrets at rest (`crate::core::secrets`).
    pub(crate) fn secrets_key(&self) -> &[u8; 32] {
        &self.current.secrets
    }

    /// The keys a sealed secret may open under: the current one, then the previous one.
    pub(crate) fn opening_keys(&self) -> impl Iterator<Item = &[u8; 32]> {
        self.accepted().map(|set| &set.secrets)
    }
}

fn hmac_sha256(key: &[u8], data: &[u8]) -> [u8; 32] {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC accepts keys of any length");
    mac.update(data);
    mac.finalize().into_bytes().into()
}

/// A fixed secret for tests: 32 times `byte`.
#[cfg(test)]
pub fn test_secret(byte: u8) -> String {
    b64::encode(&[byte; 32])
}

/// The keys of `test_secret(7)`, no rotation.
#[cfg(test)]
pub fn test_keys() -> Keys {
    Keys::from_secrets(&test_secret(7), None).expect("fixed test seed")
}

/// After a rotation from `test_secret(previous)` to `test_secret(current)`.
#[cfg(test)]
pub fn rotated_keys(current: u8, previous: Option<u8>) -> Keys {
    Keys::from_secrets(&test_secret(current), previous.map(test_secret).as_deref()).expect("fixed test seeds")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_must_be_32_bytes_of_base64url_and_a_bad_one_is_named() {
        let good = test_secret(1);
        for bad in ["short", &b64::encode(&[1u8; 31]), &b64::encode(&[1u8; 33]), ""] {
            let e = Keys::from_secrets(bad, None).unwrap_err();
            assert!(e.starts_with("SIGNING_KEY must be the base64url encoding"), "{e}");
            let e = Keys::from_secrets(&good, Some(bad)).unwrap_err();
            assert!(e.starts_with("SIGNING_KEY_PREVIOUS must be the base64url encoding"), "{e}");
        }
        assert!(Keys::from_secrets(&good, None).is_ok());
        assert!(Keys::from_secrets(&good, Some(&test_secret(2))).is_ok());
    }

    #[test]
    fn during_a_rotation_both_jwks_publish_current_then_previous() {
        let (a, b, rotated) = (rotated_keys(1, None), rotated_keys(2, None), rotated_keys(2, Some(1)));
        for purpose in [JwtPurpose::AccessToken, JwtPurpose::UpstreamAssertion] {
            let kids: Vec<Value> = rotated.jwks(purpose)["keys"].as_array().unwrap().iter().map(|k| k["kid"].clone()).collect();
            assert_eq!(kids, vec![json!(b.kid(purpose)), json!(a.kid(purpose))]);
            assert_eq!(rotated.kid(purpose), b.kid(purpose), "new JWTs carry the current kid");
        }
        // The first step of the procedure (SIGNING_KEY_PREVIOUS set to SIGNING_KEY's value) is no
        // rotation: one key each.
        let same = Keys::from_secrets(&test_secret(1), Some(&test_secret(1))).unwrap();
        assert_eq!(same.jwks(JwtPurpose::AccessToken), a.jwks(JwtPurpose::AccessToken));
    }

    #[test]
    fn made_under_the_previous_secret_is_accepted_only_while_it_is_configured() {
        let a = rotated_keys(1, None);
        let token = a.sign_jwt(JwtPurpose::AccessToken, "t", json!({"a": 1}), 0, 10);
        let untrusted = UntrustedToken::new(&token).unwrap();
        let mac = a.cookie_mac(b"x");
        let rotated = rotated_keys(2, Some(1));
        assert!(rotated.verify_jwt::<Value>(JwtPurpose::AccessToken, &untrusted).is_ok());
        assert!(rotated.verify_jwt::<Value>(JwtPurpose::UpstreamAssertion, &untrusted).is_err());
        assert!(rotated.cookie_mac_matches(b"x", &mac));
        assert!(!rotated.cookie_mac_matches(b"y", &mac));
        assert_ne!(rotated.cookie_mac(b"x"), mac, "new MACs are under the current key");
        assert_eq!(rotated.cookie_mac(b"x"), rotated_keys(2, None).cookie_mac(b"x"));
        let after = rotated_keys(2, None);
        assert!(after.verify_jwt::<Value>(JwtPurpose::AccessToken, &untrusted).is_err());
        assert!(!after.cookie_mac_matches(b"x", &mac));
    }

    #[test]
    fn jwks_publishes_only_the_public_key_of_its_purpose() {
        let keys = test_keys();
        for purpose in [JwtPurpose::AccessToken, JwtPurpose::UpstreamAssertion] {
            let jwks = keys.jwks(purpose);
            let key = &jwks["keys"][0];
            assert_eq!((key["kty"].as_str(), key["crv"].as_str(), key["alg"].as_str()), (Some("OKP"), Some("Ed25519"), Some("EdDSA")));
            assert_eq!(key["kid"], keys.kid(purpose));
            assert!(key.get("d").is_none());
            assert_eq!(jwks["keys"].as_array().map(Vec::len), Some(1));
        }
        assert_ne!(keys.kid(JwtPurpose::AccessToken), keys.kid(JwtPurpose::UpstreamAssertion));
        assert_ne!(keys.jwks(JwtPurpose::AccessToken)["keys"][0]["x"], keys.jwks(JwtPurpose::UpstreamAssertion)["keys"][0]["x"]);
    }

    /// The derivation is the documented one: tests/e2e computes the access-token key the same
    /// way with node's `createHmac` to forge tokens (this vector is node's answer).
    #[test]
    fn signing_seeds_are_hmacs_of_the_secret_under_their_labels() {
        let secret = [7u8; 32];
        let keys = test_keys();
        for purpose in [JwtPurpose::AccessToken, JwtPurpose::UpstreamAssertion] {
            let seed = hmac_sha256(&secret, purpose.label());
            assert_eq!(keys.current.signing(purpose).pair.pk, KeyPair::from_seed(Seed::new(seed)).pk);
            assert_ne!(seed, secret, "never the secret itself");
        }
        let x = keys.jwks(JwtPurpose::AccessToken)["keys"][0]["x"].clone();
        assert_eq!(x, "UKD_RdrcAxn1pYnLOrW5eXXF8ipb-b5izuKK4sa2LzU");
    }

    #[test]
    fn a_jwt_verifies_only_under_its_own_purpose() {
        let keys = test_keys();
        let token = keys.sign_jwt(JwtPurpose::UpstreamAssertion, "t", json!({"a": 1}), 0, 10);
        let untrusted = UntrustedToken::new(&token).unwrap();
        assert_eq!(untrusted.header().key_id.as_deref(), Some(keys.kid(JwtPurpose::UpstreamAssertion)));
        assert!(keys.verify_jwt::<Value>(JwtPurpose::UpstreamAssertion, &untrusted).is_ok());
        assert!(matches!(keys.verify_jwt::<Value>(JwtPurpose::AccessToken, &untrusted), Err(ValidationError::InvalidSignature)));
        // Naming the access-token key does not help: the signature is not that key's.
        let header = jwt_compact::Header::empty().with_key_id(keys.kid(JwtPurpose::AccessToken).to_string());
        let claims = jwt_compact::Claims::new(json!({"a": 1}));
        let spoofed = Ed25519.token(&header, &claims, &keys.current.upstream_assertion.pair.sk).unwrap();
        let untrusted = UntrustedToken::new(&spoofed).unwrap();
        assert!(matches!(keys.verify_jwt::<Value>(JwtPurpose::AccessToken, &untrusted), Err(ValidationError::InvalidSignature)));
    }
}

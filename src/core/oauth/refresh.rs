//! Refresh tokens (OAuth 2.1 §4.3.1: rotated on every use, as public clients require).
//!
//! A token names its connection and its *generation* in the connection's refresh family. It is
//! opaque: `rt2.<base64url(nonce ‖ XChaCha20-Poly1305(workspace, user, connection, generation))>`
//! under a key derived from `SIGNING_KEY`, so nobody who sees one learns whose it is. The nonce
//! is an HMAC of the contents (a synthetic IV), which makes the token for a given generation
//! deterministic: nothing secret is stored — the connection keeps only its current generation
//! (see `crate::core::connection`) — and a retry after a lost response, or N concurrent
//! refreshes, all receive the *same* successor instead of forking the family.
use crate::core::b64;
use crate::core::connection::ConnectionKey;
use crate::core::ids::{ConnectionId, Email, WorkspaceId};
use crate::core::oauth::keys::Keys;
use crate::core::secrets::{self, NONCE_BYTES};

/// Associated data separating refresh tokens from every other sealed value (workspace IDs, the
/// associated data of sealed API keys, cannot contain a space).
const AAD: &str = "mcp-edge refresh token v2";
const PREFIX: &str = "rt2.";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshToken {
    /// The connection whose family this token belongs to.
    pub connection: ConnectionKey,
    pub generation: u32,
    text: String,
}

fn contents(key: &ConnectionKey, generation: u32) -> String {
    format!("{}\n{}\n{}\n{generation}", key.workspace, key.user, key.id)
}

impl RefreshToken {
    pub fn mint(keys: &Keys, connection: &ConnectionKey, generation: u32) -> RefreshToken {
        let plain = contents(connection, generation);
        let mut nonce = [0u8; NONCE_BYTES];
        nonce.copy_from_slice(&keys.refresh_mac(plain.as_bytes())[..NONCE_BYTES]);
        let sealed = secrets::seal(keys, plain.as_bytes(), &nonce, AAD);
        let text = format!("{PREFIX}{}", sealed.trim_start_matches("v1."));
        RefreshToken { connection: connection.clone(), generation, text }
    }

    /// Opens and authenticates a token we minted; anything else is `None`.
    pub fn parse(keys: &Keys, raw: &str) -> Option<RefreshToken> {
        let body = raw.strip_prefix(PREFIX).filter(|b| b64::is_alphabet(b))?;
        let plain = String::from_utf8(secrets::open(keys, &format!("v1.{body}"), AAD)?).ok()?;
        let [workspace, user, cid, generation] = plain.split('\n').collect::<Vec<_>>()[..] else {
            return None;
        };
        let connection =
            ConnectionKey { workspace: WorkspaceId::parse(workspace)?, user: Email::parse(user).ok()?, id: ConnectionId::parse(cid)? };
        Some(RefreshToken { connection, generation: generation.parse().ok()?, text: raw.to_string() })
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::oauth::keys::{rotated_keys, test_keys};

    fn key() -> ConnectionKey {
        ConnectionKey { workspace: "acme".into(), user: "ada@example.com".into(), id: "cid_1".into() }
    }

    #[test]
    fn round_trips_and_is_authenticated() {
        let k = test_keys();
        let t = RefreshToken::mint(&k, &key(), 3);
        let back = RefreshToken::parse(&k, t.as_str()).unwrap();
        assert_eq!(back, t);
        assert_eq!((back.connection.user.as_str(), back.generation), ("ada@example.com", 3));
        assert_eq!(RefreshToken::mint(&k, &key(), 3), t, "deterministic per generation");
        assert_ne!(RefreshToken::mint(&k, &key(), 4), t);
        // Opaque: nothing of its contents shows.
        assert!(t.as_str().starts_with("rt2."));
        for part in ["acme", "ada@example.com", "cid_1", &b64::encode(b"ada@example.com")] {
            assert!(!t.as_str().contains(part), "{part}");
        }
        // Changing any byte breaks the authentication.
        let mut bytes = b64::decode(&t.as_str()[4..]).unwrap();
        bytes[30] ^= 1;
        assert!(RefreshToken::parse(&k, &format!("rt2.{}", b64::encode(&bytes))).is_none());
        // A sealed value of another kind (an upstream API key) is not a refresh token.
        let api_key = secrets::seal(&k, b"acme\nada@example.com\ncid_1\n3", &[1u8; NONCE_BYTES], "acme");
        assert!(RefreshToken::parse(&k, &format!("rt2.{}", &api_key[3..])).is_none());
        let other = rotated_keys(9, None);
        assert!(RefreshToken::parse(&other, t.as_str()).is_none());
        assert!(RefreshToken::parse(&k, "rt2.x").is_none());
        assert!(RefreshToken::parse(&k, "rt2.").is_none());
        assert!(RefreshToken::parse(&k, &format!("{}.extra", t.as_str())).is_none());
    }

    #[test]
    fn a_token_of_the_previous_secret_opens_while_it_is_configured_and_successors_are_current() {
        let under_a = RefreshToken::mint(&rotated_keys(1, None), &key(), 3);
        let rotated = rotated_keys(2, Some(1));
        let opened = RefreshToken::parse(&rotated, under_a.as_str()).unwrap();
        assert_eq!((&opened.connection, opened.generation), (&key(), 3));
        assert!(RefreshToken::parse(&rotated_keys(2, None), under_a.as_str()).is_none());
        // The successor (generation 4) is minted under the current secret alone, and is the same
        // token whichever isolate mints it.
        let next = RefreshToken::mint(&rotated, &key(), 4);
        assert_eq!(next, RefreshToken::mint(&rotated_keys(2, None), &key(), 4));
        assert!(RefreshToken::parse(&rotated_keys(2, None), next.as_str()).is_some());
    }
}

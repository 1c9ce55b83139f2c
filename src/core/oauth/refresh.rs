//! Refresh tokens (OAuth 2.1 §4.3.1: rotated on every use, as public clients require).
//!
//! A token names its connection and its *generation* in the connection's refresh family, and is
//! authenticated by an HMAC under a key derived from `SIGNING_KEY`. Nothing secret is stored:
//! the connection keeps only its current generation (see `crate::core::connection`), and the
//! token for any generation can be recomputed — which is what lets a retry after a lost
//! response, or N concurrent refreshes, all receive the *same* successor instead of forking the
//! family.
use crate::core::b64;
use crate::core::oauth::keys::Keys;
use crate::core::oauth::pkce::constant_time_eq;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshToken {
    pub workspace: String,
    pub user: String,
    pub connection_id: String,
    pub generation: u32,
    text: String,
}

fn mac(keys: &Keys, ws: &str, user: &str, cid: &str, generation: u32) -> String {
    b64::encode(&keys.refresh_mac(format!("refresh|{ws}|{user}|{cid}|{generation}").as_bytes()))
}

impl RefreshToken {
    /// `rt1.<b64 workspace>.<b64 user>.<connection id>.<generation>.<HMAC>`.
    pub fn mint(keys: &Keys, workspace: &str, user: &str, connection_id: &str, generation: u32) -> RefreshToken {
        let text = format!(
            "rt1.{}.{}.{connection_id}.{generation}.{}",
            b64::encode(workspace.as_bytes()),
            b64::encode(user.as_bytes()),
            mac(keys, workspace, user, connection_id, generation)
        );
        RefreshToken { workspace: workspace.into(), user: user.into(), connection_id: connection_id.into(), generation, text }
    }

    /// Parses and authenticates a token we minted; anything else is `None`.
    pub fn parse(keys: &Keys, raw: &str) -> Option<RefreshToken> {
        let parts: Vec<&str> = raw.split('.').collect();
        let [tag, ws, user, cid, generation, tag_mac] = parts.as_slice() else {
            return None;
        };
        if *tag != "rt1" || !b64::is_alphabet(cid) || cid.is_empty() {
            return None;
        }
        let workspace = String::from_utf8(b64::decode(ws)?).ok()?;
        let user = String::from_utf8(b64::decode(user)?).ok()?;
        let generation: u32 = generation.parse().ok()?;
        let expected = mac(keys, &workspace, &user, cid, generation);
        constant_time_eq(expected.as_bytes(), tag_mac.as_bytes()).then(|| RefreshToken {
            workspace,
            user,
            connection_id: cid.to_string(),
            generation,
            text: raw.to_string(),
        })
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::oauth::keys::test_keys;

    #[test]
    fn round_trips_and_is_authenticated() {
        let k = test_keys();
        let t = RefreshToken::mint(&k, "acme", "ada@example.com", "cid_1", 3);
        let back = RefreshToken::parse(&k, t.as_str()).unwrap();
        assert_eq!(back, t);
        assert_eq!((back.user.as_str(), back.generation), ("ada@example.com", 3));
        assert_eq!(RefreshToken::mint(&k, "acme", "ada@example.com", "cid_1", 3), t, "deterministic per generation");
        assert_ne!(RefreshToken::mint(&k, "acme", "ada@example.com", "cid_1", 4), t);
        // Changing any part breaks the MAC.
        let forged = t.as_str().replace(".3.", ".4.");
        assert!(RefreshToken::parse(&k, &forged).is_none());
        let other = crate::core::oauth::keys::Keys::from_secret(&b64::encode(&[9u8; 32])).unwrap();
        assert!(RefreshToken::parse(&other, t.as_str()).is_none());
        assert!(RefreshToken::parse(&k, "rt1.x").is_none());
        assert!(RefreshToken::parse(&k, &format!("{}.extra", t.as_str())).is_none());
    }
}

//! Refresh tokens: opaque to clients, stored only as a hash. The token names the connection it
//! belongs to (workspace, user, connection ID) so the edge can route it to the connection's
//! Durable Object without a lookup table.
use sha2::{Digest, Sha256};

use crate::core::b64;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshToken {
    pub workspace: String,
    pub user: String,
    pub connection_id: String,
    text: String,
}

impl RefreshToken {
    pub fn mint(workspace: &str, user: &str, connection_id: &str, secret: &str) -> RefreshToken {
        let text = format!("rt1.{}.{}.{connection_id}.{secret}", b64::encode(workspace.as_bytes()), b64::encode(user.as_bytes()));
        RefreshToken { workspace: workspace.into(), user: user.into(), connection_id: connection_id.into(), text }
    }

    pub fn parse(raw: &str) -> Option<RefreshToken> {
        let mut parts = raw.split('.');
        let (tag, ws, user, cid, secret) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?, parts.next()?);
        if tag != "rt1" || parts.next().is_some() || secret.len() < 43 || !b64::is_alphabet(secret) || !b64::is_alphabet(cid) {
            return None;
        }
        let workspace = String::from_utf8(b64::decode(ws)?).ok()?;
        let user = String::from_utf8(b64::decode(user)?).ok()?;
        Some(RefreshToken { workspace, user, connection_id: cid.to_string(), text: raw.to_string() })
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// What storage keeps.
    pub fn hash(&self) -> String {
        b64::encode(&Sha256::digest(self.text.as_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects_garbage() {
        let t = RefreshToken::mint("acme", "ada@example.com", "cid_1", &"s".repeat(43));
        let back = RefreshToken::parse(t.as_str()).unwrap();
        assert_eq!(back, t);
        assert_eq!(back.user, "ada@example.com");
        assert!(RefreshToken::parse("rt1.x").is_none());
        assert!(RefreshToken::parse(&format!("{}.extra", t.as_str())).is_none());
        assert!(RefreshToken::parse(&t.as_str().replace("rt1", "rt2")).is_none());
    }
}

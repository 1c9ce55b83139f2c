//! Authorization codes: ≥128 random bits, carrying the shard of the Durable Object that holds them.
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::core::b64;

/// Codes are spread over this many Durable Objects; the shard is part of the code.
pub const CODE_SHARDS: u8 = 16;
const SECRET_BYTES: usize = 32;

/// An authorization code: `c<shard as 2 hex digits>_<base64url of 32 random bytes>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthCode {
    shard: u8,
    text: String,
}

impl AuthCode {
    /// Builds a code from 33 random bytes (the first picks the shard).
    pub fn from_random(random: &[u8; SECRET_BYTES + 1]) -> AuthCode {
        let shard = random[0] % CODE_SHARDS;
        AuthCode { shard, text: format!("c{shard:02x}_{}", b64::encode(&random[1..])) }
    }

    pub fn parse(raw: &str) -> Option<AuthCode> {
        let rest = raw.strip_prefix('c')?;
        let (shard, secret) = rest.split_once('_')?;
        let shard = u8::from_str_radix(shard, 16).ok().filter(|s| *s < CODE_SHARDS && shard.len() == 2)?;
        (secret.len() == 43 && b64::is_alphabet(secret)).then(|| AuthCode { shard, text: raw.to_string() })
    }

    pub fn shard(&self) -> u8 {
        self.shard
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// What storage keeps instead of the code itself.
    pub fn storage_key(&self) -> String {
        b64::encode(&Sha256::digest(self.text.as_bytes()))
    }
}

/// Everything a code was bound to at approval (stored with it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CodeGrant {
    pub client_id: String,
    pub redirect_uri: String,
    /// The authorization request named `redirect_uri`, so the token request must too.
    #[serde(default)]
    pub redirect_uri_sent: bool,
    pub code_challenge: String,
    pub resource: String,
    pub scopes: Vec<String>,
    pub user: String,
    pub workspace: String,
    /// The connection the first redemption creates; a replay revokes it.
    pub connection_id: String,
}

/// The outcome of `CodeStore::redeem`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Redemption {
    /// First use: the code is now consumed.
    Redeemed {
        grant: CodeGrant,
    },
    /// Used before: whatever the first redemption issued must be revoked.
    Replayed {
        grant: CodeGrant,
    },
    Expired,
    Unknown,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_carry_their_shard() {
        let mut random = [0u8; 33];
        random[0] = 35;
        random[1] = 0xff;
        let code = AuthCode::from_random(&random);
        assert_eq!(code.shard(), 35 % CODE_SHARDS);
        assert_eq!(AuthCode::parse(code.as_str()), Some(code.clone()));
        assert!(code.as_str().starts_with("c03_"));
        assert_ne!(code.storage_key(), code.as_str());
    }

    #[test]
    fn malformed_codes_are_rejected() {
        for bad in [
            "",
            "c03",
            "c03_short",
            "cff_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            "x03_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            "c3_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        ] {
            assert!(AuthCode::parse(bad).is_none(), "{bad}");
        }
        assert!(AuthCode::parse("c03_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA").is_some());
    }
}

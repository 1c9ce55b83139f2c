//! PKCE (RFC 7636), S256 only: OAuth 2.1 §4.1.1 and the MCP authorization spec require it.
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::core::b64;
use crate::core::oauth::error::OAuthError;

/// A `code_challenge` sent with `code_challenge_method=S256`: base64url of a SHA-256, 43 chars.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeChallenge(String);

impl CodeChallenge {
    /// RFC 7636 §4.3. A missing method means `plain`, which we refuse.
    pub fn parse(challenge: Option<&str>, method: Option<&str>) -> Result<CodeChallenge, OAuthError> {
        let challenge = challenge
            .filter(|c| !c.is_empty())
            .ok_or_else(|| OAuthError::invalid_request("code_challenge is required: this server requires PKCE with S256"))?;
        match method {
            Some("S256") => {}
            None => return Err(OAuthError::invalid_request("code_challenge_method is required and must be S256")),
            Some(other) => return Err(OAuthError::invalid_request(format!("code_challenge_method `{other}` is not supported; use S256"))),
        }
        if challenge.len() != 43 || !b64::is_alphabet(challenge) {
            return Err(OAuthError::invalid_request(
                "code_challenge must be the base64url-encoded SHA-256 of the code_verifier (43 characters)",
            ));
        }
        Ok(CodeChallenge(challenge.to_string()))
    }

    /// A challenge stored by us earlier.
    pub fn from_stored(s: String) -> CodeChallenge {
        CodeChallenge(s)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// RFC 7636 §4.6: BASE64URL(SHA256(verifier)) == challenge, compared in constant time.
    pub fn verify(&self, verifier: &CodeVerifier) -> bool {
        let computed = b64::encode(&Sha256::digest(verifier.0.as_bytes()));
        constant_time_eq(computed.as_bytes(), self.0.as_bytes())
    }
}

/// RFC 7636 §4.1: 43–128 characters from the unreserved set. It travels to the code's
/// Durable Object (`CodesCall::Redeem`), which re-checks it on arrival.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct CodeVerifier(String);

impl TryFrom<String> for CodeVerifier {
    type Error = String;
    fn try_from(raw: String) -> Result<CodeVerifier, String> {
        CodeVerifier::parse(Some(&raw)).map_err(|e| e.description)
    }
}

impl From<CodeVerifier> for String {
    fn from(v: CodeVerifier) -> String {
        v.0
    }
}

impl CodeVerifier {
    pub fn parse(raw: Option<&str>) -> Result<CodeVerifier, OAuthError> {
        let raw = raw.ok_or_else(|| OAuthError::invalid_request("code_verifier is required"))?;
        let ok_len = (43..=128).contains(&raw.len());
        let ok_chars = raw.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b));
        if ok_len && ok_chars {
            Ok(CodeVerifier(raw.to_string()))
        } else {
            Err(OAuthError::invalid_grant("code_verifier must be 43 to 128 characters of [A-Za-z0-9-._~]"))
        }
    }
}

pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    // RFC 7636 Appendix B.
    const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

    #[test]
    fn rfc7636_example_verifies() {
        let c = CodeChallenge::parse(Some(CHALLENGE), Some("S256")).unwrap();
        assert!(c.verify(&CodeVerifier::parse(Some(VERIFIER)).unwrap()));
        let other = CodeVerifier::parse(Some(&"a".repeat(43))).unwrap();
        assert!(!c.verify(&other));
    }

    #[test]
    fn plain_and_missing_are_refused() {
        assert!(CodeChallenge::parse(None, Some("S256")).is_err());
        assert!(CodeChallenge::parse(Some(CHALLENGE), None).unwrap_err().description.contains("S256"));
        assert!(CodeChallenge::parse(Some(CHALLENGE), Some("plain")).unwrap_err().description.contains("plain"));
        assert!(CodeChallenge::parse(Some("short"), Some("S256")).is_err());
    }

    #[test]
    fn verifier_shape_is_checked() {
        assert!(CodeVerifier::parse(Some("short")).is_err());
        assert!(CodeVerifier::parse(Some(&"a".repeat(129))).is_err());
        assert!(CodeVerifier::parse(Some(&format!("{}!", "a".repeat(43)))).is_err());
        assert!(CodeVerifier::parse(None).is_err());
    }
}

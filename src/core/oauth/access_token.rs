//! Access tokens: self-verifying JWTs (RFC 9068 profile, EdDSA). Verifying one needs no storage;
//! the live checks (connection, membership, policy) happen in `crate::app::mcp_http`.
use chrono::{TimeZone, Utc};
use jwt_compact::{TimeOptions, UntrustedToken};
use serde::{Deserialize, Serialize};

use crate::core::connection::ConnectionKey;
use crate::core::ids::{ConnectionId, Email, WorkspaceId};
use crate::core::oauth::keys::{JwtPurpose, Keys};
use crate::core::oauth::types::ClientId;

pub const TOKEN_TYPE: &str = "at+jwt";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessClaims {
    pub iss: String,
    pub aud: String,
    /// The user (workspace member e-mail).
    pub sub: Email,
    /// The workspace.
    pub ws: WorkspaceId,
    pub client_id: ClientId,
    /// Space-separated granted scopes.
    pub scope: String,
    /// The connection (one approval) this token belongs to.
    pub cid: ConnectionId,
    pub jti: String,
    /// The client's display name at approval, for `mcp_whoami` without a lookup (tokens minted
    /// before it was carried have none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_name: Option<String>,
}

impl AccessClaims {
    /// The connection this token belongs to.
    pub fn connection(&self) -> ConnectionKey {
        ConnectionKey { workspace: self.ws.clone(), user: self.sub.clone(), id: self.cid.clone() }
    }
}

/// A verified token: its claims and its expiry (unix seconds).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedToken {
    pub claims: AccessClaims,
    pub expires_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BearerError {
    Malformed,
    BadSignature,
    Expired,
    /// `iat` later than now (beyond `CLOCK_SKEW_SECONDS`): not a token this server issued then.
    NotYetIssued,
    WrongIssuer,
    WrongAudience,
}

impl BearerError {
    pub fn description(&self) -> &'static str {
        match self {
            BearerError::Malformed => "The access token is malformed",
            BearerError::BadSignature => "The access token signature is invalid",
            BearerError::Expired => "The access token expired",
            BearerError::NotYetIssued => "The access token claims to be issued in the future",
            BearerError::WrongIssuer => "The access token was issued by another server",
            BearerError::WrongAudience => "The access token is for another resource",
        }
    }
}

/// How far ahead of this isolate's clock another isolate's may be when it issues a token.
const CLOCK_SKEW_SECONDS: i64 = 60;

pub fn sign(keys: &Keys, claims: &AccessClaims, issued_at: i64, expires_at: i64) -> String {
    keys.sign_jwt(JwtPurpose::AccessToken, TOKEN_TYPE, claims, issued_at, expires_at)
}

/// RFC 9068 §4: check type, signature (under the access-token key its `kid` names: an upstream
/// assertion, signed by another key, fails here), issuer, audience and expiry.
pub fn verify(keys: &Keys, token: &str, issuer: &str, audience: &str, now: i64) -> Result<VerifiedToken, BearerError> {
    verify_inner(keys, token, issuer, audience, Some(now))
}

/// For revocation (RFC 7009): a token of ours that has expired still names its connection, and
/// revoking it must end that connection. Signature, type, issuer and audience are checked.
pub fn verify_ignoring_expiry(keys: &Keys, token: &str, issuer: &str, audience: &str) -> Result<VerifiedToken, BearerError> {
    verify_inner(keys, token, issuer, audience, None)
}

fn verify_inner(keys: &Keys, token: &str, issuer: &str, audience: &str, now: Option<i64>) -> Result<VerifiedToken, BearerError> {
    let untrusted = UntrustedToken::new(token).map_err(|_| BearerError::Malformed)?;
    if untrusted.header().token_type.as_deref() != Some(TOKEN_TYPE) {
        return Err(BearerError::Malformed);
    }
    let token = keys.verify_jwt::<AccessClaims>(JwtPurpose::AccessToken, &untrusted).map_err(|e| match e {
        jwt_compact::ValidationError::InvalidSignature | jwt_compact::ValidationError::InvalidSignatureLen { .. } => {
            BearerError::BadSignature
        }
        _ => BearerError::Malformed,
    })?;
    let claims = token.claims();
    let expires_at = claims.expiration.map(|e| e.timestamp()).ok_or(BearerError::Malformed)?;
    if let Some(now) = now {
        let clock = TimeOptions::new(chrono::Duration::zero(), move || Utc.timestamp_opt(now, 0).single().unwrap_or_default());
        claims.validate_expiration(&clock).map_err(|_| BearerError::Expired)?;
        let issued_at = claims.issued_at.map(|t| t.timestamp()).ok_or(BearerError::Malformed)?;
        if issued_at > now + CLOCK_SKEW_SECONDS {
            return Err(BearerError::NotYetIssued);
        }
    }
    if claims.custom.iss != issuer {
        return Err(BearerError::WrongIssuer);
    }
    if claims.custom.aud != audience {
        return Err(BearerError::WrongAudience);
    }
    Ok(VerifiedToken { claims: claims.custom.clone(), expires_at })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::oauth::keys::{rotated_keys, test_keys};

    fn claims() -> AccessClaims {
        AccessClaims {
            iss: "https://h.example".into(),
            aud: "https://h.example/mcp".into(),
            sub: "ada@example.com".into(),
            ws: "acme".into(),
            client_id: "c1".into(),
            scope: "CONTACTS_READ".into(),
            cid: "conn1".into(),
            jti: "j1".into(),
            client_name: Some("Claude Code".into()),
        }
    }

    #[test]
    fn round_trip_and_every_rejection() {
        let keys = test_keys();
        let t = sign(&keys, &claims(), 1000, 2000);
        let ok = verify(&keys, &t, "https://h.example", "https://h.example/mcp", 1500).unwrap();
        assert_eq!(ok.claims, claims());
        assert_eq!(ok.expires_at, 2000);
        assert_eq!(verify(&keys, &t, "https://h.example", "https://h.example/mcp", 2001), Err(BearerError::Expired));
        // Issued (by our key) after now: a minute of skew between isolates, no more.
        let ahead = sign(&keys, &claims(), 1500, 2500);
        assert!(verify(&keys, &ahead, "https://h.example", "https://h.example/mcp", 1440).is_ok());
        assert_eq!(verify(&keys, &ahead, "https://h.example", "https://h.example/mcp", 1439), Err(BearerError::NotYetIssued));
        assert_eq!(verify(&keys, &t, "https://x.example", "https://h.example/mcp", 1500), Err(BearerError::WrongIssuer));
        assert_eq!(verify(&keys, &t, "https://h.example", "https://x.example/mcp", 1500), Err(BearerError::WrongAudience));
        assert_eq!(verify(&keys, "garbage", "a", "b", 0), Err(BearerError::Malformed));
        // Flip one character of the payload: the signature no longer matches.
        let mut parts: Vec<String> = t.split('.').map(str::to_string).collect();
        let payload = crate::core::b64::decode(&parts[1]).unwrap();
        let tampered = String::from_utf8(payload).unwrap().replace("CONTACTS_READ", "CONTACTS_WRITE");
        parts[1] = crate::core::b64::encode(tampered.as_bytes());
        assert_eq!(verify(&keys, &parts.join("."), "https://h.example", "https://h.example/mcp", 1500), Err(BearerError::BadSignature));
        // Signed by another key.
        let other = rotated_keys(9, None);
        let foreign = sign(&other, &claims(), 1000, 2000);
        assert_eq!(verify(&keys, &foreign, "https://h.example", "https://h.example/mcp", 1500), Err(BearerError::BadSignature));
    }

    #[test]
    fn a_token_of_the_previous_secret_verifies_while_it_is_configured() {
        let (iss, aud) = ("https://h.example", "https://h.example/mcp");
        let under_a = sign(&rotated_keys(1, None), &claims(), 1000, 2000);
        let ok = verify(&rotated_keys(2, Some(1)), &under_a, iss, aud, 1500).unwrap();
        assert_eq!(ok.claims, claims());
        assert_eq!(verify(&rotated_keys(2, None), &under_a, iss, aud, 1500), Err(BearerError::BadSignature));
        let under_b = sign(&rotated_keys(2, Some(1)), &claims(), 1000, 2000);
        assert!(verify(&rotated_keys(2, None), &under_b, iss, aud, 1500).is_ok(), "new tokens are under the current key");
    }
}

//! Browser state: the signed sign-in session and the CSRF token bound to a cookie.
use serde::{Deserialize, Serialize};

use crate::core::b64;
use crate::core::ids::{Email, WorkspaceId};
use crate::core::oauth::keys::Keys;
use crate::core::oauth::pkce::constant_time_eq;

pub const SESSION_COOKIE: &str = "mcp_edge_session";
pub const CSRF_COOKIE: &str = "mcp_edge_csrf";
pub const SESSION_TTL: i64 = 8 * 3600;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    pub workspace: WorkspaceId,
    pub email: Email,
    pub expires_at: i64,
}

/// `base64url(json).base64url(HMAC)`.
pub fn encode_session(keys: &Keys, session: &Session) -> String {
    let body = b64::encode(serde_json::to_string(session).unwrap_or_default().as_bytes());
    let mac = keys.cookie_mac(format!("session|{body}").as_bytes());
    format!("{body}.{}", b64::encode(&mac))
}

pub fn decode_session(keys: &Keys, value: &str, now: i64) -> Option<Session> {
    let (body, mac) = value.split_once('.')?;
    let expected = keys.cookie_mac(format!("session|{body}").as_bytes());
    if !constant_time_eq(&b64::decode(mac)?, &expected) {
        return None;
    }
    let session: Session = serde_json::from_slice(&b64::decode(body)?).ok()?;
    (session.expires_at > now).then_some(session)
}

/// The form token for a browser whose CSRF cookie holds `nonce` (signed double submit).
pub fn csrf_token(keys: &Keys, nonce: &str) -> String {
    b64::encode(&keys.cookie_mac(format!("csrf|{nonce}").as_bytes()))
}

/// What a consent page showed — user, workspace, client, redirect URI and the scopes to be
/// granted — bound under the cookie key. The form carries it back, and an approval is carried
/// out only if a fresh evaluation still yields exactly this: a ceiling raised, or another
/// sign-in in another tab, between showing and approving never grants what was not shown.
pub fn consent_digest(keys: &Keys, shown: &[&str]) -> String {
    b64::encode(&keys.cookie_mac(format!("consent|{}", shown.join("\n")).as_bytes()))
}

pub fn csrf_valid(keys: &Keys, nonce: Option<&str>, token: Option<&str>) -> bool {
    match (nonce, token) {
        (Some(n), Some(t)) if n.len() >= 16 => constant_time_eq(csrf_token(keys, n).as_bytes(), t.as_bytes()),
        _ => false,
    }
}

/// A `Set-Cookie` value: HttpOnly, SameSite=Lax, Secure on https.
pub fn set_cookie(name: &str, value: &str, max_age: i64, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!("{name}={value}; Path=/; Max-Age={max_age}; HttpOnly; SameSite=Lax{secure}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::oauth::keys::test_keys;

    #[test]
    fn sessions_are_signed_and_expire() {
        let k = test_keys();
        let s = Session { workspace: "acme".into(), email: "ada@example.com".into(), expires_at: 100 };
        let v = encode_session(&k, &s);
        assert_eq!(decode_session(&k, &v, 50), Some(s));
        assert_eq!(decode_session(&k, &v, 100), None);
        let forged = v.replacen('e', "f", 1);
        assert_eq!(decode_session(&k, &forged, 50), None);
    }

    #[test]
    fn csrf_token_is_bound_to_the_cookie() {
        let k = test_keys();
        let t = csrf_token(&k, "nonce-nonce-nonce-1");
        assert!(csrf_valid(&k, Some("nonce-nonce-nonce-1"), Some(&t)));
        assert!(!csrf_valid(&k, Some("nonce-nonce-nonce-2"), Some(&t)));
        assert!(!csrf_valid(&k, None, Some(&t)));
        assert!(!csrf_valid(&k, Some("nonce-nonce-nonce-1"), None));
    }
}

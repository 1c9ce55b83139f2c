//! Browser state: the signed sign-in session and the CSRF token bound to a cookie and to the
//! session. Cookie names here are base names: `crate::core::site::Site::cookie_name` adds the
//! `__Host-` prefix wherever cookies are `Secure`.
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::core::b64;
use crate::core::ids::{Email, Identity, WorkspaceId};
use crate::core::oauth::keys::Keys;

pub const SESSION_COOKIE: &str = "mcp_edge_session";
pub const CSRF_COOKIE: &str = "mcp_edge_csrf";
/// A sign-in lasts an hour: long enough to approve and to edit a policy, short enough that a
/// browser left signed in does not approve connections for a day.
pub const SESSION_TTL: i64 = 3600;

/// A signed-in browser: who (as the sign-in method vouched), and the workspace it acts in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    pub identity: Identity,
    /// The workspace this browser acts in and the member's e-mail there; `None` until the
    /// person has named a workspace (OpenID Connect sign-in without a workspaces claim).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current: Option<Membership>,
    /// The other workspaces the identity was a member of at sign-in (the consent page's chooser).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub others: Vec<WorkspaceId>,
    pub expires_at: i64,
    /// Random per sign-in: CSRF tokens are bound to it, so a form shown before a sign-in (or to
    /// another session) is not accepted after it.
    pub sid: String,
}

impl Session {
    /// Whether the browser acts in `workspace` now.
    pub fn acts_in(&self, workspace: &WorkspaceId) -> bool {
        self.current.as_ref().is_some_and(|m| &m.workspace == workspace)
    }
}

/// A workspace and the member e-mail the signed-in identity is there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Membership {
    pub workspace: WorkspaceId,
    pub email: Email,
}

/// At most this many workspaces are kept in a session (the cookie stays well under 4 KB).
pub const MAX_SESSION_WORKSPACES: usize = 20;

/// A value a cookie carries, MACed for `purpose`: `base64url(json).base64url(HMAC)`. The
/// purpose is part of the MAC, so a value signed for one cookie is nothing in another.
pub fn sign<T: Serialize>(keys: &Keys, purpose: &str, value: &T) -> String {
    let body = b64::encode(serde_json::to_string(value).unwrap_or_default().as_bytes());
    let mac = keys.cookie_mac(format!("{purpose}|{body}").as_bytes());
    format!("{body}.{}", b64::encode(&mac))
}

/// The value `sign(keys, purpose, …)` made, if `text` is exactly that (under the current key
/// or, during a rotation, the previous one).
pub fn open<T: DeserializeOwned>(keys: &Keys, purpose: &str, text: &str) -> Option<T> {
    let (body, mac) = text.split_once('.')?;
    if !keys.cookie_mac_matches(format!("{purpose}|{body}").as_bytes(), &b64::decode(mac)?) {
        return None;
    }
    serde_json::from_slice(&b64::decode(body)?).ok()
}

pub fn encode_session(keys: &Keys, session: &Session) -> String {
    sign(keys, "session", session)
}

pub fn decode_session(keys: &Keys, value: &str, now: i64) -> Option<Session> {
    open::<Session>(keys, "session", value).filter(|s| s.expires_at > now)
}

/// The form token for a browser whose CSRF cookie holds `nonce` (signed double submit), bound
/// to the session it was shown in (`sid`; empty before sign-in).
pub fn csrf_token(keys: &Keys, nonce: &str, sid: &str) -> String {
    b64::encode(&keys.cookie_mac(csrf_input(nonce, sid).as_bytes()))
}

fn csrf_input(nonce: &str, sid: &str) -> String {
    format!("csrf|{nonce}|{sid}")
}

/// What a consent page showed — user, workspace, client, redirect URI and the scopes to be
/// granted — bound under the cookie key. The form carries it back, and an approval is carried
/// out only if a fresh evaluation still yields exactly this: a ceiling raised, or another
/// sign-in in another tab, between showing and approving never grants what was not shown.
pub fn consent_digest(keys: &Keys, shown: &[&str]) -> String {
    b64::encode(&keys.cookie_mac(consent_input(shown).as_bytes()))
}

fn consent_input(shown: &[&str]) -> String {
    format!("consent|{}", shown.join("\n"))
}

/// Whether `presented` is the `consent_digest` of `shown` (a page shown before a rotation included).
pub fn consent_matches(keys: &Keys, shown: &[&str], presented: &str) -> bool {
    b64::decode(presented).is_some_and(|mac| keys.cookie_mac_matches(consent_input(shown).as_bytes(), &mac))
}

pub fn csrf_valid(keys: &Keys, nonce: Option<&str>, sid: &str, token: Option<&str>) -> bool {
    match (nonce, token.and_then(b64::decode)) {
        (Some(n), Some(mac)) if n.len() >= 16 => keys.cookie_mac_matches(csrf_input(n, sid).as_bytes(), &mac),
        _ => false,
    }
}

/// A `Set-Cookie` value: `Path=/`, no `Domain`, HttpOnly, SameSite=Lax, and Secure on https
/// (the `__Host-` prefix's conditions).
pub fn set_cookie(name: &str, value: &str, max_age: i64, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!("{name}={value}; Path=/; Max-Age={max_age}; HttpOnly; SameSite=Lax{secure}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::oauth::keys::{rotated_keys, test_keys};

    #[test]
    fn sessions_are_signed_and_expire() {
        let k = test_keys();
        let s = Session {
            identity: Identity { subject: Some("u-1".into()), email: Some("ada@example.com".into()) },
            current: Some(Membership { workspace: "acme".into(), email: "ada@example.com".into() }),
            others: vec!["north".into()],
            expires_at: 100,
            sid: "s1".into(),
        };
        let v = encode_session(&k, &s);
        assert_eq!(decode_session(&k, &v, 50), Some(s));
        assert_eq!(decode_session(&k, &v, 100), None);
        let forged = v.replacen('e', "f", 1);
        assert_eq!(decode_session(&k, &forged, 50), None);
    }

    #[test]
    fn csrf_token_is_bound_to_the_cookie_and_the_session() {
        let k = test_keys();
        let t = csrf_token(&k, "nonce-nonce-nonce-1", "sid-1");
        assert!(csrf_valid(&k, Some("nonce-nonce-nonce-1"), "sid-1", Some(&t)));
        assert!(!csrf_valid(&k, Some("nonce-nonce-nonce-2"), "sid-1", Some(&t)));
        assert!(!csrf_valid(&k, Some("nonce-nonce-nonce-1"), "sid-2", Some(&t)), "bound to the session");
        assert!(!csrf_valid(&k, Some("nonce-nonce-nonce-1"), "", Some(&t)), "not valid once signed out");
        assert!(!csrf_valid(&k, None, "sid-1", Some(&t)));
        assert!(!csrf_valid(&k, Some("nonce-nonce-nonce-1"), "sid-1", None));
        assert!(!csrf_valid(&k, Some("nonce-nonce-nonce-1"), "sid-1", Some("not base64!")));
    }

    #[test]
    fn sessions_form_tokens_and_consent_of_the_previous_secret_hold_while_it_is_configured() {
        let (a, rotated, b) = (rotated_keys(1, None), rotated_keys(2, Some(1)), rotated_keys(2, None));
        let s = Session {
            identity: Identity { subject: None, email: Some("ada@example.com".into()) },
            current: None,
            others: vec![],
            expires_at: 100,
            sid: "s1".into(),
        };
        let cookie = encode_session(&a, &s);
        let csrf = csrf_token(&a, "nonce-nonce-nonce-1", "s1");
        let shown = ["ada@example.com", "acme", "c1", "http://localhost:3118/callback", "CONTACTS_READ"];
        let digest = consent_digest(&a, &shown);
        assert_eq!(decode_session(&rotated, &cookie, 50), Some(s.clone()));
        assert!(csrf_valid(&rotated, Some("nonce-nonce-nonce-1"), "s1", Some(&csrf)));
        assert!(consent_matches(&rotated, &shown, &digest));
        assert!(!consent_matches(&rotated, &shown[..4], &digest));
        assert_eq!(decode_session(&b, &cookie, 50), None);
        assert!(!csrf_valid(&b, Some("nonce-nonce-nonce-1"), "s1", Some(&csrf)));
        assert!(!consent_matches(&b, &shown, &digest));
        // What is made during the rotation is the current key's alone.
        assert_eq!(decode_session(&b, &encode_session(&rotated, &s), 50), Some(s));
        assert!(consent_matches(&b, &shown, &consent_digest(&rotated, &shown)));
    }
}

//! The identities below the OAuth types: workspace, user and connection. Each is checked (and
//! the e-mail normalised) once, when it is parsed; stored records and token claims deserialize
//! through the same parse (`#[serde(try_from = "String")]`), so a value of one of these types is
//! always valid.
use serde::{Deserialize, Serialize};

/// RFC 5321 §4.5.3.1.3: a path is at most 256 octets including the angle brackets.
pub const MAX_EMAIL_LEN: usize = 254;

/// A workspace ID: 1–64 characters of `[A-Za-z0-9_-]`, what follows `policy:` in the KV key.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct WorkspaceId(String);

impl WorkspaceId {
    pub fn parse(raw: &str) -> Option<WorkspaceId> {
        let ok = !raw.is_empty() && raw.len() <= 64 && raw.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        ok.then(|| WorkspaceId(raw.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A member's e-mail address, the user's identity: trimmed and lowercased (ASCII) at parse, so
/// two spellings of one address are one user everywhere (policy, sessions, tokens, storage).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Email(String);

impl Email {
    /// `local@domain`, both parts non-empty, exactly one `@`, no whitespace or control
    /// characters, at most `MAX_EMAIL_LEN` characters. (Deliberately not RFC 5322: quoted local
    /// parts and comments are not identities we sign in.) Surrounding whitespace is ignored.
    pub fn parse(raw: &str) -> Result<Email, &'static str> {
        let email = raw.trim().to_ascii_lowercase();
        check_email(&email)?;
        Ok(Email(email))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Who signed in, as the sign-in method vouches for it: the identity provider's subject
/// (`sub`), and the e-mail address — only when the provider says it is verified (or, in local
/// development, as typed). `crate::core::policy::model::WorkspacePolicy::member_for` maps it to
/// a member.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<Email>,
}

/// Why `raw` is not an e-mail address, exactly as written (nothing trimmed).
pub fn check_email(raw: &str) -> Result<(), &'static str> {
    if raw.is_empty() {
        return Err("is empty");
    }
    // Characters, as JSON Schema's `maxLength` counts them (the same as bytes for ASCII).
    if raw.chars().count() > MAX_EMAIL_LEN {
        return Err("is longer than 254 characters");
    }
    if raw.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("contains whitespace or control characters");
    }
    match raw.split_once('@') {
        Some((local, domain)) if !local.is_empty() && !domain.is_empty() && !domain.contains('@') => Ok(()),
        _ => Err("is not an e-mail address (expected exactly one `@` between a local part and a domain)"),
    }
}

/// A connection (one approval): 1–64 base64url characters (we mint 43: 256 random bits).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ConnectionId(String);

impl ConnectionId {
    /// A new ID from 32 random bytes.
    pub fn from_random(random: &[u8; 32]) -> ConnectionId {
        ConnectionId(crate::core::b64::encode(random))
    }

    pub fn parse(raw: &str) -> Option<ConnectionId> {
        let ok = !raw.is_empty() && raw.len() <= 64 && crate::core::b64::is_alphabet(raw);
        ok.then(|| ConnectionId(raw.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// serde's `try_from`/`into` for each type, and `Display` (the text itself).
macro_rules! text_conversions {
    ($($ty:ident: $what:literal, $parse:expr;)*) => {$(
        impl TryFrom<String> for $ty {
            type Error = String;
            fn try_from(raw: String) -> Result<$ty, String> {
                let parse: fn(&str) -> Option<$ty> = $parse;
                parse(&raw).ok_or_else(|| format!("`{raw}` is not {}", $what))
            }
        }

        impl From<$ty> for String {
            fn from(id: $ty) -> String {
                id.0
            }
        }

        impl std::fmt::Display for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }
    )*};
}

text_conversions! {
    WorkspaceId: "a workspace ID", WorkspaceId::parse;
    Email: "an e-mail address", |raw| Email::parse(raw).ok();
    ConnectionId: "a connection ID", ConnectionId::parse;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_normalised_once_and_checked() {
        assert_eq!(Email::parse(" Ada@Example.COM ").unwrap().as_str(), "ada@example.com");
        assert_eq!(Email::parse("").unwrap_err(), "is empty");
        assert_eq!(Email::parse("a b@example.com").unwrap_err(), "contains whitespace or control characters");
        assert!(Email::parse("a@b@c").is_err());
        assert!(Email::parse(&format!("{}@example.com", "a".repeat(250))).is_err());
    }

    #[test]
    fn ids_are_bounded() {
        assert!(WorkspaceId::parse("acme_1-x").is_some());
        for bad in ["", "a b", "a/b", "a\nb", &"a".repeat(65)] {
            assert!(WorkspaceId::parse(bad).is_none(), "{bad:?}");
        }
        assert!(ConnectionId::parse("AbC-_9").is_some());
        assert!(ConnectionId::parse("a\nb").is_none() && ConnectionId::parse("").is_none());
    }

    #[test]
    fn stored_values_deserialize_only_when_valid() {
        let ok: Email = serde_json::from_str("\"ADA@example.com\"").unwrap();
        assert_eq!(ok.as_str(), "ada@example.com");
        assert!(serde_json::from_str::<Email>("\"not an e-mail\"").is_err());
        assert!(serde_json::from_str::<WorkspaceId>("\"../x\"").is_err());
        assert_eq!(serde_json::to_string(&WorkspaceId::parse("acme").unwrap()).unwrap(), "\"acme\"");
    }
}

/// Tests write identities as literals: `"acme".into()`. Only in tests, and a literal that does
/// not parse fails the test.
#[cfg(test)]
mod literals {
    use super::*;
    use crate::core::oauth::types::{ClientId, RedirectUri};

    impl From<&str> for WorkspaceId {
        fn from(s: &str) -> WorkspaceId {
            WorkspaceId::parse(s).unwrap_or_else(|| panic!("{s:?} is not a workspace ID"))
        }
    }

    impl From<&str> for Email {
        fn from(s: &str) -> Email {
            Email::parse(s).unwrap_or_else(|e| panic!("{s:?} {e}"))
        }
    }

    impl From<&str> for ConnectionId {
        fn from(s: &str) -> ConnectionId {
            ConnectionId::parse(s).unwrap_or_else(|| panic!("{s:?} is not a connection ID"))
        }
    }

    impl From<&str> for ClientId {
        fn from(s: &str) -> ClientId {
            ClientId::parse(s).unwrap_or_else(|| panic!("{s:?} is not a client ID"))
        }
    }

    impl From<&str> for RedirectUri {
        fn from(s: &str) -> RedirectUri {
            RedirectUri::parse(s).unwrap_or_else(|e| panic!("{s:?}: {e}"))
        }
    }
}

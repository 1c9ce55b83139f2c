//! Workspace administration: who may administer a workspace, policy versions (ETags), and the
//! record of recent authorization outcomes that explains "why is there no connection?".
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::core::b64;
use crate::core::cookies::Session;
use crate::core::oauth::pkce::constant_time_eq;
use crate::core::policy::model::{Role, WorkspacePolicy};

/// How many outcomes of each kind a workspace keeps.
pub const OUTCOMES_KEPT: usize = 50;

/// The ETag of a stored policy text (RFC 9110 §8.8.3, strong).
pub fn etag(text: &str) -> String {
    format!("\"{}\"", &b64::encode(&Sha256::digest(text.as_bytes()))[..22])
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutcomeKind {
    Rejected,
    Approved,
}

/// One authorization attempt, as the admin sees it. Never holds a secret (no codes, no tokens,
/// no PKCE values).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outcome {
    pub kind: OutcomeKind,
    pub at: i64,
    pub user: String,
    pub client_id: String,
    pub client_name: String,
    pub redirect_uri: String,
    pub scopes: Vec<String>,
    /// The exact rule that failed (`redirect_uri is not allowed`, …); none for approvals.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
}

/// Who is calling the admin API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdminCaller {
    /// Holds the deployment's operator token (`ADMIN_TOKEN` secret): every workspace.
    Operator,
    /// A signed-in person.
    Session(Session),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdminDenied {
    /// No credentials: 401.
    Unauthenticated,
    /// Credentials that do not grant this workspace: 403, saying nothing about the workspace.
    Forbidden,
}

/// Checks the operator token in constant time. An unset token matches nothing.
pub fn is_operator(configured: Option<&str>, presented: &str) -> bool {
    configured.is_some_and(|t| t.len() >= 32 && constant_time_eq(t.as_bytes(), presented.as_bytes()))
}

/// May `caller` administer `workspace`, whose policy is `policy` (None: missing or invalid)?
/// A session grants only its own workspace, and only to a member with the admin role in the
/// *current* policy. An invalid policy cannot name admins, so only the operator can repair it.
pub fn may_administer(caller: Option<&AdminCaller>, workspace: &str, policy: Option<&WorkspacePolicy>) -> Result<(), AdminDenied> {
    match caller {
        None => Err(AdminDenied::Unauthenticated),
        Some(AdminCaller::Operator) => Ok(()),
        Some(AdminCaller::Session(s)) if s.workspace == workspace => match policy.and_then(|p| p.member(&s.email)) {
            Some(m) if m.role == Role::Admin => Ok(()),
            _ => Err(AdminDenied::Forbidden),
        },
        Some(AdminCaller::Session(_)) => Err(AdminDenied::Forbidden),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::config::BUNDLED_SCOPE_CATALOG;
    use crate::core::scopes::ScopeCatalog;

    fn policy() -> WorkspacePolicy {
        let doc = serde_json::json!({
            "schema": 1, "name": "Acme", "mcp_enabled": true, "allowed_redirect_uris": [], "scope_ceiling": [],
            "members": [{"email": "ada@example.com", "role": "admin"}, {"email": "bob@example.com", "role": "member"}]
        });
        WorkspacePolicy::parse("acme", &doc.to_string(), &ScopeCatalog::parse(BUNDLED_SCOPE_CATALOG).unwrap()).unwrap()
    }

    fn session(ws: &str, email: &str) -> AdminCaller {
        AdminCaller::Session(Session { workspace: ws.into(), email: email.into(), expires_at: 0 })
    }

    #[test]
    fn only_admins_of_the_workspace_and_the_operator() {
        let p = policy();
        assert_eq!(may_administer(None, "acme", Some(&p)), Err(AdminDenied::Unauthenticated));
        assert_eq!(may_administer(Some(&AdminCaller::Operator), "acme", None), Ok(()));
        assert_eq!(may_administer(Some(&session("acme", "ada@example.com")), "acme", Some(&p)), Ok(()));
        assert_eq!(may_administer(Some(&session("acme", "bob@example.com")), "acme", Some(&p)), Err(AdminDenied::Forbidden));
        assert_eq!(may_administer(Some(&session("other", "ada@example.com")), "acme", Some(&p)), Err(AdminDenied::Forbidden));
        assert_eq!(may_administer(Some(&session("acme", "ada@example.com")), "acme", None), Err(AdminDenied::Forbidden));
    }

    #[test]
    fn operator_token_must_be_set_long_and_equal() {
        let t = "t".repeat(40);
        assert!(is_operator(Some(&t), &t));
        assert!(!is_operator(Some(&t), "t"));
        assert!(!is_operator(None, ""));
        assert!(!is_operator(Some("short"), "short"));
    }

    #[test]
    fn etags_change_with_content() {
        assert_ne!(etag("a"), etag("b"));
        assert_eq!(etag("a"), etag("a"));
        assert!(etag("a").starts_with('"') && etag("a").ends_with('"'));
    }
}

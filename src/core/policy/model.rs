//! The workspace policy document stored in KV under `policy:<workspace_id>` (docs/storage.md).
//! Parsing fails closed: a document that does not validate grants nothing, and the error names
//! the workspace and the field.
use std::collections::BTreeSet;

use serde::Deserialize;

use crate::core::oauth::types::RedirectUri;
use crate::core::scopes::{ScopeCatalog, ScopeSet};

pub const SCHEMA_VERSION: u32 = 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Admin,
    Member,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub email: String,
    pub name: String,
    pub role: Role,
}

/// A validated workspace policy.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkspacePolicy {
    pub id: String,
    pub name: String,
    pub mcp_enabled: bool,
    pub allowed_redirect_uris: Vec<RedirectUri>,
    pub allowed_client_ids: Vec<String>,
    pub scope_ceiling: ScopeSet,
    pub members: Vec<Member>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMember {
    email: String,
    #[serde(default)]
    name: Option<String>,
    role: Role,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    schema: u32,
    name: String,
    mcp_enabled: bool,
    allowed_redirect_uris: Vec<String>,
    #[serde(default)]
    allowed_client_ids: Vec<String>,
    scope_ceiling: Vec<String>,
    members: Vec<RawMember>,
}

/// Why a stored policy cannot be used. Shown to people (authorize page, logs) as-is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyError {
    pub workspace: String,
    pub message: String,
}

impl std::fmt::Display for PolicyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "The policy of workspace `{}` is invalid: {}", self.workspace, self.message)
    }
}

/// A workspace ID: what follows `policy:` in the KV key.
pub fn valid_workspace_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

impl WorkspacePolicy {
    pub fn parse(workspace: &str, json: &str, catalog: &ScopeCatalog) -> Result<WorkspacePolicy, PolicyError> {
        let fail = |message: String| PolicyError { workspace: workspace.to_string(), message };
        let raw: RawPolicy = serde_json::from_str(json).map_err(|e| fail(format!("{e}")))?;
        if raw.schema != SCHEMA_VERSION {
            return Err(fail(format!("`schema` is {}, this server reads schema {SCHEMA_VERSION}", raw.schema)));
        }
        if raw.name.trim().is_empty() {
            return Err(fail("`name` must not be empty".into()));
        }
        let mut allowed_redirect_uris = Vec::new();
        for (i, raw_uri) in raw.allowed_redirect_uris.iter().enumerate() {
            let uri = RedirectUri::parse(raw_uri).map_err(|e| fail(format!("`allowed_redirect_uris[{i}]`: {e}")))?;
            if allowed_redirect_uris.contains(&uri) {
                return Err(fail(format!("`allowed_redirect_uris[{i}]`: `{raw_uri}` is listed twice")));
            }
            allowed_redirect_uris.push(uri);
        }
        no_duplicates(&raw.allowed_client_ids, "allowed_client_ids").map_err(fail)?;
        if let Some(i) = raw.allowed_client_ids.iter().position(|c| c.trim().is_empty()) {
            return Err(fail(format!("`allowed_client_ids[{i}]` is empty")));
        }
        no_duplicates(&raw.scope_ceiling, "scope_ceiling").map_err(fail)?;
        if let Some(unknown) = raw.scope_ceiling.iter().find(|s| !catalog.contains(s)) {
            return Err(fail(format!("`scope_ceiling`: unknown scope `{unknown}`")));
        }
        let mut members = Vec::new();
        let mut seen = BTreeSet::new();
        for (i, m) in raw.members.into_iter().enumerate() {
            let email = m.email.trim().to_ascii_lowercase();
            if email.is_empty() || !email.contains('@') {
                return Err(fail(format!("`members[{i}].email` must be an e-mail address")));
            }
            if !seen.insert(email.clone()) {
                return Err(fail(format!("`members[{i}].email`: `{email}` is listed twice")));
            }
            let name = m.name.filter(|n| !n.trim().is_empty()).unwrap_or_else(|| email.clone());
            members.push(Member { email, name, role: m.role });
        }
        Ok(WorkspacePolicy {
            id: workspace.to_string(),
            name: raw.name,
            mcp_enabled: raw.mcp_enabled,
            allowed_redirect_uris,
            allowed_client_ids: raw.allowed_client_ids,
            scope_ceiling: ScopeSet::from_trusted(raw.scope_ceiling),
            members,
        })
    }

    pub fn member(&self, email: &str) -> Option<&Member> {
        let email = email.trim().to_ascii_lowercase();
        self.members.iter().find(|m| m.email == email)
    }
}

fn no_duplicates(items: &[String], field: &str) -> Result<(), String> {
    let mut seen = BTreeSet::new();
    match items.iter().find(|i| !seen.insert(i.as_str())) {
        Some(dup) => Err(format!("`{field}`: `{dup}` is listed twice")),
        None => Ok(()),
    }
}

#[cfg(test)]
pub mod tests {
    use super::*;
    use crate::core::config::BUNDLED_SCOPE_CATALOG;

    pub fn sample_json() -> String {
        serde_json::json!({
            "schema": 1, "name": "Acme", "mcp_enabled": true,
            "allowed_redirect_uris": ["http://localhost:3118/callback"],
            "allowed_client_ids": [],
            "scope_ceiling": ["WORKSPACE_READ", "CONTACTS_READ"],
            "members": [{"email": "Ada@Example.com", "name": "Ada", "role": "admin"}]
        })
        .to_string()
    }

    fn parse(json: &str) -> Result<WorkspacePolicy, PolicyError> {
        WorkspacePolicy::parse("acme", json, &ScopeCatalog::parse(BUNDLED_SCOPE_CATALOG).unwrap())
    }

    #[test]
    fn sample_parses_and_members_match_case_insensitively() {
        let p = parse(&sample_json()).unwrap();
        assert!(p.member("ada@example.com").is_some());
        assert!(p.member("bob@example.com").is_none());
    }

    #[test]
    fn invalid_documents_fail_closed_naming_the_field() {
        let cases = [
            (
                r#""allowed_redirect_uris": ["http://localhost:3118/callback"]"#,
                r#""allowed_redirect_uris": ["/callback"]"#,
                "allowed_redirect_uris[0]",
            ),
            (
                r#""allowed_redirect_uris": ["http://localhost:3118/callback"]"#,
                r#""allowed_redirect_uris": ["http://localhost:3118/callback#f"]"#,
                "fragment",
            ),
            (r#""WORKSPACE_READ""#, r#""WORKSPACE_READS""#, "unknown scope `WORKSPACE_READS`"),
            (r#""mcp_enabled": true"#, r#""mcp_enabled": true, "extra": 1"#, "unknown field `extra`"),
            (r#""Ada@Example.com""#, r#""""#, "members[0].email"),
            (r#""schema": 1"#, r#""schema": 2"#, "schema"),
        ];
        let compact = sample_json().replace(",\"", ", \"").replace("\":", "\": ");
        for (from, to, needle) in cases {
            let doc = compact.replace(from, to);
            assert_ne!(doc, compact, "fixture replacement failed for {from}");
            let err = parse(&doc).unwrap_err();
            assert!(err.to_string().contains(needle), "{needle}: {err}");
            assert!(err.to_string().contains("workspace `acme`"));
        }
        assert!(parse("not json").is_err());
    }
}

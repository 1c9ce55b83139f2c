//! Policy decisions: a request and a policy in, Allow or the exact rule that failed out.
//! The messages are the ones users search for (DESIGN §6); each comes with what to check.
use crate::core::oauth::types::{ClientId, RedirectUri};
use crate::core::policy::model::WorkspacePolicy;
use crate::core::scopes::{ScopeCatalog, ScopeSet};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Denial {
    McpDisabled,
    NotMember,
    RedirectUriNotAllowed { redirect_uri: String },
    ClientNotAllowed { client_id: String },
    ScopesNotAllowed { excess: Vec<String> },
    NothingToGrant,
}

impl Denial {
    /// The exact, searchable message.
    pub fn message(&self) -> &'static str {
        match self {
            Denial::McpDisabled => "MCP is disabled for this workspace",
            Denial::NotMember => "You are not a member of this workspace",
            Denial::RedirectUriNotAllowed { .. } => "redirect_uri is not allowed",
            Denial::ClientNotAllowed { .. } => "OAuth client_id is not allowed",
            Denial::ScopesNotAllowed { .. } => "Requested scopes are not allowed",
            Denial::NothingToGrant => "Requested scopes are not allowed",
        }
    }

    /// What the person should check, naming the values involved.
    pub fn hint(&self, workspace: &str) -> String {
        match self {
            Denial::McpDisabled => format!("An admin of workspace “{workspace}” must enable MCP in the workspace policy."),
            Denial::NotMember => format!("Sign in with an account that is a member of workspace “{workspace}”, or ask an admin to add you."),
            Denial::RedirectUriNotAllowed { redirect_uri } => format!(
                "The client's callback {redirect_uri} is not on the allowed redirect URIs of workspace “{workspace}”. The match is exact, port and path included: ask an admin to add it, or start the client with a callback that is listed (for Claude Code: --callback-port)."
            ),
            Denial::ClientNotAllowed { client_id } => format!(
                "Workspace “{workspace}” only allows pinned OAuth client IDs, and {client_id} is not one of them. Ask an admin to add it, or clear the pinned list."
            ),
            Denial::ScopesNotAllowed { excess } => format!(
                "{} {} above the MCP scope ceiling of workspace “{workspace}”. Request fewer scopes (or none, to get the ceiling), or ask an admin to raise the ceiling.",
                excess.join(", "),
                if excess.len() == 1 { "is" } else { "are" }
            ),
            Denial::NothingToGrant => format!("The MCP scope ceiling of workspace “{workspace}” is empty; ask an admin to allow at least one scope."),
        }
    }

    /// For logs and `Token validation failed: …` (which of connection, user, policy).
    pub fn token_reason(&self) -> &'static str {
        match self {
            Denial::NotMember => "user is no longer a member of the workspace",
            Denial::McpDisabled => "policy: MCP is disabled for the workspace",
            Denial::RedirectUriNotAllowed { .. } => "policy: the redirect URI is no longer allowed",
            Denial::ClientNotAllowed { .. } => "policy: the OAuth client is no longer allowed",
            Denial::ScopesNotAllowed { .. } | Denial::NothingToGrant => "policy: no granted scope is allowed any more",
        }
    }
}

/// `Token validation failed: <reason>. <what to check>` (DESIGN §6): the message people search
/// for, which of connection, user or policy failed, and what to do about it. `reason` starts
/// with `connection`, `user` or `policy` (`Denial::token_reason` and the connection checks).
pub fn token_validation_failed(reason: &str) -> String {
    let check = if reason.starts_with("connection") {
        "Reconnect: authenticate this server again in your MCP client (Claude Code: /mcp, then Authenticate)."
    } else if reason.starts_with("user") {
        "Ask an admin of the workspace to add you as a member, then reconnect."
    } else {
        "Ask an admin of the workspace to check its MCP policy (MCP enabled, allowed OAuth client IDs, scope ceiling), then reconnect."
    };
    format!("Token validation failed: {reason}. {check}")
}

/// The request an approval is about, as far as the workspace policy is concerned.
pub struct AuthorizationFacts<'a> {
    pub user: &'a str,
    pub client_id: &'a ClientId,
    pub redirect_uri: &'a RedirectUri,
    /// Catalog scopes asked for (`offline_access` already set apart); empty → the ceiling.
    pub requested: &'a ScopeSet,
}

/// The checks of /authorize, in the order a person should fix them. Returns the scopes to grant.
pub fn authorize(policy: &WorkspacePolicy, catalog: &ScopeCatalog, facts: &AuthorizationFacts) -> Result<ScopeSet, Denial> {
    if !policy.mcp_enabled {
        return Err(Denial::McpDisabled);
    }
    if policy.member(facts.user).is_none() {
        return Err(Denial::NotMember);
    }
    // Exact string match, port and path included.
    if !policy.allowed_redirect_uris.iter().any(|u| u == facts.redirect_uri) {
        return Err(Denial::RedirectUriNotAllowed { redirect_uri: facts.redirect_uri.as_str().to_string() });
    }
    if !policy.allowed_client_ids.is_empty() && !policy.allowed_client_ids.iter().any(|c| c == facts.client_id.as_str()) {
        return Err(Denial::ClientNotAllowed { client_id: facts.client_id.as_str().to_string() });
    }
    if facts.requested.is_empty() {
        if policy.scope_ceiling.is_empty() {
            return Err(Denial::NothingToGrant);
        }
        return Ok(policy.scope_ceiling.clone());
    }
    let excess = catalog.excess(facts.requested, &policy.scope_ceiling);
    if !excess.is_empty() {
        return Err(Denial::ScopesNotAllowed { excess });
    }
    Ok(facts.requested.clone())
}

/// The checks made whenever a grant is used (token exchange, every /mcp call): the approval
/// still stands if MCP is on, the user is a member, and some granted scope is still allowed.
/// Returns the effective scopes: granted ∩ the current ceiling.
pub fn still_allowed(policy: &WorkspacePolicy, catalog: &ScopeCatalog, user: &str, granted: &ScopeSet) -> Result<ScopeSet, Denial> {
    if !policy.mcp_enabled {
        return Err(Denial::McpDisabled);
    }
    if policy.member(user).is_none() {
        return Err(Denial::NotMember);
    }
    let effective = catalog.meet(granted, &policy.scope_ceiling);
    if effective.is_empty() {
        return Err(Denial::NothingToGrant);
    }
    Ok(effective)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::config::BUNDLED_SCOPE_CATALOG;
    use crate::core::policy::model::tests::sample_json;

    fn setup(edit: impl FnOnce(&mut serde_json::Value)) -> (WorkspacePolicy, ScopeCatalog) {
        let catalog = ScopeCatalog::parse(BUNDLED_SCOPE_CATALOG).unwrap();
        let mut doc: serde_json::Value = serde_json::from_str(&sample_json()).unwrap();
        edit(&mut doc);
        (WorkspacePolicy::parse("acme", &doc.to_string(), &catalog).unwrap(), catalog)
    }

    fn decide(policy: &WorkspacePolicy, catalog: &ScopeCatalog, redirect: &str, client: &str, scopes: &[&str]) -> Result<ScopeSet, Denial> {
        let redirect = RedirectUri::parse(redirect).unwrap();
        let client = ClientId::parse(client).unwrap();
        let requested = ScopeSet::from_trusted(scopes.iter().copied());
        authorize(
            policy,
            catalog,
            &AuthorizationFacts { user: "ada@example.com", client_id: &client, redirect_uri: &redirect, requested: &requested },
        )
    }

    const CB: &str = "http://localhost:3118/callback";

    #[test]
    fn no_scope_requested_grants_the_ceiling() {
        let (p, c) = setup(|_| {});
        assert_eq!(decide(&p, &c, CB, "x", &[]).unwrap().to_param(), "CONTACTS_READ WORKSPACE_READ");
        assert_eq!(decide(&p, &c, CB, "x", &["CONTACTS_READ"]).unwrap().to_param(), "CONTACTS_READ");
    }

    #[test]
    fn each_rule_fails_with_its_message() {
        let (p, c) = setup(|_| {});
        let d = decide(&p, &c, "http://localhost:3119/callback", "x", &[]).unwrap_err();
        assert_eq!(d.message(), "redirect_uri is not allowed");
        assert!(d.hint("Acme").contains("http://localhost:3119/callback"));
        let d = decide(&p, &c, CB, "x", &["CONTACTS_WRITE"]).unwrap_err();
        assert_eq!(d.message(), "Requested scopes are not allowed");
        assert_eq!(d, Denial::ScopesNotAllowed { excess: vec!["CONTACTS_WRITE".into()] });
        let (p, c) = setup(|d| d["allowed_client_ids"] = serde_json::json!(["pinned"]));
        assert_eq!(decide(&p, &c, CB, "x", &[]).unwrap_err().message(), "OAuth client_id is not allowed");
        assert!(decide(&p, &c, CB, "pinned", &[]).is_ok());
        let (p, c) = setup(|d| d["mcp_enabled"] = serde_json::json!(false));
        assert_eq!(decide(&p, &c, CB, "x", &[]).unwrap_err(), Denial::McpDisabled);
    }

    #[test]
    fn still_allowed_narrows_to_the_current_ceiling() {
        let (p, c) = setup(|d| d["scope_ceiling"] = serde_json::json!(["CONTACTS_READ"]));
        let granted = ScopeSet::from_trusted(["CONTACTS_READ", "WORKSPACE_READ"]);
        assert_eq!(still_allowed(&p, &c, "ada@example.com", &granted).unwrap().to_param(), "CONTACTS_READ");
        assert_eq!(still_allowed(&p, &c, "bob@example.com", &granted).unwrap_err(), Denial::NotMember);
        let only_ws = ScopeSet::from_trusted(["WORKSPACE_READ"]);
        assert_eq!(still_allowed(&p, &c, "ada@example.com", &only_ws).unwrap_err(), Denial::NothingToGrant);
    }

    #[test]
    fn token_validation_failed_says_what_to_check() {
        let m = token_validation_failed("connection: the connection was revoked");
        assert_eq!(m, "Token validation failed: connection: the connection was revoked. Reconnect: authenticate this server again in your MCP client (Claude Code: /mcp, then Authenticate).");
        assert!(token_validation_failed(Denial::NotMember.token_reason()).ends_with("add you as a member, then reconnect."));
        assert!(token_validation_failed(Denial::McpDisabled.token_reason()).contains("check its MCP policy"));
    }
}

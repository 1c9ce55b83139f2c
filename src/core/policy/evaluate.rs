//! Policy decisions: a request and a policy in, Allow or the exact rule that failed out.
//! The messages are the ones users search for (docs/protocol.md §12); each comes with what to check.
use crate::core::ids::Email;
use crate::core::oauth::error::ErrorCode;
use crate::core::oauth::types::{ClientId, RedirectUri};
use crate::core::policy::model::{PolicyUnusable, WorkspacePolicy};
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

    /// The error the client is sent (RFC 6749 §4.1.2.1) when the person chooses to return to it,
    /// for refusals that come once the redirect URI is trusted. `None`: refusals the person
    /// can fix here (another account) or that must not redirect (the URI is not allowed).
    pub fn redirect_error(&self) -> Option<ErrorCode> {
        match self {
            Denial::McpDisabled | Denial::ClientNotAllowed { .. } => Some(ErrorCode::AccessDenied),
            Denial::ScopesNotAllowed { .. } | Denial::NothingToGrant => Some(ErrorCode::InvalidScope),
            Denial::NotMember | Denial::RedirectUriNotAllowed { .. } => None,
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
}

/// Why an issued grant no longer works: the live re-check of `/token` (both grants) and of every
/// `/mcp` call. Rendered as `Token validation failed: <reason>. <what to check>` (docs/protocol.md §12):
/// the message people search for, which of connection, user or policy failed, and what to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenInvalid {
    /// The connection was revoked (by the user, an admin, a code replay or refresh reuse).
    ConnectionRevoked,
    NotMember,
    McpDisabled,
    RedirectUriNoLongerAllowed,
    ClientNoLongerAllowed,
    /// The ceiling no longer holds any granted scope.
    NoScopeAllowed,
    /// The workspace has no usable policy (fails closed).
    Policy(PolicyUnusable),
}

impl TokenInvalid {
    /// Which of connection, user or policy failed, and how.
    fn reason(&self) -> String {
        match self {
            TokenInvalid::ConnectionRevoked => "connection: the connection was revoked".into(),
            TokenInvalid::NotMember => "user is no longer a member of the workspace".into(),
            TokenInvalid::McpDisabled => "policy: MCP is disabled for the workspace".into(),
            TokenInvalid::RedirectUriNoLongerAllowed => "policy: the redirect URI is no longer allowed".into(),
            TokenInvalid::ClientNoLongerAllowed => "policy: the OAuth client is no longer allowed".into(),
            TokenInvalid::NoScopeAllowed => "policy: no granted scope is allowed any more".into(),
            TokenInvalid::Policy(why) => format!("policy: {why}"),
        }
    }

    fn what_to_check(&self) -> &'static str {
        match self {
            TokenInvalid::ConnectionRevoked => {
                "Reconnect: authenticate this server again in your MCP client (Claude Code: /mcp, then Authenticate)."
            }
            TokenInvalid::NotMember => "Ask an admin of the workspace to add you as a member, then reconnect.",
            TokenInvalid::McpDisabled
            | TokenInvalid::RedirectUriNoLongerAllowed
            | TokenInvalid::ClientNoLongerAllowed
            | TokenInvalid::NoScopeAllowed
            | TokenInvalid::Policy(_) => {
                "Ask an admin of the workspace to check its MCP policy (MCP enabled, allowed OAuth client IDs, scope ceiling), then reconnect."
            }
        }
    }
}

impl std::fmt::Display for TokenInvalid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Token validation failed: {}. {}", self.reason(), self.what_to_check())
    }
}

/// The request an approval is about, as far as the workspace policy is concerned.
pub struct AuthorizationFacts<'a> {
    /// The member e-mail the signed-in identity maps to (`WorkspacePolicy::member_for`);
    /// `None` when it maps to no member.
    pub user: Option<&'a Email>,
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
    if facts.user.is_none_or(|u| policy.member(u).is_none()) {
        return Err(Denial::NotMember);
    }
    // Exact string match, port and path included.
    if !policy.allowed_redirect_uris.iter().any(|u| u == facts.redirect_uri) {
        return Err(Denial::RedirectUriNotAllowed { redirect_uri: facts.redirect_uri.as_str().to_string() });
    }
    if !policy.allows_client(facts.client_id) {
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

/// What an issued grant is bound to, as far as the live policy is concerned.
pub struct GrantFacts<'a> {
    pub user: &'a Email,
    pub client_id: &'a ClientId,
    /// Checked at the code exchange only: an approval for a redirect URI the admin has removed
    /// since is not redeemed. Issued tokens are not tied to it.
    pub redirect_uri: Option<&'a RedirectUri>,
}

/// The one live re-check of an issued grant (token exchange, refresh, every /mcp call): the
/// approval still stands if MCP is on, the user is a member, some granted scope is still under
/// the ceiling, the client is still allowed (and, at the code exchange, the redirect URI).
/// Returns the effective scopes: granted ∩ the current ceiling.
pub fn recheck(policy: &WorkspacePolicy, catalog: &ScopeCatalog, grant: &GrantFacts, granted: &ScopeSet) -> Result<ScopeSet, TokenInvalid> {
    if !policy.mcp_enabled {
        return Err(TokenInvalid::McpDisabled);
    }
    if policy.member(grant.user).is_none() {
        return Err(TokenInvalid::NotMember);
    }
    let effective = catalog.meet(granted, &policy.scope_ceiling);
    if effective.is_empty() {
        return Err(TokenInvalid::NoScopeAllowed);
    }
    if !policy.allows_client(grant.client_id) {
        return Err(TokenInvalid::ClientNoLongerAllowed);
    }
    if grant.redirect_uri.is_some_and(|uri| !policy.allowed_redirect_uris.contains(uri)) {
        return Err(TokenInvalid::RedirectUriNoLongerAllowed);
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
        (WorkspacePolicy::parse(&"acme".into(), &doc.to_string(), &catalog).unwrap(), catalog)
    }

    fn decide(policy: &WorkspacePolicy, catalog: &ScopeCatalog, redirect: &str, client: &str, scopes: &[&str]) -> Result<ScopeSet, Denial> {
        let redirect = RedirectUri::parse(redirect).unwrap();
        let client = ClientId::parse(client).unwrap();
        let requested = ScopeSet::from_trusted(scopes.iter().copied());
        authorize(
            policy,
            catalog,
            &AuthorizationFacts {
                user: Some(&"ada@example.com".into()),
                client_id: &client,
                redirect_uri: &redirect,
                requested: &requested,
            },
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

    fn recheck_as(p: &WorkspacePolicy, c: &ScopeCatalog, user: &str, client: &str, granted: &ScopeSet) -> Result<ScopeSet, TokenInvalid> {
        recheck(p, c, &GrantFacts { user: &user.into(), client_id: &ClientId::parse(client).unwrap(), redirect_uri: None }, granted)
    }

    #[test]
    fn recheck_narrows_to_the_current_ceiling() {
        let (p, c) = setup(|d| d["scope_ceiling"] = serde_json::json!(["CONTACTS_READ"]));
        let granted = ScopeSet::from_trusted(["CONTACTS_READ", "WORKSPACE_READ"]);
        assert_eq!(recheck_as(&p, &c, "ada@example.com", "x", &granted).unwrap().to_param(), "CONTACTS_READ");
        assert_eq!(recheck_as(&p, &c, "bob@example.com", "x", &granted).unwrap_err(), TokenInvalid::NotMember);
        let only_ws = ScopeSet::from_trusted(["WORKSPACE_READ"]);
        assert_eq!(recheck_as(&p, &c, "ada@example.com", "x", &only_ws).unwrap_err(), TokenInvalid::NoScopeAllowed);
    }

    #[test]
    fn recheck_applies_the_pin_and_at_exchange_the_redirect_uri() {
        let (p, c) = setup(|d| d["allowed_client_ids"] = serde_json::json!(["pinned"]));
        let granted = ScopeSet::from_trusted(["CONTACTS_READ"]);
        assert_eq!(recheck_as(&p, &c, "ada@example.com", "other", &granted).unwrap_err(), TokenInvalid::ClientNoLongerAllowed);
        assert!(recheck_as(&p, &c, "ada@example.com", "pinned", &granted).is_ok());
        let moved = RedirectUri::parse("http://localhost:9999/callback").unwrap();
        let pinned = ClientId::parse("pinned").unwrap();
        let at_exchange = GrantFacts { user: &"ada@example.com".into(), client_id: &pinned, redirect_uri: Some(&moved) };
        assert_eq!(recheck(&p, &c, &at_exchange, &granted).unwrap_err(), TokenInvalid::RedirectUriNoLongerAllowed);
        let (off, c) = setup(|d| d["mcp_enabled"] = serde_json::json!(false));
        assert_eq!(recheck_as(&off, &c, "ada@example.com", "x", &granted).unwrap_err(), TokenInvalid::McpDisabled);
    }

    #[test]
    fn token_invalid_says_what_failed_and_what_to_check() {
        assert_eq!(
            TokenInvalid::ConnectionRevoked.to_string(),
            "Token validation failed: connection: the connection was revoked. Reconnect: authenticate this server again in your MCP client (Claude Code: /mcp, then Authenticate)."
        );
        assert!(TokenInvalid::NotMember.to_string().ends_with("add you as a member, then reconnect."));
        assert!(TokenInvalid::McpDisabled.to_string().starts_with("Token validation failed: policy: MCP is disabled for the workspace. "));
        assert!(TokenInvalid::McpDisabled.to_string().contains("check its MCP policy"));
        let missing = TokenInvalid::Policy(PolicyUnusable::Missing { workspace: "gone".into() });
        assert!(
            missing.to_string().starts_with("Token validation failed: policy: workspace `gone` has no policy. Ask an admin"),
            "{missing}"
        );
    }
}

//! Audit events: one JSON line each in the worker's log (Workers Logs), for what an operator or a
//! security review needs to reconstruct — who approved what, what was refused and by which rule,
//! every token issue, refresh, reuse and revocation, every policy change (who, what changed) and
//! every tool call with its outcome.
//!
//! An event holds identifiers only (workspace, user, client ID, connection ID, tool, scopes):
//! never a token, code, verifier, cookie, key or secret. The types make that hold — no field is
//! one of those — and the e2e log scan checks a whole run's log for every secret it saw.
use serde::Serialize;

use crate::core::ids::{ConnectionId, Email, WorkspaceId};
use crate::core::oauth::types::ClientId;
use crate::core::policy::model::{Role, WorkspacePolicy};

/// Who did it: a connection's client, a signed-in admin, the operator (`ADMIN_TOKEN`), or the
/// server itself (a replayed code, a reused refresh token).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Actor<'a> {
    Client(&'a ClientId),
    Admin(&'a Email),
    Operator,
    Server,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "audit", rename_all = "snake_case")]
pub enum Event<'a> {
    /// Consent given: a code was issued.
    Approved {
        workspace: &'a WorkspaceId,
        user: &'a Email,
        client_id: &'a ClientId,
        connection: &'a ConnectionId,
        scopes: &'a [String],
    },
    /// An authorization refused by the workspace's policy, with the rule's message.
    Denied {
        workspace: &'a WorkspaceId,
        user: &'a str,
        client_id: &'a ClientId,
        rule: &'a str,
    },
    /// A code exchanged for tokens: the connection exists from here.
    TokenIssued {
        workspace: &'a WorkspaceId,
        user: &'a Email,
        client_id: &'a ClientId,
        connection: &'a ConnectionId,
        scopes: &'a str,
    },
    Refreshed {
        workspace: &'a WorkspaceId,
        user: &'a Email,
        client_id: &'a ClientId,
        connection: &'a ConnectionId,
        generation: u32,
    },
    /// A replayed code or a reused refresh token: the connection was revoked.
    ReuseDetected {
        what: &'a str,
        workspace: &'a WorkspaceId,
        user: &'a Email,
        connection: &'a ConnectionId,
    },
    /// Connections ended: one (`connection`) or all of a user's (`count`).
    Revoked {
        by: Actor<'a>,
        workspace: &'a WorkspaceId,
        user: &'a Email,
        #[serde(skip_serializing_if = "Option::is_none")]
        connection: Option<&'a ConnectionId>,
        count: usize,
    },
    PolicyChanged {
        by: Actor<'a>,
        workspace: &'a WorkspaceId,
        etag: &'a str,
        changed: serde_json::Value,
    },
    /// An OpenAPI tool call and how it ended: `ok`, `tool_error` (the API's error, no answer,
    /// or a call refused before it left: arguments, scopes) or `step_up` (a 403 asking for scopes).
    ToolCalled {
        workspace: &'a WorkspaceId,
        user: &'a Email,
        client_id: &'a ClientId,
        connection: &'a ConnectionId,
        tool: &'a str,
        outcome: &'a str,
    },
}

impl Event<'_> {
    /// The log line.
    pub fn to_line(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|e| format!("{{\"audit\":\"unserializable\",\"error\":\"{e}\"}}"))
    }
}

/// What a policy write changed, field by field: `{"mcp_enabled": {"from": true, "to": false},
/// "scope_ceiling": {"added": [..], "removed": [..]}, "members": {"added": [..], "removed": [..],
/// "role_changed": [..]}, ...}`. A workspace created from nothing is `{"created": true}`.
pub fn policy_changes(before: Option<&WorkspacePolicy>, after: &WorkspacePolicy) -> serde_json::Value {
    use serde_json::{json, Map, Value};
    let Some(before) = before else { return json!({ "created": true }) };
    let mut changed = Map::new();
    if before.name != after.name {
        changed.insert("name".into(), json!({ "from": before.name, "to": after.name }));
    }
    if before.mcp_enabled != after.mcp_enabled {
        changed.insert("mcp_enabled".into(), json!({ "from": before.mcp_enabled, "to": after.mcp_enabled }));
    }
    let mut list = |field: &str, old: Vec<&str>, new: Vec<&str>| {
        let added: Vec<&str> = new.iter().filter(|x| !old.contains(x)).copied().collect();
        let removed: Vec<&str> = old.iter().filter(|x| !new.contains(x)).copied().collect();
        if !added.is_empty() || !removed.is_empty() {
            changed.insert(field.into(), json!({ "added": added, "removed": removed }));
        }
    };
    list(
        "allowed_redirect_uris",
        before.allowed_redirect_uris.iter().map(|u| u.as_str()).collect(),
        after.allowed_redirect_uris.iter().map(|u| u.as_str()).collect(),
    );
    list(
        "allowed_client_ids",
        before.allowed_client_ids.iter().map(|c| c.as_str()).collect(),
        after.allowed_client_ids.iter().map(|c| c.as_str()).collect(),
    );
    list("scope_ceiling", before.scope_ceiling.iter().collect(), after.scope_ceiling.iter().collect());
    let emails = |p: &WorkspacePolicy| p.members.iter().map(|m| m.email.as_str().to_string()).collect::<Vec<_>>();
    let (old, new) = (emails(before), emails(after));
    let added: Vec<&String> = new.iter().filter(|e| !old.contains(e)).collect();
    let removed: Vec<&String> = old.iter().filter(|e| !new.contains(e)).collect();
    let role = |r: &Role| match r {
        Role::Admin => "admin",
        Role::Member => "member",
    };
    let role_changed: Vec<Value> = after
        .members
        .iter()
        .filter_map(|m| {
            let was = before.members.iter().find(|b| b.email == m.email)?;
            (was.role != m.role).then(|| json!({ "email": m.email.as_str(), "from": role(&was.role), "to": role(&m.role) }))
        })
        .collect();
    if !added.is_empty() || !removed.is_empty() || !role_changed.is_empty() {
        changed.insert("members".into(), json!({ "added": added, "removed": removed, "role_changed": role_changed }));
    }
    Value::Object(changed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::policy::model::tests::sample;
    use serde_json::json;

    fn parsed(doc: &serde_json::Value) -> WorkspacePolicy {
        let catalog = crate::core::scopes::ScopeCatalog::parse(crate::core::config::BUNDLED_SCOPE_CATALOG).unwrap();
        WorkspacePolicy::parse(&"acme".into(), &doc.to_string(), &catalog).unwrap()
    }

    #[test]
    fn a_policy_change_names_each_field_that_changed_and_nothing_else() {
        let before = parsed(&sample());
        let mut edited = sample();
        edited["mcp_enabled"] = json!(false);
        edited["scope_ceiling"] = json!(["CONTACTS_READ", "COMPANIES_READ"]);
        edited["members"][0]["role"] = json!("member");
        edited["members"].as_array_mut().unwrap().push(json!({"email": "Bob@Example.com", "role": "member"}));
        let changed = policy_changes(Some(&before), &parsed(&edited));
        assert_eq!(changed["mcp_enabled"], json!({"from": true, "to": false}));
        assert_eq!(changed["members"]["added"], json!(["bob@example.com"]));
        assert_eq!(changed["members"]["role_changed"][0]["to"], "member");
        assert!(changed.get("name").is_none() && changed.get("allowed_redirect_uris").is_none(), "{changed}");
        assert_eq!(policy_changes(Some(&before), &before), json!({}));
        assert_eq!(policy_changes(None, &before), json!({"created": true}));
    }

    #[test]
    fn an_event_is_one_json_line_of_identifiers() {
        let (ws, user, client, conn) = (
            WorkspaceId::parse("acme").unwrap(),
            Email::parse("ada@example.com").unwrap(),
            ClientId::parse("c1").unwrap(),
            ConnectionId::parse("k1").unwrap(),
        );
        let line = Event::Revoked { by: Actor::Client(&client), workspace: &ws, user: &user, connection: Some(&conn), count: 1 }.to_line();
        assert_eq!(
            line,
            r#"{"audit":"revoked","by":{"client":"c1"},"workspace":"acme","user":"ada@example.com","connection":"k1","count":1}"#
        );
        let line = Event::PolicyChanged { by: Actor::Operator, workspace: &ws, etag: "\"e\"", changed: json!({}) }.to_line();
        assert!(line.starts_with(r#"{"audit":"policy_changed","by":"operator""#), "{line}");
    }
}

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
    /// `changed`: the field diff (`history::changes`).
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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

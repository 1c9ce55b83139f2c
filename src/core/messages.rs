//! The internal protocol of the Durable Objects: one message type per object, sent as the JSON
//! body of a POST to `https://do.internal/` (`edge::services`) and answered with the JSON of
//! the reply type each variant names. Each object's `fetch` parses the body and handles it in
//! one exhaustive `match`; a body that does not parse is answered 400.
//!
//! The operation is the message's one key (the snake_case variant name), its fields the value:
//! `{"redeem": {"key": "…", "now": 1800000000}}`; an operation without fields is its name as a
//! string (`"list"`). This is serde's default (external) tagging, chosen over an `op` field
//! because internally tagged enums deserialize through a buffered copy of the message, which
//! cost 24 KB of the worker's wasm. Both sides are in this crate and deploy together (see
//! docs/storage.md for a deploy's few seconds of mixed versions); the names are pinned by tests.
use serde::{Deserialize, Serialize};

use crate::core::admin::Outcome;
use crate::core::connection::{ConnectionKey, ConnectionRecord};
use crate::core::history::Author;
use crate::core::ids::{ConnectionId, Email, WorkspaceId};
use crate::core::oauth::code::{CodeGrant, Presentation};
use crate::core::oauth::types::ClientId;

/// A message to a Durable Object.
pub trait Call: Serialize {
    /// The operation's name on the wire, for logs and error messages.
    fn op(&self) -> &'static str;
}

/// To an `AuthCodes` shard. `key` is `AuthCode::storage_key`, never the code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CodesCall {
    /// `CodeStore::insert` (`core::oauth::code::insert`). Answers `()`.
    Insert { key: String, grant: CodeGrant, expires_at: i64 },
    /// `CodeStore::redeem` (`core::oauth::code::redeem`). Answers `Redemption`.
    Redeem { key: String, now: i64, presented: Presentation },
    /// `CodeStore::release` (`core::oauth::code::release`). Answers `()`.
    Release { key: String, consumed_at: i64 },
}

/// To the `Connections` object of one (workspace, user).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConnectionsCall {
    /// `core::connection::create`, then `forget_on_create`. Answers `CreateOutcome`.
    Create { connection: ConnectionRecord },
    /// `core::connection::rotate_row`. Answers `Rotation`.
    Rotate { id: ConnectionId, presented: u32, client_id: ClientId, now: i64 },
    /// `core::connection::touch`. Answers `ConnectionStatus`.
    Touch { id: ConnectionId, now: i64 },
    /// `core::connection::revoke` (the workspace and user name a tombstone). Answers `RevokeOutcome`.
    Revoke { connection: ConnectionKey, client_id: Option<ClientId>, now: i64 },
    /// `core::connection::list`. Answers `Vec<ConnectionRecord>`.
    List,
    /// `core::connection::revoke_all`. Answers `u32`.
    RevokeAll { now: i64 },
}

/// To the `Workspaces` object of one workspace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WorkspacesCall {
    /// `WorkspaceStore::policy_text` (`core::admin::resolve_policy_text`). Answers `Option<String>`.
    Policy { workspace: WorkspaceId },
    /// `WorkspaceStore::replace_policy` (`core::admin::replace_policy`). Answers `ReplaceOutcome`.
    Replace { workspace: WorkspaceId, text: String, if_match: Option<String>, author: Author },
    /// `WorkspaceStore::history`. Answers `Vec<Version>`, newest first, without texts.
    History,
    /// `WorkspaceStore::policy_version`. Answers `Option<Version>`.
    Version { version: i64 },
    /// `WorkspaceStore::record_outcome` (`core::admin::bound_outcomes`). Answers `()`.
    Record { outcome: Outcome },
    /// `WorkspaceStore::outcomes`. Answers `Vec<Outcome>`, newest first.
    Outcomes,
    /// `WorkspaceStore::seen_clients`. Answers `Vec<SeenClient>`, most recently seen first.
    Clients,
    /// `WorkspaceStore::upstream_secret`. Answers `Option<(String, i64)>`.
    Secret,
    /// `WorkspaceStore::set_upstream_secret`. Answers `()`.
    SetSecret { sealed: Option<String>, now: i64 },
    /// `WorkspaceStore::reseal_upstream_secret` (`core::secrets::reseal_applies`). Answers `bool`.
    ResealSecret { was: String, sealed: String },
    /// `WorkspaceStore::note_connection_user`. Answers `()`.
    NoteUser { user: Email },
    /// `WorkspaceStore::connection_users`. Answers `Vec<Email>`.
    Users,
}

impl Call for CodesCall {
    fn op(&self) -> &'static str {
        match self {
            CodesCall::Insert { .. } => "insert",
            CodesCall::Redeem { .. } => "redeem",
            CodesCall::Release { .. } => "release",
        }
    }
}

impl Call for ConnectionsCall {
    fn op(&self) -> &'static str {
        match self {
            ConnectionsCall::Create { .. } => "create",
            ConnectionsCall::Rotate { .. } => "rotate",
            ConnectionsCall::Touch { .. } => "touch",
            ConnectionsCall::Revoke { .. } => "revoke",
            ConnectionsCall::List => "list",
            ConnectionsCall::RevokeAll { .. } => "revoke_all",
        }
    }
}

impl Call for WorkspacesCall {
    fn op(&self) -> &'static str {
        match self {
            WorkspacesCall::Policy { .. } => "policy",
            WorkspacesCall::Replace { .. } => "replace",
            WorkspacesCall::History => "history",
            WorkspacesCall::Version { .. } => "version",
            WorkspacesCall::Record { .. } => "record",
            WorkspacesCall::Outcomes => "outcomes",
            WorkspacesCall::Clients => "clients",
            WorkspacesCall::Secret => "secret",
            WorkspacesCall::SetSecret { .. } => "set_secret",
            WorkspacesCall::ResealSecret { .. } => "reseal_secret",
            WorkspacesCall::NoteUser { .. } => "note_user",
            WorkspacesCall::Users => "users",
        }
    }
}

#[cfg(test)]
mod tests {
    use serde::de::DeserializeOwned;
    use serde_json::json;

    use super::*;
    use crate::core::admin::OutcomeKind;

    fn grant() -> CodeGrant {
        CodeGrant {
            client_id: "cl".into(),
            redirect_uri: "http://localhost/cb".into(),
            redirect_uri_sent: false,
            code_challenge: "ch".into(),
            resource: "https://mcp.example/mcp".into(),
            scopes: vec!["CONTACTS_READ".into()],
            user: "ada@example.com".into(),
            workspace: "acme".into(),
            connection_id: "conn".into(),
        }
    }

    const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";

    fn presented() -> Presentation {
        Presentation {
            client_id: "cl".into(),
            redirect_uri: None,
            verifier: crate::core::oauth::pkce::CodeVerifier::parse(Some(VERIFIER)).unwrap(),
            resource: "https://mcp.example/mcp".into(),
        }
    }

    fn connection() -> ConnectionRecord {
        ConnectionRecord {
            id: "conn".into(),
            workspace: "acme".into(),
            user: "ada@example.com".into(),
            client_id: Some("cl".into()),
            client_name: "Claude".into(),
            scopes: vec!["CONTACTS_READ".into()],
            created_at: 1,
            last_used_at: None,
            generation: 1,
            rotated_at: None,
            refresh_expires_at: 100,
            revoked_at: None,
        }
    }

    fn outcome() -> Outcome {
        Outcome {
            kind: OutcomeKind::Rejected,
            at: 5,
            user: "ada@example.com".into(),
            subject: Some("sub-1".into()),
            client_id: "cl".into(),
            client_name: "Claude".into(),
            redirect_uri: "http://localhost/cb".into(),
            scopes: vec![],
            rule: Some("redirect_uri is not allowed".into()),
        }
    }

    /// Every message survives the wire, and is tagged by the name `Call::op` gives.
    fn round_trips<M: Call + DeserializeOwned + PartialEq + std::fmt::Debug>(messages: Vec<M>) -> Vec<&'static str> {
        messages
            .into_iter()
            .map(|m| {
                let wire = serde_json::to_value(&m).unwrap();
                let tag = wire.as_str().or_else(|| wire.as_object().and_then(|o| o.keys().next().map(String::as_str)));
                assert_eq!(tag, Some(m.op()), "{wire}");
                assert_eq!(serde_json::from_value::<M>(wire).unwrap(), m);
                m.op()
            })
            .collect()
    }

    #[test]
    fn codes_messages_round_trip_with_stable_tags() {
        let ops = round_trips(vec![
            CodesCall::Insert { key: "k".into(), grant: grant(), expires_at: 60 },
            CodesCall::Redeem { key: "k".into(), now: 30, presented: presented() },
            CodesCall::Release { key: "k".into(), consumed_at: 30 },
        ]);
        assert_eq!(ops, ["insert", "redeem", "release"]);
        let wire = json!({"redeem": {"key": "k", "now": 30, "presented": {
            "client_id": "cl", "redirect_uri": null, "verifier": VERIFIER, "resource": "https://mcp.example/mcp"
        }}});
        assert_eq!(
            serde_json::from_value::<CodesCall>(wire).unwrap(),
            CodesCall::Redeem { key: "k".into(), now: 30, presented: presented() }
        );
        let short = json!({"redeem": {"key": "k", "now": 30, "presented": {
            "client_id": "cl", "redirect_uri": null, "verifier": "short", "resource": "https://mcp.example/mcp"
        }}});
        assert!(serde_json::from_value::<CodesCall>(short).is_err(), "a verifier is checked again on arrival");
    }

    #[test]
    fn connections_messages_round_trip_with_stable_tags() {
        let ops = round_trips(vec![
            ConnectionsCall::Create { connection: connection() },
            ConnectionsCall::Rotate { id: "conn".into(), presented: 1, client_id: "cl".into(), now: 2 },
            ConnectionsCall::Touch { id: "conn".into(), now: 2 },
            ConnectionsCall::Revoke { connection: connection().key(), client_id: None, now: 2 },
            ConnectionsCall::List,
            ConnectionsCall::RevokeAll { now: 2 },
        ]);
        assert_eq!(ops, ["create", "rotate", "touch", "revoke", "list", "revoke_all"]);
        assert_eq!(serde_json::to_value(ConnectionsCall::List).unwrap(), json!("list"));
    }

    #[test]
    fn workspaces_messages_round_trip_with_stable_tags() {
        let ops = round_trips(vec![
            WorkspacesCall::Policy { workspace: "acme".into() },
            WorkspacesCall::Replace {
                workspace: "acme".into(),
                text: "{}".into(),
                if_match: Some("\"e\"".into()),
                author: Author { by: Some("ada@example.com".into()), source: crate::core::history::Source::Page, reverts: Some(3) },
            },
            WorkspacesCall::History,
            WorkspacesCall::Version { version: 3 },
            WorkspacesCall::Record { outcome: outcome() },
            WorkspacesCall::Outcomes,
            WorkspacesCall::Clients,
            WorkspacesCall::Secret,
            WorkspacesCall::SetSecret { sealed: None, now: 3 },
            WorkspacesCall::ResealSecret { was: "v1.a".into(), sealed: "v1.b".into() },
            WorkspacesCall::NoteUser { user: "u@example.com".into() },
            WorkspacesCall::Users,
        ]);
        let expected = [
            "policy",
            "replace",
            "history",
            "version",
            "record",
            "outcomes",
            "clients",
            "secret",
            "set_secret",
            "reseal_secret",
            "note_user",
            "users",
        ];
        assert_eq!(ops, expected);
    }

    #[test]
    fn unknown_operations_and_missing_fields_do_not_parse() {
        assert!(serde_json::from_value::<CodesCall>(json!({"delete": {"key": "k"}})).is_err());
        assert!(serde_json::from_value::<CodesCall>(json!({"redeem": {"key": "k"}})).is_err());
        assert!(serde_json::from_value::<ConnectionsCall>(json!({"key": "k"})).is_err());
        assert!(serde_json::from_value::<WorkspacesCall>(json!("Users")).is_err());
        assert!(serde_json::from_value::<WorkspacesCall>(json!({"users": null, "outcomes": null})).is_err());
    }
}

//! Storage contracts, named for the domain. The edge implements them with Workers KV and
//! Durable Objects (docs/storage.md); tests implement them in memory with the same guarantees.
//!
//! What each operation does to the stored rows is a pure transition in the core, written once
//! and applied by both implementations to rows loaded and saved in one atomic step:
//! `core::oauth::code::{insert, redeem}`, `core::connection::{create, forget_on_create,
//! rotate_row, touch, revoke, list, revoke_all}`, `core::admin::{replace_policy,
//! bound_outcomes, seen_client, beyond}` and `core::history::{changes, beyond_bound}`. Their doc comments are the contracts; the docs here summarise them.
#![allow(async_fn_in_trait)]

use serde::{Deserialize, Serialize};

use crate::core::admin::{Outcome, SeenClient};
use crate::core::connection::{ConnectionKey, ConnectionRecord, Rotation};
use crate::core::history::{Author, Version};
use crate::core::ids::{Email, WorkspaceId};
use crate::core::oauth::code::{AuthCode, CodeGrant, Presentation, Redemption};
use crate::core::oauth::register::ClientRegistration;
use crate::core::oauth::types::ClientId;

/// A storage failure: the request cannot be decided now (503, never "allow").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreError(pub String);

/// Workspace policies, as raw documents; parsing (and failing closed) is the core's job.
pub trait PolicySource {
    /// The document under `policy:<workspace>`, or `None` when there is none.
    async fn policy_document(&self, workspace: &WorkspaceId) -> Result<Option<String>, StoreError>;
}

pub trait ClientStore {
    async fn client(&self, id: &ClientId) -> Result<Option<ClientRegistration>, StoreError>;
    /// Stores a registration, kept until `expires_at` (Unix seconds); storing it again renews
    /// it. IDs are random, so this never overwrites another client.
    async fn register(&self, client: &ClientRegistration, expires_at: i64) -> Result<(), StoreError>;
}

/// Single-use authorization codes.
pub trait CodeStore {
    /// Stores a new, unconsumed code (`core::oauth::code::insert`; a stored key is never
    /// replaced).
    async fn insert(&self, code: &AuthCode, grant: &CodeGrant, expires_at: i64) -> Result<(), StoreError>;
    /// Checks `presented` against the code's grant and, if it matches, atomically consumes the
    /// code. A presentation that does not match is `Refused` and changes nothing. Of any number
    /// of concurrent matching calls for the same code exactly one gets `Redeemed`; the others get
    /// `Replayed`. A consumed code is kept (not deleted) until it expires, so a replay is
    /// recognised and returns the grant, whose connection the caller then revokes. An unconsumed
    /// code past `expires_at` is `Expired`. The contract is `core::oauth::code::redeem`.
    async fn redeem(&self, code: &AuthCode, now: i64, presented: &Presentation) -> Result<Redemption, StoreError>;
    /// Gives back a code whose redemption at `consumed_at` could not issue tokens (a store
    /// failed after it): `core::oauth::code::release`.
    async fn release(&self, code: &AuthCode, consumed_at: i64) -> Result<(), StoreError>;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConnectionStatus {
    Active,
    Revoked,
    Missing,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CreateOutcome {
    Created,
    /// The ID was revoked before it was created (a code replay overtook the first redemption):
    /// the connection is stored, revoked.
    AlreadyRevoked,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RevokeOutcome {
    Revoked,
    /// The connection belongs to another client (RFC 7009 §2.1): nothing changed.
    WrongClient,
}

/// Connections (one per approval) and their refresh families. Every operation on one
/// connection is atomic and immediately consistent (a Durable Object per workspace member).
/// Each operation's contract is the function of `core::connection` it names.
pub trait ConnectionStore {
    /// Creates the connection; if its ID was already revoked, it is created revoked
    /// (`create`). Then forgets the user's rows long revoked or expired (`forget_on_create`).
    async fn create(&self, connection: &ConnectionRecord) -> Result<CreateOutcome, StoreError>;
    /// Applies `crate::core::connection::rotate` atomically (`rotate_row`).
    async fn rotate(&self, key: &ConnectionKey, presented: u32, client_id: &ClientId, now: i64) -> Result<Rotation, StoreError>;
    /// Marks the connection as used at `now` (at most once a minute) and says whether it is
    /// active (`touch`).
    async fn touch(&self, key: &ConnectionKey, now: i64) -> Result<ConnectionStatus, StoreError>;
    /// Revokes the connection (when `client_id` is given, only if it is the connection's
    /// client). If it does not exist yet, records the revocation so that a later `create` of the
    /// same ID yields a revoked connection. Idempotent: the first `revoked_at` is kept
    /// (`revoke`).
    async fn revoke(&self, key: &ConnectionKey, client_id: Option<&ClientId>, now: i64) -> Result<RevokeOutcome, StoreError>;
    /// The user's connections in this workspace, newest first (revoked ones included,
    /// tombstones not: `list`).
    async fn list(&self, workspace: &WorkspaceId, user: &Email) -> Result<Vec<ConnectionRecord>, StoreError>;
    /// Revokes every active connection of the user; returns how many (`revoke_all`).
    async fn revoke_all(&self, workspace: &WorkspaceId, user: &Email, now: i64) -> Result<u32, StoreError>;
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReplaceOutcome {
    Replaced {
        etag: String,
    },
    /// The policy changed since the caller read it (or exists when it expected none).
    Conflict {
        current_etag: Option<String>,
    },
}

/// The admin write path of a workspace: policy replacement with optimistic concurrency, and
/// the bounded record of recent authorization outcomes.
pub trait WorkspaceStore {
    /// The stored policy text, exactly as readers see it, or `None`.
    async fn policy_text(&self, workspace: &WorkspaceId) -> Result<Option<String>, StoreError>;
    /// Replaces the policy only if its current ETag is `if_match` (`None`: only if there is no
    /// policy yet). Atomic per workspace: of two writers with the same ETag, one gets Conflict.
    /// The decision is `core::admin::replace_policy`. A replacement is recorded in the history
    /// as made by `author`, in the same step (with, if the history was empty, the text it
    /// replaced as `Source::Unrecorded`), keeping the newest `HISTORY_KEPT`. A hand edit the
    /// object adopts (`policy_text` or here) is recorded as `Source::HandEdit`.
    async fn replace_policy(
        &self,
        workspace: &WorkspaceId,
        text: &str,
        if_match: Option<&str>,
        author: &Author,
    ) -> Result<ReplaceOutcome, StoreError>;
    /// The policy's recorded versions, newest first, without their texts.
    async fn history(&self, workspace: &WorkspaceId) -> Result<Vec<Version>, StoreError>;
    /// One recorded version, with its text (`None` if it is not, or no longer, kept).
    async fn policy_version(&self, workspace: &WorkspaceId, version: i64) -> Result<Option<Version>, StoreError>;
    /// Records an authorization outcome, keeping the newest `OUTCOMES_KEPT` of each kind
    /// (`core::admin::bound_outcomes`), and updates its client's `SeenClient` row
    /// (`core::admin::seen_client`), keeping the `CLIENTS_KEPT` most recently seen.
    async fn record_outcome(&self, workspace: &WorkspaceId, outcome: &Outcome) -> Result<(), StoreError>;
    /// Newest first.
    async fn outcomes(&self, workspace: &WorkspaceId) -> Result<Vec<Outcome>, StoreError>;
    /// The clients seen in the workspace's authorization attempts, most recently seen first.
    async fn seen_clients(&self, workspace: &WorkspaceId) -> Result<Vec<SeenClient>, StoreError>;
    /// The workspace's sealed upstream API key (`crate::core::secrets`) and when it was set.
    async fn upstream_secret(&self, workspace: &WorkspaceId) -> Result<Option<(String, i64)>, StoreError>;
    /// Stores (or with `None` removes) the sealed upstream API key.
    async fn set_upstream_secret(&self, workspace: &WorkspaceId, sealed: Option<&str>, now: i64) -> Result<(), StoreError>;
    /// Replaces the sealed key by `sealed` (the same key sealed under the current signing key)
    /// only if it is still `was`, keeping when it was set; says whether it did. Atomic per
    /// workspace (`crate::core::secrets::reseal_applies`).
    async fn reseal_upstream_secret(&self, workspace: &WorkspaceId, was: &str, sealed: &str) -> Result<bool, StoreError>;
    /// Remembers that `user` has connections in the workspace, so that an
    /// admin still sees and can revoke them after the user leaves the policy. Idempotent; called
    /// when a connection is created and when the admin API finds a member's connections.
    async fn note_connection_user(&self, workspace: &WorkspaceId, user: &Email) -> Result<(), StoreError>;
    /// Every user noted by `note_connection_user`, in no particular order.
    async fn connection_users(&self, workspace: &WorkspaceId) -> Result<Vec<Email>, StoreError>;
}

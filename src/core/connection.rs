//! Connections and their refresh families, as pure state transitions: the contract of every
//! `ConnectionStore` operation. The Connections Durable Object (and the in-memory test store)
//! load the rows, call these, and write the result back in the same event — so each
//! transition is atomic.
//!
//! A *tombstone* is a row without a client: a revocation that arrived before its connection was
//! created (see `revoke` and `create`).
use serde::{Deserialize, Serialize};

use crate::core::ids::{ConnectionId, Email, WorkspaceId};
use crate::core::oauth::types::ClientId;

use crate::core::store::{ConnectionStatus, CreateOutcome, RevokeOutcome};

/// `last_used_at` is written at most this often, so a busy connection is not a write per call.
pub const TOUCH_EVERY: i64 = 60;
/// Connections revoked, or whose refresh family expired, this long ago are forgotten (after
/// the admin page has shown them for a while), so a user's object does not grow forever.
pub const FORGET_AFTER: i64 = 30 * 86_400;
/// At most this many connections are kept for one user in one workspace: approving again and
/// again must not grow their object without bound (`beyond_cap`).
pub const MAX_PER_USER: usize = 100;

/// What is kept for one connection (one approval).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectionRecord {
    pub id: ConnectionId,
    pub workspace: WorkspaceId,
    pub user: Email,
    /// `None` only for a tombstone.
    pub client_id: Option<ClientId>,
    pub client_name: String,
    /// As granted at approval; the effective set is this ∩ the workspace's current ceiling.
    pub scopes: Vec<String>,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    /// The generation of the newest refresh token issued. Generation `g` is accepted while it is
    /// the newest, and — as the grace for a lost response — while `g + 1` has not been used.
    pub generation: u32,
    /// When `generation` last moved on: the grace for the previous token runs from here.
    #[serde(default)]
    pub rotated_at: Option<i64>,
    pub refresh_expires_at: i64,
    pub revoked_at: Option<i64>,
}

impl ConnectionRecord {
    /// A revocation recorded before the connection exists: no client, no details yet.
    pub fn tombstone(key: &ConnectionKey, now: i64) -> ConnectionRecord {
        ConnectionRecord {
            id: key.id.clone(),
            workspace: key.workspace.clone(),
            user: key.user.clone(),
            client_id: None,
            client_name: String::new(),
            scopes: Vec::new(),
            created_at: now,
            last_used_at: None,
            generation: 0,
            rotated_at: None,
            refresh_expires_at: 0,
            revoked_at: Some(now),
        }
    }

    /// Whether this row is a tombstone (it has no client).
    pub fn is_tombstone(&self) -> bool {
        self.client_id.is_none()
    }

    pub fn key(&self) -> ConnectionKey {
        ConnectionKey { workspace: self.workspace.clone(), user: self.user.clone(), id: self.id.clone() }
    }
}

/// Which connection: the (workspace, user) whose object holds it, and its ID. Tokens carry it
/// (access-token claims, the sealed contents of a refresh token).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ConnectionKey {
    pub workspace: WorkspaceId,
    pub user: Email,
    pub id: ConnectionId,
}

/// The outcome of presenting refresh token generation `presented`.
#[allow(clippy::large_enum_variant, reason = "one value per refresh request, moved once: boxing would buy nothing")]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Rotation {
    /// Issue the refresh token of `generation` (with a new access token).
    Rotated {
        generation: u32,
        connection: ConnectionRecord,
    },
    /// An older token of the family came back: the connection is now revoked.
    Reused,
    Revoked,
    Expired,
    WrongClient,
    Missing,
}

/// How long after a rotation the previous refresh token still gets the same successor (a client
/// that lost the response retries; concurrent refreshes). Later, the previous token is reuse.
/// Without a bound, a thief holding a copy would always be handed the same successor as the
/// victim and reuse would never show; with it, the copy must be used within this window.
pub const REFRESH_GRACE_SECONDS: i64 = 60;

/// OAuth 2.1 §4.3.1 rotation with replay detection, for one connection.
pub fn rotate(record: &mut ConnectionRecord, presented: u32, client_id: &ClientId, now: i64) -> Rotation {
    if record.revoked_at.is_some() {
        return Rotation::Revoked;
    }
    if record.client_id.as_ref() != Some(client_id) {
        return Rotation::WrongClient;
    }
    if now >= record.refresh_expires_at {
        return Rotation::Expired;
    }
    let newest = record.generation;
    if presented == newest {
        // First use of the newest token: its successor becomes the newest.
        record.generation = newest.saturating_add(1);
        record.rotated_at = Some(now);
    } else if presented.checked_add(1) == Some(newest) && record.rotated_at.is_none_or(|t| now - t <= REFRESH_GRACE_SECONDS) {
        // The previous token, its successor still unused (else `newest` would have moved on)
        // and issued moments ago: a retry, or a concurrent refresh. Hand out the same
        // successor again.
    } else {
        record.revoked_at = Some(now);
        return Rotation::Reused;
    }
    record.last_used_at = Some(now);
    Rotation::Rotated { generation: record.generation, connection: record.clone() }
}

/// `rotate` on the stored row (`None`: there is none): the row to write back (`None`: nothing
/// changed) and the outcome. A missing connection is `Rotation::Missing`.
pub fn rotate_row(row: Option<ConnectionRecord>, presented: u32, client_id: &ClientId, now: i64) -> (Option<ConnectionRecord>, Rotation) {
    let Some(before) = row else {
        return (None, Rotation::Missing);
    };
    let mut after = before.clone();
    let outcome = rotate(&mut after, presented, client_id, now);
    ((after != before).then_some(after), outcome)
}

/// The contract of `ConnectionStore::create`, given the row stored under the new connection's
/// ID: the row to write and the outcome. A replay may have revoked this ID before the first
/// redemption got here; then the tombstone's `revoked_at` is kept, the details are filled in
/// and the outcome is `AlreadyRevoked` — so the race cannot leave a live connection behind.
pub fn create(existing: Option<ConnectionRecord>, new: &ConnectionRecord) -> (ConnectionRecord, CreateOutcome) {
    match existing.and_then(|r| r.revoked_at) {
        Some(revoked_at) => (ConnectionRecord { revoked_at: Some(revoked_at), ..new.clone() }, CreateOutcome::AlreadyRevoked),
        None => (ConnectionRecord { revoked_at: None, ..new.clone() }, CreateOutcome::Created),
    }
}

/// The housekeeping done when `created` is created: is the stored `row` forgotten (deleted)?
/// A connection is, once it was revoked, or its refresh family expired, more than
/// `FORGET_AFTER` before `created.created_at`; a tombstone goes only by its age (its
/// `revoked_at`). The connection being created is never forgotten by its own creation.
pub fn forget_on_create(row: &ConnectionRecord, created: &ConnectionRecord) -> bool {
    let before = created.created_at - FORGET_AFTER;
    let revoked_long_ago = row.revoked_at.is_some_and(|t| t < before);
    let expired_long_ago = !row.is_tombstone() && row.refresh_expires_at < before;
    row.id != created.id && (revoked_long_ago || expired_long_ago)
}

/// The rest of the housekeeping when `created` is created and the user has more than
/// `MAX_PER_USER` rows (`rows`, `created` among them): the IDs to forget so that `MAX_PER_USER`
/// remain. Ended connections go first, longest ended first (revoked: by `revoked_at`; family
/// expired: by `refresh_expires_at`); then, if it must, live ones least recently used first —
/// forgetting one ends it (its tokens find no connection). Never `created`.
pub fn beyond_cap(rows: &[ConnectionRecord], created: &ConnectionRecord, now: i64) -> Vec<ConnectionId> {
    let excess = rows.len().saturating_sub(MAX_PER_USER);
    let mut others: Vec<(bool, i64, &ConnectionId)> = rows
        .iter()
        .filter(|r| r.id != created.id)
        .map(|r| match r.revoked_at {
            Some(at) => (false, at, &r.id),
            None if r.refresh_expires_at <= now => (false, r.refresh_expires_at, &r.id),
            None => (true, r.last_used_at.unwrap_or(r.created_at), &r.id),
        })
        .collect();
    others.sort();
    others.into_iter().take(excess).map(|(_, _, id)| id.clone()).collect()
}

/// The contract of `ConnectionStore::touch`: whether the stored row is active, and the row to
/// write back (`None`: nothing to write). An active connection's `last_used_at` becomes `now`
/// when it is unset or more than `TOUCH_EVERY` seconds old, so a busy connection is at most
/// one write a minute; missing and revoked rows are never written.
pub fn touch(row: Option<ConnectionRecord>, now: i64) -> (Option<ConnectionRecord>, ConnectionStatus) {
    match row {
        None => (None, ConnectionStatus::Missing),
        Some(r) if r.revoked_at.is_some() => (None, ConnectionStatus::Revoked),
        Some(r) if r.last_used_at.is_none_or(|t| t < now - TOUCH_EVERY) => {
            (Some(ConnectionRecord { last_used_at: Some(now), ..r }), ConnectionStatus::Active)
        }
        Some(_) => (None, ConnectionStatus::Active),
    }
}

/// The contract of `ConnectionStore::revoke` of connection `id` of (`workspace`, `user`), given
/// its stored row: the row to write back (`None`: nothing changes) and the outcome.
///
/// - a `client_id` that differs from the row's client (a tombstone has none): `WrongClient` (RFC 7009
///   §2.1), nothing changes;
/// - no row: a tombstone revoked at `now` is written, so a later `create` of the ID yields a
///   revoked connection;
/// - already revoked: `Revoked`, and the first `revoked_at` is kept (idempotent);
/// - otherwise the row is written revoked at `now`.
pub fn revoke(
    row: Option<ConnectionRecord>,
    key: &ConnectionKey,
    client_id: Option<&ClientId>,
    now: i64,
) -> (Option<ConnectionRecord>, RevokeOutcome) {
    match row {
        None => (Some(ConnectionRecord::tombstone(key, now)), RevokeOutcome::Revoked),
        Some(r) if client_id.is_some_and(|c| r.client_id.as_ref().is_some_and(|owner| owner != c)) => (None, RevokeOutcome::WrongClient),
        Some(r) if r.revoked_at.is_some() => (None, RevokeOutcome::Revoked),
        Some(r) => (Some(ConnectionRecord { revoked_at: Some(now), ..r }), RevokeOutcome::Revoked),
    }
}

/// The contract of `ConnectionStore::list`, given every stored row of the user: the
/// connections (tombstones left out, revoked connections kept), newest first (ties by ID).
pub fn list(rows: impl IntoIterator<Item = ConnectionRecord>) -> Vec<ConnectionRecord> {
    let mut listed: Vec<ConnectionRecord> = rows.into_iter().filter(|r| !r.is_tombstone()).collect();
    listed.sort_by(|a, b| b.created_at.cmp(&a.created_at).then_with(|| a.id.cmp(&b.id)));
    listed
}

/// The contract of `ConnectionStore::revoke_all`, given every stored row of the user: the rows
/// to write back (each active one, revoked at `now`) and how many there are.
pub fn revoke_all(rows: impl IntoIterator<Item = ConnectionRecord>, now: i64) -> (Vec<ConnectionRecord>, u32) {
    let revoked: Vec<ConnectionRecord> =
        rows.into_iter().filter(|r| r.revoked_at.is_none()).map(|r| ConnectionRecord { revoked_at: Some(now), ..r }).collect();
    // A user's object holds far fewer than u32::MAX rows; saturate rather than wrap.
    let count = u32::try_from(revoked.len()).unwrap_or(u32::MAX);
    (revoked, count)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(user: &str, id: &str) -> ConnectionKey {
        ConnectionKey { workspace: "acme".into(), user: user.into(), id: id.into() }
    }

    fn record() -> ConnectionRecord {
        ConnectionRecord {
            id: "c".into(),
            workspace: "acme".into(),
            user: "ada@example.com".into(),
            client_id: Some("cl".into()),
            client_name: "Claude".into(),
            scopes: vec!["CONTACTS_READ".into()],
            created_at: 0,
            last_used_at: None,
            generation: 1,
            rotated_at: None,
            refresh_expires_at: 1000,
            revoked_at: None,
        }
    }

    fn generation(r: Rotation) -> u32 {
        match r {
            Rotation::Rotated { generation, .. } => generation,
            other => panic!("expected rotation, got {other:?}"),
        }
    }

    #[test]
    fn each_use_moves_the_family_on_and_a_retry_gets_the_same_successor() {
        let mut r = record();
        assert_eq!(generation(rotate(&mut r, 1, &"cl".into(), 10)), 2);
        // The response was lost: the client retries with token 1 and gets token 2 again.
        assert_eq!(generation(rotate(&mut r, 1, &"cl".into(), 11)), 2);
        // Token 2 is used: now token 1 is an old token.
        assert_eq!(generation(rotate(&mut r, 2, &"cl".into(), 12)), 3);
        assert_eq!(rotate(&mut r, 1, &"cl".into(), 13), Rotation::Reused);
        assert!(r.revoked_at.is_some());
        assert_eq!(rotate(&mut r, 3, &"cl".into(), 14), Rotation::Revoked);
    }

    #[test]
    fn the_previous_token_is_a_retry_only_within_the_grace() {
        let mut r = record();
        assert_eq!(generation(rotate(&mut r, 1, &"cl".into(), 100)), 2);
        assert_eq!(generation(rotate(&mut r, 1, &"cl".into(), 100 + REFRESH_GRACE_SECONDS)), 2, "a retry within the grace");
        assert_eq!(rotate(&mut r, 1, &"cl".into(), 101 + REFRESH_GRACE_SECONDS), Rotation::Reused, "a copy used later is reuse");
        assert!(r.revoked_at.is_some());
    }

    #[test]
    fn concurrent_refreshes_with_one_token_do_not_fork() {
        let mut r = record();
        let issued: Vec<u32> = (0..20).map(|i| generation(rotate(&mut r, 1, &"cl".into(), 10 + i))).collect();
        assert!(issued.iter().all(|g| *g == 2), "{issued:?}");
        assert_eq!(r.generation, 2);
        assert!(r.revoked_at.is_none());
    }

    #[test]
    fn other_clients_future_tokens_and_expiry_are_refused() {
        let mut r = record();
        assert_eq!(rotate(&mut r, 1, &"other".into(), 10), Rotation::WrongClient);
        assert_eq!(rotate(&mut r, 1, &"cl".into(), 1000), Rotation::Expired);
        assert_eq!(rotate(&mut r, 5, &"cl".into(), 10), Rotation::Reused, "a generation never issued is not a valid token");
        assert_eq!(r, ConnectionRecord { revoked_at: Some(10), ..record() });
    }

    #[test]
    fn rotating_a_missing_row_writes_nothing_and_a_refusal_writes_nothing() {
        assert_eq!(rotate_row(None, 1, &"cl".into(), 10), (None, Rotation::Missing));
        assert_eq!(rotate_row(Some(record()), 1, &"other".into(), 10), (None, Rotation::WrongClient));
        let (written, outcome) = rotate_row(Some(record()), 1, &"cl".into(), 10);
        assert_eq!(generation(outcome), 2);
        assert_eq!(written.map(|r| (r.generation, r.rotated_at, r.last_used_at)), Some((2, Some(10), Some(10))));
    }

    #[test]
    fn create_keeps_a_tombstones_revocation() {
        let new = ConnectionRecord { revoked_at: None, ..record() };
        assert_eq!(create(None, &new), (new.clone(), CreateOutcome::Created));
        let tombstone = ConnectionRecord::tombstone(&key("ada@example.com", "c"), 5);
        let (row, outcome) = create(Some(tombstone), &new);
        assert_eq!(outcome, CreateOutcome::AlreadyRevoked);
        assert_eq!(row, ConnectionRecord { revoked_at: Some(5), ..new.clone() });
        // A live row under the same ID is replaced by the new details.
        assert_eq!(create(Some(ConnectionRecord { client_name: "Old".into(), ..new.clone() }), &new).1, CreateOutcome::Created);
    }

    #[test]
    fn touch_writes_last_used_at_at_most_once_a_minute() {
        assert_eq!(touch(None, 10), (None, ConnectionStatus::Missing));
        assert_eq!(touch(Some(ConnectionRecord { revoked_at: Some(1), ..record() }), 10), (None, ConnectionStatus::Revoked));
        let (written, status) = touch(Some(record()), 100);
        assert_eq!(status, ConnectionStatus::Active);
        let used = written.unwrap();
        assert_eq!(used.last_used_at, Some(100));
        assert_eq!(touch(Some(used.clone()), 100 + TOUCH_EVERY), (None, ConnectionStatus::Active));
        assert_eq!(touch(Some(used), 101 + TOUCH_EVERY).0.and_then(|r| r.last_used_at), Some(101 + TOUCH_EVERY));
    }

    #[test]
    fn revoke_leaves_a_tombstone_refuses_other_clients_and_keeps_the_first_time() {
        let (tomb, outcome) = revoke(None, &key("ada@example.com", "x"), Some(&"cl".into()), 7);
        assert_eq!(outcome, RevokeOutcome::Revoked);
        let tomb = tomb.unwrap();
        assert!(tomb.is_tombstone());
        assert_eq!((tomb.id.as_str(), tomb.revoked_at, tomb.created_at), ("x", Some(7), 7));
        assert_eq!(revoke(Some(tomb), &key("ada@example.com", "x"), Some(&"any".into()), 9), (None, RevokeOutcome::Revoked));
        assert_eq!(revoke(Some(record()), &key("ada@example.com", "c"), Some(&"other".into()), 9), (None, RevokeOutcome::WrongClient));
        let (revoked, _) = revoke(Some(record()), &key("ada@example.com", "c"), Some(&"cl".into()), 9);
        let revoked = revoked.unwrap();
        assert_eq!(revoked.revoked_at, Some(9));
        assert_eq!(revoke(Some(revoked), &key("ada@example.com", "c"), None, 12), (None, RevokeOutcome::Revoked));
    }

    #[test]
    fn list_hides_tombstones_newest_first_and_revoke_all_counts_active_ones() {
        let at = |id: &str, created_at, revoked_at| ConnectionRecord { id: id.into(), created_at, revoked_at, ..record() };
        let rows =
            vec![at("a", 1, None), at("b", 3, Some(4)), at("c", 2, None), ConnectionRecord::tombstone(&key("u@example.com", "t"), 9)];
        let ids: Vec<String> = list(rows.clone()).into_iter().map(|r| r.id.to_string()).collect();
        assert_eq!(ids, ["b", "c", "a"]);
        let (written, n) = revoke_all(rows, 20);
        assert_eq!(n, 2);
        assert!(written.iter().all(|r| r.revoked_at == Some(20) && (r.id.as_str() == "a" || r.id.as_str() == "c")));
    }

    #[test]
    fn rows_are_forgotten_30_days_after_revocation_or_expiry_and_tombstones_by_age() {
        let created = ConnectionRecord { id: "new".into(), created_at: FORGET_AFTER + 1000, ..record() };
        let old = |revoked_at, refresh_expires_at| ConnectionRecord { id: "old".into(), revoked_at, refresh_expires_at, ..record() };
        assert!(forget_on_create(&old(Some(999), 5000), &created), "revoked more than 30 days before");
        assert!(!forget_on_create(&old(Some(1000), 5000), &created), "revoked exactly 30 days before");
        assert!(forget_on_create(&old(None, 999), &created), "family expired more than 30 days before");
        assert!(!forget_on_create(&old(None, 1000), &created));
        let tomb = |at| ConnectionRecord::tombstone(&key("u@example.com", "t"), at);
        assert!(!forget_on_create(&tomb(1000), &created), "a tombstone has no family: only its age counts");
        assert!(forget_on_create(&tomb(999), &created));
        assert!(!forget_on_create(&ConnectionRecord { revoked_at: Some(0), ..created.clone() }, &created), "never the new row");
    }

    #[test]
    fn past_the_cap_ended_connections_go_first_then_the_least_recently_used() {
        let now = 10_000;
        let row = |id: &str, revoked_at, refresh_expires_at, last_used_at| ConnectionRecord {
            id: id.into(),
            revoked_at,
            refresh_expires_at,
            last_used_at,
            created_at: 100,
            ..record()
        };
        let created = row("new", None, now + 500, None);
        let mut rows = vec![created.clone()];
        rows.extend((0..MAX_PER_USER - 1).map(|i| row(&format!("live{i}"), None, now + 500, Some(1000 + i as i64))));
        assert!(beyond_cap(&rows, &created, now).is_empty(), "at the cap: nothing");
        rows.push(row("revoked-late", Some(900), now + 500, None));
        rows.push(row("expired", None, 800, None));
        rows.push(row("revoked-early", Some(700), now + 500, None));
        assert_eq!(beyond_cap(&rows, &created, now), ["revoked-early", "expired", "revoked-late"].map(ConnectionId::from));
        rows.push(row("unused", None, now + 500, None));
        rows.push(row("busy", None, now + 500, Some(9_999)));
        let forgotten = beyond_cap(&rows, &created, now);
        assert_eq!(forgotten.len(), 5);
        assert_eq!(&forgotten[3..], [ConnectionId::from("unused"), ConnectionId::from("live0")], "then the least recently used live ones");
        let only_new: Vec<_> = (0..MAX_PER_USER + 1).map(|_| created.clone()).collect();
        assert!(beyond_cap(&only_new, &created, now).is_empty(), "never the new row");
    }
}

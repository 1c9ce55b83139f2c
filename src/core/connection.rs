//! Connections and their refresh families, as pure state transitions. The Connections Durable
//! Object (and the in-memory test store) load a row, call these, and write the result back in
//! the same event — so each transition is atomic.
use serde::{Deserialize, Serialize};

/// What is kept for one connection (one approval).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectionRecord {
    pub id: String,
    pub workspace: String,
    pub user: String,
    pub client_id: String,
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

/// The outcome of presenting refresh token generation `presented`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
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
pub fn rotate(record: &mut ConnectionRecord, presented: u32, client_id: &str, now: i64) -> Rotation {
    if record.revoked_at.is_some() {
        return Rotation::Revoked;
    }
    if record.client_id != client_id {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> ConnectionRecord {
        ConnectionRecord {
            id: "c".into(),
            workspace: "acme".into(),
            user: "ada@example.com".into(),
            client_id: "cl".into(),
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
        assert_eq!(generation(rotate(&mut r, 1, "cl", 10)), 2);
        // The response was lost: the client retries with token 1 and gets token 2 again.
        assert_eq!(generation(rotate(&mut r, 1, "cl", 11)), 2);
        // Token 2 is used: now token 1 is an old token.
        assert_eq!(generation(rotate(&mut r, 2, "cl", 12)), 3);
        assert_eq!(rotate(&mut r, 1, "cl", 13), Rotation::Reused);
        assert!(r.revoked_at.is_some());
        assert_eq!(rotate(&mut r, 3, "cl", 14), Rotation::Revoked);
    }

    #[test]
    fn the_previous_token_is_a_retry_only_within_the_grace() {
        let mut r = record();
        assert_eq!(generation(rotate(&mut r, 1, "cl", 100)), 2);
        assert_eq!(generation(rotate(&mut r, 1, "cl", 100 + REFRESH_GRACE_SECONDS)), 2, "a retry within the grace");
        assert_eq!(rotate(&mut r, 1, "cl", 101 + REFRESH_GRACE_SECONDS), Rotation::Reused, "a copy used later is reuse");
        assert!(r.revoked_at.is_some());
    }

    #[test]
    fn concurrent_refreshes_with_one_token_do_not_fork() {
        let mut r = record();
        let issued: Vec<u32> = (0..20).map(|i| generation(rotate(&mut r, 1, "cl", 10 + i))).collect();
        assert!(issued.iter().all(|g| *g == 2), "{issued:?}");
        assert_eq!(r.generation, 2);
        assert!(r.revoked_at.is_none());
    }

    #[test]
    fn other_clients_future_tokens_and_expiry_are_refused() {
        let mut r = record();
        assert_eq!(rotate(&mut r, 1, "other", 10), Rotation::WrongClient);
        assert_eq!(rotate(&mut r, 1, "cl", 1000), Rotation::Expired);
        assert_eq!(rotate(&mut r, 5, "cl", 10), Rotation::Reused, "a generation never issued is not a valid token");
        assert_eq!(r, ConnectionRecord { revoked_at: Some(10), ..record() });
    }
}

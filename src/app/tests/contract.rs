//! The storage contracts (`crate::core::store`), operation by operation, through the `Memory`
//! store — which, like the Durable Objects, only loads rows, applies the core's transitions and
//! saves the result. The transitions themselves are unit-tested beside them in the core.
use super::*;
use crate::core::admin::{etag, OutcomeKind, OUTCOMES_KEPT};
use crate::core::connection::{FORGET_AFTER, TOUCH_EVERY};
use crate::core::oauth::pkce::CodeVerifier;

const WS: &str = "acme";
const ADA: &str = "ada@example.com";
const NOW: i64 = 1_800_000_000;

fn grant() -> CodeGrant {
    CodeGrant {
        client_id: "cl".into(),
        redirect_uri: CALLBACK.into(),
        redirect_uri_sent: true,
        code_challenge: CHALLENGE.into(),
        resource: format!("{ORIGIN}/mcp"),
        scopes: vec!["CONTACTS_READ".into()],
        user: ADA.into(),
        workspace: WS.into(),
        connection_id: "conn".into(),
    }
}

/// What the client bound in `grant()` sends.
fn presented() -> Presentation {
    Presentation {
        client_id: "cl".into(),
        redirect_uri: Some(CALLBACK.into()),
        verifier: CodeVerifier::parse(Some(VERIFIER)).unwrap(),
        resource: format!("{ORIGIN}/mcp"),
    }
}

fn key(user: &str, id: &str) -> ConnectionKey {
    ConnectionKey { workspace: WS.into(), user: user.into(), id: id.into() }
}

fn code(n: u8) -> AuthCode {
    AuthCode::from_random(&[n; 33])
}

fn connection(id: &str, created_at: i64) -> ConnectionRecord {
    ConnectionRecord {
        id: id.into(),
        workspace: WS.into(),
        user: ADA.into(),
        client_id: Some("cl".into()),
        client_name: "Claude".into(),
        scopes: vec!["CONTACTS_READ".into()],
        created_at,
        last_used_at: None,
        generation: 1,
        rotated_at: None,
        refresh_expires_at: created_at + 86_400,
        revoked_at: None,
    }
}

fn stored(svc: &Memory, id: &str) -> Option<ConnectionRecord> {
    svc.connections.borrow().get(id).cloned()
}

fn outcome(kind: OutcomeKind, at: i64) -> Outcome {
    Outcome {
        kind,
        at,
        user: ADA.into(),
        subject: None,
        client_id: "cl".into(),
        client_name: "Claude".into(),
        redirect_uri: CALLBACK.into(),
        scopes: vec![],
        rule: None,
    }
}

#[test]
fn of_two_redemptions_exactly_one_is_redeemed_and_the_other_replays_the_grant() {
    let svc = Memory::new();
    block_on(svc.insert(&code(1), &grant(), NOW + 60)).unwrap();
    let outcomes =
        [block_on(svc.redeem(&code(1), NOW, &presented())).unwrap(), block_on(svc.redeem(&code(1), NOW + 1, &presented())).unwrap()];
    assert_eq!(outcomes, [Redemption::Redeemed { grant: grant() }, Redemption::Replayed { grant: grant() }]);
    assert_eq!(svc.codes.borrow()[&code(1).storage_key()].consumed_at, Some(NOW), "the consumed code is kept");
    assert_eq!(
        block_on(svc.redeem(&code(1), NOW + 3600, &presented())).unwrap(),
        Redemption::Replayed { grant: grant() },
        "even past expiry"
    );
}

#[test]
fn a_presentation_that_does_not_match_changes_nothing_before_or_after_the_redemption() {
    let svc = Memory::new();
    block_on(svc.insert(&code(1), &grant(), NOW + 60)).unwrap();
    let wrong = [
        Presentation { client_id: "other".into(), ..presented() },
        Presentation { verifier: CodeVerifier::parse(Some(&"b".repeat(43))).unwrap(), ..presented() },
        Presentation { redirect_uri: None, ..presented() },
    ];
    for p in &wrong {
        assert!(matches!(block_on(svc.redeem(&code(1), NOW, p)).unwrap(), Redemption::Refused(_)), "{p:?}");
    }
    assert_eq!(svc.codes.borrow()[&code(1).storage_key()].consumed_at, None, "not burned");
    assert_eq!(block_on(svc.redeem(&code(1), NOW, &presented())).unwrap(), Redemption::Redeemed { grant: grant() });
    for p in &wrong {
        assert!(matches!(block_on(svc.redeem(&code(1), NOW, p)).unwrap(), Redemption::Refused(_)), "not a replay: {p:?}");
    }
    assert_eq!(block_on(svc.redeem(&code(1), NOW, &presented())).unwrap(), Redemption::Replayed { grant: grant() });
}

#[test]
fn expired_and_unknown_codes_are_not_redeemed() {
    let svc = Memory::new();
    block_on(svc.insert(&code(1), &grant(), NOW + 60)).unwrap();
    assert_eq!(block_on(svc.redeem(&code(1), NOW + 60, &presented())).unwrap(), Redemption::Expired);
    assert_eq!(svc.codes.borrow()[&code(1).storage_key()].consumed_at, None);
    assert_eq!(block_on(svc.redeem(&code(2), NOW, &presented())).unwrap(), Redemption::Unknown);
    assert!(!svc.codes.borrow().contains_key(&code(2).storage_key()));
}

#[test]
fn a_stored_code_is_never_inserted_over() {
    let svc = Memory::new();
    block_on(svc.insert(&code(1), &grant(), NOW + 60)).unwrap();
    block_on(svc.redeem(&code(1), NOW, &presented())).unwrap();
    assert!(block_on(svc.insert(&code(1), &grant(), NOW + 120)).is_err());
    assert_eq!(block_on(svc.redeem(&code(1), NOW, &presented())).unwrap(), Redemption::Replayed { grant: grant() }, "still consumed");
}

#[test]
fn a_revocation_before_the_create_yields_a_revoked_connection() {
    let svc = Memory::new();
    assert_eq!(block_on(svc.revoke(&key(ADA, "conn"), None, NOW)).unwrap(), RevokeOutcome::Revoked);
    assert_eq!(block_on(svc.list(&WS.into(), &ADA.into())).unwrap(), vec![], "a tombstone is not listed");
    assert_eq!(block_on(svc.create(&connection("conn", NOW + 1))).unwrap(), CreateOutcome::AlreadyRevoked);
    assert_eq!(stored(&svc, "conn"), Some(ConnectionRecord { revoked_at: Some(NOW), ..connection("conn", NOW + 1) }));
    assert_eq!(block_on(svc.touch(&key(ADA, "conn"), NOW + 2)).unwrap(), ConnectionStatus::Revoked);
    assert_eq!(block_on(svc.create(&connection("fresh", NOW + 1))).unwrap(), CreateOutcome::Created);
}

#[test]
fn a_revocation_by_another_client_changes_nothing() {
    let svc = Memory::new();
    block_on(svc.create(&connection("conn", NOW))).unwrap();
    assert_eq!(block_on(svc.revoke(&key(ADA, "conn"), Some(&"other".into()), NOW + 1)).unwrap(), RevokeOutcome::WrongClient);
    assert_eq!(stored(&svc, "conn"), Some(connection("conn", NOW)));
    assert_eq!(block_on(svc.revoke(&key(ADA, "conn"), Some(&"cl".into()), NOW + 2)).unwrap(), RevokeOutcome::Revoked);
}

#[test]
fn revocation_is_idempotent_and_keeps_the_first_time() {
    let svc = Memory::new();
    block_on(svc.create(&connection("conn", NOW))).unwrap();
    assert_eq!(block_on(svc.revoke(&key(ADA, "conn"), None, NOW + 1)).unwrap(), RevokeOutcome::Revoked);
    assert_eq!(block_on(svc.revoke(&key(ADA, "conn"), Some(&"cl".into()), NOW + 9)).unwrap(), RevokeOutcome::Revoked);
    assert_eq!(stored(&svc, "conn").and_then(|c| c.revoked_at), Some(NOW + 1));
}

#[test]
fn touch_reports_missing_revoked_and_active_and_writes_last_used_once_a_minute() {
    let svc = Memory::new();
    assert_eq!(block_on(svc.touch(&key(ADA, "conn"), NOW)).unwrap(), ConnectionStatus::Missing);
    assert!(stored(&svc, "conn").is_none(), "touch leaves no row behind");
    block_on(svc.create(&connection("conn", NOW))).unwrap();
    assert_eq!(block_on(svc.touch(&key(ADA, "conn"), NOW + 5)).unwrap(), ConnectionStatus::Active);
    assert_eq!(stored(&svc, "conn").and_then(|c| c.last_used_at), Some(NOW + 5));
    block_on(svc.touch(&key(ADA, "conn"), NOW + 5 + TOUCH_EVERY)).unwrap();
    assert_eq!(stored(&svc, "conn").and_then(|c| c.last_used_at), Some(NOW + 5), "not within the minute");
    block_on(svc.touch(&key(ADA, "conn"), NOW + 6 + TOUCH_EVERY)).unwrap();
    assert_eq!(stored(&svc, "conn").and_then(|c| c.last_used_at), Some(NOW + 6 + TOUCH_EVERY));
    assert_eq!(block_on(svc.touch(&key("bob@example.com", "conn"), NOW)).unwrap(), ConnectionStatus::Missing, "another user's object");
    block_on(svc.revoke(&key(ADA, "conn"), None, NOW + 100)).unwrap();
    assert_eq!(block_on(svc.touch(&key(ADA, "conn"), NOW + 200)).unwrap(), ConnectionStatus::Revoked);
}

#[test]
fn rotation_goes_through_the_store_and_a_missing_connection_is_missing() {
    let svc = Memory::new();
    assert_eq!(block_on(svc.rotate(&key(ADA, "conn"), 1, &"cl".into(), NOW)).unwrap(), Rotation::Missing);
    block_on(svc.create(&connection("conn", NOW))).unwrap();
    assert!(matches!(block_on(svc.rotate(&key(ADA, "conn"), 1, &"cl".into(), NOW + 1)).unwrap(), Rotation::Rotated { generation: 2, .. }));
    assert_eq!(stored(&svc, "conn").map(|c| c.generation), Some(2));
    assert_eq!(block_on(svc.rotate(&key(ADA, "conn"), 1, &"cl".into(), NOW + 1000)).unwrap(), Rotation::Reused);
    assert_eq!(stored(&svc, "conn").and_then(|c| c.revoked_at), Some(NOW + 1000));
}

#[test]
fn list_is_newest_first_with_revoked_connections_and_without_tombstones() {
    let svc = Memory::new();
    for (id, at) in [("a", NOW), ("c", NOW + 2), ("b", NOW + 1)] {
        block_on(svc.create(&connection(id, at))).unwrap();
    }
    block_on(svc.revoke(&key(ADA, "b"), None, NOW + 3)).unwrap();
    block_on(svc.revoke(&key(ADA, "tombstone"), None, NOW + 3)).unwrap();
    block_on(svc.create(&ConnectionRecord { user: "bob@example.com".into(), ..connection("bobs", NOW + 5) })).unwrap();
    let ids: Vec<String> = block_on(svc.list(&WS.into(), &ADA.into())).unwrap().into_iter().map(|c| c.id.to_string()).collect();
    assert_eq!(ids, ["c", "b", "a"]);
}

#[test]
fn revoke_all_counts_only_active_connections() {
    let svc = Memory::new();
    for id in ["a", "b", "c"] {
        block_on(svc.create(&connection(id, NOW))).unwrap();
    }
    block_on(svc.revoke(&key(ADA, "b"), None, NOW + 1)).unwrap();
    block_on(svc.revoke(&key(ADA, "tombstone"), None, NOW + 1)).unwrap();
    assert_eq!(block_on(svc.revoke_all(&WS.into(), &ADA.into(), NOW + 2)).unwrap(), 2);
    assert_eq!(stored(&svc, "b").and_then(|c| c.revoked_at), Some(NOW + 1), "the first revocation is kept");
    assert_eq!(block_on(svc.revoke_all(&WS.into(), &ADA.into(), NOW + 3)).unwrap(), 0);
}

#[test]
fn creating_a_connection_forgets_rows_revoked_or_expired_30_days_before() {
    let svc = Memory::new();
    let then = NOW - FORGET_AFTER;
    block_on(svc.create(&connection("revoked-long-ago", then - 10))).unwrap();
    block_on(svc.revoke(&key(ADA, "revoked-long-ago"), None, then - 1)).unwrap();
    block_on(svc.create(&connection("revoked-recently", then - 10))).unwrap();
    block_on(svc.revoke(&key(ADA, "revoked-recently"), None, then)).unwrap();
    block_on(svc.create(&ConnectionRecord { refresh_expires_at: then - 1, ..connection("expired-long-ago", then - 10) })).unwrap();
    block_on(svc.revoke(&key(ADA, "old-tombstone"), None, then - 1)).unwrap();
    block_on(svc.revoke(&key(ADA, "new-tombstone"), None, then)).unwrap();
    block_on(svc.create(&ConnectionRecord { user: "bob@example.com".into(), ..connection("bob-long-ago", then - 10) })).unwrap();
    block_on(svc.revoke(&key("bob@example.com", "bob-long-ago"), None, then - 1)).unwrap();

    block_on(svc.create(&connection("new", NOW))).unwrap();
    let mut left: Vec<String> = svc.connections.borrow().keys().cloned().collect();
    left.sort();
    assert_eq!(left, ["bob-long-ago", "new", "new-tombstone", "revoked-recently"], "only this user's object is tidied");
}

#[test]
fn a_policy_is_replaced_only_from_its_current_etag() {
    let svc = Memory::new();
    let current = svc.policies.borrow()[WS].clone();
    let by = crate::core::history::Author { by: Some(ADA.into()), source: crate::core::history::Source::Page, reverts: None };
    assert_eq!(
        block_on(svc.replace_policy(&WS.into(), "{\"v\":2}", None, &by)).unwrap(),
        ReplaceOutcome::Conflict { current_etag: Some(etag(&current)) },
        "a policy exists"
    );
    assert_eq!(
        block_on(svc.replace_policy(&WS.into(), "{\"v\":2}", Some(&etag(&current)), &by)).unwrap(),
        ReplaceOutcome::Replaced { etag: etag("{\"v\":2}") }
    );
    assert_eq!(
        block_on(svc.replace_policy(&WS.into(), "{\"v\":3}", Some(&etag(&current)), &by)).unwrap(),
        ReplaceOutcome::Conflict { current_etag: Some(etag("{\"v\":2}")) },
        "the second writer with the same ETag loses"
    );
    assert_eq!(block_on(svc.policy_text(&WS.into())).unwrap().as_deref(), Some("{\"v\":2}"));
    let conflict = block_on(svc.replace_policy(&"new".into(), "{}", Some("\"x\""), &by)).unwrap();
    assert_eq!(conflict, ReplaceOutcome::Conflict { current_etag: None });
    assert_eq!(block_on(svc.replace_policy(&"new".into(), "{}", None, &by)).unwrap(), ReplaceOutcome::Replaced { etag: etag("{}") });
    // Each write is a version, newest first; a conflict writes none.
    let versions = block_on(svc.history(&WS.into())).unwrap();
    let shown: Vec<_> = versions.iter().map(|v| (v.version, v.source, v.by.clone(), v.text.is_some())).collect();
    use crate::core::history::Source;
    assert_eq!(shown, [(2, Source::Page, Some(ADA.to_string()), false), (1, Source::HandEdit, None, false)], "listings carry no text");
    assert_eq!(versions[0].etag, etag("{\"v\":2}"));
    assert_eq!(block_on(svc.policy_version(&WS.into(), 1)).unwrap().and_then(|v| v.text), Some(current));
    assert_eq!(block_on(svc.policy_version(&WS.into(), 3)).unwrap(), None);
}

#[test]
fn the_history_keeps_the_newest_100_versions() {
    let svc = Memory::new();
    let by = crate::core::history::Author { by: None, source: crate::core::history::Source::Api, reverts: None };
    for i in 0..120 {
        let current = block_on(svc.policy_text(&WS.into())).unwrap().unwrap();
        block_on(svc.replace_policy(&WS.into(), &format!("{{\"v\":{i}}}"), Some(&etag(&current)), &by)).unwrap();
    }
    let versions = block_on(svc.history(&WS.into())).unwrap();
    assert_eq!(versions.len(), crate::core::history::HISTORY_KEPT);
    assert_eq!((versions[0].version, versions[99].version), (121, 22), "the oldest went");
}

#[test]
fn outcomes_keep_the_newest_50_of_each_kind() {
    let svc = Memory::new();
    for at in 0..120 {
        block_on(svc.record_outcome(&WS.into(), &outcome(OutcomeKind::Rejected, at))).unwrap();
    }
    for at in 200..210 {
        block_on(svc.record_outcome(&WS.into(), &outcome(OutcomeKind::Approved, at))).unwrap();
    }
    let kept = block_on(svc.outcomes(&WS.into())).unwrap();
    let of = |kind| kept.iter().filter(|o| o.kind == kind).map(|o| o.at).collect::<Vec<_>>();
    assert_eq!(of(OutcomeKind::Rejected), (70..120).rev().collect::<Vec<_>>());
    assert_eq!(of(OutcomeKind::Approved), (200..210).rev().collect::<Vec<_>>());
    assert_eq!(kept.len(), OUTCOMES_KEPT + 10);
    assert_eq!(kept[0].at, 209, "newest first");
}

#[test]
fn a_resealed_upstream_key_replaces_only_the_one_that_was_read() {
    let svc = Memory::new();
    let ws: crate::core::ids::WorkspaceId = WS.into();
    assert_eq!(block_on(svc.reseal_upstream_secret(&ws, "v1.a", "v1.b")), Ok(false), "nothing stored");
    block_on(svc.set_upstream_secret(&ws, Some("v1.a"), 5)).unwrap();
    assert_eq!(block_on(svc.reseal_upstream_secret(&ws, "v1.a", "v1.b")), Ok(true));
    assert_eq!(block_on(svc.upstream_secret(&ws)).unwrap(), Some(("v1.b".to_string(), 5)), "when it was set is kept");
    assert_eq!(block_on(svc.reseal_upstream_secret(&ws, "v1.a", "v1.c")), Ok(false), "set since it was read");
    block_on(svc.set_upstream_secret(&ws, None, 6)).unwrap();
    assert_eq!(block_on(svc.reseal_upstream_secret(&ws, "v1.b", "v1.c")), Ok(false), "removed since it was read");
    assert_eq!(block_on(svc.upstream_secret(&ws)).unwrap(), None);
}

#[test]
fn a_store_that_is_down_fails_every_operation() {
    let svc = Memory::new();
    svc.store_down.set(true);
    let down = Err(StoreError("memory store is down".into()));
    assert_eq!(block_on(svc.policy_document(&WS.into())), down.clone().map(|()| None));
    assert_eq!(block_on(svc.redeem(&code(1), NOW, &presented())), down.clone().map(|()| Redemption::Unknown));
    assert_eq!(block_on(svc.touch(&key(ADA, "conn"), NOW)), down.clone().map(|()| ConnectionStatus::Missing));
    assert_eq!(block_on(svc.revoke(&key(ADA, "conn"), None, NOW)), down.clone().map(|()| RevokeOutcome::Revoked));
    assert_eq!(block_on(svc.record_outcome(&WS.into(), &outcome(OutcomeKind::Approved, NOW))), down);
    assert_eq!(block_on(svc.reseal_upstream_secret(&WS.into(), "v1.a", "v1.b")), down.clone().map(|()| false));
    assert!(svc.connections.borrow().is_empty(), "nothing was written");
    svc.store_down.set(false);
    assert!(block_on(svc.policy_document(&WS.into())).unwrap().is_some());
}

#[test]
fn a_user_keeps_at_most_max_per_user_connections_the_ended_ones_forgotten_first() {
    let svc = Memory::new();
    let revoked = connection("revoked", NOW);
    block_on(svc.create(&revoked)).unwrap();
    block_on(svc.revoke(&key(ADA, "revoked"), None, NOW + 1)).unwrap();
    for i in 0..connection::MAX_PER_USER {
        block_on(svc.create(&connection(&format!("c{i}"), NOW + 10 + i as i64))).unwrap();
    }
    assert_eq!(svc.connections.borrow().len(), connection::MAX_PER_USER, "the revoked one went first");
    assert!(stored(&svc, "revoked").is_none());
    block_on(svc.create(&connection("newest", NOW + 1000))).unwrap();
    assert_eq!(svc.connections.borrow().len(), connection::MAX_PER_USER);
    assert!(stored(&svc, "c0").is_none(), "then the least recently used live one");
    assert!(stored(&svc, "newest").is_some() && stored(&svc, "c1").is_some());
}

//! Workspace administration: who may administer a workspace, policy versions (ETags), and the
//! record of recent authorization outcomes that explains "why is there no connection?".
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::core::b64;
use crate::core::cookies::Session;
use crate::core::ids::WorkspaceId;
use crate::core::oauth::pkce::constant_time_eq;
use crate::core::policy::model::{Member, Role, WorkspacePolicy};
use crate::core::store::ReplaceOutcome;

/// How many outcomes of each kind a workspace keeps.
pub const OUTCOMES_KEPT: usize = 50;

/// The ETag of a stored policy text (RFC 9110 §8.8.3, strong).
pub fn etag(text: &str) -> String {
    format!("\"{}\"", &b64::encode(&Sha256::digest(text.as_bytes()))[..22])
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutcomeKind {
    Rejected,
    Approved,
}

/// One authorization attempt, as the admin sees it. Never holds a secret (no codes, no tokens,
/// no PKCE values).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outcome {
    pub kind: OutcomeKind,
    pub at: i64,
    pub user: String,
    /// The signed-in identity's subject at the identity provider, when it has one: a member who
    /// names a `sub` is that subject, whatever the e-mail (`WorkspacePolicy::member_for`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    pub client_id: String,
    pub client_name: String,
    pub redirect_uri: String,
    pub scopes: Vec<String>,
    /// The exact rule that failed (`redirect_uri is not allowed`, …); none for approvals.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
}

/// Who is calling the admin API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdminCaller {
    /// Holds the deployment's operator token (`ADMIN_TOKEN` secret): every workspace.
    Operator,
    /// A signed-in person.
    Session(Session),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdminDenied {
    /// No credentials: 401.
    Unauthenticated,
    /// Credentials that do not grant this workspace: 403, saying nothing about the workspace.
    Forbidden,
}

/// Checks the operator token. An unset (or too short) token matches nothing.
///
/// Compares the SHA-256 digests of both in constant time: the comparison always runs over 32
/// bytes, so neither its duration nor an early length mismatch tells a caller anything about
/// the secret's length or content.
pub fn is_operator(configured: Option<&str>, presented: &str) -> bool {
    configured.is_some_and(|t| t.len() >= 32 && constant_time_eq(&Sha256::digest(t.as_bytes()), &Sha256::digest(presented.as_bytes())))
}

/// The metadata the `Workspaces` object stores beside each policy it writes to KV: the ETag of
/// the text it wrote. `wrangler kv key put` stores a value without it.
pub const KV_ETAG_METADATA: &str = "etag";

/// Which policy text is current, given the `Workspaces` object's stored text, what KV serves
/// and the ETag in the KV value's metadata.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicyText<'a> {
    /// There is no policy.
    Absent,
    /// KV has had no value for longer than its propagation bound while the object still holds
    /// a text: an operator deleted the policy by hand. The object forgets its text, and the
    /// workspace is gone for the admin API too (a session cannot re-create it).
    Deleted,
    /// The object's text: KV agrees, serves an older write of the object from its cache, or
    /// has nothing (see `resolve_policy_text`).
    Stored(&'a str),
    /// KV's text, to be stored by the object at once: a hand edit, or a write of the object
    /// whose own record is missing.
    Adopt(&'a str),
}

/// What the `Workspaces` object keeps of the policy it last wrote or adopted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoredPolicy<'a> {
    pub text: &'a str,
    pub written_at: i64,
    /// The ETag of the text that write replaced (none for an adopted hand edit).
    pub replaced_etag: Option<&'a str>,
}

/// How long KV may keep serving a replaced value from its cache (Cloudflare: about 60 s).
pub const KV_PROPAGATION_SECONDS: i64 = 60;

/// The object writes KV first, with metadata `{"etag": etag(text)}`, and stores the text only
/// once KV accepted it. So a KV value:
/// - that is the very text the object's last write replaced, within `KV_PROPAGATION_SECONDS`
///   of that write, is KV's cache lagging (a hand-written text has no metadata, so this is the
///   only way to tell): the stored text is current;
/// - without that metadata, or whose metadata does not match its text, was written by hand
///   (`wrangler kv key put`): adopt it at once;
/// - with matching metadata but different from the stored text, is KV's cache still serving an
///   older write of the object (KV is eventually consistent, ~60 s): the stored text is current;
/// - with matching metadata and no stored text, was written by the object before its own store
///   step failed: adopt it.
///
/// A missing KV value beside a stored text is KV's cache not yet showing the first write while
/// that write is within `KV_PROPAGATION_SECONDS`; later, it is a hand deletion (`wrangler kv key
/// delete`), and the deletion stands: `Deleted`.
pub fn resolve_policy_text<'a>(stored: Option<StoredPolicy<'a>>, kv: Option<&'a str>, kv_etag: Option<&str>, now: i64) -> PolicyText<'a> {
    match (stored, kv) {
        (None, None) => PolicyText::Absent,
        (Some(s), None) if now - s.written_at <= KV_PROPAGATION_SECONDS => PolicyText::Stored(s.text),
        (Some(_), None) => PolicyText::Deleted,
        (Some(s), Some(k)) if s.text == k => PolicyText::Stored(s.text),
        (Some(s), Some(k)) if kv_etag == Some(etag(k).as_str()) => PolicyText::Stored(s.text),
        (Some(s), Some(k)) if s.replaced_etag == Some(etag(k).as_str()) && now - s.written_at <= KV_PROPAGATION_SECONDS => {
            PolicyText::Stored(s.text)
        }
        (_, Some(k)) => PolicyText::Adopt(k),
    }
}

/// A policy write `replace_policy` decided on: store `text` (KV with metadata
/// `{"etag": etag}`, then the object's own record with `replaced_etag`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyWrite<'a> {
    pub text: &'a str,
    pub etag: String,
    /// The ETag of the text this write replaces (none when there was no policy).
    pub replaced_etag: Option<String>,
}

/// The contract of `WorkspaceStore::replace_policy` (compare-and-replace), given the current
/// text: the write to make (`None`: nothing changes) and the outcome. The text is replaced
/// only if the ETag of the current text is `if_match` — with `None` only if there is no
/// policy yet; otherwise `Conflict` carries the current ETag. Decided and written in one
/// atomic step, of two writers holding the same ETag exactly one gets `Replaced`.
pub fn replace_policy<'a>(current: Option<&str>, text: &'a str, if_match: Option<&str>) -> (Option<PolicyWrite<'a>>, ReplaceOutcome) {
    let current_etag = current.map(etag);
    if current_etag.as_deref() != if_match {
        return (None, ReplaceOutcome::Conflict { current_etag });
    }
    let tag = etag(text);
    (Some(PolicyWrite { text, etag: tag.clone(), replaced_etag: current_etag }), ReplaceOutcome::Replaced { etag: tag })
}

/// The contract of `WorkspaceStore::record_outcome`'s bound, over stored outcomes newest first
/// (the new one at the front), each of kind `kind_of(item)`: the newest `OUTCOMES_KEPT` of each
/// kind are kept, in order, and the rest are dropped. Generic so that storage can pass its own
/// rows (the Durable Object passes row numbers, and deletes the dropped ones).
pub fn bound_outcomes<T>(newest_first: Vec<T>, kind_of: impl Fn(&T) -> OutcomeKind) -> (Vec<T>, Vec<T>) {
    let (mut rejected, mut approved) = (0usize, 0usize);
    newest_first.into_iter().partition(|item| {
        let seen = match kind_of(item) {
            OutcomeKind::Rejected => &mut rejected,
            OutcomeKind::Approved => &mut approved,
        };
        *seen += 1;
        *seen <= OUTCOMES_KEPT
    })
}

/// How many clients a workspace remembers having seen (`SeenClient`).
pub const CLIENTS_KEPT: usize = 100;

/// A client seen in the workspace's authorization attempts: what the admin page lists for
/// pinning. Kept per workspace by the `Workspaces` object, updated with each recorded outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeenClient {
    pub client_id: String,
    /// The name it gave when last seen.
    pub name: String,
    pub first_seen: i64,
    pub last_seen: i64,
    pub approved: u32,
    pub rejected: u32,
}

/// The contract of `WorkspaceStore::record_outcome` for the seen clients: the row of the
/// outcome's client after it (`None`: the outcome names no client, as a refused sign-in).
pub fn seen_client(existing: Option<SeenClient>, outcome: &Outcome) -> Option<SeenClient> {
    if outcome.client_id.is_empty() {
        return None;
    }
    let mut c = existing.unwrap_or(SeenClient {
        client_id: outcome.client_id.clone(),
        name: String::new(),
        first_seen: outcome.at,
        last_seen: outcome.at,
        approved: 0,
        rejected: 0,
    });
    c.name = outcome.client_name.clone();
    c.first_seen = c.first_seen.min(outcome.at);
    c.last_seen = c.last_seen.max(outcome.at);
    match outcome.kind {
        OutcomeKind::Approved => c.approved = c.approved.saturating_add(1),
        OutcomeKind::Rejected => c.rejected = c.rejected.saturating_add(1),
    }
    Some(c)
}

/// The items beyond the first `keep` of `newest_first`: what a bounded table deletes (seen
/// clients by `last_seen`, policy versions by number; storage passes its rows in that order).
pub fn beyond<T>(mut newest_first: Vec<T>, keep: usize) -> Vec<T> {
    let keep = newest_first.len().min(keep);
    newest_first.split_off(keep)
}

/// The rule every write through the admin page and API is held to: the workspace keeps at least
/// one admin, so someone other than the operator can still administer it. `before` is the policy
/// being replaced (none: created, or the stored one does not validate). The message names the
/// admins the write would remove or demote.
pub fn keeps_an_admin(before: Option<&WorkspacePolicy>, after: &WorkspacePolicy) -> Result<(), String> {
    if after.members.iter().any(|m| m.role == Role::Admin) {
        return Ok(());
    }
    let was: Vec<&Member> = before.map(|b| b.members.iter().filter(|m| m.role == Role::Admin).collect()).unwrap_or_default();
    if was.is_empty() {
        return Err(format!(
            "`members` must include at least one admin (role `admin`); without one, only the operator can administer workspace `{}`",
            after.id
        ));
    }
    let removed = was.iter().any(|m| after.member(&m.email).is_none());
    let names: Vec<String> = was.iter().map(|m| format!("`{}`", m.email)).collect();
    let (who, is) = match names.len() {
        1 => (names[0].clone(), "is the last admin"),
        _ => (names.join(", "), "are the last admins"),
    };
    let what = if removed { "removed" } else { "made a member" };
    Err(format!("{who} {is} of workspace `{}` and cannot be {what}; make another member an admin first", after.id))
}

/// May `caller` administer `workspace`, whose policy is `policy` (None: missing or invalid)?
/// A session grants only its own workspace, and only to a member with the admin role in the
/// *current* policy. An invalid policy cannot name admins, so only the operator can repair it.
pub fn may_administer(caller: Option<&AdminCaller>, workspace: &WorkspaceId, policy: Option<&WorkspacePolicy>) -> Result<(), AdminDenied> {
    match caller {
        None => Err(AdminDenied::Unauthenticated),
        Some(AdminCaller::Operator) => Ok(()),
        Some(AdminCaller::Session(s)) if s.acts_in(workspace) => match policy.and_then(|p| p.member_for(&s.identity)) {
            Some(m) if m.role == Role::Admin => Ok(()),
            _ => Err(AdminDenied::Forbidden),
        },
        Some(AdminCaller::Session(_)) => Err(AdminDenied::Forbidden),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::config::BUNDLED_SCOPE_CATALOG;
    use crate::core::cookies::Membership;
    use crate::core::ids::Identity;
    use crate::core::scopes::ScopeCatalog;

    fn policy() -> WorkspacePolicy {
        let doc = serde_json::json!({
            "schema": 1, "name": "Acme", "mcp_enabled": true, "allowed_redirect_uris": [], "scope_ceiling": [],
            "members": [{"email": "ada@example.com", "role": "admin"}, {"email": "bob@example.com", "role": "member"}]
        });
        WorkspacePolicy::parse(&"acme".into(), &doc.to_string(), &ScopeCatalog::parse(BUNDLED_SCOPE_CATALOG).unwrap()).unwrap()
    }

    fn session(ws: &str, email: &str) -> AdminCaller {
        AdminCaller::Session(Session {
            identity: Identity { subject: None, email: Some(email.into()) },
            current: Some(Membership { workspace: ws.into(), email: email.into() }),
            others: Vec::new(),
            expires_at: 0,
            sid: String::new(),
        })
    }

    #[test]
    fn only_admins_of_the_workspace_and_the_operator() {
        let p = policy();
        assert_eq!(may_administer(None, &"acme".into(), Some(&p)), Err(AdminDenied::Unauthenticated));
        assert_eq!(may_administer(Some(&AdminCaller::Operator), &"acme".into(), None), Ok(()));
        assert_eq!(may_administer(Some(&session("acme", "ada@example.com")), &"acme".into(), Some(&p)), Ok(()));
        assert_eq!(may_administer(Some(&session("acme", "bob@example.com")), &"acme".into(), Some(&p)), Err(AdminDenied::Forbidden));
        assert_eq!(may_administer(Some(&session("other", "ada@example.com")), &"acme".into(), Some(&p)), Err(AdminDenied::Forbidden));
        assert_eq!(may_administer(Some(&session("acme", "ada@example.com")), &"acme".into(), None), Err(AdminDenied::Forbidden));
    }

    #[test]
    fn the_last_admin_cannot_be_removed_or_demoted() {
        let p = policy();
        let edited = |members: serde_json::Value| {
            let doc = serde_json::json!({"schema": 1, "name": "Acme", "mcp_enabled": true, "allowed_redirect_uris": [], "scope_ceiling": [], "members": members});
            WorkspacePolicy::parse(&"acme".into(), &doc.to_string(), &ScopeCatalog::parse(BUNDLED_SCOPE_CATALOG).unwrap()).unwrap()
        };
        let bob = serde_json::json!({"email": "bob@example.com", "role": "member"});
        let removed = keeps_an_admin(Some(&p), &edited(serde_json::json!([bob]))).unwrap_err();
        assert_eq!(
            removed,
            "`ada@example.com` is the last admin of workspace `acme` and cannot be removed; make another member an admin first"
        );
        let demoted =
            keeps_an_admin(Some(&p), &edited(serde_json::json!([{"email": "ada@example.com", "role": "member"}, bob]))).unwrap_err();
        assert!(demoted.ends_with("cannot be made a member; make another member an admin first"), "{demoted}");
        let created = keeps_an_admin(None, &edited(serde_json::json!([bob]))).unwrap_err();
        assert!(created.starts_with("`members` must include at least one admin"), "{created}");
        // Handing the role over in one write is fine.
        let handed =
            edited(serde_json::json!([{"email": "ada@example.com", "role": "member"}, {"email": "bob@example.com", "role": "admin"}]));
        assert_eq!(keeps_an_admin(Some(&p), &handed), Ok(()));
    }

    #[test]
    fn operator_token_must_be_set_long_and_equal() {
        let t = "t".repeat(40);
        assert!(is_operator(Some(&t), &t));
        assert!(!is_operator(Some(&t), "t"));
        assert!(!is_operator(None, ""));
        assert!(!is_operator(Some("short"), "short"));
    }

    #[test]
    fn operator_token_comparison_ignores_length_differences() {
        let t = "t".repeat(40);
        assert!(!is_operator(Some(&t), &"t".repeat(39)));
        assert!(!is_operator(Some(&t), &"t".repeat(41)));
        assert!(!is_operator(Some(&t), &format!("{t}\0")));
        assert!(!is_operator(Some(&t), ""));
    }

    #[test]
    fn kv_policy_text_is_adopted_only_when_written_by_hand() {
        let (ours_old, ours_new, hand) = ("{\"v\":1}", "{\"v\":2}", "{\"v\":\"hand\"}");
        let tag = |t: &str| etag(t);
        let new_tag = tag(ours_new);
        let hand_tag = tag(hand);
        let stored = |text, replaced_etag| Some(StoredPolicy { text, written_at: 1000, replaced_etag });
        let after_ours = stored(ours_new, None);
        // Nothing anywhere.
        assert_eq!(resolve_policy_text(None, None, None, 1000), PolicyText::Absent);
        // KV agrees with the object.
        assert_eq!(resolve_policy_text(after_ours, Some(ours_new), Some(&new_tag), 1000), PolicyText::Stored(ours_new));
        // KV's cache still serves an older write of ours: the object's text is current.
        assert_eq!(resolve_policy_text(after_ours, Some(ours_old), Some(&tag(ours_old)), 1000), PolicyText::Stored(ours_new));
        // A hand edit (no metadata): adopted at once, however recent our own write.
        assert_eq!(resolve_policy_text(after_ours, Some(hand), None, 1001), PolicyText::Adopt(hand));
        // Metadata that does not match the value (copied by hand onto another text): a hand edit.
        assert_eq!(resolve_policy_text(after_ours, Some(hand), Some(&new_tag), 1001), PolicyText::Adopt(hand));
        // Our write replaced a hand-written text that KV's cache still serves: not adopted
        // within the propagation bound; after it, the same text is a deliberate hand edit.
        let replaced_hand = stored(ours_new, Some(hand_tag.as_str()));
        assert_eq!(resolve_policy_text(replaced_hand, Some(hand), None, 1000 + KV_PROPAGATION_SECONDS), PolicyText::Stored(ours_new));
        assert_eq!(resolve_policy_text(replaced_hand, Some(hand), None, 1001 + KV_PROPAGATION_SECONDS), PolicyText::Adopt(hand));
        // A hand-written first policy, and our KV write whose store step failed: adopted.
        assert_eq!(resolve_policy_text(None, Some(hand), None, 1000), PolicyText::Adopt(hand));
        assert_eq!(resolve_policy_text(None, Some(ours_new), Some(&new_tag), 1000), PolicyText::Adopt(ours_new));
        // KV not showing our first write yet: the object's text; past the bound, a hand deletion.
        assert_eq!(resolve_policy_text(after_ours, None, None, 1000 + KV_PROPAGATION_SECONDS), PolicyText::Stored(ours_new));
        assert_eq!(resolve_policy_text(after_ours, None, None, 1001 + KV_PROPAGATION_SECONDS), PolicyText::Deleted);
    }

    #[test]
    fn a_policy_is_replaced_only_from_the_etag_it_was_read_with() {
        let (write, outcome) = replace_policy(None, "v1", None);
        assert_eq!(outcome, ReplaceOutcome::Replaced { etag: etag("v1") });
        assert_eq!(write, Some(PolicyWrite { text: "v1", etag: etag("v1"), replaced_etag: None }));
        assert_eq!(replace_policy(Some("v1"), "v2", None), (None, ReplaceOutcome::Conflict { current_etag: Some(etag("v1")) }));
        assert_eq!(replace_policy(None, "v2", Some(&etag("v1"))), (None, ReplaceOutcome::Conflict { current_etag: None }));
        let (write, _) = replace_policy(Some("v1"), "v2", Some(&etag("v1")));
        assert_eq!(write.and_then(|w| w.replaced_etag), Some(etag("v1")));
        assert_eq!(replace_policy(Some("v2"), "v3", Some(&etag("v1"))).1, ReplaceOutcome::Conflict { current_etag: Some(etag("v2")) });
    }

    #[test]
    fn the_newest_outcomes_of_each_kind_are_kept() {
        // Items 0..300, newest first; every third one an approval.
        let kind = |i: &usize| if i.is_multiple_of(3) { OutcomeKind::Approved } else { OutcomeKind::Rejected };
        let (kept, dropped) = bound_outcomes((0..300).collect(), kind);
        let newest = |k| (0..300).filter(move |i| kind(i) == k).take(OUTCOMES_KEPT);
        let mut expected: Vec<usize> = newest(OutcomeKind::Approved).chain(newest(OutcomeKind::Rejected)).collect();
        expected.sort();
        assert_eq!(kept, expected, "the newest of each kind, in order");
        assert_eq!(kept.len() + dropped.len(), 300);
        assert_eq!(bound_outcomes(vec![1, 2, 3], |_| OutcomeKind::Approved), (vec![1, 2, 3], vec![]));
    }

    #[test]
    fn a_seen_client_counts_its_attempts_and_keeps_its_first_sighting() {
        let at = |kind, at| Outcome {
            kind,
            at,
            user: "ada@example.com".into(),
            subject: None,
            client_id: "c1".into(),
            client_name: format!("Claude {at}"),
            redirect_uri: "http://localhost:3118/callback".into(),
            scopes: vec![],
            rule: None,
        };
        let first = seen_client(None, &at(OutcomeKind::Rejected, 10)).unwrap();
        let second = seen_client(Some(first), &at(OutcomeKind::Approved, 20)).unwrap();
        assert_eq!((second.first_seen, second.last_seen, second.approved, second.rejected), (10, 20, 1, 1));
        assert_eq!(second.name, "Claude 20", "the name it gave last");
        let sign_in = Outcome { client_id: String::new(), ..at(OutcomeKind::Rejected, 30) };
        assert_eq!(seen_client(None, &sign_in), None, "a refused sign-in names no client");
        let dropped = beyond((1..=130).rev().collect::<Vec<i64>>(), CLIENTS_KEPT);
        assert_eq!((dropped.len(), dropped.iter().max()), (30, Some(&30)), "the oldest go");
    }

    #[test]
    fn etags_change_with_content() {
        assert_ne!(etag("a"), etag("b"));
        assert_eq!(etag("a"), etag("a"));
        assert!(etag("a").starts_with('"') && etag("a").ends_with('"'));
    }
}

//! Policy history: every change to a workspace's policy — through the admin page, the admin API,
//! or by hand in KV once the `Workspaces` object adopts it — kept with who made it, from where,
//! and what changed field by field. The object keeps the newest `HISTORY_KEPT` (docs/storage.md).
//!
//! The field diff works on the JSON documents, not on parsed policies, so that a hand edit that
//! does not validate is still recorded (and shown) for what it changed.
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

/// How many versions a workspace keeps.
pub const HISTORY_KEPT: usize = 100;

/// The largest diff a version keeps (its JSON): a larger one is kept as the names of the fields
/// it changed (`{"large": {"fields": [..], "bytes": n}}`), so a listing of 100 versions stays small.
pub const MAX_CHANGES_BYTES: usize = 16 * 1024;

/// Where a change came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// A signed-in admin on the admin page (a session with the page's CSRF token).
    Page,
    /// The admin API with the operator token.
    Api,
    /// `wrangler kv key put` / `delete`, recorded when the object adopts it.
    HandEdit,
    /// The policy as it was when history began to be kept (written before this version existed).
    Unrecorded,
}

/// Who made a change, and how: sent with every write.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Author {
    /// The admin's e-mail address, `operator`, or none (a hand edit names no one).
    pub by: Option<String>,
    pub source: Source,
    /// The version this change restored (a revert).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reverts: Option<i64>,
}

impl Author {
    pub fn hand_edit() -> Author {
        Author { by: None, source: Source::HandEdit, reverts: None }
    }
}

/// One recorded version of the policy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Version {
    /// Increasing per workspace, never reused.
    pub version: i64,
    pub at: i64,
    pub by: Option<String>,
    pub source: Source,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reverts: Option<i64>,
    /// The ETag of `text` (empty for a deletion).
    pub etag: String,
    /// `changes(previous, text)`.
    pub changes: Value,
    /// The document as written; none for a deletion, and left out of listings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
}

/// The policy fields in the order the history shows them; any other field is shown after these.
const ORDER: [&str; 7] = crate::core::policy::model::FIELDS;

/// What changed from `before` to `after` (none: deleted), field by field:
/// `{"mcp_enabled": {"from": false, "to": true}, "allowed_redirect_uris": {"added": [..],
/// "removed": [..]}, "members": {"added": [..], "removed": [..], "changed": [{"email", "role":
/// {"from", "to"}, …}]}}`. A policy created from nothing is `{"created": true}`, a deletion
/// `{"deleted": true}`, a text that is not a JSON object on either side `{"document": "replaced"}`.
/// Lists compare as sets (order is not a change); members are matched by e-mail, ignoring case.
pub fn changes(before: Option<&str>, after: Option<&str>) -> Value {
    let (before, after) = match (before, after) {
        (_, None) => return json!({ "deleted": true }),
        (None, Some(_)) => return json!({ "created": true }),
        (Some(b), Some(a)) => (object(b), object(a)),
    };
    let (Some(before), Some(after)) = (before, after) else {
        return json!({ "document": "replaced" });
    };
    let mut keys: Vec<&str> = ORDER.to_vec();
    for key in before.keys().chain(after.keys()) {
        if !keys.contains(&key.as_str()) {
            keys.push(key);
        }
    }
    let mut out = Map::new();
    for key in keys {
        let (old, new) = (before.get(key), after.get(key));
        if old == new {
            continue;
        }
        let change = match (key, old, new) {
            ("members", Some(Value::Array(o)), Some(Value::Array(n))) => members(o, n),
            (_, Some(Value::Array(o)), Some(Value::Array(n))) if strings(o).is_some() && strings(n).is_some() => {
                set_change(&strings(o).unwrap_or_default(), &strings(n).unwrap_or_default())
            }
            (_, Some(Value::Array(n)), None) | (_, None, Some(Value::Array(n))) if key != "members" && strings(n).is_some() => {
                let n = strings(n).unwrap_or_default();
                if new.is_some() {
                    set_change(&[], &n)
                } else {
                    set_change(&n, &[])
                }
            }
            _ => Some(json!({ "from": old, "to": new })),
        };
        if let Some(change) = change {
            out.insert(key.to_string(), change);
        }
    }
    let bytes = Value::Object(out.clone()).to_string().len();
    if bytes > MAX_CHANGES_BYTES {
        return json!({ "large": { "fields": out.keys().collect::<Vec<_>>(), "bytes": bytes } });
    }
    Value::Object(out)
}

fn object(text: &str) -> Option<Map<String, Value>> {
    match serde_json::from_str(text) {
        Ok(Value::Object(map)) => Some(map),
        _ => None,
    }
}

fn strings(items: &[Value]) -> Option<Vec<&str>> {
    items.iter().map(Value::as_str).collect()
}

/// Added and removed items; none when the two hold the same items.
fn set_change(old: &[&str], new: &[&str]) -> Option<Value> {
    let added: Vec<&str> = new.iter().filter(|x| !old.contains(x)).copied().collect();
    let removed: Vec<&str> = old.iter().filter(|x| !new.contains(x)).copied().collect();
    (!added.is_empty() || !removed.is_empty()).then(|| json!({ "added": added, "removed": removed }))
}

/// Members matched by e-mail (trimmed, ignoring ASCII case): added, removed, and each field that changed.
fn members(old: &[Value], new: &[Value]) -> Option<Value> {
    // As `Email::parse` normalises: trimmed, ASCII lowercased.
    let email = |m: &Value| m.get("email").and_then(Value::as_str).map(|e| e.trim().to_ascii_lowercase());
    let find = |list: &[Value], e: &str| list.iter().find(|m| email(m).as_deref() == Some(e)).cloned();
    let (mut added, mut removed, mut changed) = (Vec::new(), Vec::new(), Vec::new());
    for m in new {
        let Some(e) = email(m) else { continue };
        match find(old, &e) {
            None => added.push(json!(e)),
            Some(was) => {
                let mut fields = Map::new();
                for field in ["email", "role", "name", "sub"] {
                    let (from, to) = (was.get(field), m.get(field));
                    if from != to {
                        fields.insert(field.into(), json!({ "from": from, "to": to }));
                    }
                }
                if !fields.is_empty() {
                    // Named by the address as compared (`email` above: only a change of case or spaces).
                    fields.insert("member".into(), json!(e));
                    changed.push(Value::Object(fields));
                }
            }
        }
    }
    for m in old {
        if let Some(e) = email(m).filter(|e| find(new, e).is_none()) {
            removed.push(json!(e));
        }
    }
    // Entries without an e-mail cannot be matched: show the lists as replaced.
    let unmatched = old.iter().chain(new).any(|m| email(m).is_none());
    if unmatched {
        return Some(json!({ "from": old, "to": new }));
    }
    (!added.is_empty() || !removed.is_empty() || !changed.is_empty())
        .then(|| json!({ "added": added, "removed": removed, "changed": changed }))
}

/// The text a change replaced: the document and when it was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Replaced<'a> {
    pub text: &'a str,
    pub written_at: i64,
}

/// The contract of recording a change (`WorkspaceStore::replace_policy`, and a hand edit the
/// `Workspaces` object adopts): the versions to append, oldest first, numbered by storage (their
/// `version` is 0 here). `text` none: the policy was deleted. An empty history first gets the
/// text being replaced as `Source::Unrecorded` (at when it was written), so that the state before
/// the first recorded change can be restored.
pub fn new_versions(history_empty: bool, before: Option<Replaced>, text: Option<&str>, author: &Author, now: i64) -> Vec<Version> {
    let etag = |t: &str| crate::core::admin::etag(t);
    let baseline = before.filter(|_| history_empty).map(|b| Version {
        version: 0,
        at: b.written_at,
        by: None,
        source: Source::Unrecorded,
        reverts: None,
        etag: etag(b.text),
        changes: json!({}),
        text: Some(b.text.to_string()),
    });
    let change = Version {
        version: 0,
        at: now,
        by: author.by.clone(),
        source: author.source,
        reverts: author.reverts,
        etag: text.map(etag).unwrap_or_default(),
        changes: changes(before.map(|b| b.text), text),
        text: text.map(str::to_string),
    };
    baseline.into_iter().chain([change]).collect()
}

/// The versions a write drops to keep the newest `HISTORY_KEPT`, given the version numbers
/// stored, newest first.
pub fn beyond_bound(newest_first: Vec<i64>) -> Vec<i64> {
    crate::core::admin::beyond(newest_first, HISTORY_KEPT)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(edit: impl FnOnce(&mut Value)) -> String {
        let mut d = json!({
            "schema": 1, "name": "Acme", "mcp_enabled": true,
            "allowed_redirect_uris": ["http://localhost:3118/callback"], "scope_ceiling": ["CONTACTS_READ"],
            "members": [{"email": "ada@example.com", "role": "admin"}, {"email": "bob@example.com", "role": "member", "name": "Bob"}]
        });
        edit(&mut d);
        d.to_string()
    }

    #[test]
    fn each_changed_field_is_named_with_what_changed_and_nothing_else() {
        let before = doc(|_| {});
        let after = doc(|d| {
            d["mcp_enabled"] = json!(false);
            d["allowed_redirect_uris"] = json!(["http://localhost:3118/callback", "http://127.0.0.1:8080/cb"]);
            d["allowed_client_ids"] = json!(["c1"]);
            d["members"] = json!([{"email": "ADA@example.com", "role": "member"}, {"email": "cy@example.com", "role": "member"}]);
        });
        let c = changes(Some(&before), Some(&after));
        assert_eq!(c["mcp_enabled"], json!({"from": true, "to": false}));
        assert_eq!(c["allowed_redirect_uris"], json!({"added": ["http://127.0.0.1:8080/cb"], "removed": []}));
        assert_eq!(c["allowed_client_ids"], json!({"added": ["c1"], "removed": []}), "a list that was absent");
        assert_eq!(c["members"]["added"], json!(["cy@example.com"]));
        assert_eq!(c["members"]["removed"], json!(["bob@example.com"]));
        let ada = json!({"member": "ada@example.com", "email": {"from": "ada@example.com", "to": "ADA@example.com"}, "role": {"from": "admin", "to": "member"}});
        assert_eq!(c["members"]["changed"], json!([ada]));
        let keys: Vec<&String> = c.as_object().unwrap().keys().collect();
        assert_eq!(keys.len(), 4, "{c}");
        assert_eq!(changes(Some(&before), Some(&before)), json!({}));
    }

    #[test]
    fn order_is_not_a_change_and_documents_that_are_not_objects_are_replaced() {
        let a = doc(|d| d["scope_ceiling"] = json!(["A", "B"]));
        let b = doc(|d| d["scope_ceiling"] = json!(["B", "A"]));
        assert_eq!(changes(Some(&a), Some(&b)), json!({}));
        assert_eq!(changes(None, Some(&a)), json!({"created": true}));
        assert_eq!(changes(Some(&a), None), json!({"deleted": true}));
        assert_eq!(changes(Some(&a), Some("not json")), json!({"document": "replaced"}));
        let typo = doc(|d| d["mcp_enabled"] = json!("yes"));
        assert_eq!(changes(Some(&a), Some(&typo))["mcp_enabled"], json!({"from": true, "to": "yes"}));
        let extra = doc(|d| d["colour"] = json!("red"));
        assert_eq!(changes(Some(&a), Some(&extra))["colour"], json!({"from": null, "to": "red"}));
    }

    #[test]
    fn a_diff_too_large_to_keep_names_its_fields() {
        let many: Vec<String> = (0..2000).map(|i| format!("http://127.0.0.1:{}/callback", 1024 + i)).collect();
        let c = changes(Some(&doc(|_| {})), Some(&doc(|d| d["allowed_redirect_uris"] = json!(many))));
        assert_eq!(c["large"]["fields"], json!(["allowed_redirect_uris"]));
        assert!(c["large"]["bytes"].as_u64().unwrap() > MAX_CHANGES_BYTES as u64);
        // A member's only change is a reordering of their fields: none.
        let reordered = doc(|d| d["members"][1] = json!({"name": "Bob", "role": "member", "email": "bob@example.com"}));
        assert_eq!(changes(Some(&doc(|_| {})), Some(&reordered)), json!({}));
    }

    #[test]
    fn the_first_recorded_change_keeps_the_text_it_replaced() {
        let author = Author { by: Some("ada@example.com".into()), source: Source::Page, reverts: None };
        let before = Replaced { text: "{\"v\":1}", written_at: 10 };
        let first = new_versions(true, Some(before), Some("{\"v\":2}"), &author, 50);
        let shown: Vec<_> = first.iter().map(|v| (v.source, v.at, v.text.as_deref())).collect();
        assert_eq!(shown, [(Source::Unrecorded, 10, Some("{\"v\":1}")), (Source::Page, 50, Some("{\"v\":2}"))]);
        assert_eq!(first[1].changes, json!({"v": {"from": 1, "to": 2}}));
        assert_eq!(new_versions(false, Some(before), Some("{}"), &author, 50).len(), 1, "a kept history needs no baseline");
        let deleted = new_versions(false, Some(before), None, &Author::hand_edit(), 60);
        assert_eq!((deleted[0].etag.as_str(), deleted[0].text.as_deref(), &deleted[0].changes), ("", None, &json!({"deleted": true})));
        assert_eq!(new_versions(true, None, Some("{}"), &author, 50)[0].changes, json!({"created": true}));
    }

    #[test]
    fn the_newest_versions_are_kept() {
        let dropped = beyond_bound((1..=130).rev().collect());
        assert_eq!(dropped.len(), 30);
        assert!(dropped.iter().all(|v| *v <= 30));
        assert!(beyond_bound((1..=100).rev().collect()).is_empty());
    }
}

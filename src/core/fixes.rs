//! What would let an authorization attempt through: for a rejected attempt on the admin page
//! ("Allow this redirect URI", "Add SCOPE to the ceiling", "Allow this client", "Enable MCP") and
//! for the connection check, which asks the same question before anyone tries.
//!
//! The attempt is run through the very checks of `/authorize` (`evaluate::authorize`) against
//! the current policy. Each refusal an admin can lift by a policy change is lifted in a copy of
//! the document, and the checks run again, until the attempt passes or a refusal remains that no
//! policy change of these can lift (the person is not a member, nothing would be granted, or the
//! changed document would not validate). The fix is the whole change, as the document to write
//! and its field diff (`history::changes`).
use serde::Serialize;
use serde_json::{json, Value};

use crate::core::history;
use crate::core::ids::{Email, Identity};
use crate::core::oauth::types::{ClientId, RedirectUri};
use crate::core::policy::evaluate::{authorize, AuthorizationFacts, Denial};
use crate::core::policy::model::WorkspacePolicy;
use crate::core::scopes::{ScopeCatalog, ScopeSet};

/// Who makes the attempt.
#[derive(Debug, Clone, Copy)]
pub enum Who<'a> {
    /// Check everything but membership (the connection check without a user).
    Anyone,
    /// The member with this e-mail address (the connection check).
    Email(&'a str),
    /// A signed-in identity, matched as `/authorize` matches it (`WorkspacePolicy::member_for`:
    /// by subject for members that name one): a recorded attempt.
    SignedIn { email: &'a str, subject: Option<&'a str> },
}

/// An authorization attempt, as recorded (`admin::Outcome`) or typed into the check.
#[derive(Debug, Clone)]
pub struct Attempt<'a> {
    pub who: Who<'a>,
    pub client_id: &'a str,
    pub redirect_uri: &'a str,
    /// Catalog scopes asked for; empty: the ceiling.
    pub scopes: &'a [String],
}

/// One policy change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Step {
    EnableMcp,
    AllowRedirectUri { redirect_uri: String },
    AllowClient { client_id: String },
    RaiseCeiling { scopes: Vec<String> },
}

impl Step {
    /// The button's words.
    pub fn label(&self) -> String {
        match self {
            Step::EnableMcp => "Enable MCP".into(),
            Step::AllowRedirectUri { .. } => "Allow this redirect URI".into(),
            Step::AllowClient { .. } => "Allow this client".into(),
            Step::RaiseCeiling { scopes } => format!("Add {} to the ceiling", scopes.join(", ")),
        }
    }

    fn apply(&self, doc: &mut Value) {
        let push = |doc: &mut Value, field: &str, items: Vec<String>| {
            let list = doc.as_object_mut().map(|o| o.entry(field).or_insert_with(|| json!([])));
            if let Some(Value::Array(list)) = list {
                list.extend(items.into_iter().map(Value::String));
            }
        };
        match self {
            Step::EnableMcp => doc["mcp_enabled"] = json!(true),
            Step::AllowRedirectUri { redirect_uri } => push(doc, "allowed_redirect_uris", vec![redirect_uri.clone()]),
            Step::AllowClient { client_id } => push(doc, "allowed_client_ids", vec![client_id.clone()]),
            Step::RaiseCeiling { scopes } => push(doc, "scope_ceiling", scopes.clone()),
        }
    }
}

/// A policy change that lets the attempt through.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Fix {
    /// The steps' labels joined: "Allow this redirect URI and Add CONTACTS_WRITE to the ceiling".
    pub label: String,
    pub steps: Vec<Step>,
    /// The field diff from the current document.
    pub changes: Value,
    /// The whole document to write (with `If-Match` of the current one).
    pub policy: Value,
}

/// The answer for one attempt.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "verdict", rename_all = "snake_case")]
pub enum Verdict {
    /// The attempt would be approved now, granting `scopes`.
    Passes { scopes: Vec<String> },
    /// Refused by `rule` (the message the person saw; `hint` says what to check); `fix` lifts
    /// it, or is none when no policy change here can (`why`).
    Refused {
        rule: String,
        hint: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        fix: Option<Fix>,
        #[serde(skip_serializing_if = "Option::is_none")]
        why: Option<String>,
    },
}

/// The attempt against the policy (`policy` is `text` parsed), and the fix if it is refused.
/// `Err`: the attempt names no valid client or redirect URI, with the reason.
pub fn check(text: &str, policy: &WorkspacePolicy, catalog: &ScopeCatalog, attempt: &Attempt) -> Result<Verdict, String> {
    let client_id = ClientId::parse(attempt.client_id).ok_or("`client_id` must be 1–256 printable ASCII characters, no spaces")?;
    let redirect_uri = RedirectUri::parse(attempt.redirect_uri).map_err(|e| format!("`redirect_uri`: {e}"))?;
    let email = |u: &str| Email::parse(u).map_err(|why| format!("`user` {why}"));
    let identity = match attempt.who {
        Who::Anyone => None,
        Who::Email(u) => Some(Identity { subject: None, email: Some(email(u)?) }),
        Who::SignedIn { email: u, subject } => Some(Identity { subject: subject.map(str::to_string), email: Some(email(u)?) }),
    };
    let requested = ScopeSet::from_trusted(attempt.scopes.iter().filter(|s| catalog.contains(s)).cloned());
    let mut doc: Value = serde_json::from_str(text).map_err(|e| format!("the policy is not JSON ({e})"))?;
    let mut current = policy.clone();
    let mut steps: Vec<Step> = Vec::new();
    let mut first: Option<Denial> = None;
    // Each round lifts one rule; there are four that can be lifted.
    for _ in 0..5 {
        // Without a user, membership is not what is being checked: stand in any member. An
        // address typed into the check names the member with that address.
        let member = match (&identity, attempt.who) {
            (None, _) => current.members.first(),
            (Some(i), Who::Email(_)) => i.email.as_ref().and_then(|e| current.member(e)),
            (Some(i), _) => current.member_for(i),
        };
        let user = member.map(|m| &m.email);
        let facts = AuthorizationFacts { user, client_id: &client_id, redirect_uri: &redirect_uri, requested: &requested };
        let denial = match authorize(&current, catalog, &facts) {
            Ok(scopes) if steps.is_empty() => return Ok(Verdict::Passes { scopes: scopes.to_vec() }),
            Ok(_) => return Ok(fixed(text, policy, first.as_ref(), steps, doc)),
            Err(denial) => denial,
        };
        let step = match &denial {
            Denial::McpDisabled => Some(Step::EnableMcp),
            Denial::RedirectUriNotAllowed { redirect_uri } => Some(Step::AllowRedirectUri { redirect_uri: redirect_uri.clone() }),
            Denial::ClientNotAllowed { client_id } => Some(Step::AllowClient { client_id: client_id.clone() }),
            Denial::ScopesNotAllowed { excess } => Some(Step::RaiseCeiling { scopes: excess.clone() }),
            Denial::NotMember | Denial::NothingToGrant => None,
        };
        let why = match &denial {
            Denial::NotMember => "they are not a member of the workspace: add them under Members",
            Denial::NothingToGrant => "no scopes were requested and the ceiling is empty: choose the scopes of the ceiling",
            _ => "",
        };
        let refused = first.get_or_insert_with(|| denial.clone()).clone();
        let Some(step) = step else {
            return Ok(refused_without_fix(policy, &refused, &denial, why));
        };
        step.apply(&mut doc);
        current = match WorkspacePolicy::parse(&policy.id, &doc.to_string(), catalog) {
            Ok(p) => p,
            Err(e) => {
                return Ok(refused_without_fix(
                    policy,
                    &refused,
                    &denial,
                    &format!("the change would not be a valid policy: {}", e.message),
                ))
            }
        };
        steps.push(step);
    }
    Err("the attempt could not be decided".into())
}

/// The refusal `first` with the fix the `steps` made of the document (now `doc`).
fn fixed(text: &str, policy: &WorkspacePolicy, first: Option<&Denial>, steps: Vec<Step>, doc: Value) -> Verdict {
    let label = steps.iter().enumerate().map(|(i, s)| if i == 0 { s.label() } else { lower_first(&s.label()) });
    let label = label.collect::<Vec<_>>().join(" and ");
    let changes = history::changes(Some(text), Some(&doc.to_string()));
    let (rule, hint) = first.map(|d| (d.message().to_string(), d.hint(&policy.name))).unwrap_or_default();
    Verdict::Refused { rule, hint, fix: Some(Fix { label, steps, changes, policy: doc }), why: None }
}

fn refused_without_fix(policy: &WorkspacePolicy, first: &Denial, blocking: &Denial, why: &str) -> Verdict {
    let why = if first == blocking { why.to_string() } else { format!("after that, {}: {why}", blocking.message()) };
    Verdict::Refused { rule: first.message().into(), hint: first.hint(&policy.name), fix: None, why: Some(why) }
}

fn lower_first(s: &str) -> String {
    let mut c = s.chars();
    c.next().map(|f| f.to_lowercase().chain(c).collect()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::config::BUNDLED_SCOPE_CATALOG;

    const CALLBACK: &str = "http://localhost:3118/callback";

    fn policy(edit: impl FnOnce(&mut Value)) -> (String, WorkspacePolicy, ScopeCatalog) {
        let catalog = ScopeCatalog::parse(BUNDLED_SCOPE_CATALOG).unwrap();
        let mut doc = json!({
            "schema": 1, "name": "Acme", "mcp_enabled": true, "allowed_redirect_uris": [CALLBACK],
            "scope_ceiling": ["CONTACTS_READ"], "members": [{"email": "ada@example.com", "role": "admin"}]
        });
        edit(&mut doc);
        let text = doc.to_string();
        let parsed = WorkspacePolicy::parse(&"acme".into(), &text, &catalog).unwrap();
        (text, parsed, catalog)
    }

    fn attempt<'a>(redirect_uri: &'a str, scopes: &'a [String]) -> Attempt<'a> {
        Attempt { who: Who::SignedIn { email: "ada@example.com", subject: None }, client_id: "client-1", redirect_uri, scopes }
    }

    fn fix_of(v: Verdict) -> Fix {
        match v {
            Verdict::Refused { fix: Some(fix), .. } => fix,
            other => panic!("no fix: {other:?}"),
        }
    }

    #[test]
    fn an_attempt_that_passes_says_what_it_grants() {
        let (text, p, catalog) = policy(|_| {});
        let v = check(&text, &p, &catalog, &attempt(CALLBACK, &[])).unwrap();
        assert_eq!(v, Verdict::Passes { scopes: vec!["CONTACTS_READ".into()] });
    }

    #[test]
    fn each_rule_an_admin_can_lift_has_its_fix_and_the_fixed_policy_lets_the_attempt_through() {
        let write = ["CONTACTS_WRITE".to_string()];
        type Case<'a> = (Box<dyn Fn(&mut Value)>, Attempt<'a>, &'a str, &'a str);
        let cases: Vec<Case> = vec![
            (Box::new(|_| {}), attempt("http://localhost:3118/other", &[]), "redirect_uri is not allowed", "Allow this redirect URI"),
            (Box::new(|_| {}), attempt(CALLBACK, &write), "Requested scopes are not allowed", "Add CONTACTS_WRITE to the ceiling"),
            (
                Box::new(|d| d["allowed_client_ids"] = json!(["pinned"])),
                attempt(CALLBACK, &[]),
                "OAuth client_id is not allowed",
                "Allow this client",
            ),
            (Box::new(|d| d["mcp_enabled"] = json!(false)), attempt(CALLBACK, &[]), "MCP is disabled for this workspace", "Enable MCP"),
        ];
        for (edit, a, rule, label) in cases {
            let (text, p, catalog) = policy(edit);
            let v = check(&text, &p, &catalog, &a).unwrap();
            let Verdict::Refused { rule: got, .. } = &v else { panic!("{v:?}") };
            assert_eq!(got, rule);
            let fix = fix_of(v);
            assert_eq!(fix.label, label);
            assert_eq!(fix.steps.len(), 1, "{fix:?}");
            let fixed_text = fix.policy.to_string();
            let fixed = WorkspacePolicy::parse(&"acme".into(), &fixed_text, &catalog).unwrap();
            assert!(matches!(check(&fixed_text, &fixed, &catalog, &a).unwrap(), Verdict::Passes { .. }), "{label}");
        }
    }

    #[test]
    fn several_refusals_are_lifted_in_one_fix_with_their_diff() {
        let (text, p, catalog) = policy(|d| d["mcp_enabled"] = json!(false));
        let write = ["CONTACTS_WRITE".to_string()];
        let fix = fix_of(check(&text, &p, &catalog, &attempt("http://127.0.0.1:9000/cb", &write)).unwrap());
        assert_eq!(fix.label, "Enable MCP and allow this redirect URI and add CONTACTS_WRITE to the ceiling");
        assert_eq!(fix.changes["mcp_enabled"], json!({"from": false, "to": true}));
        assert_eq!(fix.changes["allowed_redirect_uris"]["added"], json!(["http://127.0.0.1:9000/cb"]));
        assert_eq!(fix.changes["scope_ceiling"]["added"], json!(["CONTACTS_WRITE"]));
    }

    #[test]
    fn refusals_no_policy_change_here_lifts_say_why() {
        let (text, p, catalog) = policy(|_| {});
        let stranger = Attempt { who: Who::Email("eve@example.com"), ..attempt(CALLBACK, &[]) };
        let Verdict::Refused { rule, fix: None, why: Some(why), .. } = check(&text, &p, &catalog, &stranger).unwrap() else { panic!() };
        assert_eq!(rule, "You are not a member of this workspace");
        assert!(why.contains("Members"), "{why}");
        let (text, p, catalog) = policy(|d| d["scope_ceiling"] = json!([]));
        let v = check(&text, &p, &catalog, &attempt(CALLBACK, &[])).unwrap();
        assert!(matches!(v, Verdict::Refused { fix: None, .. }), "{v:?}");
        // A check without a user checks everything else.
        let anyone = Attempt { who: Who::Anyone, ..attempt(CALLBACK, &[]) };
        let (text, p, catalog) = policy(|_| {});
        assert!(matches!(check(&text, &p, &catalog, &anyone).unwrap(), Verdict::Passes { .. }));
    }

    #[test]
    fn a_member_who_names_a_subject_is_that_subject_whatever_the_e_mail() {
        let (text, p, catalog) = policy(|d| {
            d["mcp_enabled"] = json!(false);
            d["members"] = json!([{"email": "ada@example.com", "role": "admin", "sub": "A"}]);
        });
        // Signed in as another subject with Ada's address: /authorize found no member.
        let other = Attempt { who: Who::SignedIn { email: "ada@example.com", subject: Some("B") }, ..attempt(CALLBACK, &[]) };
        let v = check(&text, &p, &catalog, &other).unwrap();
        let Verdict::Refused { rule, fix: None, why: Some(why), .. } = v else { panic!("{v:?}") };
        assert_eq!(rule, "MCP is disabled for this workspace");
        assert!(why.starts_with("after that, You are not a member"), "enabling MCP would not let it through: {why}");
        let ada = Attempt { who: Who::SignedIn { email: "ada@example.com", subject: Some("A") }, ..attempt(CALLBACK, &[]) };
        assert!(matches!(check(&text, &p, &catalog, &ada).unwrap(), Verdict::Refused { fix: Some(_), .. }));
        // The check by address names the member with that address.
        let typed = Attempt { who: Who::Email("ada@example.com"), ..attempt(CALLBACK, &[]) };
        assert!(matches!(check(&text, &p, &catalog, &typed).unwrap(), Verdict::Refused { fix: Some(_), .. }));
    }

    #[test]
    fn an_attempt_with_an_invalid_redirect_uri_or_client_says_why() {
        let (text, p, catalog) = policy(|_| {});
        let e = check(&text, &p, &catalog, &attempt("http://example.com/cb", &[])).unwrap_err();
        assert!(e.starts_with("`redirect_uri`: "), "{e}");
        let bad = Attempt { client_id: "has space", ..attempt(CALLBACK, &[]) };
        assert!(check(&text, &p, &catalog, &bad).unwrap_err().contains("client_id"));
    }
}

//! The workspace policy document stored in KV under `policy:<workspace_id>` (docs/storage.md,
//! schemas/policy.schema.json). Parsing fails closed: a document that does not validate grants
//! nothing, and the error names the workspace and the field by its path (`mcp_enabled`,
//! `members[1].role`, …).
//!
//! The document is read as a `serde_json::Value` and walked field by field rather than derived
//! with serde, so that every message — wrong type, missing or unknown field — carries its path.
use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::core::ids::{check_email, Email, Identity, WorkspaceId};
use crate::core::oauth::types::{ClientId, RedirectUri};
use crate::core::scopes::{ScopeCatalog, ScopeSet};

pub const SCHEMA_VERSION: u64 = 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Admin,
    Member,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// Normalised (lowercased) at parse: compared ignoring case. The user's identity in tokens
    /// and connections, whichever way the member signed in.
    pub email: Email,
    pub name: String,
    pub role: Role,
    /// The identity provider's subject (`sub`). When set, the member signs in only as that
    /// subject (an e-mail address can be reassigned, a subject cannot); otherwise by verified
    /// e-mail.
    pub sub: Option<String>,
}

/// A validated workspace policy.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkspacePolicy {
    pub id: WorkspaceId,
    pub name: String,
    pub mcp_enabled: bool,
    pub allowed_redirect_uris: Vec<RedirectUri>,
    /// Empty: any client may connect.
    pub allowed_client_ids: Vec<ClientId>,
    pub scope_ceiling: ScopeSet,
    pub members: Vec<Member>,
}

/// Why a stored policy cannot be used. Shown to people (authorize page, logs) as-is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyError {
    pub workspace: WorkspaceId,
    pub message: String,
}

/// Why a workspace has no policy that can decide anything (fails closed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PolicyUnusable {
    /// Nothing is stored under `policy:<workspace>` (or the ID is not one we store).
    Missing {
        workspace: String,
    },
    Invalid(PolicyError),
}

impl std::fmt::Display for PolicyUnusable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PolicyUnusable::Missing { workspace } => write!(f, "workspace `{workspace}` has no policy"),
            PolicyUnusable::Invalid(e) => e.fmt(f),
        }
    }
}

impl std::fmt::Display for PolicyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "The policy of workspace `{}` is invalid: {}", self.workspace, self.message)
    }
}

impl WorkspacePolicy {
    pub fn parse(workspace: &WorkspaceId, json: &str, catalog: &ScopeCatalog) -> Result<WorkspacePolicy, PolicyError> {
        parse_document(workspace, json, catalog).map_err(|message| PolicyError { workspace: workspace.clone(), message })
    }

    pub fn member(&self, email: &Email) -> Option<&Member> {
        self.members.iter().find(|m| &m.email == email)
    }

    /// The member a signed-in identity is: by subject for members that name one, else by
    /// verified e-mail.
    pub fn member_for(&self, identity: &Identity) -> Option<&Member> {
        self.members.iter().find(|m| match &m.sub {
            Some(sub) => identity.subject.as_deref() == Some(sub.as_str()),
            None => identity.email.as_ref() == Some(&m.email),
        })
    }

    /// The client-pin rule: an empty list pins nothing; otherwise only the listed IDs (exact).
    pub fn allows_client(&self, client_id: &ClientId) -> bool {
        self.allowed_client_ids.is_empty() || self.allowed_client_ids.contains(client_id)
    }
}

const FIELDS: [&str; 7] = ["schema", "name", "mcp_enabled", "allowed_redirect_uris", "allowed_client_ids", "scope_ceiling", "members"];
const MEMBER_FIELDS: [&str; 4] = ["email", "name", "role", "sub"];

fn parse_document(workspace: &WorkspaceId, json: &str, catalog: &ScopeCatalog) -> Result<WorkspacePolicy, String> {
    let doc: Value = serde_json::from_str(json).map_err(|e| format!("the document is not JSON ({e})"))?;
    let Some(top) = doc.as_object() else {
        return Err(format!("the document must be a JSON object, not {}", describe(&doc)));
    };
    // The version first: a document of another schema is reported as such, not as a list of
    // fields this server does not know.
    // (`1.0` is the number 1, as JSON Schema's `const` sees it.)
    match top.get("schema") {
        None => return Err(format!("`schema` is missing (this server reads schema {SCHEMA_VERSION})")),
        Some(Value::Number(n)) if n.as_f64() == Some(SCHEMA_VERSION as f64) => {}
        Some(Value::Number(n)) => return Err(format!("`schema` is {n}, this server reads schema {SCHEMA_VERSION}")),
        Some(v) => return Err(format!("`schema` must be the number {SCHEMA_VERSION}, not {}", describe(v))),
    }
    let top = Fields::new(top, "", &FIELDS)?;
    let name = top.string("name")?;
    if name.trim().is_empty() {
        return Err("`name` must not be empty".into());
    }
    let mcp_enabled = top.boolean("mcp_enabled")?;

    let mut allowed_redirect_uris = Vec::new();
    let uris = top.strings("allowed_redirect_uris")?;
    for (path, raw) in &uris {
        if raw.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(format!("`{path}`: `{}` contains whitespace or control characters", shown(raw)));
        }
        allowed_redirect_uris.push(RedirectUri::parse(raw).map_err(|e| format!("`{path}`: {e}"))?);
    }
    no_duplicates(uris.iter().map(|(p, u)| (p, u.to_string())))?;

    let client_ids = if top.has("allowed_client_ids") { top.strings("allowed_client_ids")? } else { Vec::new() };
    let mut allowed_client_ids = Vec::with_capacity(client_ids.len());
    for (path, raw) in &client_ids {
        let id = ClientId::parse(raw)
            .ok_or_else(|| format!("`{path}`: `{}` is not a client ID (1–256 printable ASCII characters, no spaces)", shown(raw)))?;
        allowed_client_ids.push(id);
    }
    no_duplicates(client_ids.iter().map(|(p, c)| (p, c.to_string())))?;

    let scopes = top.strings("scope_ceiling")?;
    if let Some((path, unknown)) = scopes.iter().find(|(_, s)| !catalog.contains(s)) {
        return Err(format!("`{path}`: unknown scope `{}`", shown(unknown)));
    }
    no_duplicates(scopes.iter().map(|(p, s)| (p, s.to_string())))?;

    let members = parse_members(&top)?;
    no_duplicates(members.iter().map(|(p, m)| (p, m.email.to_string())))?;
    let subs: Vec<(String, String)> = members.iter().filter_map(|(p, m)| Some((p.replace(".email", ".sub"), m.sub.clone()?))).collect();
    no_duplicates(subs.iter().map(|(p, s)| (p, s.clone())))?;

    Ok(WorkspacePolicy {
        id: workspace.clone(),
        name: name.to_string(),
        mcp_enabled,
        allowed_redirect_uris,
        allowed_client_ids,
        scope_ceiling: ScopeSet::from_trusted(scopes.iter().map(|(_, s)| s.to_string())),
        members: members.into_iter().map(|(_, m)| m).collect(),
    })
}

/// `members`, each with its path, e-mails lowercased.
fn parse_members(top: &Fields) -> Result<Vec<(String, Member)>, String> {
    let mut members = Vec::new();
    for (i, item) in top.array("members")?.iter().enumerate() {
        let path = format!("members[{i}]");
        let m = Fields::new(item.as_object().ok_or_else(|| expected(&path, "an object", item))?, &path, &MEMBER_FIELDS)?;
        let raw = m.string("email")?;
        check_email(raw).map_err(|why| match raw {
            "" => format!("`{path}.email` {why}"),
            _ => format!("`{path}.email`: `{}` {why}", shown(raw)),
        })?;
        let email = Email::parse(raw).map_err(|why| format!("`{path}.email`: `{}` {why}", shown(raw)))?;
        let role = match m.string("role")? {
            "admin" => Role::Admin,
            "member" => Role::Member,
            other => return Err(format!("`{path}.role` must be `admin` or `member`, not `{}`", shown(other))),
        };
        let name = if m.has("name") { m.string("name")?.trim() } else { "" };
        let name = if name.is_empty() { email.to_string() } else { name.to_string() };
        let sub = if m.has("sub") { Some(m.string("sub")?) } else { None };
        if let Some(bad) = sub.filter(|s| s.is_empty() || s.len() > 255 || s.chars().any(char::is_control)) {
            return Err(format!("`{path}.sub` must be 1–255 characters without control characters, not `{}`", shown(bad)));
        }
        let email_path = format!("{path}.email");
        members.push((email_path, Member { email, name, role, sub: sub.map(str::to_string) }));
    }
    Ok(members)
}

/// The fields of one JSON object, with the path that names it in messages.
struct Fields<'a> {
    map: &'a Map<String, Value>,
    path: &'a str,
}

impl<'a> Fields<'a> {
    /// Refuses fields not in `known` (a typo must not silently mean "the default").
    fn new(map: &'a Map<String, Value>, path: &'a str, known: &[&str]) -> Result<Fields<'a>, String> {
        let fields = Fields { map, path };
        if let Some(unknown) = map.keys().find(|k| !known.contains(&k.as_str())) {
            let known: Vec<String> = known.iter().map(|k| format!("`{k}`")).collect();
            return Err(format!("`{}` is not a known field (known: {})", fields.path_of(&shown(unknown)), known.join(", ")));
        }
        Ok(fields)
    }

    fn path_of(&self, key: &str) -> String {
        if self.path.is_empty() {
            key.to_string()
        } else {
            format!("{}.{key}", self.path)
        }
    }

    fn has(&self, key: &str) -> bool {
        self.map.contains_key(key)
    }

    fn required(&self, key: &str) -> Result<&'a Value, String> {
        self.map.get(key).ok_or_else(|| format!("`{}` is missing", self.path_of(key)))
    }

    fn string(&self, key: &str) -> Result<&'a str, String> {
        let v = self.required(key)?;
        v.as_str().ok_or_else(|| expected(&self.path_of(key), "a string", v))
    }

    fn boolean(&self, key: &str) -> Result<bool, String> {
        let v = self.required(key)?;
        v.as_bool().ok_or_else(|| expected(&self.path_of(key), "a boolean (true or false)", v))
    }

    fn array(&self, key: &str) -> Result<&'a [Value], String> {
        let v = self.required(key)?;
        v.as_array().map(Vec::as_slice).ok_or_else(|| expected(&self.path_of(key), "an array", v))
    }

    /// An array of strings, each with its path (`field[i]`).
    fn strings(&self, key: &str) -> Result<Vec<(String, &'a str)>, String> {
        let mut out = Vec::new();
        for (i, item) in self.array(key)?.iter().enumerate() {
            let path = format!("{}[{i}]", self.path_of(key));
            match item.as_str() {
                Some(s) => out.push((path, s)),
                None => return Err(expected(&path, "a string", item)),
            }
        }
        Ok(out)
    }
}

fn expected(path: &str, what: &str, got: &Value) -> String {
    format!("`{path}` must be {what}, not {}", describe(got))
}

/// A JSON value as a message shows it: its type, and a short excerpt of scalars.
fn describe(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => format!("the boolean {b}"),
        Value::Number(n) => format!("the number {n}"),
        Value::String(s) if s.chars().count() > 60 => format!("the string `{}…`", shown(&s.chars().take(60).collect::<String>())),
        Value::String(s) => format!("the string `{}`", shown(s)),
        Value::Array(_) => "an array".into(),
        Value::Object(_) => "an object".into(),
    }
}

/// The first entry whose key was seen before, named by its path and the earlier one's.
fn no_duplicates<'p>(entries: impl Iterator<Item = (&'p String, String)>) -> Result<(), String> {
    let mut seen: BTreeMap<String, &'p String> = BTreeMap::new();
    for (path, key) in entries {
        if let Some(first) = seen.get(&key) {
            return Err(format!("`{path}`: `{}` is listed twice (also at `{first}`)", shown(&key)));
        }
        seen.insert(key, path);
    }
    Ok(())
}

/// A value quoted in a message: control characters escaped, everything else as written.
fn shown(s: &str) -> String {
    s.chars().map(|c| if c.is_control() { c.escape_default().to_string() } else { c.to_string() }).collect()
}

#[cfg(test)]
pub mod tests {
    use serde_json::json;

    use super::*;
    use crate::core::config::BUNDLED_SCOPE_CATALOG;

    pub fn sample() -> Value {
        json!({
            "schema": 1, "name": "Acme", "mcp_enabled": true,
            "allowed_redirect_uris": ["http://localhost:3118/callback"],
            "allowed_client_ids": [],
            "scope_ceiling": ["WORKSPACE_READ", "CONTACTS_READ"],
            "members": [{"email": "Ada@Example.com", "name": "Ada", "role": "admin"}]
        })
    }

    pub fn sample_json() -> String {
        sample().to_string()
    }

    fn parse(json: &str) -> Result<WorkspacePolicy, PolicyError> {
        WorkspacePolicy::parse(&"acme".into(), json, &ScopeCatalog::parse(BUNDLED_SCOPE_CATALOG).unwrap())
    }

    /// The message for the sample changed by `edit`; it must fail and name the workspace.
    fn rejection(edit: impl FnOnce(&mut Value)) -> String {
        let mut doc = sample();
        edit(&mut doc);
        let err = parse(&doc.to_string()).expect_err("the edited document must be refused");
        assert!(err.to_string().starts_with("The policy of workspace `acme` is invalid: "), "{err}");
        err.message
    }

    #[test]
    fn sample_parses_and_members_match_case_insensitively() {
        let p = parse(&sample_json()).unwrap();
        assert!(p.member(&"ada@example.com".into()).is_some());
        assert!(p.member(&" ADA@example.COM ".into()).is_some());
        assert!(p.member(&"bob@example.com".into()).is_none());
    }

    #[test]
    fn members_with_a_subject_sign_in_only_as_that_subject() {
        let mut doc = sample();
        doc["members"] =
            json!([{"email": "ada@example.com", "role": "admin"}, {"email": "nora@example.com", "role": "member", "sub": "u-nora"}]);
        let p = parse(&doc.to_string()).unwrap();
        let who = |sub: Option<&str>, email: Option<&str>| Identity { subject: sub.map(str::to_string), email: email.map(Email::from) };
        let email_of = |i: &Identity| p.member_for(i).map(|m| m.email.to_string());
        assert_eq!(email_of(&who(Some("u-ada"), Some("ada@example.com"))).as_deref(), Some("ada@example.com"), "by verified e-mail");
        assert_eq!(email_of(&who(Some("u-nora"), None)).as_deref(), Some("nora@example.com"), "by subject, no e-mail needed");
        assert_eq!(email_of(&who(Some("u-other"), Some("nora@example.com"))), None, "a member with a subject is not matched by e-mail");
        assert_eq!(email_of(&who(None, None)), None);
        assert!(rejection(|d| d["members"][0]["sub"] = json!("")).contains("`members[0].sub` must be 1–255 characters"));
        let twice = rejection(|d| {
            d["members"] = json!([{"email": "a@example.com", "role": "admin", "sub": "u-1"}, {"email": "b@example.com", "role": "member", "sub": "u-1"}])
        });
        assert!(twice.contains("members[1].sub"), "{twice}");
        assert_eq!(p.members[0].email.as_str(), "ada@example.com");
        let mut doc = sample();
        doc.as_object_mut().unwrap().remove("allowed_client_ids");
        doc["members"] = json!([{"email": "bob@example.com", "role": "member"}, {"email": "x@localhost", "name": " ", "role": "admin"}]);
        doc["allowed_client_ids"] = json!(["pinned-client_1.x"]);
        let p = parse(&doc.to_string()).unwrap();
        assert_eq!(p.members[0].name, "bob@example.com", "no name: the e-mail");
        assert_eq!(p.members[1].name, "x@localhost", "a blank name: the e-mail");
        assert_eq!(p.allowed_client_ids, [ClientId::parse("pinned-client_1.x").unwrap()]);
        assert!(p.allows_client(&ClientId::parse("pinned-client_1.x").unwrap()));
        assert!(!p.allows_client(&ClientId::parse("pinned-client_1").unwrap()));
    }

    #[test]
    fn allowed_client_ids_may_be_omitted() {
        let mut doc = sample();
        doc.as_object_mut().unwrap().remove("allowed_client_ids");
        assert!(parse(&doc.to_string()).unwrap().allowed_client_ids.is_empty());
    }

    #[test]
    fn redirect_uris_must_be_absolute_without_fragment_or_user_info() {
        let m = rejection(|d| d["allowed_redirect_uris"] = json!(["http://localhost:3118/callback", "/callback"]));
        assert!(m.starts_with("`allowed_redirect_uris[1]`: `/callback` is not an absolute URI"), "{m}");
        let m = rejection(|d| d["allowed_redirect_uris"] = json!(["http://localhost:3118/callback#f"]));
        assert!(m.starts_with("`allowed_redirect_uris[0]`:") && m.contains("fragment"), "{m}");
        let m = rejection(|d| d["allowed_redirect_uris"] = json!(["https://user@example.com/cb"]));
        assert!(m.starts_with("`allowed_redirect_uris[0]`:") && m.contains("user information"), "{m}");
        let m = rejection(|d| d["allowed_redirect_uris"] = json!(["https://example.com/a b"]));
        assert!(m.starts_with("`allowed_redirect_uris[0]`:") && m.contains("whitespace"), "{m}");
    }

    #[test]
    fn unknown_scopes_are_named_with_their_index() {
        let m = rejection(|d| d["scope_ceiling"] = json!(["WORKSPACE_READ", "WORKSPACE_READS"]));
        assert_eq!(m, "`scope_ceiling[1]`: unknown scope `WORKSPACE_READS`");
    }

    #[test]
    fn member_emails_must_be_plausible() {
        let m = rejection(|d| d["members"][0]["email"] = json!(""));
        assert_eq!(m, "`members[0].email` is empty");
        for (bad, why) in [
            ("@", "is not an e-mail address"),
            ("ada@", "is not an e-mail address"),
            ("@example.com", "is not an e-mail address"),
            ("ada", "is not an e-mail address"),
            ("a@b@example.com", "is not an e-mail address"),
            ("bob@example.com admin", "contains whitespace"),
            (" ada@example.com", "contains whitespace"),
            ("ada@example.com\u{7}", "contains whitespace or control characters"),
        ] {
            let m = rejection(|d| d["members"] = json!([{"email": "ok@example.com", "role": "admin"}, {"email": bad, "role": "member"}]));
            assert!(m.starts_with("`members[1].email`: `"), "{bad}: {m}");
            assert!(m.contains(why), "{bad}: {m}");
        }
        let long = format!("{}@example.com", "a".repeat(243));
        assert_eq!(long.len(), 255);
        let m = rejection(|d| d["members"][0]["email"] = json!(long));
        assert!(m.starts_with("`members[0].email`:") && m.ends_with("is longer than 254 characters"), "{m}");
        assert!(parse(&{
            let mut d = sample();
            d["members"][0]["email"] = json!(&long[1..]);
            d.to_string()
        })
        .is_ok());
    }

    #[test]
    fn pinned_client_ids_must_be_client_ids() {
        for bad in ["", "has space", "tab\tbed", "é-not-ascii"] {
            let m = rejection(|d| d["allowed_client_ids"] = json!(["ok", bad]));
            assert!(m.starts_with("`allowed_client_ids[1]`: `") && m.contains("is not a client ID"), "{bad:?}: {m}");
        }
        let m = rejection(|d| d["allowed_client_ids"] = json!(["x".repeat(257)]));
        assert!(m.starts_with("`allowed_client_ids[0]`:"), "{m}");
        assert!(parse(&{
            let mut d = sample();
            d["allowed_client_ids"] = json!(["x".repeat(256)]);
            d.to_string()
        })
        .is_ok());
    }

    #[test]
    fn duplicates_are_refused_in_every_list() {
        let cb = "http://localhost:3118/callback";
        let m = rejection(|d| d["allowed_redirect_uris"] = json!([cb, "http://localhost:4000/cb", cb]));
        assert_eq!(m, format!("`allowed_redirect_uris[2]`: `{cb}` is listed twice (also at `allowed_redirect_uris[0]`)"));
        let m = rejection(|d| d["allowed_client_ids"] = json!(["a", "a"]));
        assert_eq!(m, "`allowed_client_ids[1]`: `a` is listed twice (also at `allowed_client_ids[0]`)");
        let m = rejection(|d| d["scope_ceiling"] = json!(["CONTACTS_READ", "CONTACTS_READ"]));
        assert_eq!(m, "`scope_ceiling[1]`: `CONTACTS_READ` is listed twice (also at `scope_ceiling[0]`)");
        let m = rejection(|d| {
            d["members"] = json!([{"email": "ada@example.com", "role": "admin"}, {"email": "ADA@Example.COM", "role": "member"}])
        });
        assert_eq!(m, "`members[1].email`: `ada@example.com` is listed twice (also at `members[0].email`)");
        // Client IDs are case-sensitive: these two are different clients.
        assert!(parse(&{
            let mut d = sample();
            d["allowed_client_ids"] = json!(["abc", "ABC"]);
            d.to_string()
        })
        .is_ok());
    }

    #[test]
    fn unknown_fields_are_named_with_their_path() {
        let m = rejection(|d| d["extra"] = json!(1));
        assert!(m.starts_with("`extra` is not a known field (known: `schema`, `name`"), "{m}");
        let m = rejection(|d| {
            d["members"] =
                json!([{"email": "ada@example.com", "role": "admin"}, {"email": "bob@example.com", "role": "member", "admin": true}])
        });
        assert_eq!(m, "`members[1].admin` is not a known field (known: `email`, `name`, `role`, `sub`)");
    }

    #[test]
    fn wrong_types_are_named_with_their_path() {
        assert_eq!(rejection(|d| d["mcp_enabled"] = json!("yes")), "`mcp_enabled` must be a boolean (true or false), not the string `yes`");
        assert_eq!(rejection(|d| d["name"] = json!(7)), "`name` must be a string, not the number 7");
        assert_eq!(
            rejection(|d| d["allowed_redirect_uris"] = json!("http://x")),
            "`allowed_redirect_uris` must be an array, not the string `http://x`"
        );
        assert_eq!(rejection(|d| d["allowed_client_ids"] = json!(null)), "`allowed_client_ids` must be an array, not null");
        assert_eq!(
            rejection(|d| d["scope_ceiling"] = json!(["CONTACTS_READ", 3])),
            "`scope_ceiling[1]` must be a string, not the number 3"
        );
        assert_eq!(rejection(|d| d["members"][0]["role"] = json!("owner")), "`members[0].role` must be `admin` or `member`, not `owner`");
        assert_eq!(rejection(|d| d["members"][0]["role"] = json!(true)), "`members[0].role` must be a string, not the boolean true");
        assert_eq!(rejection(|d| d["members"][0]["name"] = json!(null)), "`members[0].name` must be a string, not null");
        assert_eq!(
            rejection(|d| d["members"] = json!(["ada@example.com"])),
            "`members[0]` must be an object, not the string `ada@example.com`"
        );
    }

    #[test]
    fn missing_fields_are_named_with_their_path() {
        for field in ["name", "mcp_enabled", "allowed_redirect_uris", "scope_ceiling", "members"] {
            assert_eq!(rejection(|d| drop(d.as_object_mut().unwrap().remove(field))), format!("`{field}` is missing"));
        }
        let m = rejection(|d| drop(d["members"][0].as_object_mut().unwrap().remove("role")));
        assert_eq!(m, "`members[0].role` is missing");
        let m = rejection(|d| drop(d["members"][0].as_object_mut().unwrap().remove("email")));
        assert_eq!(m, "`members[0].email` is missing");
        assert_eq!(rejection(|d| d["name"] = json!("  ")), "`name` must not be empty");
    }

    #[test]
    fn another_schema_version_is_reported_before_anything_else() {
        let m = rejection(|d| {
            d["schema"] = json!(2);
            d["new_field_of_schema_2"] = json!(true);
            d["mcp_enabled"] = json!("later");
        });
        assert_eq!(m, "`schema` is 2, this server reads schema 1");
        assert_eq!(rejection(|d| d["schema"] = json!("1")), "`schema` must be the number 1, not the string `1`");
        assert_eq!(rejection(|d| d["schema"] = json!(1.5)), "`schema` is 1.5, this server reads schema 1");
        let one_point_zero = sample_json().replace("\"schema\":1", "\"schema\":1.0");
        assert!(one_point_zero.contains("1.0") && parse(&one_point_zero).is_ok(), "1.0 is the number 1");
        let m = rejection(|d| drop(d.as_object_mut().unwrap().remove("schema")));
        assert_eq!(m, "`schema` is missing (this server reads schema 1)");
    }

    #[test]
    fn not_a_json_object() {
        assert!(parse("not json").unwrap_err().message.starts_with("the document is not JSON ("));
        assert_eq!(parse("[1]").unwrap_err().message, "the document must be a JSON object, not an array");
    }
}

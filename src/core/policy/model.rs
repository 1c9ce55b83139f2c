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
use crate::core::text;

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

pub const FIELDS: [&str; 7] = ["schema", "name", "mcp_enabled", "allowed_redirect_uris", "allowed_client_ids", "scope_ceiling", "members"];
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
    shown_name("name", name, 200)?;
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
        // As long as an e-mail address: a member's name defaults to theirs.
        shown_name(&format!("{path}.name"), name, crate::core::ids::MAX_EMAIL_LEN)?;
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

/// Names are shown on the consent, sign-in and admin pages: no control or invisible
/// formatting characters (`crate::core::text`), and at most `max` characters.
fn shown_name(path: &str, name: &str, max: usize) -> Result<(), String> {
    if let Some(c) = text::first_hidden(name) {
        return Err(format!("`{path}` contains {c}, a control or invisible formatting character; remove it"));
    }
    if name.chars().count() > max {
        return Err(format!("`{path}` must be at most {max} characters"));
    }
    Ok(())
}

/// A value quoted in a message: control characters escaped, everything else as written.
fn shown(s: &str) -> String {
    s.chars().map(|c| if c.is_control() { c.escape_default().to_string() } else { c.to_string() }).collect()
}

#[cfg(test)]
pub mod tests;

//! Scopes: the deployment's catalog, parsed scope sets, and the inclusion rules
//! (a `_WRITE` scope includes its `_READ`; `ALL` includes everything).
use std::collections::BTreeSet;

use serde::Deserialize;

/// `offline_access` asks for a refresh token; it is never counted against a workspace's ceiling.
pub const OFFLINE_ACCESS: &str = "offline_access";

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ScopeDef {
    pub name: String,
    pub description: String,
}

/// The scopes this deployment knows, with the descriptions the consent page shows.
#[derive(Debug, Clone, PartialEq)]
pub struct ScopeCatalog {
    defs: Vec<ScopeDef>,
    all: Option<String>,
}

impl ScopeCatalog {
    /// Parses the `SCOPE_CATALOG` configuration: a JSON array of `{name, description}`.
    /// A scope named `ALL` includes every other scope.
    pub fn parse(json: &str) -> Result<ScopeCatalog, String> {
        let defs: Vec<ScopeDef> = serde_json::from_str(json).map_err(|e| format!("SCOPE_CATALOG is not valid: {e}"))?;
        let mut seen = BTreeSet::new();
        for def in &defs {
            if !is_scope_token(&def.name) || def.name == OFFLINE_ACCESS {
                return Err(format!("SCOPE_CATALOG: `{}` is not a usable scope name", def.name));
            }
            if !seen.insert(def.name.as_str()) {
                return Err(format!("SCOPE_CATALOG: `{}` appears twice", def.name));
            }
        }
        let all = defs.iter().find(|d| d.name == "ALL").map(|d| d.name.clone());
        Ok(ScopeCatalog { defs, all })
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.defs.iter().map(|d| d.name.as_str())
    }

    pub fn contains(&self, name: &str) -> bool {
        self.defs.iter().any(|d| d.name == name)
    }

    pub fn description(&self, name: &str) -> Option<&str> {
        self.defs.iter().find(|d| d.name == name).map(|d| d.description.as_str())
    }

    /// Does holding `held` grant `wanted`?
    pub fn implies(&self, held: &str, wanted: &str) -> bool {
        if held == wanted || self.all.as_deref() == Some(held) {
            return true;
        }
        match (held.strip_suffix("_WRITE"), wanted.strip_suffix("_READ")) {
            (Some(a), Some(b)) => a == b,
            _ => false,
        }
    }

    /// Parses a space-separated `scope` parameter (RFC 6749 §3.3). `offline_access` is kept
    /// apart; unknown names are an error naming them.
    pub fn parse_request(&self, raw: &str) -> Result<RequestedScopes, String> {
        let mut scopes = ScopeSet::default();
        let mut offline = false;
        let mut unknown = Vec::new();
        for token in raw.split(' ').filter(|t| !t.is_empty()) {
            if token == OFFLINE_ACCESS {
                offline = true;
            } else if self.contains(token) {
                scopes.0.insert(token.to_string());
            } else {
                unknown.push(crate::core::text::quoted(token));
            }
        }
        if unknown.is_empty() {
            Ok(RequestedScopes { scopes, offline_access: offline })
        } else {
            Err(format!("Unknown scope: {}", unknown.join(", ")))
        }
    }

    /// The scopes in `set` that are not covered by `ceiling`.
    pub fn excess(&self, set: &ScopeSet, ceiling: &ScopeSet) -> Vec<String> {
        set.iter().filter(|s| !ceiling.iter().any(|c| self.implies(c, s))).map(str::to_string).collect()
    }

    /// The largest set both `a` and `b` grant: what a token granted `a` may do while the
    /// workspace's ceiling is `b`.
    pub fn meet(&self, a: &ScopeSet, b: &ScopeSet) -> ScopeSet {
        let from_a = a.iter().filter(|s| b.iter().any(|h| self.implies(h, s)));
        let from_b = b.iter().filter(|s| a.iter().any(|h| self.implies(h, s)));
        ScopeSet(from_a.chain(from_b).map(str::to_string).collect())
    }
}

/// RFC 6749 §3.3 scope-token: printable ASCII except space, `"` and `\`.
fn is_scope_token(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b == 0x21 || (0x23..=0x5B).contains(&b) || (0x5D..=0x7E).contains(&b))
}

/// A set of catalog scopes (never `offline_access`), ordered for stable output.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScopeSet(BTreeSet<String>);

impl ScopeSet {
    /// Builds a set from names already known to be in the catalog (stored grants, policies
    /// validated on load).
    pub fn from_trusted<I: IntoIterator<Item = S>, S: Into<String>>(names: I) -> ScopeSet {
        ScopeSet(names.into_iter().map(Into::into).collect())
    }

    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(String::as_str)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn to_vec(&self) -> Vec<String> {
        self.0.iter().cloned().collect()
    }

    /// Space-separated, as the `scope` parameter and claim carry it.
    pub fn to_param(&self) -> String {
        self.to_vec().join(" ")
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestedScopes {
    pub scopes: ScopeSet,
    pub offline_access: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    pub fn catalog() -> ScopeCatalog {
        ScopeCatalog::parse(include_str!("../../config/scopes.json")).expect("sample catalog parses")
    }

    #[test]
    fn write_includes_read_and_all_includes_everything() {
        let c = catalog();
        assert!(c.implies("CONTACTS_WRITE", "CONTACTS_READ"));
        assert!(!c.implies("CONTACTS_READ", "CONTACTS_WRITE"));
        assert!(!c.implies("CONTACTS_WRITE", "COMPANIES_READ"));
        assert!(c.implies("ALL", "INBOX_WRITE"));
        assert!(!c.implies("INBOX_WRITE", "ALL"));
    }

    #[test]
    fn parse_request_separates_offline_access_and_names_unknown_scopes() {
        let c = catalog();
        let r = c.parse_request("CONTACTS_READ  offline_access").unwrap();
        assert_eq!(r.scopes.to_param(), "CONTACTS_READ");
        assert!(r.offline_access);
        assert_eq!(c.parse_request("CONTACTS_READ nope x").unwrap_err(), "Unknown scope: nope, x");
        assert!(c.parse_request("").unwrap().scopes.is_empty());
    }

    #[test]
    fn excess_and_meet_follow_inclusion() {
        let c = catalog();
        let ceiling = ScopeSet::from_trusted(["CONTACTS_WRITE", "WORKSPACE_READ"]);
        let asked = ScopeSet::from_trusted(["CONTACTS_READ", "COMPANIES_READ"]);
        assert_eq!(c.excess(&asked, &ceiling), vec!["COMPANIES_READ"]);
        let granted = ScopeSet::from_trusted(["ALL"]);
        assert_eq!(c.meet(&granted, &ceiling).to_param(), "CONTACTS_WRITE WORKSPACE_READ");
        let narrowed = ScopeSet::from_trusted(["CONTACTS_READ"]);
        assert_eq!(c.meet(&ScopeSet::from_trusted(["CONTACTS_WRITE"]), &narrowed).to_param(), "CONTACTS_READ");
    }

    #[test]
    fn catalog_rejects_bad_names_and_duplicates() {
        assert!(ScopeCatalog::parse(r#"[{"name":"A B","description":"x"}]"#).is_err());
        assert!(ScopeCatalog::parse(r#"[{"name":"A","description":"x"},{"name":"A","description":"y"}]"#).is_err());
        assert!(ScopeCatalog::parse(r#"[{"name":"offline_access","description":"x"}]"#).is_err());
    }
}

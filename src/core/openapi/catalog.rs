//! A built tool catalog with where it came from, as the MCP layer uses it.
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use serde_json::Value;

use super::required_scopes::ALL;
use super::to_tools::{self, ApiTool};
use crate::core::scopes::ScopeCatalog;

#[derive(Debug, Clone, Default)]
pub struct ApiCatalog {
    pub tools: Vec<ApiTool>,
    /// Where calls go: the configured base URL, else the document's first `servers[].url`.
    pub base_url: Option<String>,
    /// Why there are no (or fewer) tools: shown in logs, and in `mcp_whoami`.
    pub problems: Vec<String>,
    /// `visible`'s answers, by scope set.
    visible: RefCell<HashMap<Vec<String>, Rc<[usize]>>>,
}

/// Scope sets whose visible tools a catalog remembers (a workspace's members hold a few).
const VISIBLE_SETS: usize = 64;

impl ApiCatalog {
    /// Builds the catalog from a document's text. Never fails: a bad document yields no tools
    /// and says why, so `mcp_whoami` keeps working.
    pub fn from_document(text: &str, base_url: Option<&str>, scopes: &ScopeCatalog) -> ApiCatalog {
        let doc: Value = match serde_json::from_str(text) {
            Ok(d) => d,
            Err(e) => {
                let yaml = text.trim_start().starts_with("openapi:") || text.trim_start().starts_with("---");
                let hint = if yaml { " (it looks like YAML: serve or bundle the JSON form of the document)" } else { "" };
                return ApiCatalog::failed(format!("the OpenAPI document is not valid JSON{hint}: {e}"));
            }
        };
        let built = match to_tools::build(&doc) {
            Ok(b) => b,
            Err(e) => return ApiCatalog::failed(format!("the OpenAPI document cannot be used: {e}")),
        };
        let mut problems = built.skipped.iter().map(|s| format!("operation skipped: {s}")).collect::<Vec<_>>();
        problems.extend(built.notes);
        problems.extend(built.tools.iter().filter_map(|t| unknown_scope(t, scopes)));
        let base_url = base_url.map(str::to_string).or_else(|| doc.pointer("/servers/0/url").and_then(Value::as_str).map(str::to_string));
        if base_url.is_none() {
            problems.push("no upstream base URL: set UPSTREAM_BASE_URL or `servers` in the document".into());
        }
        ApiCatalog { tools: built.tools, base_url, problems, visible: RefCell::default() }
    }

    pub fn failed(problem: String) -> ApiCatalog {
        ApiCatalog { tools: Vec::new(), base_url: None, problems: vec![problem], visible: RefCell::default() }
    }

    /// The indices of the tools `held` allows (`allows`), worked out once per scope set per
    /// catalog: a catalog is built once per document version per isolate, and `tools/list` and
    /// `mcp_whoami` ask on every call.
    pub fn visible(&self, held: &[String], scopes: &ScopeCatalog) -> Rc<[usize]> {
        if let Some(known) = self.visible.borrow().get(held) {
            return known.clone();
        }
        let found: Rc<[usize]> = self.tools.iter().enumerate().filter(|(_, t)| Self::allows(t, held, scopes)).map(|(i, _)| i).collect();
        let mut memo = self.visible.borrow_mut();
        if memo.len() >= VISIBLE_SETS {
            memo.clear();
        }
        memo.insert(held.to_vec(), found.clone());
        found
    }

    pub fn tool(&self, name: &str) -> Option<&ApiTool> {
        self.tools.iter().find(|t| t.name == name)
    }

    /// Does holding `held` let a connection see and call `tool`?
    pub fn allows(tool: &ApiTool, held: &[String], scopes: &ScopeCatalog) -> bool {
        tool.required_scopes.met_by(held, scopes).is_some()
    }
}

/// A scope the tool requires that the deployment does not know: no token can hold it, so only
/// `ALL` (which includes everything) meets that requirement.
fn unknown_scope(tool: &ApiTool, scopes: &ScopeCatalog) -> Option<String> {
    let unknown = tool.required_scopes.names().into_iter().find(|s| !scopes.contains(s))?;
    Some(if unknown == ALL {
        format!("tool {}: requires ALL, which is not in the scope catalog; no one can call it", tool.name)
    } else if tool.required_scopes.alternatives().len() > 1 {
        format!("tool {}: required scope {unknown} is not in the scope catalog; only ALL meets the alternatives naming it", tool.name)
    } else {
        format!("tool {}: required scope {unknown} is not in the scope catalog; only ALL can call it", tool.name)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::config::BUNDLED_SCOPE_CATALOG;

    const SAMPLE: &str = include_str!("../../../config/openapi.json");

    #[test]
    fn visible_tools_are_the_allowed_ones_remembered_per_scope_set() {
        let scopes = ScopeCatalog::parse(BUNDLED_SCOPE_CATALOG).unwrap();
        let catalog = ApiCatalog::from_document(SAMPLE, None, &scopes);
        for held in [vec![], vec!["CONTACTS_READ".to_string()], vec!["ALL".to_string()]] {
            let expected: Vec<usize> =
                (0..catalog.tools.len()).filter(|&i| ApiCatalog::allows(&catalog.tools[i], &held, &scopes)).collect();
            assert_eq!(&*catalog.visible(&held, &scopes), expected.as_slice());
            assert!(Rc::ptr_eq(&catalog.visible(&held, &scopes), &catalog.visible(&held, &scopes)), "remembered");
        }
        for n in 0..VISIBLE_SETS + 1 {
            catalog.visible(&[format!("S{n}")], &scopes);
        }
        assert!(catalog.visible.borrow().len() <= VISIBLE_SETS, "bounded");
    }

    #[test]
    fn the_sample_document_becomes_a_clean_catalog() {
        let scopes = ScopeCatalog::parse(BUNDLED_SCOPE_CATALOG).unwrap();
        let c = ApiCatalog::from_document(SAMPLE, None, &scopes);
        assert!(c.problems.is_empty(), "{:?}", c.problems);
        assert_eq!(c.tools.len(), 36);
        assert_eq!(c.base_url.as_deref(), Some("http://127.0.0.1:4010"));
        let names: std::collections::BTreeSet<&str> = c.tools.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names.len(), 36, "names are unique");
        assert!(names.contains("delete_lists_list_id_contacts_contact_id"), "no summary: method and path");
        assert!(names.contains("update_conversation") && names.contains("update_conversation_2"), "a shared summary is made unique");
        assert!(c.tools.iter().all(|t| t.required_scopes.alternatives().len() == 1 && t.required_scopes.names().len() == 1));
        let search = c.tool("search_contacts").unwrap();
        let filter = &search.input_schema["properties"]["body"]["properties"]["filter"];
        assert_eq!(filter["properties"]["and"]["items"]["description"], "SearchFilter (recursive; see its definition above)");
        let get = c.tool("get_a_contact").unwrap();
        assert_eq!(get.input_schema["required"], serde_json::json!(["pathParams"]));
        assert_eq!(get.definition()["annotations"]["readOnlyHint"], true);
    }

    #[test]
    fn authorization_fails_closed() {
        let scopes = ScopeCatalog::parse(BUNDLED_SCOPE_CATALOG).unwrap();
        let doc = r#"{"openapi": "3.1.0", "servers": [{"url": "https://api.example"}], "paths": {
            "/open": {"get": {"summary": "Open", "description": "Anyone? No."}},
            "/odd": {"get": {"summary": "Odd", "description": "**Required scope:** LEGACY_READ"}},
            "/either": {"get": {"summary": "Either", "description": "**Required scope:** CONTACTS_READ or LEGACY_READ"}}
        }}"#;
        let c = ApiCatalog::from_document(doc, None, &scopes);
        assert_eq!(
            c.problems,
            vec![
                "operation GET /open (tool open) has no **Required scope:** line; only ALL can call it",
                "tool either: required scope LEGACY_READ is not in the scope catalog; only ALL meets the alternatives naming it",
                "tool odd: required scope LEGACY_READ is not in the scope catalog; only ALL can call it",
            ]
        );
        let held = |s: &[&str]| s.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let reader = held(&["CONTACTS_WRITE", "WORKSPACE_READ", "CAMPAIGNS_WRITE", "LISTS_WRITE", "COMPANIES_WRITE", "INBOX_WRITE"]);
        let open = c.tool("open").unwrap();
        assert!(!ApiCatalog::allows(open, &reader, &scopes), "no scope line: not visible to a non-ALL token");
        assert!(!ApiCatalog::allows(open, &[], &scopes));
        assert!(ApiCatalog::allows(open, &held(&["ALL"]), &scopes));
        assert!(ApiCatalog::allows(c.tool("either").unwrap(), &held(&["CONTACTS_READ"]), &scopes));
        assert!(!ApiCatalog::allows(c.tool("odd").unwrap(), &reader, &scopes));
    }

    #[test]
    fn a_bad_document_yields_no_tools_and_says_why() {
        let scopes = ScopeCatalog::parse(BUNDLED_SCOPE_CATALOG).unwrap();
        let c = ApiCatalog::from_document("{not json", None, &scopes);
        assert!(c.tools.is_empty());
        assert!(c.problems[0].contains("not valid JSON"));
        let c = ApiCatalog::from_document("openapi: 3.1.0\npaths: {}\n", None, &scopes);
        assert!(c.problems[0].contains("it looks like YAML"), "{:?}", c.problems);
        let c = ApiCatalog::from_document(r#"{"swagger": "2.0"}"#, None, &scopes);
        assert!(c.problems[0].contains("OpenAPI 3.0/3.1"));
    }
}

//! OpenAPI → tools (`ApiCatalog::from_document`: JSON, then `to_tools::build`), as each isolate
//! builds its catalog from the product's document. Input: the document's text.
//!
//! Properties: nothing panics, and a document with operations that yields no tools says why; tool names are
//! unique, `[a-z0-9_]{1,64}`, never a native tool's; each tool's cached `listing` is its
//! `definition()` serialized; every input schema is an object schema; which tools a scope set
//! sees is answered the same way twice (the cache) and agrees with `allows`.
#![no_main]

use std::collections::BTreeSet;

use libfuzzer_sys::fuzz_target;
use mcp_edge::core::mcp::tools::NATIVE_TOOLS;
use mcp_edge::core::openapi::catalog::ApiCatalog;
use mcp_edge_fuzz::{catalog, text};
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let Some(doc) = text(data) else { return };
    let api = ApiCatalog::from_document(doc, None, catalog());
    if api.tools.is_empty() && operations(doc) > 0 {
        assert!(!api.problems.is_empty(), "operations, no tools and no reason");
    }
    let mut names = BTreeSet::new();
    for tool in &api.tools {
        let name = tool.name.as_str();
        assert!(!name.is_empty() && name.len() <= 64, "{name:?}");
        assert!(name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'), "{name:?}");
        assert!(!NATIVE_TOOLS.contains(&name), "{name} is a native tool's name");
        assert!(names.insert(name), "{name} twice");
        assert!(matches!(tool.method.as_str(), "GET" | "POST" | "PUT" | "PATCH" | "DELETE"));
        let listing: Value = serde_json::from_str(&tool.listing).expect("a listing is JSON");
        assert_eq!(listing, tool.definition(), "the cached listing of {name} is stale");
        assert_eq!(tool.input_schema.get("type").and_then(Value::as_str), Some("object"), "{name}: {}", tool.input_schema);
        for p in &tool.path_params {
            assert!(tool.path.contains(&format!("{{{}}}", p.name)), "{name}: path parameter {} not in {}", p.name, tool.path);
        }
    }
    for held in [vec![], vec!["WORKSPACE_READ".to_string()], vec!["CONTACTS_WRITE".to_string()], vec!["ALL".to_string()]] {
        let first = api.visible(&held, catalog());
        assert_eq!(first, api.visible(&held, catalog()));
        let allowed: Vec<usize> = (0..api.tools.len()).filter(|&i| ApiCatalog::allows(&api.tools[i], &held, catalog())).collect();
        assert_eq!(&*first, allowed.as_slice(), "visible disagrees with allows for {held:?}");
    }
});

/// The operations a document has (GET … DELETE under `paths`, through a path item's `$ref`);
/// a `$ref` that resolves nowhere counts as one (it must be reported).
fn operations(doc: &str) -> usize {
    let Ok(doc) = serde_json::from_str::<Value>(doc) else { return 1 };
    let Some(paths) = doc.get("paths").and_then(Value::as_object) else { return 1 };
    let methods = ["get", "post", "put", "patch", "delete"];
    let count = |item: &Value| methods.iter().filter(|m| item.get(**m).is_some()).count();
    paths
        .values()
        .map(|item| match item.get("$ref").and_then(Value::as_str) {
            None => count(item),
            Some(r) => r.strip_prefix('#').and_then(|p| doc.pointer(p)).map_or(1, count),
        })
        .sum()
}

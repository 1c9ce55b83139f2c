//! Method dispatch for one JSON-RPC request (stateless: every POST stands alone).
use serde_json::{json, Value};

use crate::core::mcp::jsonrpc::{self, RpcError, INVALID_PARAMS, METHOD_NOT_FOUND};
use crate::core::mcp::tools::{self, ApiToolsStatus, Caller};

/// Newest first. 2025-11-25 is what the TypeScript SDK and Claude Code speak.
pub const SUPPORTED_VERSIONS: [&str; 3] = ["2025-11-25", "2025-06-18", "2025-03-26"];
pub const LATEST_VERSION: &str = SUPPORTED_VERSIONS[0];
/// Streamable HTTP: without an `MCP-Protocol-Version` header, assume 2025-03-26.
pub const DEFAULT_HEADER_VERSION: &str = "2025-03-26";

pub fn version_supported(v: &str) -> bool {
    SUPPORTED_VERSIONS.contains(&v)
}

/// The OpenAPI tools as one caller sees them; empty for methods that do not need them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ApiView<'a> {
    /// The serialized definitions (`ApiTool::listing`) of the tools this caller may use, listed
    /// after the native ones.
    pub listings: Vec<&'a str>,
    /// What `mcp_whoami` says about them.
    pub status: ApiToolsStatus,
}

/// Is this `tools/call` for a native tool? Those are answered here, before any API tool is
/// looked up (the catalog reserves their names too).
pub fn calls_native_tool(params: Option<&Value>) -> bool {
    params.and_then(|p| p.get("name")).and_then(Value::as_str).is_some_and(|name| tools::NATIVE_TOOLS.contains(&name))
}

/// Answers one request with the serialized JSON-RPC response. An error is a JSON-RPC error
/// (unroutable request or bad params); tool failures are `isError` results instead. Calls of
/// API tools are answered by the app layer, which must intercept them (after
/// `calls_native_tool`).
pub fn handle(id: &Value, method: &str, params: Option<&Value>, caller: &Caller, now: i64, api: &ApiView) -> String {
    if method == "tools/list" {
        return tools_list(id, api);
    }
    match dispatch(method, params, caller, now, api) {
        Ok(result) => jsonrpc::success(id, result),
        Err((code, message)) => RpcError::new(id.clone(), code, message).to_json(),
    }
    .to_string()
}

/// `tools/list`: the native tools, then the API tools' definitions as serialized when the
/// catalog was built. For a token that sees all 324 tools of the benchmark document (220 KB)
/// this is a copy of bytes, not a rebuild and reserialization of every schema (`make bench`).
fn tools_list(id: &Value, api: &ApiView) -> String {
    let mut out = format!(r#"{{"jsonrpc":"2.0","id":{id},"result":{{"tools":[{}"#, tools::whoami_definition());
    for listing in &api.listings {
        out.push(',');
        out.push_str(listing);
    }
    out.push_str("]}}");
    out
}

fn dispatch(method: &str, params: Option<&Value>, caller: &Caller, now: i64, api: &ApiView) -> Result<Value, (i64, String)> {
    match method {
        "initialize" => Ok(initialize(params)),
        "ping" => Ok(json!({})),
        // Stateless: there is no session to send log messages on, so the level is accepted and
        // nothing more (the spec lets a server send fewer messages than the level allows).
        "logging/setLevel" => match params.and_then(|p| p.get("level")).and_then(Value::as_str) {
            Some("debug" | "info" | "notice" | "warning" | "error" | "critical" | "alert" | "emergency") => Ok(json!({})),
            _ => Err((INVALID_PARAMS, "logging/setLevel needs params.level (debug … emergency)".to_string())),
        },
        "tools/call" => call_tool(params, caller, now, &api.status),
        other => Err((METHOD_NOT_FOUND, format!("Method not found: {other}"))),
    }
}

/// Version negotiation: echo the client's version when we speak it, else offer our latest.
fn initialize(params: Option<&Value>) -> Value {
    let requested = params.and_then(|p| p.get("protocolVersion")).and_then(Value::as_str);
    let version = requested.filter(|v| version_supported(v)).unwrap_or(LATEST_VERSION);
    json!({
        "protocolVersion": version,
        "capabilities": { "tools": { "listChanged": false }, "logging": {} },
        "serverInfo": { "name": "mcp-edge", "title": "mcp-edge", "version": env!("CARGO_PKG_VERSION") },
        "instructions": "Call mcp_whoami to see which user, workspace and scopes this connection uses."
    })
}

fn call_tool(params: Option<&Value>, caller: &Caller, now: i64, api: &ApiToolsStatus) -> Result<Value, (i64, String)> {
    let name =
        params.and_then(|p| p.get("name")).and_then(Value::as_str).ok_or((INVALID_PARAMS, "tools/call needs params.name".to_string()))?;
    match name {
        tools::WHOAMI => Ok(tools::whoami(caller, now, api)),
        other => Err((INVALID_PARAMS, format!("Unknown tool: {other}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `handle`, parsed back (which also checks that every answer is valid JSON).
    fn answer(id: &Value, method: &str, params: Option<&Value>, caller: &Caller, now: i64, api: &ApiView) -> Value {
        serde_json::from_str(&handle(id, method, params, caller, now, api)).expect("handle answers JSON")
    }

    #[test]
    fn tools_list_is_the_native_tools_then_the_serialized_api_listings() {
        let listing = json!({"name": "list_contacts", "inputSchema": {"type": "object"}}).to_string();
        let api = ApiView { listings: vec![listing.as_str()], status: ApiToolsStatus::default() };
        let r = answer(&json!("a\"b"), "tools/list", None, &caller(), 0, &api);
        assert_eq!(r["id"], "a\"b", "the id is written as JSON");
        let names: Vec<&str> = r["result"]["tools"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
        assert_eq!(names, vec!["mcp_whoami", "list_contacts"]);
        assert_eq!(
            answer(&json!(7), "tools/list", None, &caller(), 0, &ApiView::default())["result"]["tools"].as_array().unwrap().len(),
            1
        );
    }

    fn caller() -> Caller {
        Caller {
            user_email: "ada@example.com".into(),
            user_name: "Ada".into(),
            workspace_id: "acme".into(),
            workspace_name: "Acme".into(),
            client_id: "c1".into(),
            client_name: "Claude Code".into(),
            scopes: vec!["CONTACTS_READ".into()],
            expires_at: 1_700_003_600,
        }
    }

    #[test]
    fn initialize_negotiates_versions() {
        let r = answer(&json!(1), "initialize", Some(&json!({"protocolVersion": "2025-06-18"})), &caller(), 0, &ApiView::default());
        assert_eq!(r["result"]["protocolVersion"], "2025-06-18");
        let r = answer(&json!(1), "initialize", Some(&json!({"protocolVersion": "1999-01-01"})), &caller(), 0, &ApiView::default());
        assert_eq!(r["result"]["protocolVersion"], LATEST_VERSION);
    }

    #[test]
    fn whoami_reports_the_caller() {
        let r = answer(
            &json!("x"),
            "tools/call",
            Some(&json!({"name": "mcp_whoami", "arguments": {}})),
            &caller(),
            1_700_000_000,
            &ApiView::default(),
        );
        let s = &r["result"]["structuredContent"];
        assert_eq!(s["user"]["email"], "ada@example.com");
        assert_eq!(s["scopes"], json!(["CONTACTS_READ"]));
        assert_eq!(s["expires_at"], "2023-11-14T23:13:20Z");
        assert_eq!(s["expires_in"], 3600);
        assert!(r["result"]["content"][0]["text"].as_str().unwrap().contains("Acme"));
        assert_eq!(s["api_tools"], json!({"available": 0, "total": 0, "problems": []}));
    }

    #[test]
    fn whoami_says_why_there_are_no_api_tools() {
        let problems: Vec<String> = (1..=7).map(|i| format!("problem {i}")).collect();
        let api = ApiView { listings: vec![], status: ApiToolsStatus { available: 0, total: 3, problems } };
        let r = answer(&json!(1), "tools/call", Some(&json!({"name": "mcp_whoami"})), &caller(), 0, &api);
        let s = &r["result"]["structuredContent"];
        assert_eq!(s["api_tools"]["total"], 3);
        assert_eq!(s["api_tools"]["problems"].as_array().unwrap().len(), 5, "the first few");
        let text = r["result"]["content"][0]["text"].as_str().unwrap();
        assert!(text.contains("API tools: 0 of 3 available to this connection."), "{text}");
        assert!(text.contains("The API document has problems:\n- problem 1\n- problem 2"), "{text}");
        assert!(text.contains("(and 2 more; see the server logs)"), "{text}");
        let schema = &tools::whoami_definition()["outputSchema"];
        assert!(crate::core::openapi::validate::check(schema, s).is_empty(), "structuredContent matches outputSchema");
    }

    #[test]
    fn native_tools_are_recognised_by_name() {
        assert!(calls_native_tool(Some(&json!({"name": "mcp_whoami"}))));
        assert!(!calls_native_tool(Some(&json!({"name": "list_contacts"}))));
        assert!(!calls_native_tool(None));
    }

    #[test]
    fn unknown_methods_and_tools_are_errors() {
        assert_eq!(answer(&json!(1), "nope", None, &caller(), 0, &ApiView::default())["error"]["code"], METHOD_NOT_FOUND);
        assert_eq!(
            answer(&json!(1), "tools/call", Some(&json!({"name": "x"})), &caller(), 0, &ApiView::default())["error"]["code"],
            INVALID_PARAMS
        );
        assert_eq!(answer(&json!(1), "tools/call", None, &caller(), 0, &ApiView::default())["error"]["code"], INVALID_PARAMS);
    }
}

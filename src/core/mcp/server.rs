//! Method dispatch for one JSON-RPC request (stateless: every POST stands alone).
use serde_json::{json, Value};

use crate::core::mcp::jsonrpc::{self, RpcError, INVALID_PARAMS, METHOD_NOT_FOUND};
use crate::core::mcp::tools::{self, Caller};

/// Newest first. 2025-11-25 is what the TypeScript SDK and Claude Code speak.
pub const SUPPORTED_VERSIONS: [&str; 3] = ["2025-11-25", "2025-06-18", "2025-03-26"];
pub const LATEST_VERSION: &str = SUPPORTED_VERSIONS[0];
/// Streamable HTTP: without an `MCP-Protocol-Version` header, assume 2025-03-26.
pub const DEFAULT_HEADER_VERSION: &str = "2025-03-26";

pub fn version_supported(v: &str) -> bool {
    SUPPORTED_VERSIONS.contains(&v)
}

/// Answers one request. `Err` is a JSON-RPC error (unroutable request or bad params); tool
/// failures are `isError` results instead.
/// `api_tools` are the definitions of the OpenAPI tools this caller may use (listed after
/// `mcp_whoami`); calls to them are answered by the app layer, which must intercept them.
pub fn handle(id: &Value, method: &str, params: Option<&Value>, caller: &Caller, now: i64, api_tools: &[Value]) -> Value {
    match dispatch(method, params, caller, now, api_tools) {
        Ok(result) => jsonrpc::success(id, result),
        Err((code, message)) => RpcError::new(id.clone(), code, message).to_json(),
    }
}

fn dispatch(method: &str, params: Option<&Value>, caller: &Caller, now: i64, api_tools: &[Value]) -> Result<Value, (i64, String)> {
    match method {
        "initialize" => Ok(initialize(params)),
        "ping" => Ok(json!({})),
        // Stateless: there is no session to send log messages on, so the level is accepted and
        // nothing more (the spec lets a server send fewer messages than the level allows).
        "logging/setLevel" => match params.and_then(|p| p.get("level")).and_then(Value::as_str) {
            Some("debug" | "info" | "notice" | "warning" | "error" | "critical" | "alert" | "emergency") => Ok(json!({})),
            _ => Err((INVALID_PARAMS, "logging/setLevel needs params.level (debug … emergency)".to_string())),
        },
        "tools/list" => {
            let mut list = vec![tools::whoami_definition()];
            list.extend(api_tools.iter().cloned());
            Ok(json!({ "tools": list }))
        }
        "tools/call" => call_tool(params, caller, now),
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

fn call_tool(params: Option<&Value>, caller: &Caller, now: i64) -> Result<Value, (i64, String)> {
    let name =
        params.and_then(|p| p.get("name")).and_then(Value::as_str).ok_or((INVALID_PARAMS, "tools/call needs params.name".to_string()))?;
    match name {
        tools::WHOAMI => Ok(tools::whoami(caller, now)),
        other => Err((INVALID_PARAMS, format!("Unknown tool: {other}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let r = handle(&json!(1), "initialize", Some(&json!({"protocolVersion": "2025-06-18"})), &caller(), 0, &[]);
        assert_eq!(r["result"]["protocolVersion"], "2025-06-18");
        let r = handle(&json!(1), "initialize", Some(&json!({"protocolVersion": "1999-01-01"})), &caller(), 0, &[]);
        assert_eq!(r["result"]["protocolVersion"], LATEST_VERSION);
    }

    #[test]
    fn whoami_reports_the_caller() {
        let r = handle(&json!("x"), "tools/call", Some(&json!({"name": "mcp_whoami", "arguments": {}})), &caller(), 1_700_000_000, &[]);
        let s = &r["result"]["structuredContent"];
        assert_eq!(s["user"]["email"], "ada@example.com");
        assert_eq!(s["scopes"], json!(["CONTACTS_READ"]));
        assert_eq!(s["expires_at"], "2023-11-14T23:13:20Z");
        assert_eq!(s["expires_in"], 3600);
        assert!(r["result"]["content"][0]["text"].as_str().unwrap().contains("Acme"));
    }

    #[test]
    fn unknown_methods_and_tools_are_errors() {
        assert_eq!(handle(&json!(1), "nope", None, &caller(), 0, &[])["error"]["code"], METHOD_NOT_FOUND);
        assert_eq!(handle(&json!(1), "tools/call", Some(&json!({"name": "x"})), &caller(), 0, &[])["error"]["code"], INVALID_PARAMS);
        assert_eq!(handle(&json!(1), "tools/call", None, &caller(), 0, &[])["error"]["code"], INVALID_PARAMS);
    }
}

//! One POST to /mcp after authentication, as `app::mcp::post` handles it: `jsonrpc::parse`, the
//! era (`Era::of`, from the MCP headers and `_meta`), `ClientRequest::parse` and
//! `server::answer`, for a fixed caller who sees the conformance document's tools. Input: an
//! optional block of `name: value` header lines (`mcp-protocol-version`, `mcp-method`,
//! `mcp-name`) ended by an empty line, then the body.
//!
//! Properties: nothing panics; every answer (result or error) is one JSON-RPC 2.0 response
//! object — `jsonrpc`, `id` and exactly one of `result` / `error` — whose `id` is the request's
//! (null only when the message had no usable one), whose error codes are JSON-RPC's or MCP's,
//! and whose 2026-07-28 results say `resultType: complete`; a call of an API tool names the
//! tool the body named.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mcp_edge::core::mcp::era::{Era, McpHeaders};
use mcp_edge::core::mcp::jsonrpc::{self, envelope, Incoming, Outgoing};
use mcp_edge::core::mcp::server::{self, Answer, ApiView, ClientRequest};
use mcp_edge::core::mcp::tools::{ApiToolsStatus, Caller};
use mcp_edge::core::openapi::catalog::ApiCatalog;
use mcp_edge_fuzz::{catalog, client_id, email, workspace, EXPIRES_AT, NOW};
use serde_json::Value;

const CODES: [i64; 7] = [-32700, -32600, -32601, -32602, -32020, -32021, -32022];

thread_local! {
    static TOOLS: ApiCatalog = ApiCatalog::from_document(include_str!("../../tests/conformance/openapi.json"), None, catalog());
}

fn caller() -> Caller {
    Caller {
        user_email: email("dev@example.com"),
        user_name: "Dev User".into(),
        workspace_id: workspace("acme"),
        workspace_name: "Acme".into(),
        client_id: client_id("c1"),
        client_name: "Client".into(),
        scopes: vec!["WORKSPACE_READ".into()],
        ceiling: vec!["WORKSPACE_READ".into(), "CONTACTS_READ".into()],
        expires_at: EXPIRES_AT,
    }
}

fuzz_target!(|data: &[u8]| {
    let (head, body) = split(data);
    let header = |name: &str| head.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| *v);
    let headers = McpHeaders { protocol_version: header("mcp-protocol-version"), method: header("mcp-method"), name: header("mcp-name") };
    let (id, method, params) = match jsonrpc::parse(body) {
        Err(rejected) => {
            let text = envelope(&rejected.id, Outgoing::Error(&rejected.error));
            check_response(&text, &rejected.id, false);
            return;
        }
        Ok(Incoming::Notification { .. } | Incoming::ClientResponse) => return,
        Ok(Incoming::Request { id, method, params }) => (id, method, params),
    };
    assert!(id.is_string() || id.is_i64() || id.is_u64(), "a request ID must be a string or an integer: {id}");
    let (text, modern) = match Era::of(headers, &method, params.as_ref()) {
        Err(e) => (envelope(&id, Outgoing::Error(&e)), false),
        Ok(era) => match ClientRequest::parse(&era, &method, params.as_ref()) {
            Err(e) => (envelope(&id, Outgoing::Error(&e)), era.is_modern()),
            Ok(request) => {
                let answer = TOOLS.with(|tools| {
                    let visible = tools.visible(&caller().scopes, catalog());
                    let view = ApiView {
                        listings: visible.iter().map(|&i| tools.tools[i].listing.as_str()).collect(),
                        status: ApiToolsStatus { available: visible.len(), total: tools.tools.len(), problems: tools.problems.clone() },
                    };
                    server::answer(&id, &era, request, &caller(), NOW, &view)
                });
                match answer {
                    Answer::Response(text) => (text, era.is_modern()),
                    Answer::CallApiTool { name, .. } => {
                        let named = params.as_ref().and_then(|p| p.get("name")).and_then(Value::as_str);
                        assert_eq!(named, Some(name.as_str()), "the API tool called is not the one named");
                        (envelope(&id, Outgoing::Error(&server::unknown_tool(&name))), false)
                    }
                }
            }
        },
    };
    check_response(&text, &id, modern);
});

/// `name: value` lines up to the first empty line, then the body; no empty line → no headers.
fn split(data: &[u8]) -> (Vec<(&str, &str)>, &[u8]) {
    let Some(end) = data.windows(2).position(|w| w == b"\n\n") else { return (Vec::new(), data) };
    let Ok(head) = std::str::from_utf8(&data[..end]) else { return (Vec::new(), data) };
    let fields = head.lines().filter_map(|l| l.split_once(':')).map(|(k, v)| (k.trim(), v)).collect();
    (fields, &data[end + 2..])
}

fn check_response(text: &str, id: &Value, modern: bool) {
    let response: Value = serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"));
    let fields = response.as_object().unwrap_or_else(|| panic!("not an object: {text}"));
    assert_eq!(fields.get("jsonrpc"), Some(&Value::from("2.0")), "{text}");
    assert_eq!(fields.get("id"), Some(id), "{text}");
    assert_eq!(fields.len(), 3, "{text}");
    match (fields.get("result"), fields.get("error")) {
        (Some(result), None) => {
            assert!(result.is_object(), "{text}");
            if modern {
                assert_eq!(result.get("resultType"), Some(&Value::from("complete")), "{text}");
            }
        }
        (None, Some(error)) => {
            let code = error.get("code").and_then(Value::as_i64).unwrap_or_else(|| panic!("no integer code: {text}"));
            assert!(CODES.contains(&code), "unknown error code {code}: {text}");
            assert!(error.get("message").is_some_and(Value::is_string), "{text}");
        }
        _ => panic!("neither one result nor one error: {text}"),
    }
}

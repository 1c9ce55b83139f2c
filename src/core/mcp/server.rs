//! Method dispatch for one JSON-RPC request (stateless: every POST stands alone), in the era the
//! request speaks (`era`: 2026-07-28, or the `initialize` revisions before it).
use serde_json::{json, Value};

use crate::core::mcp::era::{Era, LEGACY_VERSIONS, META_SERVER_INFO, MODERN_VERSION, SUPPORTED_VERSIONS};
use crate::core::mcp::jsonrpc::{self, envelope, Outgoing, RpcCode, RpcError};
use crate::core::mcp::tools::{self, ApiToolsStatus, Caller, NativeTool};

/// How long a client may reuse a `tools/list` answer (`ttlMs`, 2026-07-28). The list depends on
/// the token's scopes and the workspace's ceiling (`cacheScope: "private"`), which change at the
/// pace of the policy cache and the catalog refresh; a minute keeps a revoked scope's tools from
/// being offered for long.
pub const TOOLS_TTL_MS: u64 = 60_000;
/// How long a client may reuse `server/discover`'s answer: it changes only with a deployment.
pub const DISCOVER_TTL_MS: u64 = 300_000;
const INSTRUCTIONS: &str = "Call mcp_whoami to see which user, workspace and scopes this connection uses.";

fn server_info() -> Value {
    json!({ "name": "mcp-edge", "title": "mcp-edge", "version": env!("CARGO_PKG_VERSION") })
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

/// The client requests this server serves, parsed once from the method and its params.
#[derive(Debug, Clone, PartialEq)]
pub enum ClientRequest {
    /// Legacy only: the handshake.
    Initialize {
        protocol_version: Option<String>,
    },
    /// Legacy only.
    Ping,
    /// 2026-07-28 only: what the server speaks and offers.
    Discover,
    ToolsList,
    /// `tools/call` of a tool this server answers itself.
    CallNative(NativeTool),
    /// `tools/call` of any other name: an OpenAPI tool, if the catalog has it.
    CallApiTool {
        name: String,
        arguments: Value,
    },
    /// Stateless: there is no session to send log messages on, so the level is accepted and
    /// nothing more (the spec lets a server send fewer messages than the level allows).
    SetLogLevel,
}

const LOG_LEVELS: [&str; 8] = ["debug", "info", "notice", "warning", "error", "critical", "alert", "emergency"];

impl ClientRequest {
    /// The one place a method name is matched. 2026-07-28 removed `initialize`, `ping` and
    /// `logging/setLevel` (the log level travels in each request's `_meta`); `server/discover`
    /// exists only there.
    pub fn parse(era: &Era, method: &str, params: Option<&Value>) -> Result<ClientRequest, RpcError> {
        let param = |name: &str| params.and_then(|p| p.get(name));
        match method {
            "initialize" | "ping" | "logging/setLevel" if era.is_modern() => Err(RpcError::new(
                RpcCode::MethodNotFound,
                format!("Method not found: {method} (MCP {MODERN_VERSION} removed it; this request carries that revision's _meta)"),
            )),
            "server/discover" if !era.is_modern() => Err(RpcError::new(
                RpcCode::MethodNotFound,
                format!("Method not found: server/discover is MCP {MODERN_VERSION}; send that revision's _meta"),
            )),
            "server/discover" => Ok(ClientRequest::Discover),
            "initialize" => {
                Ok(ClientRequest::Initialize { protocol_version: param("protocolVersion").and_then(Value::as_str).map(str::to_string) })
            }
            "ping" => Ok(ClientRequest::Ping),
            "tools/list" => Ok(ClientRequest::ToolsList),
            "tools/call" => {
                let name = param("name")
                    .and_then(Value::as_str)
                    .ok_or_else(|| RpcError::new(RpcCode::InvalidParams, "tools/call needs params.name"))?;
                // A tool's input schema is an object schema: its arguments are an object (or none).
                let arguments = match param("arguments") {
                    None | Some(Value::Null) => json!({}),
                    Some(arguments @ Value::Object(_)) => arguments.clone(),
                    Some(_) => return Err(RpcError::new(RpcCode::InvalidParams, "tools/call params.arguments must be an object")),
                };
                Ok(match NativeTool::from_name(name) {
                    Some(tool) => ClientRequest::CallNative(tool),
                    None => ClientRequest::CallApiTool { name: name.to_string(), arguments },
                })
            }
            "logging/setLevel" => match param("level").and_then(Value::as_str) {
                Some(level) if LOG_LEVELS.contains(&level) => Ok(ClientRequest::SetLogLevel),
                _ => Err(RpcError::new(RpcCode::InvalidParams, "logging/setLevel needs params.level (debug … emergency)")),
            },
            other => Err(RpcError::new(RpcCode::MethodNotFound, format!("Method not found: {other}"))),
        }
    }

    /// Whether the answer shows the OpenAPI tools (`tools/list`) or their state (`mcp_whoami`).
    pub fn needs_api_view(&self) -> bool {
        match self {
            ClientRequest::ToolsList | ClientRequest::CallNative(_) => true,
            ClientRequest::CallApiTool { .. }
            | ClientRequest::Initialize { .. }
            | ClientRequest::Ping
            | ClientRequest::Discover
            | ClientRequest::SetLogLevel => false,
        }
    }

    /// Whether the answer may show the client's registered name (a tool result does).
    pub fn shows_client(&self) -> bool {
        match self {
            ClientRequest::CallNative(_) | ClientRequest::CallApiTool { .. } => true,
            ClientRequest::ToolsList
            | ClientRequest::Initialize { .. }
            | ClientRequest::Ping
            | ClientRequest::Discover
            | ClientRequest::SetLogLevel => false,
        }
    }
}

/// What core makes of one request.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    /// The serialized JSON-RPC response.
    Response(String),
    /// A call of an OpenAPI tool: the app layer looks it up and calls the upstream API.
    CallApiTool { name: String, arguments: Value },
}

/// Answers one request, or says which API tool to call. Tool failures are `isError` results.
pub fn answer(id: &Value, era: &Era, request: ClientRequest, caller: &Caller, now: i64, api: &ApiView) -> Answer {
    let result = match request {
        ClientRequest::ToolsList => return Answer::Response(tools_list(id, era, api)),
        ClientRequest::CallApiTool { name, arguments } => return Answer::CallApiTool { name, arguments },
        ClientRequest::CallNative(NativeTool::Whoami) => tools::whoami(caller, now, &api.status),
        ClientRequest::Initialize { protocol_version } => initialize(protocol_version.as_deref()),
        ClientRequest::Discover => discover(),
        ClientRequest::Ping | ClientRequest::SetLogLevel => json!({}),
    };
    Answer::Response(respond(id, era, result))
}

/// A result as this era frames it: 2026-07-28 results say they are complete (`resultType`) and
/// who answered (`_meta["io.modelcontextprotocol/serverInfo"]`).
pub fn respond(id: &Value, era: &Era, mut result: Value) -> String {
    if let (true, Some(fields)) = (era.is_modern(), result.as_object_mut()) {
        fields.insert("resultType".into(), json!("complete"));
        let meta = fields.entry("_meta").or_insert_with(|| json!({}));
        if let Some(meta) = meta.as_object_mut() {
            meta.insert(META_SERVER_INFO.into(), server_info());
        }
    }
    envelope(id, Outgoing::Result(&result))
}

/// The error for a `tools/call` whose tool nobody serves.
pub fn unknown_tool(name: &str) -> RpcError {
    RpcError::new(RpcCode::InvalidParams, format!("Unknown tool: {name}"))
}

/// `tools/list`: the native tools, then the API tools' definitions as serialized when the
/// catalog was built. For a token that sees all 324 tools of the benchmark document (220 KB)
/// this is a copy of bytes, not a rebuild and reserialization of every schema (`make bench`).
fn tools_list(id: &Value, era: &Era, api: &ApiView) -> String {
    // The native tool's definition, and the 2026-07-28 framing, never change: serialized once
    // per isolate.
    static WHOAMI: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    static MODERN_HEAD: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let whoami = WHOAMI.get_or_init(|| tools::whoami_definition().to_string());
    let head = match era {
        Era::Legacy => "{",
        Era::Modern(_) => MODERN_HEAD.get_or_init(|| {
            let meta = json!({ META_SERVER_INFO: server_info() });
            format!(r#"{{"resultType":"complete","ttlMs":{TOOLS_TTL_MS},"cacheScope":"private","_meta":{meta},"#)
        }),
    };
    let size = head.len() + whoami.len() + api.listings.iter().map(|l| l.len() + 1).sum::<usize>() + 16;
    jsonrpc::result_envelope(id, size, |out| {
        out.push_str(head);
        out.push_str(r#""tools":["#);
        out.push_str(whoami);
        for listing in &api.listings {
            out.push(',');
            out.push_str(listing);
        }
        out.push_str("]}");
    })
}

/// Version negotiation (legacy): echo the client's version when we speak it, else offer our
/// latest. 2026-07-28 is not negotiated here: it has no `initialize`.
fn initialize(requested: Option<&str>) -> Value {
    let version = requested.filter(|v| LEGACY_VERSIONS.contains(v)).unwrap_or(LEGACY_VERSIONS[0]);
    json!({
        "protocolVersion": version,
        "capabilities": { "tools": { "listChanged": false }, "logging": {} },
        "serverInfo": server_info(),
        "instructions": INSTRUCTIONS
    })
}

/// `server/discover` (2026-07-28). The tools never change while a client holds a list, so no
/// list-change notifications (and no `subscriptions/listen`); logging is per request in `_meta`
/// and this server sends no log messages, so no `logging` capability either.
fn discover() -> Value {
    json!({
        "supportedVersions": SUPPORTED_VERSIONS,
        "capabilities": { "tools": { "listChanged": false } },
        "instructions": INSTRUCTIONS,
        "ttlMs": DISCOVER_TTL_MS,
        "cacheScope": "public"
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Parse and answer as the app layer does, parsed back (which also checks that every answer
    /// is valid JSON). An API tool call is answered as a tool nobody serves.
    fn answer(id: &Value, method: &str, params: Option<&Value>, caller: &Caller, now: i64, api: &ApiView) -> Value {
        answer_in(&Era::Legacy, id, method, params, caller, now, api)
    }

    fn answer_in(era: &Era, id: &Value, method: &str, params: Option<&Value>, caller: &Caller, now: i64, api: &ApiView) -> Value {
        let text = match ClientRequest::parse(era, method, params) {
            Err(e) => envelope(id, Outgoing::Error(&e)),
            Ok(request) => match super::answer(id, era, request, caller, now, api) {
                Answer::Response(text) => text,
                Answer::CallApiTool { name, .. } => envelope(id, Outgoing::Error(&unknown_tool(&name))),
            },
        };
        serde_json::from_str(&text).expect("every answer is JSON")
    }

    fn modern() -> Era {
        Era::Modern(crate::core::mcp::era::ModernMeta { client_capabilities: Default::default(), log_level: None })
    }

    #[test]
    fn modern_results_say_they_are_complete_and_who_answered() {
        let listing = json!({"name": "list_contacts", "inputSchema": {"type": "object"}}).to_string();
        let api = ApiView { listings: vec![listing.as_str()], status: ApiToolsStatus::default() };
        let list = answer_in(&modern(), &json!(1), "tools/list", None, &caller(), 0, &api)["result"].clone();
        assert_eq!(
            (list["resultType"].clone(), list["cacheScope"].clone(), list["ttlMs"].clone()),
            (json!("complete"), json!("private"), json!(60_000))
        );
        assert_eq!(list["_meta"][META_SERVER_INFO]["name"], "mcp-edge");
        assert_eq!(list["tools"].as_array().unwrap().len(), 2);
        let who = answer_in(&modern(), &json!(2), "tools/call", Some(&json!({"name": "mcp_whoami"})), &caller(), 0, &api)["result"].clone();
        assert_eq!(who["resultType"], "complete");
        assert_eq!(who["_meta"][META_SERVER_INFO]["version"], env!("CARGO_PKG_VERSION"));
        assert_eq!(who["structuredContent"]["user"]["email"], "ada@example.com");
        let legacy = answer(&json!(3), "tools/list", None, &caller(), 0, &api)["result"].clone();
        assert!(legacy.get("resultType").is_none() && legacy.get("ttlMs").is_none(), "legacy results are as before");
    }

    #[test]
    fn discover_is_modern_and_the_handshake_is_legacy() {
        let d = answer_in(&modern(), &json!(1), "server/discover", None, &caller(), 0, &ApiView::default())["result"].clone();
        assert_eq!(d["supportedVersions"], json!(SUPPORTED_VERSIONS));
        assert_eq!(d["capabilities"], json!({"tools": {"listChanged": false}}));
        assert_eq!((d["resultType"].as_str(), d["cacheScope"].as_str()), (Some("complete"), Some("public")));
        assert!(d["ttlMs"].as_u64().is_some());
        for removed in ["initialize", "ping", "logging/setLevel"] {
            let e = ClientRequest::parse(&modern(), removed, Some(&json!({"level": "info"}))).unwrap_err();
            assert_eq!(e.code, RpcCode::MethodNotFound, "{removed}");
            assert!(e.message.contains("removed"), "{}", e.message);
        }
        assert_eq!(ClientRequest::parse(&Era::Legacy, "server/discover", None).unwrap_err().code, RpcCode::MethodNotFound);
        assert_eq!(ClientRequest::parse(&Era::Legacy, "ping", None), Ok(ClientRequest::Ping));
        for arguments in [json!([]), json!("a"), json!(1)] {
            let refused = ClientRequest::parse(&Era::Legacy, "tools/call", Some(&json!({"name": "mcp_whoami", "arguments": arguments})));
            assert_eq!(refused.unwrap_err(), RpcError::new(RpcCode::InvalidParams, "tools/call params.arguments must be an object"));
        }
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
            user_email: crate::core::ids::Email::parse("ada@example.com").unwrap(),
            user_name: "Ada".into(),
            workspace_id: crate::core::ids::WorkspaceId::parse("acme").unwrap(),
            workspace_name: "Acme".into(),
            client_id: crate::core::oauth::types::ClientId::parse("c1").unwrap(),
            client_name: "Claude Code".into(),
            scopes: vec!["CONTACTS_READ".into()],
            ceiling: vec!["CONTACTS_READ".into()],
            expires_at: 1_700_003_600,
        }
    }

    #[test]
    fn initialize_negotiates_versions() {
        let r = answer(&json!(1), "initialize", Some(&json!({"protocolVersion": "2025-06-18"})), &caller(), 0, &ApiView::default());
        assert_eq!(r["result"]["protocolVersion"], "2025-06-18");
        let r = answer(&json!(1), "initialize", Some(&json!({"protocolVersion": "1999-01-01"})), &caller(), 0, &ApiView::default());
        assert_eq!(r["result"]["protocolVersion"], LEGACY_VERSIONS[0]);
        let r = answer(&json!(1), "initialize", Some(&json!({"protocolVersion": MODERN_VERSION})), &caller(), 0, &ApiView::default());
        assert_eq!(r["result"]["protocolVersion"], LEGACY_VERSIONS[0], "2026-07-28 has no handshake to negotiate");
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
    fn methods_are_parsed_once_into_requests() {
        assert_eq!(
            ClientRequest::parse(&Era::Legacy, "tools/call", Some(&json!({"name": "mcp_whoami"}))),
            Ok(ClientRequest::CallNative(NativeTool::Whoami))
        );
        assert_eq!(
            ClientRequest::parse(&Era::Legacy, "tools/call", Some(&json!({"name": "list_contacts"}))),
            Ok(ClientRequest::CallApiTool { name: "list_contacts".into(), arguments: json!({}) })
        );
        assert_eq!(ClientRequest::parse(&Era::Legacy, "ping", None), Ok(ClientRequest::Ping));
        assert_eq!(
            ClientRequest::parse(&Era::Legacy, "logging/setLevel", Some(&json!({"level": "loud"}))).unwrap_err().code,
            RpcCode::InvalidParams
        );
        assert!(ClientRequest::CallNative(NativeTool::Whoami).needs_api_view());
        assert!(!ClientRequest::CallApiTool { name: "x".into(), arguments: json!({}) }.needs_api_view());
        let api_call = super::answer(
            &json!(1),
            &Era::Legacy,
            ClientRequest::parse(&Era::Legacy, "tools/call", Some(&json!({"name": "x", "arguments": {"a": 1}}))).unwrap(),
            &caller(),
            0,
            &ApiView::default(),
        );
        assert_eq!(api_call, Answer::CallApiTool { name: "x".into(), arguments: json!({"a": 1}) });
    }

    #[test]
    fn unknown_methods_and_tools_are_errors() {
        assert_eq!(answer(&json!(1), "nope", None, &caller(), 0, &ApiView::default())["error"]["code"], -32601);
        assert_eq!(
            answer(&json!(1), "tools/call", Some(&json!({"name": "x"})), &caller(), 0, &ApiView::default())["error"]["code"],
            -32602
        );
        assert_eq!(answer(&json!(1), "tools/call", None, &caller(), 0, &ApiView::default())["error"]["code"], -32602);
    }
}

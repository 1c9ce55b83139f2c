//! Which MCP revision one POST speaks, decided per request (docs/protocol.md §10).
//!
//! 2026-07-28 ("modern") is stateless: no `initialize`; every request carries
//! `_meta["io.modelcontextprotocol/protocolVersion"]` and `…/clientCapabilities`, and its HTTP
//! POST repeats the version, the method and (for `tools/call`) the tool name in headers that
//! MUST equal the body. The older revisions ("legacy": `initialize`, then requests) are served
//! beside it. A request is modern when its `_meta` carries a modern key, when its
//! `MCP-Protocol-Version` header names no legacy revision, or when it is `server/discover`.
use base64::Engine;
use serde_json::{json, Map, Value};

use super::jsonrpc::{RpcCode, RpcError};
use crate::core::http::printable;

/// The stateless revision.
pub const MODERN_VERSION: &str = "2026-07-28";
/// The revisions with the `initialize` handshake, newest first. 2025-11-25 is what the v1
/// TypeScript SDK speaks.
pub const LEGACY_VERSIONS: [&str; 3] = ["2025-11-25", "2025-06-18", "2025-03-26"];
/// Everything this server speaks, newest first (`server/discover`'s `supportedVersions`, and the
/// `supported` list of an unsupported-version error).
pub const SUPPORTED_VERSIONS: [&str; 4] = [MODERN_VERSION, LEGACY_VERSIONS[0], LEGACY_VERSIONS[1], LEGACY_VERSIONS[2]];

const META_VERSION: &str = "io.modelcontextprotocol/protocolVersion";
const META_CAPABILITIES: &str = "io.modelcontextprotocol/clientCapabilities";
const META_CLIENT_INFO: &str = "io.modelcontextprotocol/clientInfo";
const META_LOG_LEVEL: &str = "io.modelcontextprotocol/logLevel";
pub const META_SERVER_INFO: &str = "io.modelcontextprotocol/serverInfo";

/// The MCP headers of one POST, as sent (`None` when absent).
#[derive(Debug, Clone, Copy, Default)]
pub struct McpHeaders<'a> {
    pub protocol_version: Option<&'a str>,
    pub method: Option<&'a str>,
    pub name: Option<&'a str>,
}

/// What a modern request declared about itself in `_meta`.
#[derive(Debug, Clone, PartialEq)]
pub struct ModernMeta {
    /// `…/clientCapabilities`: for this request only (a server MUST NOT infer them from others).
    pub client_capabilities: Map<String, Value>,
    /// `…/logLevel`: absent means no log messages for this request. This server sends none.
    pub log_level: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Era {
    /// 2025-11-25 and older: `initialize`, `ping`, `logging/setLevel` and the tools.
    Legacy,
    Modern(ModernMeta),
}

impl Era {
    /// Decides the era of one request and, for a modern one, checks its `_meta` and headers in
    /// the order the revision gives: `_meta` (`-32602`), then the headers against the body
    /// (`-32020`, before the version), then the version (`-32022`). Legacy requests are checked
    /// as before (the header's version, if any, is a legacy one by construction).
    pub fn of(headers: McpHeaders, method: &str, params: Option<&Value>) -> Result<Era, RpcError> {
        let meta = params.and_then(|p| p.get("_meta")).and_then(Value::as_object);
        let has_modern_key = meta.is_some_and(|m| [META_VERSION, META_CAPABILITIES, META_CLIENT_INFO].iter().any(|k| m.contains_key(*k)));
        let header_version = headers.protocol_version.map(str::trim);
        let legacy_header = header_version.is_none_or(|v| LEGACY_VERSIONS.contains(&v));
        if !has_modern_key && legacy_header && method != "server/discover" {
            return Ok(Era::Legacy);
        }
        // A header version no revision names, on a body without `_meta`: a modern request missing
        // its `_meta` (checked first, as the revision orders it), or a client speaking a version
        // this server does not. The message says both.
        let (version, client_capabilities) = modern_meta(meta).map_err(|mut e| {
            if let Some(v) = header_version.filter(|v| !has_modern_key && !SUPPORTED_VERSIONS.contains(v)) {
                e.message = format!(
                    "{}; the MCP-Protocol-Version header names {}, and this server speaks {}",
                    e.message,
                    printable(v),
                    SUPPORTED_VERSIONS.join(", ")
                );
            }
            e
        })?;
        check_headers(headers, version, method, params)?;
        if version != MODERN_VERSION {
            return Err(unsupported_version(version));
        }
        let log_level = meta.and_then(|m| m.get(META_LOG_LEVEL)).and_then(Value::as_str).map(str::to_string);
        Ok(Era::Modern(ModernMeta { client_capabilities: client_capabilities.clone(), log_level }))
    }

    pub fn is_modern(&self) -> bool {
        matches!(self, Era::Modern(_))
    }

    /// The HTTP status of a JSON-RPC error in this era. Modern errors carry their status (400,
    /// and 404 for an unknown method); legacy ones are answered 200, as the older revisions and
    /// their clients expect.
    pub fn error_status(&self, code: RpcCode) -> u16 {
        match (self, code) {
            (Era::Legacy, _) => 200,
            (Era::Modern(_), RpcCode::MethodNotFound) => 404,
            (Era::Modern(_), _) => 400,
        }
    }
}

/// `-32022`: the version is not one this server speaks; `data` lists what it does.
pub fn unsupported_version(requested: &str) -> RpcError {
    RpcError::new(
        RpcCode::UnsupportedVersion,
        format!("Unsupported protocol version {requested}; this server supports {}", SUPPORTED_VERSIONS.join(", ")),
    )
    .with_data(json!({ "supported": SUPPORTED_VERSIONS, "requested": requested }))
}

fn modern_meta(meta: Option<&Map<String, Value>>) -> Result<(&str, &Map<String, Value>), RpcError> {
    let invalid = |what: &str| RpcError::new(RpcCode::InvalidParams, format!("Invalid params: {what} (MCP {MODERN_VERSION})"));
    let meta = meta.ok_or_else(|| invalid(&format!("params._meta is required, with \"{META_VERSION}\" and \"{META_CAPABILITIES}\"")))?;
    let version = match meta.get(META_VERSION) {
        Some(Value::String(v)) => v.as_str(),
        Some(_) => return Err(invalid(&format!("params._meta[\"{META_VERSION}\"] must be a string"))),
        None => return Err(invalid(&format!("params._meta[\"{META_VERSION}\"] is required"))),
    };
    let capabilities = match meta.get(META_CAPABILITIES) {
        Some(Value::Object(c)) => c,
        Some(_) => return Err(invalid(&format!("params._meta[\"{META_CAPABILITIES}\"] must be an object"))),
        None => return Err(invalid(&format!("params._meta[\"{META_CAPABILITIES}\"] is required ({{}} when the client has none)"))),
    };
    if meta.get(META_CLIENT_INFO).is_some_and(|i| !i.is_object()) {
        return Err(invalid(&format!("params._meta[\"{META_CLIENT_INFO}\"] must be an object")));
    }
    Ok((version, capabilities))
}

/// `MCP-Protocol-Version`, `Mcp-Method` and `Mcp-Name` must be present and equal the body.
/// Header names are case-insensitive (the caller looks them up so); values are compared exactly
/// after trimming the optional whitespace HTTP allows around them.
fn check_headers(headers: McpHeaders, version: &str, method: &str, params: Option<&Value>) -> Result<(), RpcError> {
    let mismatch = |message: String| RpcError::new(RpcCode::HeaderMismatch, message);
    match headers.protocol_version.map(str::trim) {
        None => return Err(mismatch(format!("Header mismatch: the MCP-Protocol-Version header is required (\"{version}\", as in _meta)"))),
        Some(v) if v != version => {
            return Err(mismatch(format!("Header mismatch: MCP-Protocol-Version is \"{v}\" but _meta says \"{version}\"")));
        }
        Some(_) => {}
    }
    match headers.method.map(str::trim) {
        None => return Err(mismatch(format!("Header mismatch: the Mcp-Method header is required (\"{method}\", as in the body)"))),
        Some(m) if m != method => {
            return Err(mismatch(format!("Header mismatch: Mcp-Method is \"{m}\" but the body's method is \"{method}\"")))
        }
        Some(_) => {}
    }
    let named = match method {
        "tools/call" | "prompts/get" => params.and_then(|p| p.get("name")).and_then(Value::as_str),
        "resources/read" => params.and_then(|p| p.get("uri")).and_then(Value::as_str),
        _ => None,
    };
    match (named, headers.name) {
        (Some(body), None) => Err(mismatch(format!("Header mismatch: the Mcp-Name header is required (\"{body}\", as in the body)"))),
        (Some(body), Some(sent)) => match decode_header_value(sent) {
            Some(value) if value == body => Ok(()),
            Some(value) => Err(mismatch(format!("Header mismatch: Mcp-Name is \"{}\" but the body names \"{body}\"", printable(&value)))),
            None => Err(mismatch("Header mismatch: Mcp-Name is not valid: =?base64?…?= needs padded standard Base64 of UTF-8".into())),
        },
        (None, _) => Ok(()),
    }
}

/// A header value as the client meant it: trimmed, and decoded when it is the Base64 sentinel
/// `=?base64?…?=` (for values that are not safe in a header). `None`: a malformed sentinel.
pub fn decode_header_value(raw: &str) -> Option<String> {
    let value = raw.trim();
    match value.strip_prefix("=?base64?").and_then(|rest| rest.strip_suffix("?=")) {
        None => Some(value.to_string()),
        Some(encoded) => {
            let bytes = base64::engine::general_purpose::STANDARD.decode(encoded).ok()?;
            String::from_utf8(bytes).ok()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta() -> Value {
        json!({ META_VERSION: MODERN_VERSION, META_CAPABILITIES: {}, META_CLIENT_INFO: {"name": "t", "version": "1"} })
    }
    fn headers<'a>(method: &'a str, name: Option<&'a str>) -> McpHeaders<'a> {
        McpHeaders { protocol_version: Some(MODERN_VERSION), method: Some(method), name }
    }
    fn code(r: Result<Era, RpcError>) -> i64 {
        r.unwrap_err().code.code()
    }

    #[test]
    fn legacy_requests_stay_legacy() {
        let none = McpHeaders::default();
        assert_eq!(Era::of(none, "tools/list", None), Ok(Era::Legacy));
        let legacy = McpHeaders { protocol_version: Some("2025-06-18"), ..none };
        assert_eq!(Era::of(legacy, "initialize", Some(&json!({"protocolVersion": "2025-06-18"}))), Ok(Era::Legacy));
        // `_meta` without modern keys (a progress token) is legacy too.
        assert_eq!(Era::of(legacy, "tools/call", Some(&json!({"name": "x", "_meta": {"progressToken": 1}}))), Ok(Era::Legacy));
    }

    #[test]
    fn a_complete_modern_request_is_modern() {
        let params = json!({"name": "mcp_whoami", "_meta": meta()});
        let era = Era::of(headers("tools/call", Some("  mcp_whoami ")), "tools/call", Some(&params)).unwrap();
        assert!(era.is_modern());
        let logged = json!({"_meta": {META_VERSION: MODERN_VERSION, META_CAPABILITIES: {"sampling": {}}, META_LOG_LEVEL: "debug"}});
        let Era::Modern(m) = Era::of(headers("tools/list", None), "tools/list", Some(&logged)).unwrap() else { panic!() };
        assert_eq!(m.log_level.as_deref(), Some("debug"));
        assert!(m.client_capabilities.contains_key("sampling"));
    }

    #[test]
    fn a_header_version_no_revision_names_is_named_in_the_missing_meta_error() {
        let h = McpHeaders { protocol_version: Some("1999-01-01"), method: None, name: None };
        let e = Era::of(h, "tools/list", None).unwrap_err();
        assert_eq!(e.code, RpcCode::InvalidParams);
        assert!(
            e.message.ends_with(
                "; the MCP-Protocol-Version header names 1999-01-01, and this server speaks 2026-07-28, 2025-11-25, 2025-06-18, 2025-03-26"
            ),
            "{}",
            e.message
        );
    }

    #[test]
    fn meta_is_checked_first() {
        // Modern by header or by method, but no `_meta`: -32602.
        assert_eq!(code(Era::of(headers("server/discover", None), "server/discover", Some(&json!({})))), -32602);
        assert_eq!(code(Era::of(McpHeaders::default(), "server/discover", None)), -32602);
        let no_caps = json!({"_meta": {META_VERSION: MODERN_VERSION}});
        let e = Era::of(headers("tools/list", None), "tools/list", Some(&no_caps)).unwrap_err();
        assert!(e.message.contains("clientCapabilities\"] is required"), "{}", e.message);
        let no_version = json!({"_meta": {META_CAPABILITIES: {}}});
        assert_eq!(code(Era::of(headers("tools/list", None), "tools/list", Some(&no_version))), -32602);
        // clientInfo is optional.
        let no_info = json!({"_meta": {META_VERSION: MODERN_VERSION, META_CAPABILITIES: {}}});
        assert!(Era::of(headers("tools/list", None), "tools/list", Some(&no_info)).is_ok());
    }

    #[test]
    fn headers_must_equal_the_body_and_are_checked_before_the_version() {
        let p = json!({"_meta": meta()});
        let h = |v: Option<&'static str>, m: Option<&'static str>| McpHeaders { protocol_version: v, method: m, name: None };
        assert_eq!(code(Era::of(h(Some(MODERN_VERSION), Some("prompts/list")), "tools/list", Some(&p))), -32020);
        assert_eq!(code(Era::of(h(Some(MODERN_VERSION), None), "tools/list", Some(&p))), -32020);
        assert_eq!(code(Era::of(h(Some(MODERN_VERSION), Some("TOOLS/LIST")), "tools/list", Some(&p))), -32020, "values are case-sensitive");
        assert_eq!(code(Era::of(h(None, Some("tools/list")), "tools/list", Some(&p))), -32020);
        // Header 2026-07-28 but _meta names another version: a mismatch, not an unknown version.
        let other = json!({"_meta": {META_VERSION: "v999.0.0", META_CAPABILITIES: {}}});
        assert_eq!(code(Era::of(h(Some(MODERN_VERSION), Some("server/discover")), "server/discover", Some(&other))), -32020);
        let call = json!({"name": "mcp_whoami", "_meta": meta()});
        assert_eq!(code(Era::of(headers("tools/call", None), "tools/call", Some(&call))), -32020);
        assert_eq!(code(Era::of(headers("tools/call", Some("wrong_tool")), "tools/call", Some(&call))), -32020);
    }

    #[test]
    fn an_unserved_version_lists_what_is_served() {
        let p = json!({"_meta": {META_VERSION: "v999.0.0", META_CAPABILITIES: {}}});
        let e = Era::of(
            McpHeaders { protocol_version: Some("v999.0.0"), method: Some("server/discover"), name: None },
            "server/discover",
            Some(&p),
        )
        .unwrap_err();
        assert_eq!(e.code.code(), -32022);
        assert_eq!(e.data, Some(json!({"supported": SUPPORTED_VERSIONS, "requested": "v999.0.0"})));
        // An unknown header version without `_meta` is a modern request missing its `_meta`.
        let h = McpHeaders { protocol_version: Some("1999-01-01"), method: None, name: None };
        assert_eq!(code(Era::of(h, "ping", None)), -32602);
    }

    #[test]
    fn names_may_travel_base64_encoded() {
        assert_eq!(decode_header_value("  plain "), Some("plain".into()));
        assert_eq!(decode_header_value("=?base64?SGVsbG8=?="), Some("Hello".into()));
        assert_eq!(decode_header_value("=?base64?SGVsbG8?="), None, "padding is required");
        assert_eq!(decode_header_value("=?base64?SGVs!!!bG8=?="), None);
        assert_eq!(decode_header_value("=?base64?/w==?="), None, "not UTF-8");
        let call = json!({"name": "héllo", "_meta": meta()});
        let encoded = format!("=?base64?{}?=", base64::engine::general_purpose::STANDARD.encode("héllo"));
        assert!(Era::of(headers("tools/call", Some(&encoded)), "tools/call", Some(&call)).is_ok());
    }

    #[test]
    fn statuses_follow_the_era() {
        let modern = Era::Modern(ModernMeta { client_capabilities: Map::new(), log_level: None });
        assert_eq!(modern.error_status(RpcCode::MethodNotFound), 404);
        assert_eq!(modern.error_status(RpcCode::HeaderMismatch), 400);
        assert_eq!(modern.error_status(RpcCode::InvalidParams), 400);
        assert_eq!(Era::Legacy.error_status(RpcCode::MethodNotFound), 200);
    }
}

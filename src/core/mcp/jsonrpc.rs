//! JSON-RPC 2.0 framing as MCP uses it: one message per POST (batches were removed in 2025-06-18).
//! Every message this server sends is built by `envelope`.
use std::fmt::Write;

use serde_json::{Map, Value};

/// The JSON-RPC 2.0 error codes this server sends (JSON-RPC 2.0 §5.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RpcCode {
    ParseError,
    InvalidRequest,
    MethodNotFound,
    InvalidParams,
    /// MCP 2026-07-28: an HTTP header disagrees with the body, or a required one is missing.
    HeaderMismatch,
    /// MCP 2026-07-28: the request needs a client capability the client did not declare.
    MissingClientCapability,
    /// MCP 2026-07-28: the requested protocol version is not served (`data` lists those that are).
    UnsupportedVersion,
}

impl RpcCode {
    pub fn code(self) -> i64 {
        match self {
            RpcCode::ParseError => -32700,
            RpcCode::InvalidRequest => -32600,
            RpcCode::MethodNotFound => -32601,
            RpcCode::InvalidParams => -32602,
            RpcCode::HeaderMismatch => -32020,
            RpcCode::MissingClientCapability => -32021,
            RpcCode::UnsupportedVersion => -32022,
        }
    }
}

/// A JSON-RPC error object: for requests that cannot be routed or whose params are wrong. A tool
/// that fails answers an `isError` result instead (MCP, "Tools": error handling).
#[derive(Debug, Clone, PartialEq)]
pub struct RpcError {
    pub code: RpcCode,
    pub message: String,
    pub data: Option<Value>,
}

impl RpcError {
    pub fn new(code: RpcCode, message: impl Into<String>) -> RpcError {
        RpcError { code, message: message.into(), data: None }
    }

    pub fn with_data(self, data: Value) -> RpcError {
        RpcError { data: Some(data), ..self }
    }
}

/// A message that could not be taken as a request: the error, and the request's ID when it had
/// a usable one (else null).
#[derive(Debug, Clone, PartialEq)]
pub struct Rejected {
    pub id: Value,
    pub error: RpcError,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Incoming {
    Request {
        id: Value,
        method: String,
        params: Option<Value>,
    },
    Notification {
        method: String,
    },
    /// A response or error the client sends back (we never ask, but accept it: 202).
    ClientResponse,
}

/// What one response carries.
pub enum Outgoing<'a> {
    Result(&'a Value),
    Error(&'a RpcError),
}

/// The one builder of JSON-RPC responses: `{"jsonrpc":"2.0","id":…,"result"|"error":…}`.
pub fn envelope(id: &Value, body: Outgoing) -> String {
    match body {
        // `Value`'s `Display` serializes straight into the buffer (writing to a `String` cannot
        // fail).
        Outgoing::Result(value) => result_envelope(id, 256, |out| {
            let _ = write!(out, "{value}");
        }),
        Outgoing::Error(e) => {
            let mut error = serde_json::json!({ "code": e.code.code(), "message": e.message });
            if let Some(data) = &e.data {
                error["data"] = data.clone();
            }
            let error = error.to_string();
            framed(id, "error", error.len(), |out| out.push_str(&error))
        }
    }
}

/// A success response whose result `write` appends as JSON text, into one buffer of about
/// `size` bytes more than the framing: `tools/list` copies each tool's serialized listing
/// straight into the answer (for 324 tools, 222 KB, one allocation instead of three copies).
pub fn result_envelope(id: &Value, size: usize, write: impl FnOnce(&mut String)) -> String {
    framed(id, "result", size, write)
}

fn framed(id: &Value, member: &str, size: usize, write: impl FnOnce(&mut String)) -> String {
    let id = id.to_string();
    let mut out = String::with_capacity(size + id.len() + 32);
    out.push_str(r#"{"jsonrpc":"2.0","id":"#);
    out.push_str(&id);
    out.push_str(",\"");
    out.push_str(member);
    out.push_str("\":");
    write(&mut out);
    out.push('}');
    out
}

fn rejected(id: Option<Value>, code: RpcCode, message: impl Into<String>) -> Rejected {
    Rejected { id: id.unwrap_or(Value::Null), error: RpcError::new(code, message) }
}

pub fn parse(body: &[u8]) -> Result<Incoming, Rejected> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| rejected(None, RpcCode::ParseError, format!("Parse error: the body is not JSON ({e})")))?;
    let obj = match value {
        Value::Object(obj) => obj,
        Value::Array(_) => {
            return Err(rejected(
                None,
                RpcCode::InvalidRequest,
                "Invalid Request: batches are not supported; send one JSON-RPC message per POST",
            ))
        }
        _ => return Err(rejected(None, RpcCode::InvalidRequest, "Invalid Request: expected a JSON-RPC object")),
    };
    let id = valid_id(&obj);
    if obj.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
        return Err(rejected(id, RpcCode::InvalidRequest, "Invalid Request: `jsonrpc` must be \"2.0\""));
    }
    match (obj.get("method"), id) {
        (Some(Value::String(method)), Some(id)) => {
            let params = obj.get("params").cloned();
            if params.as_ref().is_some_and(|p| !p.is_object()) {
                return Err(rejected(Some(id), RpcCode::InvalidRequest, "Invalid Request: `params` must be an object"));
            }
            Ok(Incoming::Request { id, method: method.clone(), params })
        }
        (Some(Value::String(method)), None) if !obj.contains_key("id") => Ok(Incoming::Notification { method: method.clone() }),
        (None, Some(_)) if obj.contains_key("result") || obj.contains_key("error") => Ok(Incoming::ClientResponse),
        (_, id) => Err(rejected(id, RpcCode::InvalidRequest, "Invalid Request: expected a request, a notification or a response")),
    }
}

/// MCP: request IDs are strings or integers, never null.
fn valid_id(obj: &Map<String, Value>) -> Option<Value> {
    match obj.get("id") {
        Some(v @ Value::String(_)) => Some(v.clone()),
        Some(v @ Value::Number(n)) if n.is_i64() || n.is_u64() => Some(v.clone()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn classifies_messages() {
        assert_eq!(
            parse(br#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#).unwrap(),
            Incoming::Request { id: json!(1), method: "ping".into(), params: None }
        );
        assert_eq!(
            parse(br#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#).unwrap(),
            Incoming::Notification { method: "notifications/initialized".into() }
        );
        assert_eq!(parse(br#"{"jsonrpc":"2.0","id":"a","result":{}}"#).unwrap(), Incoming::ClientResponse);
    }

    #[test]
    fn rejects_malformed_messages_with_the_right_code() {
        let code = |body: &[u8]| parse(body).unwrap_err().error.code;
        assert_eq!(code(b"{"), RpcCode::ParseError);
        assert_eq!(code(b"[]"), RpcCode::InvalidRequest);
        assert!(parse(b"[]").unwrap_err().error.message.contains("batches"));
        assert_eq!(code(br#"{"id":1,"method":"ping"}"#), RpcCode::InvalidRequest);
        assert_eq!(code(br#"{"jsonrpc":"2.0","id":null,"method":"ping"}"#), RpcCode::InvalidRequest);
        let e = parse(br#"{"jsonrpc":"2.0","id":3,"method":"x","params":[1]}"#).unwrap_err();
        assert_eq!((e.error.code, e.id), (RpcCode::InvalidRequest, json!(3)));
    }

    #[test]
    fn every_envelope_is_json_rpc() {
        let parsed = |s: String| serde_json::from_str::<Value>(&s).unwrap();
        let ok = parsed(envelope(&json!("a\"b"), Outgoing::Result(&json!({"x": 1}))));
        assert_eq!(ok, json!({"jsonrpc": "2.0", "id": "a\"b", "result": {"x": 1}}));
        let raw = parsed(result_envelope(&json!(2), 12, |out| out.push_str(r#"{"tools":[]}"#)));
        assert_eq!(raw, json!({"jsonrpc": "2.0", "id": 2, "result": {"tools": []}}));
        let err = parsed(envelope(&Value::Null, Outgoing::Error(&RpcError::new(RpcCode::MethodNotFound, "Method not found: x"))));
        assert_eq!(err, json!({"jsonrpc": "2.0", "id": null, "error": {"code": -32601, "message": "Method not found: x"}}));
    }
}

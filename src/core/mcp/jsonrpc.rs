//! JSON-RPC 2.0 framing as MCP uses it: one message per POST (batches were removed in 2025-06-18).
use serde_json::{json, Map, Value};

pub const PARSE_ERROR: i64 = -32700;
pub const INVALID_REQUEST: i64 = -32600;
pub const METHOD_NOT_FOUND: i64 = -32601;
pub const INVALID_PARAMS: i64 = -32602;

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

#[derive(Debug, Clone, PartialEq)]
pub struct RpcError {
    pub id: Value,
    pub code: i64,
    pub message: String,
}

impl RpcError {
    pub fn new(id: Value, code: i64, message: impl Into<String>) -> RpcError {
        RpcError { id, code, message: message.into() }
    }

    pub fn to_json(&self) -> Value {
        json!({ "jsonrpc": "2.0", "id": self.id, "error": { "code": self.code, "message": self.message } })
    }
}

pub fn success(id: &Value, result: Value) -> Value {
    json!({ "jsonrpc": "2.0", "id": id, "result": result })
}

pub fn parse(body: &[u8]) -> Result<Incoming, RpcError> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| RpcError::new(Value::Null, PARSE_ERROR, format!("Parse error: the body is not JSON ({e})")))?;
    let obj = match value {
        Value::Object(obj) => obj,
        Value::Array(_) => {
            return Err(RpcError::new(
                Value::Null,
                INVALID_REQUEST,
                "Invalid Request: batches are not supported; send one JSON-RPC message per POST",
            ))
        }
        _ => return Err(RpcError::new(Value::Null, INVALID_REQUEST, "Invalid Request: expected a JSON-RPC object")),
    };
    let id = valid_id(&obj);
    if obj.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
        return Err(RpcError::new(id.unwrap_or(Value::Null), INVALID_REQUEST, "Invalid Request: `jsonrpc` must be \"2.0\""));
    }
    match (obj.get("method"), id) {
        (Some(Value::String(method)), Some(id)) => {
            let params = obj.get("params").cloned();
            if params.as_ref().is_some_and(|p| !p.is_object()) {
                return Err(RpcError::new(id, INVALID_REQUEST, "Invalid Request: `params` must be an object"));
            }
            Ok(Incoming::Request { id, method: method.clone(), params })
        }
        (Some(Value::String(method)), None) if !obj.contains_key("id") => Ok(Incoming::Notification { method: method.clone() }),
        (None, Some(_)) if obj.contains_key("result") || obj.contains_key("error") => Ok(Incoming::ClientResponse),
        (_, id) => Err(RpcError::new(
            id.unwrap_or(Value::Null),
            INVALID_REQUEST,
            "Invalid Request: expected a request, a notification or a response",
        )),
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
        assert_eq!(parse(b"{").unwrap_err().code, PARSE_ERROR);
        assert_eq!(parse(b"[]").unwrap_err().code, INVALID_REQUEST);
        assert!(parse(b"[]").unwrap_err().message.contains("batches"));
        assert_eq!(parse(br#"{"id":1,"method":"ping"}"#).unwrap_err().code, INVALID_REQUEST);
        assert_eq!(parse(br#"{"jsonrpc":"2.0","id":null,"method":"ping"}"#).unwrap_err().code, INVALID_REQUEST);
        let e = parse(br#"{"jsonrpc":"2.0","id":3,"method":"x","params":[1]}"#).unwrap_err();
        assert_eq!((e.code, e.id), (INVALID_REQUEST, json!(3)));
    }
}

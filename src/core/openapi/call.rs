//! The upstream request for a tool call, and the MCP result for the upstream's answer.
use base64::Engine;
use serde_json::{json, Value};

use super::to_tools::{ApiTool, Param, Style};
use super::validate;

#[derive(Debug, Clone, PartialEq)]
pub struct UpstreamRequest {
    pub method: String,
    pub url: String,
    pub body: Option<Vec<u8>>,
}

/// Checks the arguments against the tool's input schema, then builds the request.
/// `Err` lists every problem.
pub fn build(tool: &ApiTool, base_url: &str, args: &Value) -> Result<UpstreamRequest, Vec<String>> {
    let empty = json!({});
    let args = if args.is_null() { &empty } else { args };
    let problems = validate::check(&tool.input_schema, args);
    if !problems.is_empty() {
        return Err(problems);
    }
    let mut path = tool.path.clone();
    for p in &tool.path_params {
        let value = &args["pathParams"][&p.name];
        let text = scalar(value).ok_or_else(|| vec![format!("arguments.pathParams.{}: must be a string or number", p.name)])?;
        // RFC 3986 §3.3: one path segment, percent-encoded.
        let encoded: String = url::form_urlencoded::byte_serialize(text.as_bytes()).collect::<String>().replace('+', "%20");
        path = path.replace(&format!("{{{}}}", p.name), &encoded);
    }
    let mut url = format!("{}{}", base_url.trim_end_matches('/'), path);
    let query = query_string(&tool.query_params, &args["query"]);
    if !query.is_empty() {
        url.push(if url.contains('?') { '&' } else { '?' });
        url.push_str(&query);
    }
    let body = match (&tool.body, args.get("body")) {
        (Some(_), Some(b)) => Some(serde_json::to_vec(b).unwrap_or_default()),
        _ => None,
    };
    Ok(UpstreamRequest { method: tool.method.clone(), url, body })
}

fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// OpenAPI 3 §4.8.12.4 serialization for query parameters.
fn query_string(params: &[Param], values: &Value) -> String {
    let mut q = url::form_urlencoded::Serializer::new(String::new());
    for p in params {
        let Some(v) = values.get(&p.name).filter(|v| !v.is_null()) else { continue };
        match (v, p.style) {
            (Value::Array(items), Style::Form { explode: true }) => {
                for item in items.iter().filter_map(scalar) {
                    q.append_pair(&p.name, &item);
                }
            }
            (Value::Array(items), style) => {
                let sep = match style {
                    Style::SpaceDelimited => " ",
                    Style::PipeDelimited => "|",
                    _ => ",",
                };
                q.append_pair(&p.name, &items.iter().filter_map(scalar).collect::<Vec<_>>().join(sep));
            }
            (Value::Object(map), Style::DeepObject) => {
                for (k, item) in map {
                    if let Some(s) = scalar(item) {
                        q.append_pair(&format!("{}[{k}]", p.name), &s);
                    }
                }
            }
            (Value::Object(map), Style::Form { explode: true }) => {
                for (k, item) in map {
                    if let Some(s) = scalar(item) {
                        q.append_pair(k, &s);
                    }
                }
            }
            (Value::Object(map), _) => {
                let flat: Vec<String> = map.iter().filter_map(|(k, item)| scalar(item).map(|s| format!("{k},{s}"))).collect();
                q.append_pair(&p.name, &flat.join(","));
            }
            (other, _) => {
                if let Some(s) = scalar(other) {
                    q.append_pair(&p.name, &s);
                }
            }
        }
    }
    q.finish()
}

/// The MCP `tools/call` result for an upstream answer. Bodies over `limit` bytes are cut, with
/// a notice; errors carry the status and a bounded excerpt.
pub fn to_result(status: u16, content_type: &str, body: &[u8], limit: usize) -> Value {
    let mime = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    let truncated = body.len() > limit;
    let shown = &body[..body.len().min(limit)];
    if !(200..300).contains(&status) {
        let excerpt = String::from_utf8_lossy(&body[..body.len().min(2048)]);
        let more = if body.len() > 2048 { " […]" } else { "" };
        return error_result(&format!("The API answered HTTP {status}: {excerpt}{more}"));
    }
    let notice = || json!({ "type": "text", "text": format!("[Response truncated: {} of {} bytes shown]", limit, body.len()) });
    let b64 = || base64::engine::general_purpose::STANDARD.encode(body);
    let mut result = if body.is_empty() {
        json!({ "content": [{ "type": "text", "text": format!("HTTP {status} (no content)") }] })
    } else if mime == "application/json" || mime.ends_with("+json") {
        match serde_json::from_slice::<Value>(body) {
            Ok(v) if !truncated => {
                let structured = if v.is_object() { v.clone() } else { json!({ "result": v }) };
                json!({ "content": [{ "type": "text", "text": v.to_string() }], "structuredContent": structured })
            }
            _ => json!({ "content": [{ "type": "text", "text": String::from_utf8_lossy(shown) }, notice()] }),
        }
    } else if mime.starts_with("image/") && !truncated {
        json!({ "content": [{ "type": "image", "data": b64(), "mimeType": mime }] })
    } else if mime.starts_with("audio/") && !truncated {
        json!({ "content": [{ "type": "audio", "data": b64(), "mimeType": mime }] })
    } else if mime.starts_with("image/") || mime.starts_with("audio/") {
        error_result(&format!("The API returned {mime} of {} bytes, over the {limit}-byte limit", body.len()))
    } else {
        let mut content = vec![json!({ "type": "text", "text": String::from_utf8_lossy(shown) })];
        if truncated {
            content.push(notice());
        }
        json!({ "content": content })
    };
    result["isError"] = json!(false);
    result
}

pub fn error_result(message: &str) -> Value {
    json!({ "content": [{ "type": "text", "text": message }], "isError": true })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::openapi::to_tools::build as build_catalog;

    fn tool(name: &str) -> ApiTool {
        let doc = json!({
            "openapi": "3.1.0",
            "paths": {
                "/contacts/{id}/notes": {"post": {"summary": "Add note", "parameters": [
                    {"name": "id", "in": "path", "required": true, "schema": {"type": "string"}},
                    {"name": "tags", "in": "query", "schema": {"type": "array", "items": {"type": "string"}}},
                    {"name": "ids", "in": "query", "explode": false, "schema": {"type": "array", "items": {"type": "integer"}}},
                    {"name": "filter", "in": "query", "style": "deepObject", "schema": {"type": "object"}}
                ], "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object", "required": ["text"], "properties": {"text": {"type": "string"}}}}}}}}
            }
        });
        build_catalog(&doc).unwrap().tools.into_iter().find(|t| t.name == name).unwrap()
    }

    #[test]
    fn builds_encoded_paths_and_styled_queries() {
        let t = tool("add_note");
        let args = json!({"pathParams": {"id": "a/b c"}, "query": {"tags": ["x", "y"], "ids": [1, 2], "filter": {"state": "open"}}, "body": {"text": "hi"}});
        let req = build(&t, "https://api.example/v1/", &args).unwrap();
        assert_eq!(req.method, "POST");
        assert_eq!(req.url, "https://api.example/v1/contacts/a%2Fb%20c/notes?tags=x&tags=y&ids=1%2C2&filter%5Bstate%5D=open");
        assert_eq!(req.body.unwrap(), br#"{"text":"hi"}"#);
    }

    #[test]
    fn bad_arguments_are_listed_and_nothing_is_built() {
        let t = tool("add_note");
        let problems = build(&t, "https://api.example", &json!({"body": {}})).unwrap_err();
        assert_eq!(problems, vec!["arguments.pathParams: is required", "arguments.body.text: is required"]);
    }

    #[test]
    fn maps_responses() {
        let ok = to_result(200, "application/json; charset=utf-8", br#"{"id":1}"#, 1000);
        assert_eq!(ok["structuredContent"]["id"], 1);
        assert_eq!(ok["isError"], false);
        let list = to_result(200, "application/json", b"[1,2]", 1000);
        assert_eq!(list["structuredContent"]["result"], json!([1, 2]));
        let err = to_result(404, "application/json", br#"{"error":"nope"}"#, 1000);
        assert_eq!(err["isError"], true);
        assert!(err["content"][0]["text"].as_str().unwrap().starts_with("The API answered HTTP 404"));
        let img = to_result(200, "image/png", &[1, 2, 3], 1000);
        assert_eq!(img["content"][0]["type"], "image");
        assert_eq!(img["content"][0]["data"], "AQID");
        let big = to_result(200, "text/plain", &[b'a'; 50], 10);
        assert_eq!(big["content"][0]["text"], "aaaaaaaaaa");
        assert!(big["content"][1]["text"].as_str().unwrap().contains("truncated"));
    }
}

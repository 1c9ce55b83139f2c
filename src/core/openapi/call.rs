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
        path = path.replace(&format!("{{{}}}", p.name), &path_segment(&p.name, &text)?);
    }
    let url = format!("{}{}", base_url.trim_end_matches('/'), path);
    let mut url =
        within_base(base_url, &url).ok_or_else(|| vec![format!("the request for {} would leave the API's base URL", tool.path)])?;
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

/// RFC 3986 §3.3: a path parameter fills exactly one segment. Everything but the unreserved
/// characters is percent-encoded, and the dot segments `.` and `..` (which URL parsers collapse,
/// turning `/lists/../contacts/1` into another operation with other scopes) and the empty
/// segment are refused.
fn path_segment(name: &str, value: &str) -> Result<String, Vec<String>> {
    if matches!(value, "" | "." | "..") {
        return Err(vec![format!("arguments.pathParams.{name}: `{value}` is not a usable path segment")]);
    }
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    Ok(out)
}

/// The normalised URL, if it stays on the base URL's origin and under its path (defence in
/// depth: a document's path key or a parameter must never steer a call elsewhere).
fn within_base(base: &str, candidate: &str) -> Option<String> {
    let base = url::Url::parse(base).ok()?;
    let url = url::Url::parse(candidate).ok()?;
    let prefix = base.path().trim_end_matches('/');
    let under = url.path() == prefix || url.path().starts_with(&format!("{prefix}/"));
    (url.origin() == base.origin() && under && url.fragment().is_none()).then(|| url.to_string())
}

fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// OpenAPI 3 §4.8.12.4 serialization for query parameters. Names and values are
/// percent-encoded; the delimiters of the non-exploded styles are written as the spec shows
/// them (`ids=1,2`, `ids=1|2`, `ids=1%202`).
fn query_string(params: &[Param], values: &Value) -> String {
    let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    let joined = |items: Vec<String>, sep: &str| items.iter().map(|i| enc(i)).collect::<Vec<_>>().join(sep);
    let mut pairs: Vec<String> = Vec::new();
    for p in params {
        let Some(v) = values.get(&p.name).filter(|v| !v.is_null()) else { continue };
        let name = enc(&p.name);
        match (v, p.style) {
            (Value::Array(items), Style::Form { explode: true }) => {
                pairs.extend(items.iter().filter_map(scalar).map(|item| format!("{name}={}", enc(&item))));
            }
            (Value::Array(items), style) => {
                let sep = match style {
                    Style::SpaceDelimited => "%20",
                    Style::PipeDelimited => "|",
                    _ => ",",
                };
                pairs.push(format!("{name}={}", joined(items.iter().filter_map(scalar).collect(), sep)));
            }
            (Value::Object(map), Style::DeepObject) => {
                pairs.extend(map.iter().filter_map(|(k, item)| scalar(item).map(|s| format!("{name}%5B{}%5D={}", enc(k), enc(&s)))));
            }
            (Value::Object(map), Style::Form { explode: true }) => {
                pairs.extend(map.iter().filter_map(|(k, item)| scalar(item).map(|s| format!("{}={}", enc(k), enc(&s)))));
            }
            (Value::Object(map), _) => {
                let flat: Vec<String> = map.iter().filter_map(|(k, item)| scalar(item).map(|s| [k.clone(), s])).flatten().collect();
                pairs.push(format!("{name}={}", joined(flat, ",")));
            }
            (other, _) => {
                if let Some(s) = scalar(other) {
                    pairs.push(format!("{name}={}", enc(&s)));
                }
            }
        }
    }
    pairs.join("&")
}

/// The MCP `tools/call` result for an upstream answer. `body` is what was read: the edge stops
/// reading one byte past `limit`, so a longer body only says that the response was larger (not
/// how large). Bodies over `limit` bytes are cut, with a notice; errors carry the status and a
/// bounded excerpt. Redirects are not followed (the edge fetches with `redirect: manual`, so a
/// call cannot be steered to another origin): a 3xx is an error too.
pub fn to_result(status: u16, content_type: &str, body: &[u8], limit: usize) -> Value {
    let mime = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    let truncated = body.len() > limit;
    let shown = &body[..body.len().min(limit)];
    if (300..400).contains(&status) {
        return error_result(&format!("The API answered HTTP {status} (redirects are not followed)"));
    }
    if !(200..300).contains(&status) {
        let excerpt = String::from_utf8_lossy(&body[..body.len().min(2048)]);
        let more = if body.len() > 2048 { " […]" } else { "" };
        return error_result(&format!("The API answered HTTP {status}: {excerpt}{more}"));
    }
    let notice =
        || json!({ "type": "text", "text": format!("[Response truncated: the first {limit} bytes are shown; the response was larger]") });
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
        error_result(&format!("The API returned {mime} larger than the {limit}-byte limit"))
    } else if std::str::from_utf8(shown).is_err_and(|e| e.error_len().is_some()) {
        // Not text (a PDF, an archive): lossy UTF-8 would only be noise to a model.
        let kind = if mime.is_empty() { "binary content".to_string() } else { format!("{mime} content") };
        json!({ "content": [{ "type": "text", "text": format!("The API returned {} bytes of {kind}, which is not shown", body.len()) }] })
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
        assert_eq!(req.url, "https://api.example/v1/contacts/a%2Fb%20c/notes?tags=x&tags=y&ids=1,2&filter%5Bstate%5D=open");
        assert_eq!(req.body.unwrap(), br#"{"text":"hi"}"#);
    }

    #[test]
    fn a_path_parameter_fills_one_segment_and_never_leaves_the_base() {
        let t = tool("add_note");
        let with_id = |id: &str| json!({"pathParams": {"id": id}, "body": {"text": "hi"}});
        for bad in ["..", ".", ""] {
            let problems = build(&t, "https://api.example/v1", &with_id(bad)).unwrap_err();
            assert_eq!(problems, vec![format!("arguments.pathParams.id: `{bad}` is not a usable path segment")]);
        }
        for (raw, encoded) in [("a?b", "a%3Fb"), ("a#b", "a%23b"), ("../x", "..%2Fx"), ("%2e%2e", "%252e%252e"), ("é", "%C3%A9")] {
            let req = build(&t, "https://api.example/v1", &with_id(raw)).unwrap();
            assert_eq!(req.url, format!("https://api.example/v1/contacts/{encoded}/notes"), "{raw}");
        }
        assert_eq!(within_base("https://api.example/v1", "https://api.example/v1/x"), Some("https://api.example/v1/x".into()));
        assert_eq!(within_base("https://api.example/v1", "https://api.example/v10/x"), None);
        assert_eq!(within_base("https://api.example/v1", "https://api.example/v1/../admin"), None);
        assert_eq!(within_base("https://api.example", "https://api.example@evil.example/x"), None);
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
        let pdf = to_result(200, "application/pdf", b"%PDF-1.7\n\xff\xfe\x00binary", 1000);
        assert_eq!(pdf["content"][0]["text"], "The API returned 18 bytes of application/pdf content, which is not shown");
        assert_eq!(pdf["isError"], false);
        let csv = to_result(200, "text/csv", "name,city\nÅse,Oslo".as_bytes(), 1000);
        assert_eq!(csv["content"][0]["text"], "name,city\nÅse,Oslo");
        let big = to_result(200, "text/plain", &[b'a'; 50], 10);
        assert_eq!(big["content"][0]["text"], "aaaaaaaaaa");
        assert_eq!(big["content"][1]["text"], "[Response truncated: the first 10 bytes are shown; the response was larger]");
        let big_json = to_result(200, "application/json", &[b'1'; 11], 10);
        assert_eq!(big_json["content"][1]["text"], "[Response truncated: the first 10 bytes are shown; the response was larger]");
        assert_eq!(
            to_result(200, "image/png", &[0; 11], 10)["content"][0]["text"],
            "The API returned image/png larger than the 10-byte limit"
        );
    }

    #[test]
    fn redirects_are_errors_not_followed() {
        let r = to_result(302, "text/html", b"<a href=\"https://elsewhere.example/\">moved</a>", 1000);
        assert_eq!(r["isError"], true);
        assert_eq!(r["content"][0]["text"], "The API answered HTTP 302 (redirects are not followed)");
    }
}

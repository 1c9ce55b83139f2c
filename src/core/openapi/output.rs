//! A tool's output schema (MCP "Output schema"): taken from the operation's documented JSON
//! success response, and kept at call time (`conform`), since clients refuse a result whose
//! `structuredContent` does not match it.
use serde_json::{json, Value};

use super::refs::{resolve, Budget};
use super::schema::{normalise, Direction};
use super::validate;

/// A tool's declared output: `structuredContent` must match `schema` (MCP "Output schema").
/// MCP output schemas are objects; an API that answers an array or a scalar has it wrapped as
/// `{"result": …}` (`wrapped`), as `call::to_result` wraps the answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Output {
    pub schema: Value,
    pub wrapped: bool,
}

/// The output schema, from the first success response (200, then 201–299 and `2XX`) with a
/// JSON body schema. None when the API documents none: the tool then declares no output schema
/// and its JSON answers are structured content all the same.
pub fn from_responses(doc: &Value, responses: Option<&Value>, budget: &mut Budget) -> Option<Output> {
    let responses = responses?.as_object()?;
    let mut codes: Vec<&String> = responses.keys().filter(|c| c.starts_with('2')).collect();
    codes.sort_by_key(|c| (c.as_str() != "200", c.eq_ignore_ascii_case("2XX"), c.to_string()));
    let schema = codes.into_iter().find_map(|code| {
        let response = resolve(doc, &responses[code.as_str()], budget);
        let content = response.get("content")?.as_object()?;
        let (_, media) = content.iter().find(|(mime, _)| mime.starts_with("application/json") || mime.ends_with("+json"))?;
        media.get("schema").cloned()
    })?;
    let schema = normalise(resolve(doc, &schema, budget), Direction::Response);
    if schema.as_object().is_none_or(|s| s.is_empty()) {
        return None;
    }
    Some(if schema.get("type").and_then(Value::as_str) == Some("object") {
        Output { schema, wrapped: false }
    } else {
        Output { schema: json!({ "type": "object", "properties": { "result": schema }, "required": ["result"] }), wrapped: true }
    })
}

/// A successful result of a tool that declares an output schema, made to keep that promise:
/// clients check `structuredContent` against the schema and refuse the whole result when it
/// does not match. An answer that matches is structured as the schema says (`Output::wrapped`);
/// one that does not, or that is not JSON at all, becomes an `isError` result that says so and
/// still shows what the API sent, so the model sees both.
pub fn conform(result: Value, output: &Output) -> Value {
    if result.get("isError").and_then(Value::as_bool) == Some(true) {
        return result;
    }
    let content = result.get("content").cloned().unwrap_or_else(|| json!([]));
    let answer = match result.get("structuredContent") {
        // `to_result` put the answer's JSON text first.
        Some(_) => content.get(0).and_then(|c| c.get("text")).and_then(Value::as_str).and_then(|t| serde_json::from_str::<Value>(t).ok()),
        None => None,
    };
    let broken = |why: String| {
        let mut blocks = vec![json!({ "type": "text", "text": why })];
        blocks.extend(content.as_array().cloned().unwrap_or_default());
        json!({ "content": blocks, "isError": true })
    };
    let Some(answer) = answer else {
        let cut =
            content.as_array().into_iter().flatten().any(|c| c["text"].as_str().is_some_and(|t| t.starts_with("[Response truncated")));
        return broken(if cut {
            "The API's answer is larger than this server passes on (UPSTREAM_MAX_BYTES), so it cannot be given as structured content. Its first part:".into()
        } else {
            "The API's answer is not the JSON its document describes for this operation, so it cannot be given as structured content. What it sent:".into()
        });
    };
    let structured = if output.wrapped { json!({ "result": answer }) } else { answer };
    let problems = validate::check_value(&output.schema, &structured, "structuredContent");
    if !problems.is_empty() {
        return broken(format!(
            "The API's answer does not match the response schema its document gives:\n- {}\nWhat it sent:",
            problems.join("\n- ")
        ));
    }
    json!({ "content": content, "structuredContent": structured, "isError": false })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::openapi::call::to_result;
    use crate::core::openapi::to_tools::build;

    #[test]
    fn output_schemas_come_from_the_success_response() {
        let doc = json!({
            "openapi": "3.0.3",
            "components": {"schemas": {"Contact": {"type": "object", "required": ["id"], "properties": {
                "id": {"type": "string"}, "password": {"type": "string", "writeOnly": true}, "nick": {"type": "string", "nullable": true}
            }}}},
            "paths": {
                "/contacts/{id}": {"get": {"summary": "Get", "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string"}}],
                    "responses": {"404": {"description": "no"}, "200": {"description": "ok", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Contact"}}}}}}},
                "/contacts": {"get": {"summary": "List", "responses": {"2XX": {"description": "ok", "content": {"application/json; charset=utf-8": {"schema": {"type": "array", "items": {"$ref": "#/components/schemas/Contact"}}}}}}},
                    "post": {"summary": "Create", "responses": {"201": {"description": "created"}}}}
            }
        });
        let catalog = build(&doc).unwrap();
        let by = |n: &str| catalog.tools.iter().find(|t| t.name == n).unwrap().clone();
        let get = by("get").output.unwrap();
        assert!(!get.wrapped);
        assert_eq!(
            get.schema["properties"].as_object().unwrap().keys().collect::<Vec<_>>(),
            vec!["id", "nick"],
            "writeOnly is never answered"
        );
        assert_eq!(get.schema["properties"]["nick"]["type"], json!(["string", "null"]));
        let list = by("list").output.unwrap();
        assert!(list.wrapped);
        assert_eq!(list.schema["required"], json!(["result"]));
        assert_eq!(list.schema["properties"]["result"]["type"], "array");
        assert!(by("create").output.is_none(), "no documented body: no output schema");
        assert_eq!(by("get").definition()["outputSchema"]["type"], "object");
        assert!(by("create").definition().get("outputSchema").is_none());
    }

    #[test]
    fn answers_keep_the_output_schema_or_say_why_not() {
        let object =
            Output { schema: json!({"type": "object", "properties": {"id": {"type": "string"}}, "required": ["id"]}), wrapped: false };
        let ok = conform(to_result(200, "application/json", br#"{"id":"c1"}"#, 1000), &object);
        assert_eq!((ok["isError"].clone(), ok["structuredContent"].clone()), (json!(false), json!({"id": "c1"})));
        let wrong = conform(to_result(200, "application/json", br#"{"id":7}"#, 1000), &object);
        assert_eq!(wrong["isError"], true);
        let why = wrong["content"][0]["text"].as_str().unwrap();
        assert!(why.contains("structuredContent.id: expected string, got integer"), "{why}");
        assert_eq!(wrong["content"][1]["text"], r#"{"id":7}"#, "what the API sent is still shown");
        assert!(wrong.get("structuredContent").is_none());
        let text = conform(to_result(200, "text/plain", b"hello", 1000), &object);
        assert_eq!(text["isError"], true);
        assert!(text["content"][0]["text"].as_str().unwrap().starts_with("The API's answer is not the JSON its document describes"));
        let list = Output {
            schema: json!({"type": "object", "properties": {"result": {"type": "array"}}, "required": ["result"]}),
            wrapped: true,
        };
        assert_eq!(conform(to_result(200, "application/json", b"[1,2]", 1000), &list)["structuredContent"], json!({"result": [1, 2]}));
        let cut = conform(to_result(200, "application/json", br#"{"id":"c1","pad":"xxxxxxxx"}"#, 10), &object);
        assert_eq!(cut["isError"], true);
        assert!(cut["content"][0]["text"].as_str().unwrap().contains("larger than this server passes on"), "{cut}");
        let failed = to_result(500, "application/json", b"{}", 1000);
        assert_eq!(conform(failed.clone(), &object), failed, "errors pass through");
    }
}

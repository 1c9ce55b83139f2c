//! OpenAPI 3.0 Schema Objects → the JSON Schema (2020-12) MCP clients expect in `inputSchema`.
//! OpenAPI 3.0 §4.7.24 differs from JSON Schema in `nullable`, boolean `exclusiveMinimum` /
//! `exclusiveMaximum` and `example`; OpenAPI 3.1 documents are JSON Schema already, and the
//! rewrites below only touch the 3.0 forms, so both pass through the same function.
use serde_json::{json, Map, Value};

/// Keywords whose values are schemas (or arrays / maps of schemas) to rewrite as well.
const SUBSCHEMA_KEYWORDS: [&str; 6] = ["items", "additionalProperties", "not", "allOf", "anyOf", "oneOf"];
/// Annotations kept on the outside when a `nullable` schema without `type` is wrapped.
const ANNOTATIONS: [&str; 4] = ["title", "description", "default", "examples"];

/// Direction of the data the schema describes: `readOnly` properties are the server's to set,
/// so a request body never carries them; `writeOnly` ones are never sent back, so a response
/// has none (OpenAPI 3.0 §4.7.24.1 `readOnly`, `writeOnly`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Request,
    Parameter,
    Response,
}

/// The JSON Schema form of `schema` (already `$ref`-resolved).
pub fn normalise(schema: Value, direction: Direction) -> Value {
    let Value::Object(mut map) = schema else { return schema };
    for keyword in SUBSCHEMA_KEYWORDS {
        if let Some(sub) = map.remove(keyword) {
            let sub = match sub {
                Value::Array(items) => Value::Array(items.into_iter().map(|s| normalise(s, direction)).collect()),
                other => normalise(other, direction),
            };
            map.insert(keyword.to_string(), sub);
        }
    }
    if let Some(Value::Object(props)) = map.remove("properties") {
        let mut kept = Map::new();
        for (name, sub) in props {
            let hidden = match direction {
                Direction::Request => "readOnly",
                Direction::Response => "writeOnly",
                Direction::Parameter => "",
            };
            if !hidden.is_empty() && sub.get(hidden).and_then(Value::as_bool) == Some(true) {
                if let Some(Value::Array(required)) = map.get_mut("required") {
                    required.retain(|r| r.as_str() != Some(name.as_str()));
                }
                continue;
            }
            kept.insert(name, normalise(sub, direction));
        }
        map.insert("properties".into(), Value::Object(kept));
    }
    for (exclusive, bound) in [("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")] {
        // 3.0: `exclusiveMinimum: true` qualifies `minimum`; JSON Schema: it is the bound itself.
        if let Some(Value::Bool(on)) = map.get(exclusive).cloned() {
            map.remove(exclusive);
            if on {
                if let Some(b) = map.remove(bound) {
                    map.insert(exclusive.to_string(), b);
                }
            }
        }
    }
    if let Some(example) = map.remove("example") {
        map.entry("examples").or_insert_with(|| json!([example]));
    }
    match map.remove("nullable") {
        Some(Value::Bool(true)) => nullable(map),
        _ => Value::Object(map),
    }
}

/// `nullable: true`: `null` joins the type list (and the enum, which would otherwise refuse it);
/// a schema without `type` (e.g. `allOf: [{$ref}]`) becomes `anyOf: [schema, {type: null}]`.
fn nullable(mut map: Map<String, Value>) -> Value {
    let with_null = match map.remove("type") {
        Some(Value::String(t)) => Some(json!([t, "null"])),
        Some(Value::Array(mut ts)) => {
            if !ts.contains(&json!("null")) {
                ts.push(json!("null"));
            }
            Some(Value::Array(ts))
        }
        Some(other) => {
            map.insert("type".into(), other);
            return Value::Object(map);
        }
        None => None,
    };
    match with_null {
        Some(types) => {
            map.insert("type".into(), types);
            if let Some(Value::Array(options)) = map.get_mut("enum") {
                if !options.contains(&Value::Null) {
                    options.push(Value::Null);
                }
            }
            Value::Object(map)
        }
        None => {
            let mut outer = Map::new();
            for k in ANNOTATIONS {
                if let Some(v) = map.remove(k) {
                    outer.insert(k.to_string(), v);
                }
            }
            outer.insert("anyOf".into(), json!([Value::Object(map), {"type": "null"}]));
            Value::Object(outer)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::openapi::validate::check;

    #[test]
    fn openapi_3_0_keywords_become_json_schema() {
        let s = normalise(json!({"type": "string", "nullable": true, "enum": ["a", "b"], "example": "a"}), Direction::Parameter);
        assert_eq!(s, json!({"type": ["string", "null"], "enum": ["a", "b", null], "examples": ["a"]}));
        let n = normalise(
            json!({"type": "number", "minimum": 0, "exclusiveMinimum": true, "maximum": 9, "exclusiveMaximum": false}),
            Direction::Parameter,
        );
        assert_eq!(n, json!({"type": "number", "exclusiveMinimum": 0, "maximum": 9}));
        let wrapped = normalise(json!({"description": "the owner", "nullable": true, "allOf": [{"type": "object"}]}), Direction::Parameter);
        assert_eq!(wrapped, json!({"description": "the owner", "anyOf": [{"allOf": [{"type": "object"}]}, {"type": "null"}]}));
        assert!(check(&wrapped, &Value::Null).is_empty());
        assert!(check(&s, &Value::Null).is_empty());
        assert_eq!(check(&n, &json!(0)), vec!["arguments: must be > 0"]);
        let already = json!({"type": ["integer", "null"], "exclusiveMinimum": 1, "examples": [2]});
        assert_eq!(normalise(already.clone(), Direction::Request), already, "3.1 schemas pass through");
    }

    #[test]
    fn read_only_properties_are_not_part_of_a_request() {
        let body = json!({"type": "object", "required": ["id", "email"], "properties": {
            "id": {"type": "string", "readOnly": true},
            "email": {"type": "string"},
            "owner": {"type": "object", "required": ["created_at"], "properties": {"created_at": {"type": "string", "readOnly": true}}},
            "tags": {"type": "array", "items": {"type": "object", "properties": {"n": {"type": "integer", "readOnly": true}}}}
        }});
        let s = normalise(body.clone(), Direction::Request);
        assert_eq!(s["required"], json!(["email"]));
        assert!(s["properties"].get("id").is_none());
        assert_eq!(s["properties"]["owner"]["required"], json!([]));
        assert_eq!(s["properties"]["tags"]["items"]["properties"], json!({}));
        assert!(check(&s, &json!({"email": "a@b.c", "owner": {}})).is_empty());
        assert!(normalise(body, Direction::Parameter)["properties"].get("id").is_some());
    }
}

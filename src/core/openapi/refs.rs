//! Local `$ref` resolution (`#/components/…`), with cycles cut instead of followed forever.
use serde_json::{json, Map, Value};

const MAX_DEPTH: usize = 24;

/// RFC 6901 JSON Pointer lookup of a local reference (`#/a/b`).
pub fn lookup<'a>(doc: &'a Value, reference: &str) -> Option<&'a Value> {
    let pointer = reference.strip_prefix('#')?;
    doc.pointer(pointer)
}

/// `value` with every local `$ref` replaced by its target. A reference to a schema that is
/// already being expanded (a cycle) becomes `{}` with a description naming it, so the result is
/// finite; so does anything nested deeper than `MAX_DEPTH`.
pub fn resolve(doc: &Value, value: &Value) -> Value {
    let mut stack = Vec::new();
    walk(doc, value, &mut stack)
}

fn walk(doc: &Value, value: &Value, stack: &mut Vec<String>) -> Value {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(reference)) = map.get("$ref") {
                let name = reference.rsplit('/').next().unwrap_or(reference).to_string();
                if stack.contains(reference) || stack.len() >= MAX_DEPTH {
                    return json!({ "description": format!("{name} (recursive; see its definition above)") });
                }
                let Some(target) = lookup(doc, reference) else {
                    return json!({ "description": format!("unresolved reference {reference}") });
                };
                stack.push(reference.clone());
                let mut resolved = walk(doc, target, stack);
                stack.pop();
                // OpenAPI 3.1 allows siblings of $ref (e.g. a description): keep them.
                if let Value::Object(out) = &mut resolved {
                    for (k, v) in map.iter().filter(|(k, _)| k.as_str() != "$ref") {
                        out.insert(k.clone(), walk(doc, v, stack));
                    }
                }
                resolved
            } else {
                let out: Map<String, Value> = map.iter().map(|(k, v)| (k.clone(), walk(doc, v, stack))).collect();
                Value::Object(out)
            }
        }
        Value::Array(items) => Value::Array(items.iter().map(|v| walk(doc, v, stack)).collect()),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_nested_refs_and_cuts_cycles() {
        let doc = json!({"components": {"schemas": {
            "A": {"type": "object", "properties": {"b": {"$ref": "#/components/schemas/B"}}},
            "B": {"type": "string"},
            "Node": {"type": "object", "properties": {"children": {"type": "array", "items": {"$ref": "#/components/schemas/Node"}}}}
        }}});
        let a = resolve(&doc, &json!({"$ref": "#/components/schemas/A"}));
        assert_eq!(a["properties"]["b"]["type"], "string");
        let node = resolve(&doc, &json!({"$ref": "#/components/schemas/Node"}));
        assert_eq!(node["properties"]["children"]["items"]["description"], "Node (recursive; see its definition above)");
        assert!(resolve(&doc, &json!({"$ref": "#/nope"}))["description"].as_str().unwrap().contains("unresolved"));
    }
}

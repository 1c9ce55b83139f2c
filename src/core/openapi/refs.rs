//! Local `$ref` resolution (`#/components/…`), with cycles cut instead of followed forever and
//! the total size of an expansion capped.
use serde_json::{json, Map, Value};

const MAX_DEPTH: usize = 24;
/// Schema nodes one tool's input may expand to. A chain of schemas that each reference the next
/// twice doubles at every step; this keeps the catalog (and `tools/list`) bounded.
pub const MAX_NODES: usize = 20_000;

/// How many nodes an expansion may still produce, and whether one was cut for lack of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Budget {
    pub left: usize,
    pub cut: bool,
}

impl Budget {
    pub fn new(nodes: usize) -> Budget {
        Budget { left: nodes, cut: false }
    }
}

impl Default for Budget {
    fn default() -> Budget {
        Budget::new(MAX_NODES)
    }
}

/// RFC 6901 JSON Pointer lookup of a local reference (`#/a/b`).
pub fn lookup<'a>(doc: &'a Value, reference: &str) -> Option<&'a Value> {
    let pointer = reference.strip_prefix('#')?;
    doc.pointer(pointer)
}

/// `value` with every local `$ref` replaced by its target. A reference to a schema that is
/// already being expanded (a cycle) becomes `{}` with a description naming it, so the result is
/// finite; so does anything nested deeper than `MAX_DEPTH`, and every reference met once
/// `budget` has run out (then `budget.cut` is set).
pub fn resolve(doc: &Value, value: &Value, budget: &mut Budget) -> Value {
    let mut stack = Vec::new();
    walk(doc, value, &mut stack, budget)
}

fn walk(doc: &Value, value: &Value, stack: &mut Vec<String>, budget: &mut Budget) -> Value {
    budget.left = budget.left.saturating_sub(1);
    match value {
        Value::Object(map) => {
            if let Some(Value::String(reference)) = map.get("$ref") {
                let name = reference.rsplit('/').next().unwrap_or(reference).to_string();
                if stack.contains(reference) || stack.len() >= MAX_DEPTH {
                    return json!({ "description": format!("{name} (recursive; see its definition above)") });
                }
                if budget.left == 0 {
                    budget.cut = true;
                    return json!({ "description": format!("{name} (not expanded: the schema is too large)") });
                }
                let Some(target) = lookup(doc, reference) else {
                    return json!({ "description": format!("unresolved reference {reference}") });
                };
                stack.push(reference.clone());
                let mut resolved = walk(doc, target, stack, budget);
                stack.pop();
                // OpenAPI 3.1 allows siblings of $ref (e.g. a description): keep them.
                if let Value::Object(out) = &mut resolved {
                    for (k, v) in map.iter().filter(|(k, _)| k.as_str() != "$ref") {
                        out.insert(k.clone(), walk(doc, v, stack, budget));
                    }
                }
                resolved
            } else {
                let out: Map<String, Value> = map.iter().map(|(k, v)| (k.clone(), walk(doc, v, stack, budget))).collect();
                Value::Object(out)
            }
        }
        Value::Array(items) => Value::Array(items.iter().map(|v| walk(doc, v, stack, budget)).collect()),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(v: &Value) -> usize {
        1 + match v {
            Value::Object(m) => m.values().map(count).sum(),
            Value::Array(a) => a.iter().map(count).sum(),
            _ => 0,
        }
    }

    #[test]
    fn resolves_nested_refs_and_cuts_cycles() {
        let doc = json!({"components": {"schemas": {
            "A": {"type": "object", "properties": {"b": {"$ref": "#/components/schemas/B"}}},
            "B": {"type": "string"},
            "Node": {"type": "object", "properties": {"children": {"type": "array", "items": {"$ref": "#/components/schemas/Node"}}}}
        }}});
        let mut budget = Budget::default();
        let a = resolve(&doc, &json!({"$ref": "#/components/schemas/A"}), &mut budget);
        assert_eq!(a["properties"]["b"]["type"], "string");
        let node = resolve(&doc, &json!({"$ref": "#/components/schemas/Node"}), &mut budget);
        assert_eq!(node["properties"]["children"]["items"]["description"], "Node (recursive; see its definition above)");
        assert!(resolve(&doc, &json!({"$ref": "#/nope"}), &mut budget)["description"].as_str().unwrap().contains("unresolved"));
        assert!(!budget.cut);
    }

    #[test]
    fn an_exponential_expansion_is_cut_at_the_budget() {
        // S0 → S1 twice → S2 twice … : 2^23 leaves if followed.
        let mut schemas = Map::new();
        for i in 0..23 {
            let next = json!({"$ref": format!("#/components/schemas/S{}", i + 1)});
            schemas.insert(format!("S{i}"), json!({"type": "object", "properties": {"a": next, "b": next}}));
        }
        schemas.insert("S23".into(), json!({"type": "string"}));
        let doc = json!({"components": {"schemas": schemas}});
        let mut budget = Budget::default();
        let out = resolve(&doc, &json!({"$ref": "#/components/schemas/S0"}), &mut budget);
        assert!(budget.cut);
        assert!(count(&out) < 2 * MAX_NODES, "{} nodes", count(&out));
        assert!(out.to_string().contains("(not expanded: the schema is too large)"));
    }
}

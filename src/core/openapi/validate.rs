//! Argument checks before anything is sent upstream: the JSON Schema keywords OpenAPI documents
//! use for inputs — `type` (incl. OpenAPI 3.0 `nullable`), `enum`, `const`, `required`,
//! `properties`, `additionalProperties: false`, `items`, `minItems`/`maxItems`,
//! `minLength`/`maxLength`, `minimum`/`maximum`, `exclusiveMinimum`/`exclusiveMaximum` (the
//! JSON Schema numeric form: `schema::normalise` rewrites OpenAPI 3.0's booleans),
//! `allOf`/`anyOf`/`oneOf`. `pattern` and `format` are left to the upstream. Every problem is
//! reported, each with its JSON path.
use serde_json::Value;

pub fn check(schema: &Value, value: &Value) -> Vec<String> {
    check_value(schema, value, "arguments")
}

/// `check`, with paths starting at `root` (`structuredContent` for a tool's answer).
pub fn check_value(schema: &Value, value: &Value, root: &str) -> Vec<String> {
    let mut problems = Vec::new();
    walk(schema, value, root, &mut problems);
    problems
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn type_matches(expected: &str, v: &Value) -> bool {
    let actual = type_name(v);
    expected == actual
        || (expected == "number" && actual == "integer")
        || (expected == "integer" && v.as_f64().is_some_and(|f| f.fract() == 0.0))
}

fn walk(schema: &Value, value: &Value, at: &str, out: &mut Vec<String>) {
    let Value::Object(s) = schema else { return };
    let nullable = s.get("nullable").and_then(Value::as_bool).unwrap_or(false);
    if value.is_null() && nullable {
        return;
    }
    if let Some(t) = s.get("type") {
        let allowed: Vec<&str> = match t {
            Value::String(one) => vec![one.as_str()],
            Value::Array(many) => many.iter().filter_map(Value::as_str).collect(),
            _ => vec![],
        };
        if !allowed.is_empty() && !allowed.iter().any(|a| type_matches(a, value)) {
            out.push(format!("{at}: expected {}, got {}", allowed.join(" or "), type_name(value)));
            return;
        }
    }
    if let Some(Value::Array(options)) = s.get("enum") {
        if !options.contains(value) {
            let list: Vec<String> = options.iter().map(Value::to_string).collect();
            out.push(format!("{at}: must be one of {}", list.join(", ")));
        }
    }
    if let Some(c) = s.get("const") {
        if c != value {
            out.push(format!("{at}: must be {c}"));
        }
    }
    match value {
        Value::Object(obj) => {
            if let Some(Value::Array(req)) = s.get("required") {
                for name in req.iter().filter_map(Value::as_str) {
                    if !obj.contains_key(name) {
                        out.push(format!("{at}.{name}: is required"));
                    }
                }
            }
            let props = s.get("properties").and_then(Value::as_object);
            for (k, v) in obj {
                match props.and_then(|p| p.get(k)) {
                    Some(sub) => walk(sub, v, &format!("{at}.{k}"), out),
                    None => match s.get("additionalProperties") {
                        Some(Value::Bool(false)) => out.push(format!("{at}.{k}: is not an accepted property")),
                        Some(sub @ Value::Object(_)) => walk(sub, v, &format!("{at}.{k}"), out),
                        _ => {}
                    },
                }
            }
        }
        Value::Array(items) => {
            bound(s, "minItems", "maxItems", items.len(), "items", at, out);
            if let Some(item_schema) = s.get("items") {
                for (i, v) in items.iter().enumerate() {
                    walk(item_schema, v, &format!("{at}[{i}]"), out);
                }
            }
        }
        Value::String(text) => bound(s, "minLength", "maxLength", text.chars().count(), "characters", at, out),
        Value::Number(n) => {
            let x = n.as_f64().unwrap_or(0.0);
            if s.get("minimum").and_then(Value::as_f64).is_some_and(|m| x < m) {
                out.push(format!("{at}: must be ≥ {}", s["minimum"]));
            }
            if s.get("maximum").and_then(Value::as_f64).is_some_and(|m| x > m) {
                out.push(format!("{at}: must be ≤ {}", s["maximum"]));
            }
            if s.get("exclusiveMinimum").and_then(Value::as_f64).is_some_and(|m| x <= m) {
                out.push(format!("{at}: must be > {}", s["exclusiveMinimum"]));
            }
            if s.get("exclusiveMaximum").and_then(Value::as_f64).is_some_and(|m| x >= m) {
                out.push(format!("{at}: must be < {}", s["exclusiveMaximum"]));
            }
        }
        _ => {}
    }
    if let Some(Value::Array(all)) = s.get("allOf") {
        for sub in all {
            walk(sub, value, at, out);
        }
    }
    for (keyword, exactly_one) in [("anyOf", false), ("oneOf", true)] {
        if let Some(Value::Array(options)) = s.get(keyword) {
            let passing = options.iter().filter(|o| check_at(o, value, at).is_empty()).count();
            if passing == 0 || (exactly_one && passing > 1) {
                out.push(format!("{at}: does not match {} of the allowed shapes", if exactly_one { "exactly one" } else { "any" }));
            }
        }
    }
}

fn check_at(schema: &Value, value: &Value, at: &str) -> Vec<String> {
    let mut problems = Vec::new();
    walk(schema, value, at, &mut problems);
    problems
}

fn bound(s: &serde_json::Map<String, Value>, min: &str, max: &str, n: usize, unit: &str, at: &str, out: &mut Vec<String>) {
    if s.get(min).and_then(Value::as_u64).is_some_and(|m| (n as u64) < m) {
        out.push(format!("{at}: needs at least {} {unit}", s[min]));
    }
    if s.get(max).and_then(Value::as_u64).is_some_and(|m| (n as u64) > m) {
        out.push(format!("{at}: allows at most {} {unit}", s[max]));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reports_every_problem_with_its_path() {
        let schema = json!({
            "type": "object", "additionalProperties": false, "required": ["body"],
            "properties": {"body": {"type": "object", "required": ["email", "status"], "properties": {
                "email": {"type": "string", "minLength": 3},
                "status": {"type": "string", "enum": ["active", "bounced"]},
                "age": {"type": "integer", "minimum": 0},
                "tags": {"type": "array", "maxItems": 2, "items": {"type": "string"}}
            }}}
        });
        assert!(check(&schema, &json!({"body": {"email": "a@b.c", "status": "active"}})).is_empty());
        let problems = check(&schema, &json!({"body": {"email": "a", "age": -1.5, "tags": ["x", 1, "z"]}, "extra": 1}));
        assert_eq!(
            problems,
            vec![
                "arguments.body.status: is required",
                "arguments.body.age: expected integer, got number",
                "arguments.body.email: needs at least 3 characters",
                "arguments.body.tags: allows at most 2 items",
                "arguments.body.tags[1]: expected string, got integer",
                "arguments.extra: is not an accepted property",
            ]
        );
    }

    #[test]
    fn combinators_and_nullable() {
        let one_of = json!({"oneOf": [{"type": "string"}, {"type": "integer"}]});
        assert!(check(&one_of, &json!(3)).is_empty());
        assert_eq!(check(&one_of, &json!(true)).len(), 1);
        assert!(check(&json!({"type": "string", "nullable": true}), &Value::Null).is_empty());
        assert!(check(&json!({"type": ["string", "null"]}), &Value::Null).is_empty());
        assert!(check(&json!({"type": ["string", "null"], "enum": ["a", null]}), &Value::Null).is_empty());
    }

    #[test]
    fn exclusive_bounds() {
        let s = json!({"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 10});
        assert!(check(&s, &json!(5)).is_empty());
        assert_eq!(check(&s, &json!(0)), vec!["arguments: must be > 0"]);
        assert_eq!(check(&s, &json!(10)), vec!["arguments: must be < 10"]);
    }
}

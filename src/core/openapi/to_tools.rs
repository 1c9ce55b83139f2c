//! OpenAPI 3.0/3.1 operations → MCP tools, by the reference product's rules: GET, POST, PATCH,
//! PUT and DELETE operations; name from the summary (snake_case), else method + path; inputs
//! `pathParams`, `query` and `body`; required scopes from a `**Required scope:** X` line (`ALL`
//! when there is none: authorization fails closed).
use std::collections::BTreeSet;

use serde_json::{json, Map, Value};

use super::output::Output;
use super::refs::{lookup, resolve, Budget};
use super::required_scopes::RequiredScopes;
use super::schema::{normalise, Direction};
use crate::core::mcp::tools::NATIVE_TOOLS;

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];
const MAX_NAME: usize = 64;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// `form` (query default): explode → `k=a&k=b`, else `k=a,b`.
    Form {
        explode: bool,
    },
    SpaceDelimited,
    PipeDelimited,
    /// `k[a]=1&k[b]=2`
    DeepObject,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Param {
    pub name: String,
    pub required: bool,
    pub schema: Value,
    pub description: Option<String>,
    pub style: Style,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ApiTool {
    pub name: String,
    pub title: String,
    pub description: String,
    pub method: String,
    pub path: String,
    pub path_params: Vec<Param>,
    pub query_params: Vec<Param>,
    /// The JSON request body schema and whether it is required.
    pub body: Option<(Value, bool)>,
    pub required_scopes: RequiredScopes,
    pub input_schema: Value,
    /// The MCP `outputSchema`, from the JSON schema of the operation's success response.
    pub output: Option<Output>,
    /// `definition()` serialized once, when the catalog is built: `tools/list` copies these
    /// bytes instead of rebuilding and reserializing every schema on every call.
    pub listing: String,
}

impl ApiTool {
    /// The `tools/list` entry. MCP `destructiveHint`: false only when the tool's updates are
    /// purely additive, so every method that can replace or remove (PUT, PATCH, DELETE) is
    /// destructive; POST creates, so it is not.
    pub fn definition(&self) -> Value {
        let method = self.method.as_str();
        let mut definition = json!({
            "name": self.name,
            "title": self.title,
            "description": self.description,
            "inputSchema": self.input_schema,
            "annotations": {
                "title": self.title,
                "readOnlyHint": method == "GET",
                "destructiveHint": matches!(method, "DELETE" | "PUT" | "PATCH"),
                "idempotentHint": matches!(method, "GET" | "PUT" | "DELETE"),
                "openWorldHint": false,
            }
        });
        if let Some(output) = &self.output {
            definition["outputSchema"] = output.schema.clone();
        }
        definition
    }
}

/// The catalog built from one document: tools, what could not be used (with reasons), and what
/// was used with a caveat (no scope line, an input schema cut to size).
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    pub tools: Vec<ApiTool>,
    pub skipped: Vec<String>,
    pub notes: Vec<String>,
}

pub fn build(doc: &Value) -> Result<Catalog, String> {
    let version = doc.get("openapi").and_then(Value::as_str).unwrap_or("");
    if !(version.starts_with("3.0") || version.starts_with("3.1")) {
        return Err(format!("not an OpenAPI 3.0/3.1 document (openapi: `{version}`)"));
    }
    let paths = doc.get("paths").and_then(Value::as_object).ok_or("the document has no `paths` object")?;
    let mut catalog = Catalog::default();
    // Native tools keep their names: an operation summarised "MCP whoami" becomes `mcp_whoami_2`.
    let mut taken: BTreeSet<String> = NATIVE_TOOLS.iter().map(|n| n.to_string()).collect();
    // serde_json orders keys, so iteration (and thus collision suffixes) is deterministic.
    for (path, item) in paths {
        // A path item may be a `$ref` to another; one naming nothing must not vanish unreported.
        let item = match item.get("$ref").and_then(Value::as_str) {
            None => item,
            Some(r) => match lookup(doc, r) {
                Some(target) => target,
                None => {
                    catalog.skipped.push(format!("{path}: the path item's $ref `{r}` does not resolve"));
                    continue;
                }
            },
        };
        let shared = item.get("parameters").cloned().unwrap_or(Value::Null);
        for method in METHODS {
            let Some(op) = item.get(method) else { continue };
            match operation(doc, path, method, op, &shared, &mut taken, &mut catalog.notes) {
                Ok(tool) => catalog.tools.push(tool),
                Err(e) => catalog.skipped.push(format!("{} {path}: {e}", method.to_uppercase())),
            }
        }
    }
    Ok(catalog)
}

fn operation(
    doc: &Value,
    path: &str,
    method: &str,
    op: &Value,
    shared: &Value,
    taken: &mut BTreeSet<String>,
    notes: &mut Vec<String>,
) -> Result<ApiTool, String> {
    let summary = op.get("summary").and_then(Value::as_str).map(str::trim).filter(|s| !s.is_empty());
    let description = op.get("description").and_then(Value::as_str).unwrap_or("").trim();
    let base = summary.map(snake_case).filter(|n| !n.is_empty()).unwrap_or_else(|| snake_case(&format!("{method} {path}")));
    let mut budget = Budget::default();
    let (path_params, query_params) = parameters(doc, shared, op.get("parameters"), &mut budget)?;
    for p in &path_params {
        if !path.contains(&format!("{{{}}}", p.name)) {
            return Err(format!("path parameter `{}` does not appear in the path", p.name));
        }
    }
    let body = request_body(doc, op.get("requestBody"), &mut budget);
    let output = super::output::from_responses(doc, op.get("responses"), &mut budget);
    let name = unique(base, taken);
    let operation = format!("{} {path} (tool {name})", method.to_uppercase());
    if budget.cut {
        notes.push(format!(
            "operation {operation}: its input schema was cut at {} nodes (the $refs expand too far)",
            super::refs::MAX_NODES
        ));
    }
    let required_scopes = match RequiredScopes::parse(description) {
        Ok(Some(required)) => required,
        Ok(None) => {
            notes.push(format!("operation {operation} has no **Required scope:** line; only ALL can call it"));
            RequiredScopes::all_only()
        }
        Err(_) => {
            notes.push(format!(
                "operation {operation}: its **Required scope:** lines allow more than {} combinations of scopes; only ALL can call it",
                super::required_scopes::MAX_ALTERNATIVES
            ));
            RequiredScopes::all_only()
        }
    };
    let title = summary.map(str::to_string).unwrap_or_else(|| format!("{} {path}", method.to_uppercase()));
    let full_description = match (summary, description.is_empty()) {
        (Some(s), false) => format!("{s}\n\n{description}"),
        (Some(s), true) => s.to_string(),
        (None, false) => description.to_string(),
        (None, true) => title.clone(),
    };
    let input_schema = input_schema(&path_params, &query_params, body.as_ref());
    let mut tool = ApiTool {
        name,
        title,
        description: full_description,
        method: method.to_uppercase(),
        path: path.to_string(),
        path_params,
        query_params,
        body,
        required_scopes,
        input_schema,
        output,
        listing: String::new(),
    };
    tool.listing = tool.definition().to_string();
    Ok(tool)
}

/// snake_case suitable as an MCP tool name ([a-z0-9_], ≤ 64 characters).
pub fn snake_case(text: &str) -> String {
    let mut out = String::new();
    let mut prev_lower = false;
    for c in text.chars() {
        if c.is_ascii_alphanumeric() {
            if c.is_ascii_uppercase() && prev_lower && !out.ends_with('_') {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
            prev_lower = c.is_ascii_lowercase() || c.is_ascii_digit();
        } else {
            if !out.is_empty() && !out.ends_with('_') {
                out.push('_');
            }
            prev_lower = false;
        }
    }
    let trimmed = out.trim_matches('_');
    trimmed.chars().take(MAX_NAME).collect::<String>().trim_end_matches('_').to_string()
}

fn unique(base: String, taken: &mut BTreeSet<String>) -> String {
    let mut name = base.clone();
    let mut n = 2;
    while taken.contains(&name) {
        let suffix = format!("_{n}");
        let keep = MAX_NAME.saturating_sub(suffix.len()).min(base.len());
        name = format!("{}{suffix}", &base[..keep]);
        n += 1;
    }
    taken.insert(name.clone());
    name
}

/// Path-level parameters overridden by operation-level ones with the same name and location.
fn parameters(doc: &Value, shared: &Value, own: Option<&Value>, budget: &mut Budget) -> Result<(Vec<Param>, Vec<Param>), String> {
    let mut merged: Vec<Value> = Vec::new();
    for list in [Some(shared), own].into_iter().flatten() {
        for p in list.as_array().into_iter().flatten() {
            let p = resolve(doc, p, budget);
            let key = (p.get("name").cloned(), p.get("in").cloned());
            merged.retain(|q| (q.get("name").cloned(), q.get("in").cloned()) != key);
            merged.push(p);
        }
    }
    let (mut path, mut query) = (Vec::new(), Vec::new());
    for p in merged {
        let name = p.get("name").and_then(Value::as_str).ok_or("a parameter has no name")?.to_string();
        let location = p.get("in").and_then(Value::as_str).unwrap_or("");
        let schema = normalise(p.get("schema").cloned().unwrap_or_else(|| json!({})), Direction::Parameter);
        let explode = p.get("explode").and_then(Value::as_bool);
        let style = match p.get("style").and_then(Value::as_str) {
            Some("spaceDelimited") => Style::SpaceDelimited,
            Some("pipeDelimited") => Style::PipeDelimited,
            Some("deepObject") => Style::DeepObject,
            _ => Style::Form { explode: explode.unwrap_or(true) },
        };
        let param = Param {
            required: location == "path" || p.get("required").and_then(Value::as_bool).unwrap_or(false),
            description: p.get("description").and_then(Value::as_str).map(str::to_string),
            name,
            schema,
            style,
        };
        match location {
            "path" => path.push(param),
            "query" => query.push(param),
            // A call could never supply a required header or cookie: no tool, and say why.
            "header" | "cookie" if param.required => {
                return Err(format!("the required {location} parameter `{}` cannot be sent by a tool", param.name));
            }
            // Optional headers and cookies are left out (authentication is ours).
            _ => {}
        }
    }
    Ok((path, query))
}

fn request_body(doc: &Value, body: Option<&Value>, budget: &mut Budget) -> Option<(Value, bool)> {
    let body = resolve(doc, body?, budget);
    let content = body.get("content")?.as_object()?;
    let schema = content
        .iter()
        .find(|(mime, _)| mime.starts_with("application/json") || mime.ends_with("+json"))
        .map(|(_, media)| normalise(media.get("schema").cloned().unwrap_or_else(|| json!({})), Direction::Request))?;
    Some((schema, body.get("required").and_then(Value::as_bool).unwrap_or(false)))
}

fn object_of(params: &[Param]) -> Value {
    let mut properties = Map::new();
    let mut required = Vec::new();
    for p in params {
        let mut schema = p.schema.clone();
        if let (Some(d), Value::Object(map)) = (&p.description, &mut schema) {
            map.entry("description").or_insert_with(|| json!(d));
        }
        properties.insert(p.name.clone(), schema);
        if p.required {
            required.push(json!(p.name));
        }
    }
    json!({ "type": "object", "properties": properties, "required": required, "additionalProperties": false })
}

fn input_schema(path: &[Param], query: &[Param], body: Option<&(Value, bool)>) -> Value {
    let mut properties = Map::new();
    let mut required = Vec::new();
    if !path.is_empty() {
        properties.insert("pathParams".into(), object_of(path));
        required.push(json!("pathParams"));
    }
    if !query.is_empty() {
        properties.insert("query".into(), object_of(query));
        if query.iter().any(|p| p.required) {
            required.push(json!("query"));
        }
    }
    if let Some((schema, is_required)) = body {
        properties.insert("body".into(), schema.clone());
        if *is_required {
            required.push(json!("body"));
        }
    }
    json!({ "type": "object", "properties": properties, "required": required, "additionalProperties": false })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc() -> Value {
        json!({
            "openapi": "3.1.0",
            "paths": {
                "/contacts": {
                    "get": {"summary": "List contacts", "description": "All of them.\n\n**Required scope:** CONTACTS_READ",
                            "parameters": [{"name": "tags", "in": "query", "schema": {"type": "array", "items": {"type": "string"}}}]},
                    "post": {"summary": "Create contact", "description": "**Required scope:** `CONTACTS_WRITE`",
                             "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ContactInput"}}}}}
                },
                "/contacts/{contactId}": {
                    "parameters": [{"$ref": "#/components/parameters/ContactId"}],
                    "get": {"summary": "Get a contact", "description": "**Required scope:** CONTACTS_READ"},
                    "delete": {"description": "**Required scopes:** CONTACTS_WRITE, ALL"}
                },
                "/lists/{id}": {"get": {"summary": "Get a contact", "parameters": [{"name": "id", "in": "path", "schema": {"type": "string"}}]}},
                "/bad/{x}": {"get": {"summary": "Bad", "parameters": [{"name": "y", "in": "path"}]}}
            },
            "components": {
                "parameters": {"ContactId": {"name": "contactId", "in": "path", "required": true, "schema": {"type": "string"}}},
                "schemas": {"ContactInput": {"type": "object", "required": ["email"], "properties": {"email": {"type": "string"}}}}
            }
        })
    }

    #[test]
    fn generates_tools_by_the_rules() {
        let c = build(&doc()).unwrap();
        let names: Vec<&str> = c.tools.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, vec!["list_contacts", "create_contact", "get_a_contact", "delete_contacts_contact_id", "get_a_contact_2"]);
        assert_eq!(c.skipped, vec!["GET /bad/{x}: path parameter `y` does not appear in the path"]);
        let create = &c.tools[1];
        assert_eq!(create.required_scopes, RequiredScopes::all_of(["CONTACTS_WRITE"]).unwrap());
        assert_eq!(create.input_schema["properties"]["body"]["required"], json!(["email"]));
        assert_eq!(create.input_schema["required"], json!(["body"]));
        let get = &c.tools[2];
        assert_eq!(get.input_schema["properties"]["pathParams"]["required"], json!(["contactId"]));
        assert_eq!(c.tools[3].required_scopes, RequiredScopes::all_of(["CONTACTS_WRITE", "ALL"]).unwrap());
        assert_eq!(c.tools[3].definition()["annotations"]["destructiveHint"], true);
        assert_eq!(c.tools[0].definition()["annotations"]["readOnlyHint"], true);
        assert!(c.tools[0].input_schema["properties"].get("body").is_none());
    }

    #[test]
    fn an_operation_without_a_scope_line_needs_all() {
        let c = build(&doc()).unwrap();
        let unscoped = &c.tools[4];
        assert_eq!(unscoped.name, "get_a_contact_2");
        assert_eq!(unscoped.required_scopes, RequiredScopes::all_only());
        assert_eq!(c.notes, vec!["operation GET /lists/{id} (tool get_a_contact_2) has no **Required scope:** line; only ALL can call it"]);
    }

    #[test]
    fn native_tool_names_are_reserved() {
        let doc = json!({"openapi": "3.1.0", "paths": {"/me": {"get": {"summary": "MCP whoami", "description": "**Required scope:** WORKSPACE_READ"}}}});
        let c = build(&doc).unwrap();
        assert_eq!(c.tools[0].name, "mcp_whoami_2");
    }

    #[test]
    fn annotations_follow_the_method() {
        let op = json!({"summary": "x", "description": "**Required scope:** ALL"});
        let doc = json!({"openapi": "3.1.0", "paths": {"/a": {"get": op, "post": op, "put": op, "patch": op, "delete": op}}});
        let hints: Vec<(String, Value, Value, Value)> = build(&doc)
            .unwrap()
            .tools
            .iter()
            .map(|t| {
                let a = t.definition()["annotations"].clone();
                (t.method.clone(), a["readOnlyHint"].clone(), a["destructiveHint"].clone(), a["idempotentHint"].clone())
            })
            .collect();
        let row = |m: &str, r: bool, d: bool, i: bool| (m.to_string(), json!(r), json!(d), json!(i));
        assert_eq!(
            hints,
            vec![
                row("GET", true, false, true),
                row("POST", false, false, false),
                row("PUT", false, true, true),
                row("PATCH", false, true, false),
                row("DELETE", false, true, true)
            ]
        );
    }

    #[test]
    fn openapi_3_0_schemas_become_json_schema_inputs() {
        let doc = json!({"openapi": "3.0.3", "paths": {"/c/{id}": {"put": {"summary": "Replace", "description": "**Required scope:** ALL",
            "parameters": [
                {"name": "id", "in": "path", "required": true, "schema": {"type": "string"}},
                {"name": "since", "in": "query", "schema": {"type": "integer", "nullable": true, "minimum": 0, "exclusiveMinimum": true, "example": 5}}
            ],
            "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/C"}}}}}}},
            "components": {"schemas": {"C": {"type": "object", "required": ["id", "email"], "properties": {
                "id": {"type": "string", "readOnly": true}, "email": {"type": "string"}, "note": {"type": "string", "nullable": true}}}}}});
        let tool = &build(&doc).unwrap().tools[0];
        let since = &tool.input_schema["properties"]["query"]["properties"]["since"];
        assert_eq!(since, &json!({"type": ["integer", "null"], "exclusiveMinimum": 0, "examples": [5]}));
        let body = &tool.input_schema["properties"]["body"];
        assert_eq!(body["required"], json!(["email"]));
        assert!(body["properties"].get("id").is_none(), "readOnly: not part of a request");
        let args = json!({"pathParams": {"id": "1"}, "query": {"since": null}, "body": {"email": "a@b.c", "note": null}});
        assert!(super::super::validate::check(&tool.input_schema, &args).is_empty());
        let bad = json!({"pathParams": {"id": "1"}, "query": {"since": 0}, "body": {"email": "a@b.c"}});
        assert_eq!(super::super::validate::check(&tool.input_schema, &bad), vec!["arguments.query.since: must be > 0"]);
    }

    #[test]
    fn names_are_valid_and_bounded() {
        assert_eq!(snake_case("List Contacts (v2)!"), "list_contacts_v2");
        assert_eq!(snake_case("getContactByID"), "get_contact_by_id");
        assert_eq!(snake_case(&"a".repeat(100)).len(), 64);
        let mut taken = BTreeSet::new();
        let long = "x".repeat(64);
        assert_eq!(unique(long.clone(), &mut taken), long);
        assert_eq!(unique(long.clone(), &mut taken).len(), 64);
    }

    #[test]
    fn non_json_request_bodies_give_no_body_input() {
        let doc = json!({"openapi": "3.0.3", "paths": {"/upload": {"post": {"summary": "Upload",
            "requestBody": {"required": true, "content": {"multipart/form-data": {"schema": {"type": "object"}}}}}}}});
        let tool = &build(&doc).unwrap().tools[0];
        assert!(tool.body.is_none());
        assert_eq!(tool.input_schema, json!({"type": "object", "properties": {}, "required": [], "additionalProperties": false}));
        let vendor = json!({"openapi": "3.1.0", "paths": {"/x": {"put": {"requestBody": {"content": {"application/vnd.api+json": {"schema": {"type": "object"}}}}}}}});
        assert!(build(&vendor).unwrap().tools[0].body.is_some(), "+json media types are JSON");
    }

    #[test]
    fn a_required_header_parameter_skips_the_operation_and_says_why() {
        let doc = json!({"openapi": "3.1.0", "paths": {"/x": {
            "get": {"summary": "Needs a header", "parameters": [{"name": "X-Tenant", "in": "header", "required": true, "schema": {"type": "string"}}]},
            "post": {"summary": "Optional header", "parameters": [{"name": "X-Trace", "in": "header", "schema": {"type": "string"}}]}
        }}});
        let c = build(&doc).unwrap();
        assert_eq!(c.tools.iter().map(|t| t.name.as_str()).collect::<Vec<_>>(), vec!["optional_header"]);
        assert_eq!(c.skipped, vec!["GET /x: the required header parameter `X-Tenant` cannot be sent by a tool"]);
    }

    #[test]
    fn a_path_item_ref_that_resolves_nowhere_is_reported() {
        let op = json!({"summary": "Get", "description": "**Required scope:** ALL"});
        let doc =
            json!({"openapi": "3.1.0", "paths": {"/a": {"get": op}, "/b": {"$ref": "#/paths/~1a"}, "/c": {"$ref": "#/paths/~1nowhere"}}});
        let c = build(&doc).unwrap();
        assert_eq!(c.tools.iter().map(|t| t.name.as_str()).collect::<Vec<_>>(), vec!["get", "get_2"]);
        assert_eq!(c.skipped, vec!["/c: the path item's $ref `#/paths/~1nowhere` does not resolve"]);
    }

    #[test]
    fn refuses_what_is_not_openapi_3() {
        assert!(build(&json!({"swagger": "2.0"})).is_err());
        assert!(build(&json!({"openapi": "3.0.3"})).is_err());
    }
}

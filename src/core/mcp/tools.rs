//! The native tools. `mcp_whoami` is the only one; the OpenAPI-derived tools are listed after it
//! and may never take its name.
use chrono::{TimeZone, Utc};
use serde_json::{json, Value};

use crate::core::ids::{Email, WorkspaceId};
use crate::core::oauth::types::ClientId;

/// Who is calling, resolved from a verified token and the live policy.
#[derive(Debug, Clone, PartialEq)]
pub struct Caller {
    pub user_email: Email,
    pub user_name: String,
    pub workspace_id: WorkspaceId,
    pub workspace_name: String,
    pub client_id: ClientId,
    pub client_name: String,
    /// Effective scopes: granted ∩ the workspace's current ceiling.
    pub scopes: Vec<String>,
    /// The workspace's current scope ceiling: what a re-authorization could grant (step-up).
    pub ceiling: Vec<String>,
    pub expires_at: i64,
}

pub const WHOAMI: &str = "mcp_whoami";
/// Names no generated tool may take.
pub const NATIVE_TOOLS: [&str; 1] = [WHOAMI];

/// The tools this server answers itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NativeTool {
    Whoami,
}

impl NativeTool {
    pub fn from_name(name: &str) -> Option<NativeTool> {
        (name == WHOAMI).then_some(NativeTool::Whoami)
    }
}
/// How many of the API catalog's problems `mcp_whoami` shows.
const PROBLEMS_SHOWN: usize = 5;

/// The API tools as this connection sees them: what `mcp_whoami` reports, so that a user whose
/// document is broken (or whose scopes allow nothing) learns why there are no tools.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ApiToolsStatus {
    /// Tools this connection's scopes allow.
    pub available: usize,
    /// Tools in the catalog.
    pub total: usize,
    /// Why there are no (or fewer) tools.
    pub problems: Vec<String>,
}

pub fn whoami_definition() -> Value {
    let person =
        json!({"type": "object", "properties": {"email": {"type": "string"}, "name": {"type": "string"}}, "required": ["email", "name"]});
    let named = json!({"type": "object", "properties": {"id": {"type": "string"}, "name": {"type": "string"}}, "required": ["id", "name"]});
    json!({
        "name": WHOAMI,
        "title": "Who am I",
        "description": "Shows who this connection acts as: the user, the workspace, the OAuth client, the scopes in effect and when the access token expires.",
        "inputSchema": { "type": "object", "properties": {}, "additionalProperties": false },
        "outputSchema": {
            "type": "object",
            "properties": {
                "user": person,
                "workspace": named,
                "client": named,
                "scopes": { "type": "array", "items": { "type": "string" } },
                "expires_at": { "type": "string", "description": "Access token expiry, RFC 3339 (UTC)" },
                "expires_in": { "type": "integer", "description": "Seconds until the access token expires" },
                "api_tools": {
                    "type": "object",
                    "description": "The tools generated from the product's OpenAPI document",
                    "properties": {
                        "available": { "type": "integer", "description": "Tools this connection's scopes allow" },
                        "total": { "type": "integer", "description": "Tools in the catalog" },
                        "problems": { "type": "array", "items": { "type": "string" }, "description": format!("The first {PROBLEMS_SHOWN} problems with the document, if any") }
                    },
                    "required": ["available", "total", "problems"]
                }
            },
            "required": ["user", "workspace", "client", "scopes", "expires_at", "expires_in", "api_tools"]
        },
        "annotations": { "readOnlyHint": true, "destructiveHint": false, "idempotentHint": true, "openWorldHint": false }
    })
}

pub fn whoami(caller: &Caller, now: i64, api: &ApiToolsStatus) -> Value {
    let expires_at =
        Utc.timestamp_opt(caller.expires_at, 0).single().map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)).unwrap_or_default();
    let expires_in = (caller.expires_at - now).max(0);
    let structured = json!({
        "user": { "email": caller.user_email, "name": caller.user_name },
        "workspace": { "id": caller.workspace_id, "name": caller.workspace_name },
        "client": { "id": caller.client_id, "name": caller.client_name },
        "scopes": caller.scopes,
        "expires_at": expires_at,
        "expires_in": expires_in,
        "api_tools": {
            "available": api.available,
            "total": api.total,
            "problems": api.problems.iter().take(PROBLEMS_SHOWN).collect::<Vec<_>>(),
        },
    });
    let scopes = if caller.scopes.is_empty() { "(none)".to_string() } else { caller.scopes.join(", ") };
    let mut text = format!(
        "You are {} <{}> in workspace {} ({}), connected through {} ({}).\nScopes: {}\nAccess token expires at {} (in {} s).\nAPI tools: {} of {} available to this connection.",
        caller.user_name,
        caller.user_email,
        caller.workspace_name,
        caller.workspace_id,
        caller.client_name,
        caller.client_id,
        scopes,
        expires_at,
        expires_in,
        api.available,
        api.total
    );
    if !api.problems.is_empty() {
        let more = api.problems.len().saturating_sub(PROBLEMS_SHOWN);
        let shown = api.problems.iter().take(PROBLEMS_SHOWN).map(String::as_str).collect::<Vec<_>>().join("\n- ");
        text.push_str(&format!("\nThe API document has problems:\n- {shown}"));
        if more > 0 {
            text.push_str(&format!("\n(and {more} more; see the server logs)"));
        }
    }
    json!({ "content": [{ "type": "text", "text": text }], "structuredContent": structured, "isError": false })
}

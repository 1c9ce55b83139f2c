//! One request, start to finish: routing and the orchestration of each endpoint over the
//! storage traits of `crate::core::store`. No `worker` import: tests run it natively against
//! in-memory stores, and the edge runs it against KV and Durable Objects.
#![forbid(unsafe_code)]
#![allow(async_fn_in_trait)]

mod admin;
mod api_tools;
mod authorize;
mod discovery;
mod mcp;
mod pages;
mod register;
mod revoke;
mod signin;
mod token;

use serde_json::json;

use crate::core::config::Config;
use crate::core::http::{Method, Request, Response};
use crate::core::oauth::keys::Keys;
use crate::core::policy::model::{valid_workspace_id, PolicyError, WorkspacePolicy};
use crate::core::store::{ClientStore, CodeStore, ConnectionStore, PolicySource, StoreError, WorkspaceStore};

/// Everything a request may use: configuration, keys, time, randomness and storage.
pub trait Services: PolicySource + ClientStore + CodeStore + ConnectionStore + WorkspaceStore {
    fn config(&self) -> &Config;
    fn keys(&self) -> &Keys;
    /// Unix seconds.
    fn now(&self) -> i64;
    fn fill_random(&self, buf: &mut [u8]);
    fn log(&self, line: &str);

    /// The OpenAPI tool catalog, built once per document version per isolate.
    async fn api_catalog(&self) -> std::rc::Rc<crate::core::openapi::catalog::ApiCatalog>;

    /// Sends a request to the upstream API (with the configured timeout and size limit).
    async fn upstream(
        &self,
        request: &crate::core::openapi::call::UpstreamRequest,
        headers: &[(String, String)],
    ) -> Result<UpstreamResponse, UpstreamFailure>;

    fn random_token(&self) -> String {
        let mut buf = [0u8; 32];
        self.fill_random(&mut buf);
        crate::core::b64::encode(&buf)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct UpstreamResponse {
    pub status: u16,
    pub content_type: String,
    pub body: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum UpstreamFailure {
    Timeout { after_ms: u64 },
    Network(String),
}

/// Token endpoint paths: the canonical one and the aliases clients fall back to.
const TOKEN_PATHS: [&str; 4] = ["/token", "/oauth/token", "/oauth2/token", "/oauth/v2/token"];
const REGISTER_PATHS: [&str; 3] = ["/register", "/oauth/register", "/oauth2/register"];
const REVOKE_PATHS: [&str; 3] = ["/revoke", "/oauth/revoke", "/oauth2/revoke"];

pub async fn handle<S: Services>(svc: &S, req: &Request) -> Response {
    let origin = svc.config().public_origin.clone().unwrap_or_else(|| req.origin());
    let path = req.url.path();
    let method = req.method;
    let response = match (method, path) {
        (Method::Options, _) => preflight(),
        (Method::Get, "/.well-known/oauth-protected-resource") => discovery::protected_resource(&origin, false),
        (Method::Get, "/.well-known/oauth-protected-resource/mcp") => discovery::protected_resource(&origin, true),
        (Method::Get, "/.well-known/oauth-authorization-server") => discovery::authorization_server(&origin),
        (Method::Get, "/.well-known/jwks.json") => discovery::jwks(svc.keys()),
        (Method::Get, "/.well-known/openid-configuration") => not_found(path),
        (Method::Post, p) if REGISTER_PATHS.contains(&p) => register::post(svc, req).await,
        (Method::Get, "/authorize") => authorize::get(svc, req, &origin).await,
        (Method::Post, "/authorize") => authorize::post(svc, req, &origin).await,
        (Method::Get, "/signin") => signin::get(svc, req),
        (Method::Post, "/signin") => signin::post(svc, req).await,
        (Method::Post, p) if TOKEN_PATHS.contains(&p) => token::post(svc, req, &origin).await,
        (Method::Post, p) if REVOKE_PATHS.contains(&p) => revoke::post(svc, req, &origin).await,
        (Method::Post, "/mcp" | "/mcp/") => mcp::post(svc, req, &origin).await,
        (_, "/mcp" | "/mcp/") => method_not_allowed("POST"),
        (Method::Get, "/admin") => admin::page(svc, req),
        (_, p) if p.starts_with("/admin/api/") => admin::api(svc, req).await,
        (Method::Get, "/assets/style.css") => asset("text/css; charset=utf-8", crate::core::pages::STYLESHEET),
        (Method::Get, "/assets/admin.js") => asset("text/javascript; charset=utf-8", crate::core::pages::ADMIN_SCRIPT),
        (Method::Get, "/") => Response::json(200, &json!({ "name": "mcp-edge", "mcp_endpoint": format!("{origin}/mcp") })),
        (_, p) if is_known(p) => method_not_allowed(if p.starts_with("/.well-known") { "GET" } else { "GET, POST" }),
        _ => not_found(path),
    };
    with_cors(path, response)
}

fn is_known(path: &str) -> bool {
    path.starts_with("/.well-known/")
        || ["/authorize", "/signin"].contains(&path)
        || TOKEN_PATHS.contains(&path)
        || REGISTER_PATHS.contains(&path)
        || REVOKE_PATHS.contains(&path)
}

/// Browser-based clients (the MCP Inspector) read metadata and call token/register/revoke
/// cross-origin; those answers carry no cookies, so `*` is safe there.
fn with_cors(path: &str, response: Response) -> Response {
    let public = path.starts_with("/.well-known/") || is_known(path) && !matches!(path, "/authorize" | "/signin");
    if public {
        response.with_header("access-control-allow-origin", "*")
    } else {
        response
    }
}

fn asset(content_type: &str, body: &str) -> Response {
    Response::new(200)
        .with_header("content-type", content_type)
        .with_header("cache-control", "public, max-age=300")
        .with_header("x-content-type-options", "nosniff")
        .with_body(body.as_bytes().to_vec())
}

fn preflight() -> Response {
    Response::new(204)
        .with_header("access-control-allow-methods", "GET, POST, OPTIONS")
        .with_header("access-control-allow-headers", "authorization, content-type, mcp-protocol-version")
        .with_header("access-control-max-age", "86400")
}

fn not_found(path: &str) -> Response {
    Response::json(404, &json!({ "error": "not_found", "error_description": format!("Nothing is served at {path}") }))
}

fn method_not_allowed(allow: &str) -> Response {
    Response::json(405, &json!({ "error": "method_not_allowed", "error_description": format!("Use {allow}") })).with_header("allow", allow)
}

/// Why a workspace's policy cannot be used for a decision.
#[derive(Debug)]
pub(crate) enum PolicyLoadError {
    Missing(String),
    Invalid(PolicyError),
    Store(StoreError),
}

impl PolicyLoadError {
    pub(crate) fn describe(&self) -> String {
        match self {
            PolicyLoadError::Missing(ws) => format!("workspace `{ws}` has no policy"),
            PolicyLoadError::Invalid(e) => e.to_string(),
            PolicyLoadError::Store(e) => format!("the policy store is unavailable ({})", e.0),
        }
    }
}

/// Reads and validates a workspace policy; fails closed.
pub(crate) async fn load_policy<S: Services>(svc: &S, workspace: &str) -> Result<WorkspacePolicy, PolicyLoadError> {
    if !valid_workspace_id(workspace) {
        return Err(PolicyLoadError::Missing(workspace.to_string()));
    }
    match svc.policy_document(workspace).await {
        Err(e) => Err(PolicyLoadError::Store(e)),
        Ok(None) => Err(PolicyLoadError::Missing(workspace.to_string())),
        Ok(Some(doc)) => WorkspacePolicy::parse(workspace, &doc, &svc.config().catalog).map_err(|e| {
            svc.log(&format!("policy rejected: {e}"));
            PolicyLoadError::Invalid(e)
        }),
    }
}

#[cfg(test)]
mod tests;

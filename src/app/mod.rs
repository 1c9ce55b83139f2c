//! One request, start to finish: routing and the orchestration of each endpoint over the
//! storage traits of `crate::core::store`. No `worker` import: tests run it natively against
//! in-memory stores, and the edge runs it against KV and Durable Objects.
#![forbid(unsafe_code)]
#![allow(async_fn_in_trait)]

mod admin;
mod api_tools;
mod authorize;
mod choose;
mod clients;
mod discovery;
pub mod error;
mod extract;
mod mcp;
mod oidc;
mod register;
mod revoke;
mod signin;
mod token;

use std::cell::RefCell;
use std::rc::Rc;

use serde_json::json;

use crate::core::config::Config;
use crate::core::http::{Method, Request, Response};
use crate::core::ids::WorkspaceId;
use crate::core::isolate::IsolateCache;
use crate::core::oauth::keys::Keys;
use crate::core::policy::evaluate::TokenInvalid;
use crate::core::policy::model::{PolicyUnusable, WorkspacePolicy};
use crate::core::ratelimit;
use crate::core::site::Site;
use crate::core::store::{ClientStore, CodeStore, ConnectionStore, PolicySource, StoreError, WorkspaceStore};
use error::{AppError, McpRejection, PageError, Store, Surface};

/// Everything a request may use: configuration, keys, time, randomness and storage.
pub trait Services: PolicySource + ClientStore + CodeStore + ConnectionStore + WorkspaceStore {
    fn config(&self) -> &Config;
    fn keys(&self) -> &Keys;
    /// Unix seconds.
    fn now(&self) -> i64;
    fn fill_random(&self, buf: &mut [u8]);
    fn log(&self, line: &str);
    /// Writes an audit event (`core::audit`): one JSON line in the worker's log.
    fn audit(&self, event: crate::core::audit::Event<'_>);

    /// What this isolate remembers between requests (`crate::core::isolate`).
    fn isolate(&self) -> &RefCell<IsolateCache>;

    /// The OpenAPI tool catalog, built once per document version per isolate.
    async fn api_catalog(&self) -> Rc<crate::core::openapi::catalog::ApiCatalog>;

    /// Sends a request to the upstream API (with the configured timeout and size limit).
    async fn upstream(
        &self,
        request: &crate::core::openapi::call::UpstreamRequest,
        headers: &[(String, String)],
    ) -> Result<UpstreamResponse, UpstreamFailure>;

    /// The identity provider's metadata and keys, cached per isolate.
    fn provider_cache(&self) -> &RefCell<crate::core::oidc::jwks::ProviderCache>;

    /// Sends a request to the identity provider (discovery, keys, token endpoint): a timeout,
    /// no redirects followed, a bounded body. `Err` says why there is no answer.
    async fn provider_fetch(&self, request: &crate::core::oidc::ProviderRequest) -> Result<UpstreamResponse, String>;

    /// Fetches a client's metadata document (`core::oauth::cimd`): GET, `cimd::FETCH_TIMEOUT_MS`,
    /// no redirects followed, at most `cimd::MAX_DOCUMENT_BYTES + 1` bytes read. `Err` says why
    /// there is no answer.
    async fn client_document(&self, url: &str) -> Result<crate::core::oauth::cimd::FetchedDocument, String>;

    /// Whether `signature` is `alg`'s signature of `signing_input` under `key` (WebCrypto at the
    /// edge). `Err` when the key cannot be used at all.
    async fn verify_signature(
        &self,
        alg: crate::core::oidc::JwsAlg,
        key: &crate::core::oidc::jwks::Jwk,
        signing_input: &[u8],
        signature: &[u8],
    ) -> Result<bool, String>;

    /// Counts a request against `limit` for `subject`: whether it is within the budget. A
    /// binding that is missing or fails lets the request through (and is logged): the limits
    /// protect capacity, they never decide who may do what.
    async fn within_limit(&self, limit: crate::core::ratelimit::Limit, subject: &crate::core::ratelimit::Subject) -> bool;

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
    let path = req.url.path();
    let page = matches!(path, "/authorize" | "/signin" | "/signout" | "/admin" | "/oidc/callback" | "/signin/workspace");
    let surface = if page { Surface::Page } else { Surface::Json };
    let answer = match site(svc, req) {
        Ok(site) => route(svc, req, &site).await,
        Err(refused) => Err(refused),
    };
    let response = answer.unwrap_or_else(|e| error::render(e, surface, &|line| svc.log(line)));
    finish(with_cors(path, response))
}

/// What every answer carries, the edge's own error answers too: no browser may guess a type
/// other than the one we declare (a JSON error echoing input must never run as HTML).
pub fn finish(response: Response) -> Response {
    response.with_header("x-content-type-options", "nosniff")
}

/// The site a request is served as (`crate::core::site`: a foreign `Host` is refused), and the
/// `Origin` check of every unsafe method: the request must come from our own pages — except on
/// the endpoints made for cross-origin clients, which take no cookies (`with_cors`).
fn site<S: Services>(svc: &S, req: &Request) -> Result<Site, AppError> {
    let from_url = || match (req.url.host_str(), req.url.port()) {
        (Some(host), Some(port)) => format!("{host}:{port}"),
        (host, None) => host.unwrap_or("").to_string(),
        (None, Some(_)) => String::new(),
    };
    let authority = req.header("host").map(str::to_string).unwrap_or_else(from_url);
    let site = Site::resolve(svc.config().public_origin.as_deref(), req.url.scheme(), &authority).map_err(AppError::Misdirected)?;
    let peer = req.header("cf-connecting-ip").map(|ip| ip.trim().parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback()));
    let site = site.for_peer(peer.unwrap_or(true));
    let path = req.url.path();
    let unsafe_method = !matches!(req.method, Method::Get | Method::Head | Method::Options);
    if let Some(sent) = req.header("origin").filter(|_| unsafe_method && !cross_origin_endpoint(path)) {
        let mcp = matches!(path, "/mcp" | "/mcp/");
        // Streamable HTTP: servers MUST validate `Origin`; local MCP clients (the Inspector)
        // call a loopback server from another loopback origin.
        if !site.allows_origin(sent, mcp) {
            let sent = sent.to_string();
            return Err(if mcp {
                McpRejection::ForbiddenOrigin(sent).into()
            } else {
                AppError::ForeignOrigin { sent, ours: site.origin().into() }
            });
        }
    }
    Ok(site)
}

async fn route<S: Services>(svc: &S, req: &Request, site: &Site) -> Result<Response, AppError> {
    let path = req.url.path();
    let origin = site.origin();
    if let Some(limit) = ratelimit::for_address(req.method, path, &REGISTER_PATHS, &[&TOKEN_PATHS, &REVOKE_PATHS]) {
        within_limit(svc, limit, ratelimit::Subject::address(req.header("cf-connecting-ip"))).await?;
    }
    Ok(match (req.method, path) {
        (Method::Options, _) => preflight(),
        (Method::Get, "/.well-known/oauth-protected-resource") => discovery::protected_resource(svc, origin, false),
        (Method::Get, "/.well-known/oauth-protected-resource/mcp") => discovery::protected_resource(svc, origin, true),
        (Method::Get, "/.well-known/oauth-authorization-server") => discovery::authorization_server(svc, origin),
        (Method::Get, "/.well-known/jwks.json") => discovery::jwks(svc),
        (Method::Get, "/.well-known/upstream-jwks.json") => discovery::upstream_jwks(svc),
        (Method::Post, p) if REGISTER_PATHS.contains(&p) => register::post(svc, req).await?,
        (Method::Get, "/authorize") => authorize::get(svc, req, site).await?,
        (Method::Post, "/authorize") => authorize::post(svc, req, site).await?,
        (Method::Get, "/signin") => signin::get(svc, req, site).await?,
        (Method::Post, "/signin") => signin::post(svc, req, site).await?,
        (Method::Post, "/signout") => signin::signout(svc, req, site)?,
        (Method::Get, "/oidc/callback") => oidc::callback(svc, req, site).await?,
        (Method::Get, "/signin/workspace") => choose::get(svc, req, site)?,
        (Method::Post, "/signin/workspace") => choose::post(svc, req, site).await?,
        (Method::Post, p) if TOKEN_PATHS.contains(&p) => token::post(svc, req, origin).await?,
        (Method::Post, p) if REVOKE_PATHS.contains(&p) => revoke::post(svc, req, origin).await?,
        (Method::Post, "/mcp" | "/mcp/") => mcp::post(svc, req, origin).await?,
        (Method::Get, "/admin") => admin::page(svc, req, site)?,
        (_, p) if p.starts_with("/admin/api/") => admin::api(svc, req, site).await?,
        (Method::Get, "/assets/style.css") => asset("text/css; charset=utf-8", crate::core::pages::STYLESHEET),
        (Method::Get, "/assets/admin.js") => asset("text/javascript; charset=utf-8", crate::core::pages::ADMIN_SCRIPT),
        (Method::Get, "/favicon.ico") => asset("image/svg+xml", crate::core::pages::ICON),
        (Method::Get, "/") => Response::json(200, &json!({ "name": "mcp-edge", "mcp_endpoint": format!("{origin}/mcp") })),
        // A partial OpenID document makes SDK clients throw; none is better (docs/protocol.md §1).
        (Method::Get, "/.well-known/openid-configuration") => return Err(AppError::NotFound { path: path.to_string() }),
        (_, p) => match allowed_methods(p) {
            Some(allow) => return Err(AppError::MethodNotAllowed { allow }),
            None => return Err(AppError::NotFound { path: path.to_string() }),
        },
    })
}

/// `Err(RateLimited)` once `subject` is past `limit`'s budget.
pub(crate) async fn within_limit<S: Services>(svc: &S, limit: ratelimit::Limit, subject: ratelimit::Subject) -> Result<(), AppError> {
    if svc.within_limit(limit, &subject).await {
        Ok(())
    } else {
        Err(AppError::RateLimited(ratelimit::Limited { limit, subject }))
    }
}

/// The OAuth endpoints browser-based MCP clients call from their own origin. They read no
/// cookies (every request carries its own proof: a code and verifier, a refresh token, or
/// nothing worth forging), so a foreign `Origin` there is no cross-site request forgery.
fn cross_origin_endpoint(path: &str) -> bool {
    TOKEN_PATHS.contains(&path) || REGISTER_PATHS.contains(&path) || REVOKE_PATHS.contains(&path)
}

/// The methods `route` answers at a path (its `Allow` header), or `None` where nothing is served.
fn allowed_methods(path: &str) -> Option<&'static str> {
    const GET_ONLY: [&str; 11] = [
        "/",
        "/.well-known/oauth-protected-resource",
        "/.well-known/oauth-protected-resource/mcp",
        "/.well-known/oauth-authorization-server",
        "/.well-known/jwks.json",
        "/.well-known/upstream-jwks.json",
        "/oidc/callback",
        "/admin",
        "/assets/style.css",
        "/assets/admin.js",
        "/favicon.ico",
    ];
    if GET_ONLY.contains(&path) {
        Some("GET")
    } else if ["/authorize", "/signin", "/signin/workspace"].contains(&path) {
        Some("GET, POST")
    } else if ["/mcp", "/mcp/", "/signout"].contains(&path)
        || TOKEN_PATHS.contains(&path)
        || REGISTER_PATHS.contains(&path)
        || REVOKE_PATHS.contains(&path)
    {
        Some("POST")
    } else {
        None
    }
}

/// Browser-based clients (the MCP Inspector) read metadata and call token/register/revoke
/// cross-origin; those answers carry no cookies, so `*` is safe there.
fn with_cors(path: &str, response: Response) -> Response {
    let public = path.starts_with("/.well-known/") || cross_origin_endpoint(path);
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
        .with_body(body.as_bytes().to_vec())
}

fn preflight() -> Response {
    Response::new(204)
        .with_header("access-control-allow-methods", "GET, POST, OPTIONS")
        .with_header("access-control-allow-headers", "authorization, content-type, mcp-protocol-version")
        .with_header("access-control-max-age", "86400")
}

/// Why a workspace's policy cannot be used for a decision.
#[derive(Debug)]
pub(crate) enum PolicyLoadError {
    Unusable(PolicyUnusable),
    Store(StoreError),
}

impl PolicyLoadError {
    /// For browser steps: the page that says what is wrong with the policy.
    pub(crate) fn into_page(self) -> AppError {
        match self {
            PolicyLoadError::Unusable(u) => PageError::PolicyUnusable(u).into(),
            PolicyLoadError::Store(e) => Store::Policies.error(e),
        }
    }

    /// For issued grants (`/token`, `/mcp`): an unusable policy is `Token validation failed`.
    pub(crate) fn into_token_invalid(self) -> Result<TokenInvalid, AppError> {
        match self {
            PolicyLoadError::Unusable(u) => Ok(TokenInvalid::Policy(u)),
            PolicyLoadError::Store(e) => Err(Store::Policies.error(e)),
        }
    }
}

/// A workspace's policy for a decision on an issued grant (`/mcp`, `/token`): the one this
/// isolate parsed less than `POLICY_CACHE_SECONDS` ago, else read, validated and remembered.
/// Fails closed; store failures are never remembered.
pub(crate) async fn cached_policy<S: Services>(svc: &S, workspace: &WorkspaceId) -> Result<Rc<WorkspacePolicy>, PolicyLoadError> {
    let cached = svc.isolate().borrow().policies.get(workspace, svc.now()).cloned();
    match cached {
        Some(found) => found.map_err(PolicyLoadError::Unusable),
        None => load_policy(svc, workspace).await,
    }
}

/// Reads and validates a workspace policy (the browser steps: a person who was just told to ask
/// an admin sees the change at once), and remembers it for `cached_policy`. Fails closed.
pub(crate) async fn load_policy<S: Services>(svc: &S, workspace: &WorkspaceId) -> Result<Rc<WorkspacePolicy>, PolicyLoadError> {
    let read = match svc.policy_document(workspace).await {
        Err(e) => return Err(PolicyLoadError::Store(e)),
        Ok(None) => Err(PolicyUnusable::Missing { workspace: workspace.to_string() }),
        Ok(Some(doc)) => WorkspacePolicy::parse(workspace, &doc, &svc.config().catalog).map(Rc::new).map_err(|e| {
            svc.log(&format!("policy rejected: {e}"));
            PolicyUnusable::Invalid(e)
        }),
    };
    svc.isolate().borrow_mut().policies.insert(workspace.clone(), read.clone(), svc.now());
    read.map_err(PolicyLoadError::Unusable)
}

#[cfg(test)]
mod tests;

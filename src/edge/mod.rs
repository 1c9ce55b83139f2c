//! The only code that touches `worker`: request/response conversion, the storage traits on
//! Workers KV and Durable Objects, and the per-isolate configuration.
mod codes;
mod connections;
mod oidc;
mod services;
mod upstream;
mod workspaces;

pub use codes::AuthCodes;
pub use connections::Connections;
pub use workspaces::Workspaces;

use std::cell::RefCell;
use std::rc::Rc;

use worker::{Env, Headers, Request, Response, Result};

use crate::app::error::{render, AppError, Surface};
use crate::core::config::Config;
use crate::core::http;
use crate::core::isolate::IsolateCache;
use crate::core::oauth::keys::Keys;
use services::EdgeServices;

/// Binding names, in one place (`crate::core::config::bindings`, which `deploy-check` reads too).
pub(crate) use crate::core::config::bindings::{CLIENTS_KV, CODES_DO, CONNECTIONS_DO, POLICIES_KV, WORKSPACES_DO};

/// The `POLICIES` key of a workspace's policy (docs/storage.md).
pub(crate) fn policy_key(workspace: &crate::core::ids::WorkspaceId) -> String {
    format!("policy:{workspace}")
}

const MAX_BODY: usize = 1 << 20;

/// What an isolate builds once and keeps: configuration, keys, and its caches.
pub struct Isolate {
    pub config: Config,
    pub keys: Keys,
    pub cache: RefCell<IsolateCache>,
}

thread_local! {
    static SETUP: RefCell<Option<Rc<Isolate>>> = const { RefCell::new(None) };
}

fn setup(env: &Env) -> std::result::Result<Rc<Isolate>, String> {
    if let Some(s) = SETUP.with(|s| s.borrow().clone()) {
        return Ok(s);
    }
    let var = |name: &str| env.var(name).ok().map(|v| v.to_string()).or_else(|| env.secret(name).ok().map(|v| v.to_string()));
    let config = Config::from_vars(var)?;
    let secret = var("SIGNING_KEY")
        .ok_or("The SIGNING_KEY secret is not set (run `make dev`, or `wrangler secret put SIGNING_KEY` in production)")?;
    let keys = Keys::from_secret(&secret)?;
    let cache = RefCell::new(IsolateCache::new(config.policy_cache_seconds, config.revocation_check_seconds));
    let built = Rc::new(Isolate { config, keys, cache });
    SETUP.with(|s| *s.borrow_mut() = Some(built.clone()));
    Ok(built)
}

pub async fn serve(mut req: Request, env: Env) -> Result<Response> {
    let log = |line: &str| worker::console_error!("{line}");
    let setup = match setup(&env) {
        Ok(s) => s,
        Err(message) => return to_worker(render(AppError::Misconfigured(message), Surface::Json, &log)),
    };
    let request = match from_worker(&mut req).await {
        Ok(r) => r,
        Err(e) => return to_worker(render(e, Surface::Json, &log)),
    };
    let services = EdgeServices::new(env, setup);
    to_worker(crate::app::handle(&services, &request).await)
}

async fn from_worker(req: &mut Request) -> std::result::Result<http::Request, AppError> {
    let url = req.url().map_err(|_| AppError::BadUrl)?;
    let headers = req.headers().entries().map(|(k, v)| (k.to_ascii_lowercase(), v)).collect::<Vec<_>>();
    let declared = headers.iter().find(|(k, _)| k == "content-length").and_then(|(_, v)| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > MAX_BODY) {
        return Err(AppError::BodyTooLarge);
    }
    let body = req.bytes().await.unwrap_or_default();
    if body.len() > MAX_BODY {
        return Err(AppError::BodyTooLarge);
    }
    Ok(http::Request { method: http::Method::parse(req.method().as_ref()), url, headers, body })
}

fn to_worker(resp: http::Response) -> Result<Response> {
    let headers = Headers::new();
    for (k, v) in &resp.headers {
        headers.append(k, v)?;
    }
    let response = if resp.body.is_empty() { Response::empty()? } else { Response::from_bytes(resp.body)? };
    Ok(response.with_status(resp.status).with_headers(headers))
}

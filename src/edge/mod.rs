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

use worker::{Env, Result};

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
    let keys = Keys::from_secrets(&secret, var("SIGNING_KEY_PREVIOUS").as_deref())?;
    let cache = RefCell::new(IsolateCache::new(config.policy_cache_seconds, config.revocation_check_seconds));
    let built = Rc::new(Isolate { config, keys, cache });
    SETUP.with(|s| *s.borrow_mut() = Some(built.clone()));
    Ok(built)
}

/// One request, on the runtime's own `Request` and `Response` (web_sys): `worker`'s wrappers
/// parse `request.cf` and copy the response body once more on every request, which was a
/// tenth of a cheap request's CPU (BENCHMARKS.md).
pub async fn serve(req: web_sys::Request, env: Env) -> Result<web_sys::Response> {
    let log = |line: &str| worker::console_error!("{line}");
    let setup = match setup(&env) {
        Ok(s) => s,
        Err(message) => return to_worker(crate::app::finish(render(AppError::Misconfigured(message), Surface::Json, &log))),
    };
    let request = match from_worker(&req).await {
        Ok(r) => r,
        Err(e) => return to_worker(crate::app::finish(render(e, Surface::Json, &log))),
    };
    let services = EdgeServices::new(env, setup);
    to_worker(crate::app::handle(&services, &request).await)
}

async fn from_worker(req: &web_sys::Request) -> std::result::Result<http::Request, AppError> {
    let url = url::Url::parse(&req.url()).map_err(|_| AppError::BadUrl)?;
    let mut headers = Vec::new();
    for entry in req.headers().entries().into_iter().flatten() {
        let pair = js_sys::Array::from(&entry);
        if let (Some(k), Some(v)) = (pair.get(0).as_string(), pair.get(1).as_string()) {
            headers.push((k.to_ascii_lowercase(), v));
        }
    }
    let declared = headers.iter().find(|(k, _)| k == "content-length").and_then(|(_, v)| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > MAX_BODY) {
        return Err(AppError::BodyTooLarge);
    }
    let body = match req.body() {
        None => Vec::new(),
        // The runtime ends a body at its declared length, and the length is within the limit.
        Some(_) if declared.is_some() => {
            let promise = req.array_buffer().map_err(unreadable)?;
            let buffer = wasm_bindgen_futures::JsFuture::from(promise).await.map_err(unreadable)?;
            js_sys::Uint8Array::new(&buffer).to_vec()
        }
        // Chunked: read until the limit, never buffering more than it.
        Some(stream) => read_at_most(stream, MAX_BODY).await?,
    };
    Ok(http::Request { method: http::Method::parse(&req.method()), url, headers, body })
}

/// Reads `stream` to its end, or cancels it and fails once it passes `limit` bytes.
async fn read_at_most(stream: web_sys::ReadableStream, limit: usize) -> std::result::Result<Vec<u8>, AppError> {
    use wasm_bindgen::JsCast;
    let reader: web_sys::ReadableStreamDefaultReader = stream.get_reader().unchecked_into();
    let mut body = Vec::new();
    loop {
        let chunk = wasm_bindgen_futures::JsFuture::from(reader.read()).await.map_err(unreadable)?;
        let field = |name: &str| js_sys::Reflect::get(&chunk, &name.into()).map_err(unreadable);
        if field("done")?.as_bool().unwrap_or(true) {
            return Ok(body);
        }
        let bytes = js_sys::Uint8Array::new(&field("value")?);
        if body.len() + bytes.length() as usize > limit {
            let _ = reader.cancel();
            return Err(AppError::BodyTooLarge);
        }
        body.extend(bytes.to_vec());
    }
}

/// The client went away, or sent a body the runtime could not frame.
fn unreadable(e: wasm_bindgen::JsValue) -> AppError {
    use wasm_bindgen::JsCast;
    let why = e.as_string().or_else(|| e.dyn_ref::<js_sys::Error>().map(|e| String::from(e.message())));
    AppError::BodyUnreadable(why.unwrap_or_default())
}

fn to_worker(mut resp: http::Response) -> Result<web_sys::Response> {
    let headers = web_sys::Headers::new()?;
    for (k, v) in &resp.headers {
        headers.append(k, v)?;
    }
    let init = web_sys::ResponseInit::new();
    init.set_status(resp.status);
    init.set_headers(&headers);
    let body = if resp.body.is_empty() { None } else { Some(resp.body.as_mut_slice()) };
    Ok(web_sys::Response::new_with_opt_u8_array_and_init(body, &init)?)
}

//! mcp-edge: a remote MCP server with its own OAuth 2.1 authorization server, as a Cloudflare Worker.
//!
//! `core` decides (pure, tested natively), `app` orchestrates a request over the storage traits,
//! `edge` binds them to Workers KV, Durable Objects and the runtime.

#![forbid(unsafe_code)]

pub mod app;
pub mod core;

#[cfg(target_arch = "wasm32")]
mod edge;

#[cfg(target_arch = "wasm32")]
pub use edge::{AuthCodes, Connections, Workspaces};

#[cfg(target_arch = "wasm32")]
#[worker::event(fetch)]
async fn fetch(req: web_sys::Request, env: worker::Env, _ctx: worker::Context) -> worker::Result<web_sys::Response> {
    edge::serve(req, env).await
}

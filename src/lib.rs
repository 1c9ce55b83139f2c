//! mcp-edge: a remote MCP server with its own OAuth 2.1 authorization server, as a Cloudflare Worker.
//!
//! `core` decides (pure, tested natively), `app` orchestrates a request over the storage traits,
//! `edge` binds them to Workers KV, Durable Objects and the runtime.

pub mod core;

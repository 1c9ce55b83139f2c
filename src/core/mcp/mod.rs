//! MCP over Streamable HTTP, stateless: JSON-RPC framing, method dispatch, tools.
pub mod era;
pub mod jsonrpc;
pub mod server;
pub mod tools;

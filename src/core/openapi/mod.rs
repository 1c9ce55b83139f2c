//! The product's OpenAPI document becomes MCP tools (docs/protocol.md §11): generation (`to_tools`),
//! argument checks (`validate`), the upstream request (`call`) and the result (`response`).
pub mod assertion;
pub mod cache;
pub mod call;
pub mod catalog;
pub mod refs;
pub mod required_scopes;
pub mod schema;
pub mod to_tools;
pub mod validate;

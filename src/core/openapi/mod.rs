//! The product's OpenAPI document becomes MCP tools (docs/protocol.md §11): generation (`to_tools`),
//! argument checks (`validate`), the upstream request (`call`), the result (`call::to_result`) and the
//! output schema it keeps (`output`).
pub mod assertion;
pub mod cache;
pub mod call;
pub mod catalog;
pub mod output;
pub mod refs;
pub mod required_scopes;
pub mod schema;
pub mod to_tools;
pub mod validate;

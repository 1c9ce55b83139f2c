//! The pure core: every decision as a function of its inputs. Nothing here imports `worker`;
//! it is compiled and tested natively (`cargo test`).
#![forbid(unsafe_code)]

pub mod admin;
pub mod audit;
pub mod b64;
pub mod config;
pub mod connection;
pub mod cookies;
pub mod fixes;
pub mod history;
pub mod http;
pub mod ids;
pub mod isolate;
pub mod mcp;
pub mod messages;
pub mod oauth;
pub mod oidc;
pub mod openapi;
pub mod pages;
pub mod policy;
pub mod ratelimit;
pub mod scopes;
pub mod secrets;
pub mod site;
pub mod store;
pub mod text;

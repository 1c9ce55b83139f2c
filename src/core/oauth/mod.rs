//! OAuth 2.1 authorization server: types, errors and each endpoint's decisions.
pub mod access_token;
pub mod authorize;
pub mod cimd;
pub mod code;
pub mod error;
pub mod keys;
pub mod metadata;
pub mod pkce;
pub mod refresh;
pub mod register;
pub mod resource;
pub mod token;
pub mod types;

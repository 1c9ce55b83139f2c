//! Discovery endpoints (RFC 9728, RFC 8414, RFC 7517).
use crate::core::http::Response;
use crate::core::oauth::keys::Keys;
use crate::core::oauth::metadata;

fn cached_json(value: &serde_json::Value) -> Response {
    Response::json(200, value).with_header("cache-control", "public, max-age=300")
}

pub fn protected_resource(origin: &str, path_form: bool) -> Response {
    cached_json(&metadata::protected_resource(origin, path_form))
}

pub fn authorization_server(origin: &str) -> Response {
    cached_json(&metadata::authorization_server(origin))
}

pub fn jwks(keys: &Keys) -> Response {
    cached_json(&keys.jwks())
}

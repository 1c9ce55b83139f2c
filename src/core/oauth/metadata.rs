//! Discovery documents: RFC 9728 (protected resource) and RFC 8414 (authorization server).
use serde_json::{json, Value};

use crate::core::oauth::resource::mcp_resource;
use crate::core::scopes::OFFLINE_ACCESS;

/// RFC 9728 §3.2. No `scopes_supported`: Claude Code would request all of them, and a workspace
/// may allow fewer (docs/protocol.md §4); with none listed it sends no scope and gets the ceiling.
/// `resource` is the identifier the well-known URL was built from (§3.3): `<origin>/mcp` for
/// `/.well-known/oauth-protected-resource/mcp`, the origin for the root form. Both name the
/// same resource here (`crate::core::oauth::resource::normalize`).
pub fn protected_resource(origin: &str, path_form: bool) -> Value {
    json!({
        "resource": if path_form { mcp_resource(origin) } else { origin.to_string() },
        "authorization_servers": [origin],
        "bearer_methods_supported": ["header"],
        "resource_name": "mcp-edge",
    })
}

/// RFC 8414 §2. `issuer` has no trailing slash. Only `offline_access` is advertised as a scope,
/// for the same reason as above. `client_documents`: whether client IDs may be metadata-document
/// URLs (`CLIENT_ID_METADATA_DOCUMENTS`).
pub fn authorization_server(origin: &str, client_documents: bool) -> Value {
    let mut metadata = json!({
        "issuer": origin,
        "authorization_endpoint": format!("{origin}/authorize"),
        "token_endpoint": format!("{origin}/token"),
        "registration_endpoint": format!("{origin}/register"),
        "revocation_endpoint": format!("{origin}/revoke"),
        "jwks_uri": format!("{origin}/.well-known/jwks.json"),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token"],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": ["none"],
        "revocation_endpoint_auth_methods_supported": ["none"],
        "scopes_supported": [OFFLINE_ACCESS],
        "authorization_response_iss_parameter_supported": true,
    });
    if client_documents {
        // A `client_id` may be the URL of its metadata document (`cimd`); Claude Code then uses
        // its document instead of registering.
        metadata["client_id_metadata_document_supported"] = json!(true);
    }
    metadata
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issuer_has_no_trailing_slash_and_s256_is_advertised() {
        let m = authorization_server("https://h.example", true);
        assert_eq!(m["client_id_metadata_document_supported"], true);
        assert!(authorization_server("https://h.example", false).get("client_id_metadata_document_supported").is_none());
        assert_eq!(m["issuer"], "https://h.example");
        assert_eq!(m["code_challenge_methods_supported"], json!(["S256"]));
        assert!(m["token_endpoint_auth_methods_supported"].as_array().unwrap().contains(&json!("none")));
        assert_eq!(protected_resource("https://h.example", true)["resource"], "https://h.example/mcp");
        assert_eq!(protected_resource("https://h.example", false)["resource"], "https://h.example");
    }
}

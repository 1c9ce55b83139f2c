//! OpenID Connect Discovery 1.0: the provider's metadata, fetched from
//! `<issuer>/.well-known/openid-configuration` and checked before use.
use serde::Deserialize;

use crate::core::oauth::types::is_loopback_host;

/// What this relying party uses of the provider's metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderMetadata {
    pub issuer: String,
    pub authorization_endpoint: String,
    pub token_endpoint: String,
    pub jwks_uri: String,
    /// Send the client secret with HTTP Basic (`client_secret_basic`, the default of OpenID
    /// Connect Discovery §3) unless the provider lists only `client_secret_post`.
    pub secret_in_body: bool,
}

#[derive(Deserialize)]
struct Document {
    issuer: String,
    authorization_endpoint: String,
    token_endpoint: String,
    jwks_uri: String,
    #[serde(default)]
    token_endpoint_auth_methods_supported: Option<Vec<String>>,
    #[serde(default)]
    code_challenge_methods_supported: Option<Vec<String>>,
}

/// An endpoint must be https, or http on a loopback host (a provider run for local tests).
fn endpoint(name: &str, raw: &str) -> Result<String, String> {
    let url = url::Url::parse(raw).map_err(|_| format!("`{name}` is not a URL"))?;
    let loopback = url.host_str().is_some_and(is_loopback_host);
    match url.scheme() {
        "https" => Ok(raw.to_string()),
        "http" if loopback => Ok(raw.to_string()),
        _ => Err(format!("`{name}` must be an https URL")),
    }
}

impl ProviderMetadata {
    /// §4.3: the `issuer` in the document MUST be identical to the one it was fetched for.
    pub fn parse(json: &str, expected_issuer: &str) -> Result<ProviderMetadata, String> {
        let doc: Document = serde_json::from_str(json).map_err(|e| format!("the discovery document is not valid: {e}"))?;
        if doc.issuer != expected_issuer {
            return Err(format!("the discovery document names the issuer `{}`, not `{expected_issuer}` (OIDC_ISSUER)", doc.issuer));
        }
        if doc.code_challenge_methods_supported.as_ref().is_some_and(|m| !m.iter().any(|m| m == "S256")) {
            return Err("the provider does not support PKCE with S256".into());
        }
        let methods = doc.token_endpoint_auth_methods_supported.unwrap_or_default();
        let secret_in_body =
            !methods.is_empty() && !methods.iter().any(|m| m == "client_secret_basic") && methods.iter().any(|m| m == "client_secret_post");
        Ok(ProviderMetadata {
            issuer: doc.issuer,
            authorization_endpoint: endpoint("authorization_endpoint", &doc.authorization_endpoint)?,
            token_endpoint: endpoint("token_endpoint", &doc.token_endpoint)?,
            jwks_uri: endpoint("jwks_uri", &doc.jwks_uri)?,
            secret_in_body,
        })
    }

    /// Where the discovery document of `issuer` is (§4.1: no trailing slash doubled).
    pub fn url_for(issuer: &str) -> String {
        format!("{}/.well-known/openid-configuration", issuer.trim_end_matches('/'))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(issuer: &str, extra: &str) -> String {
        format!(
            r#"{{"issuer":"{issuer}","authorization_endpoint":"{issuer}/auth","token_endpoint":"{issuer}/token","jwks_uri":"{issuer}/jwks"{extra}}}"#
        )
    }

    #[test]
    fn the_document_must_name_the_configured_issuer_and_https_endpoints() {
        let m = ProviderMetadata::parse(&doc("https://id.example.com", ""), "https://id.example.com").unwrap();
        assert_eq!((m.token_endpoint.as_str(), m.secret_in_body), ("https://id.example.com/token", false));
        let other = ProviderMetadata::parse(&doc("https://evil.example", ""), "https://id.example.com").unwrap_err();
        assert!(other.contains("names the issuer `https://evil.example`"), "{other}");
        assert!(ProviderMetadata::parse(&doc("http://id.example.com", ""), "http://id.example.com").unwrap_err().contains("https"));
        assert!(ProviderMetadata::parse(&doc("http://127.0.0.1:8901", ""), "http://127.0.0.1:8901").is_ok(), "loopback");
        assert!(ProviderMetadata::parse("{}", "https://id.example.com").is_err());
        assert_eq!(ProviderMetadata::url_for("https://id.example.com/"), "https://id.example.com/.well-known/openid-configuration");
    }

    #[test]
    fn client_authentication_and_pkce_follow_what_the_provider_lists() {
        let post = doc("https://id.example.com", r#","token_endpoint_auth_methods_supported":["client_secret_post"]"#);
        assert!(ProviderMetadata::parse(&post, "https://id.example.com").unwrap().secret_in_body);
        let both =
            doc("https://id.example.com", r#","token_endpoint_auth_methods_supported":["client_secret_post","client_secret_basic"]"#);
        assert!(!ProviderMetadata::parse(&both, "https://id.example.com").unwrap().secret_in_body);
        let plain = doc("https://id.example.com", r#","code_challenge_methods_supported":["plain"]"#);
        assert!(ProviderMetadata::parse(&plain, "https://id.example.com").unwrap_err().contains("S256"));
    }
}

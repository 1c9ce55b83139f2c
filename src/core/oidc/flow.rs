//! One sign-in at the identity provider, from the redirect to the callback. What must survive
//! the round trip — `state` (CSRF of the callback, RFC 6749 §10.12), `nonce` (the ID token
//! belongs to this sign-in, OIDC Core §3.1.2.1) and the PKCE verifier (RFC 7636) — is kept in
//! the browser in a short-lived cookie MACed under the cookie key, so no storage is written
//! before anyone has signed in.
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::discovery::ProviderMetadata;
use super::ProviderRequest;
use crate::core::b64;
use crate::core::config::OidcConfig;
use crate::core::cookies;
use crate::core::oauth::keys::Keys;
use crate::core::oauth::pkce::constant_time_eq;

pub const FLOW_COOKIE: &str = "mcp_edge_oidc";
/// How long a person may take at the provider (login, consent, a second factor).
pub const FLOW_TTL: i64 = 600;
/// Where the provider sends the browser back (register `<PUBLIC_ORIGIN>/oidc/callback` there).
pub const CALLBACK_PATH: &str = "/oidc/callback";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Flow {
    pub state: String,
    pub nonce: String,
    pub verifier: String,
    /// Where to go after sign-in (a path on this server, already checked).
    pub next: String,
    pub expires_at: i64,
}

impl Flow {
    pub fn encode(&self, keys: &Keys) -> String {
        cookies::sign(keys, "oidc-flow", self)
    }

    pub fn decode(keys: &Keys, value: &str, now: i64) -> Option<Flow> {
        cookies::open::<Flow>(keys, "oidc-flow", value).filter(|f| f.expires_at > now)
    }

    /// Whether the callback's `state` is this flow's (constant time).
    pub fn state_matches(&self, state: &str) -> bool {
        constant_time_eq(self.state.as_bytes(), state.as_bytes())
    }

    /// The authorization request (OIDC Core §3.1.2.1) the browser is sent to. `switch_account`
    /// (after "Sign out and sign in again") asks the provider to let the person pick another
    /// account instead of signing the same one in silently (`prompt=select_account`).
    pub fn authorization_url(&self, meta: &ProviderMetadata, config: &OidcConfig, redirect_uri: &str, switch_account: bool) -> String {
        let challenge = b64::encode(&Sha256::digest(self.verifier.as_bytes()));
        let mut url = url::Url::parse(&meta.authorization_endpoint).expect("checked when the metadata was parsed");
        url.query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", &config.client_id)
            .append_pair("redirect_uri", redirect_uri)
            .append_pair("scope", &config.scopes)
            .append_pair("state", &self.state)
            .append_pair("nonce", &self.nonce)
            .append_pair("code_challenge", &challenge)
            .append_pair("code_challenge_method", "S256");
        if switch_account {
            url.query_pairs_mut().append_pair("prompt", "select_account");
        }
        url.into()
    }

    /// The token request (OIDC Core §3.1.3.1) for the code the callback brought.
    pub fn token_request(&self, meta: &ProviderMetadata, config: &OidcConfig, redirect_uri: &str, code: &str) -> ProviderRequest {
        let mut form = url::form_urlencoded::Serializer::new(String::new());
        form.append_pair("grant_type", "authorization_code")
            .append_pair("code", code)
            .append_pair("redirect_uri", redirect_uri)
            .append_pair("code_verifier", &self.verifier);
        let mut headers = vec![
            ("content-type".to_string(), "application/x-www-form-urlencoded".to_string()),
            ("accept".to_string(), "application/json".to_string()),
        ];
        match &config.client_secret {
            // RFC 6749 §2.3.1: the ID and secret are form-encoded before Basic encoding.
            Some(secret) if !meta.secret_in_body => {
                let pair = format!("{}:{}", form_encode(&config.client_id), form_encode(secret));
                headers.push(("authorization".into(), format!("Basic {}", standard_base64(pair.as_bytes()))));
            }
            Some(secret) => {
                form.append_pair("client_id", &config.client_id).append_pair("client_secret", secret);
            }
            None => {
                form.append_pair("client_id", &config.client_id);
            }
        }
        ProviderRequest { method: "POST", url: meta.token_endpoint.clone(), headers, body: Some(form.finish()) }
    }
}

fn form_encode(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

fn standard_base64(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::oauth::keys::test_keys;

    fn config(secret: Option<&str>) -> OidcConfig {
        OidcConfig {
            issuer: "https://id.example.com".into(),
            client_id: "mcp edge".into(),
            client_secret: secret.map(str::to_string),
            scopes: "openid email".into(),
            workspaces_claim: None,
        }
    }

    fn meta(secret_in_body: bool) -> ProviderMetadata {
        ProviderMetadata {
            issuer: "https://id.example.com".into(),
            authorization_endpoint: "https://id.example.com/auth?tenant=1".into(),
            token_endpoint: "https://id.example.com/token".into(),
            jwks_uri: "https://id.example.com/jwks".into(),
            secret_in_body,
        }
    }

    fn flow() -> Flow {
        Flow { state: "st".into(), nonce: "no".into(), verifier: "v".repeat(43), next: "/admin".into(), expires_at: 100 }
    }

    #[test]
    fn the_flow_cookie_is_signed_and_expires() {
        let k = test_keys();
        let value = flow().encode(&k);
        assert_eq!(Flow::decode(&k, &value, 99), Some(flow()));
        assert_eq!(Flow::decode(&k, &value, 100), None);
        assert_eq!(Flow::decode(&k, &value.replacen('e', "f", 1), 50), None);
        assert!(flow().state_matches("st") && !flow().state_matches("sT"));
    }

    #[test]
    fn a_flow_begun_before_a_rotation_completes_after_it() {
        use crate::core::oauth::keys::rotated_keys;
        let value = flow().encode(&rotated_keys(1, None));
        assert_eq!(Flow::decode(&rotated_keys(2, Some(1)), &value, 99), Some(flow()));
        assert_eq!(Flow::decode(&rotated_keys(2, None), &value, 99), None);
    }

    #[test]
    fn the_authorization_request_carries_state_nonce_and_the_s256_challenge() {
        let url = url::Url::parse(&flow().authorization_url(&meta(false), &config(None), "https://mcp.example.com/oidc/callback", false))
            .unwrap();
        let q: std::collections::HashMap<_, _> = url.query_pairs().into_owned().collect();
        assert_eq!(q["tenant"], "1", "the endpoint's own query is kept");
        assert_eq!((q["response_type"].as_str(), q["state"].as_str(), q["nonce"].as_str()), ("code", "st", "no"));
        assert_eq!(q["code_challenge_method"], "S256");
        assert_eq!(q["code_challenge"], b64::encode(&Sha256::digest("v".repeat(43).as_bytes())));
        assert_eq!(q["scope"], "openid email");
        assert!(!q.contains_key("prompt"));
        let switching = flow().authorization_url(&meta(false), &config(None), "https://x/cb", true);
        assert!(switching.ends_with("&prompt=select_account"), "{switching}");
    }

    #[test]
    fn the_token_request_authenticates_as_the_provider_asks() {
        let basic = flow().token_request(&meta(false), &config(Some("s&cret")), "https://mcp.example.com/oidc/callback", "c1");
        let auth = basic.headers.iter().find(|(k, _)| k == "authorization").unwrap();
        assert_eq!(auth.1, format!("Basic {}", standard_base64(b"mcp+edge:s%26cret")));
        assert!(!basic.body.as_deref().unwrap().contains("client_secret"));
        assert!(basic.body.as_deref().unwrap().contains(&format!("code_verifier={}", "v".repeat(43))));
        let post = flow().token_request(&meta(true), &config(Some("s")), "https://x/cb", "c1");
        assert!(post.body.unwrap().contains("client_secret=s") && !post.headers.iter().any(|(k, _)| k == "authorization"));
        let public = flow().token_request(&meta(false), &config(None), "https://x/cb", "c1");
        assert!(public.body.unwrap().contains("client_id=mcp+edge"));
    }
}

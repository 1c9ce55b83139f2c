//! The authorization request (RFC 6749 §4.1.1 with OAuth 2.1 and RFC 8707 rules).
//! Until the redirect URI has been matched against the client's registration *and* the
//! workspace allowlist, every error is shown as a page, never redirected.
use crate::core::oauth::error::{ErrorCode, OAuthError};
use crate::core::oauth::pkce::CodeChallenge;
use crate::core::oauth::register::ClientRegistration;
use crate::core::oauth::resource;
use crate::core::oauth::types::{ClientId, RedirectUri};
use crate::core::scopes::{RequestedScopes, ScopeCatalog};

/// The parameters of /authorize we read; the consent form carries exactly these back.
pub const PARAMS: [&str; 8] =
    ["response_type", "client_id", "redirect_uri", "scope", "state", "code_challenge", "code_challenge_method", "resource"];

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuthorizeParams(Vec<(String, String)>);

impl AuthorizeParams {
    /// RFC 6749 §3.1: parameters MUST NOT be included more than once.
    pub fn from_pairs(pairs: &[(String, String)]) -> Result<AuthorizeParams, OAuthError> {
        let mut out: Vec<(String, String)> = Vec::new();
        for (k, v) in pairs.iter().filter(|(k, _)| PARAMS.contains(&k.as_str())) {
            if out.iter().any(|(seen, _)| seen == k) {
                return Err(OAuthError::invalid_request(format!("the `{k}` parameter appears more than once")));
            }
            out.push((k.clone(), v.clone()));
        }
        Ok(AuthorizeParams(out))
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    pub fn pairs(&self) -> &[(String, String)] {
        &self.0
    }

    /// `/authorize?…` with these parameters, for returning after sign-in.
    pub fn to_path(&self) -> String {
        let query: String = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(self.0.iter()).finish();
        format!("/authorize?{query}")
    }

    pub fn client_id(&self) -> Result<ClientId, OAuthError> {
        let raw = self.get("client_id").ok_or_else(|| OAuthError::invalid_request("client_id is required"))?;
        ClientId::parse(raw).ok_or_else(|| OAuthError::new(ErrorCode::InvalidClient, "client_id is malformed"))
    }
}

/// A request whose every parameter has been checked against the client's registration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizationRequest {
    pub client_id: ClientId,
    pub redirect_uri: RedirectUri,
    /// Whether the request named `redirect_uri` (else the client's only registered one is
    /// used); if it did, the token request must repeat it (RFC 6749 §4.1.3).
    pub redirect_uri_sent: bool,
    pub state: Option<String>,
    pub code_challenge: CodeChallenge,
    pub resource: String,
    pub requested: RequestedScopes,
}

/// Checks the request against the registered client. `Err` is shown as a page.
pub fn validate(
    params: &AuthorizeParams,
    client: &ClientRegistration,
    catalog: &ScopeCatalog,
    origin: &str,
) -> Result<AuthorizationRequest, OAuthError> {
    let redirect_uri = client.match_redirect_uri(params.get("redirect_uri")).map_err(|e| OAuthError::new(ErrorCode::InvalidRequest, e))?;
    match params.get("response_type") {
        Some("code") => {}
        None => return Err(OAuthError::invalid_request("response_type is required and must be `code`")),
        Some(other) => {
            return Err(OAuthError::new(
                ErrorCode::UnsupportedResponseType,
                format!("response_type `{other}` is not supported; use `code`"),
            ))
        }
    }
    let code_challenge = CodeChallenge::parse(params.get("code_challenge"), params.get("code_challenge_method"))?;
    let requested = catalog.parse_request(params.get("scope").unwrap_or("")).map_err(|e| OAuthError::new(ErrorCode::InvalidScope, e))?;
    let resource = resource::normalize(params.get("resource"), origin)?;
    let state = params.get("state").filter(|s| !s.is_empty()).map(str::to_string);
    if state.as_ref().is_some_and(|s| s.len() > 2048) {
        return Err(OAuthError::invalid_request("state is longer than 2048 characters"));
    }
    let redirect_uri_sent = params.get("redirect_uri").is_some();
    Ok(AuthorizationRequest {
        client_id: client.client_id.clone(),
        redirect_uri,
        redirect_uri_sent,
        state,
        code_challenge,
        resource,
        requested,
    })
}

impl AuthorizationRequest {
    /// RFC 6749 §4.1.2 + RFC 9207: where the browser goes with the code.
    pub fn success_redirect(&self, code: &str, issuer: &str) -> String {
        let mut params = vec![("code", code)];
        if let Some(state) = &self.state {
            params.push(("state", state));
        }
        params.push(("iss", issuer));
        self.redirect_uri.with_params(&params)
    }

    /// RFC 6749 §4.1.2.1, used only once the redirect URI is fully trusted.
    pub fn error_redirect(&self, error: &OAuthError, issuer: &str) -> String {
        let mut params = vec![("error", error.code.as_str()), ("error_description", error.description.as_str())];
        if let Some(state) = &self.state {
            params.push(("state", state));
        }
        params.push(("iss", issuer));
        self.redirect_uri.with_params(&params)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::config::BUNDLED_SCOPE_CATALOG;
    use crate::core::oauth::register::parse_registration;

    const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

    fn pairs(extra: &[(&str, &str)]) -> Vec<(String, String)> {
        let mut base = vec![
            ("response_type", "code"),
            ("client_id", "c1"),
            ("redirect_uri", "http://localhost:3118/callback"),
            ("code_challenge", CHALLENGE),
            ("code_challenge_method", "S256"),
            ("state", "xyz"),
        ];
        for (k, v) in extra {
            base.retain(|(bk, _)| bk != k);
            base.push((k, v));
        }
        base.into_iter().filter(|(_, v)| *v != "<absent>").map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn run(extra: &[(&str, &str)]) -> Result<AuthorizationRequest, OAuthError> {
        let client =
            parse_registration(br#"{"redirect_uris":["http://localhost:3118/callback"]}"#, ClientId::parse("c1").unwrap(), 0).unwrap();
        let catalog = ScopeCatalog::parse(BUNDLED_SCOPE_CATALOG).unwrap();
        validate(&AuthorizeParams::from_pairs(&pairs(extra))?, &client, &catalog, "http://127.0.0.1:8081")
    }

    #[test]
    fn a_claude_code_request_validates() {
        let r = run(&[("scope", "offline_access"), ("resource", "http://127.0.0.1:8081/mcp")]).unwrap();
        assert!(r.requested.scopes.is_empty() && r.requested.offline_access);
        assert_eq!(r.resource, "http://127.0.0.1:8081/mcp");
        assert_eq!(
            r.success_redirect("c", "http://127.0.0.1:8081"),
            "http://localhost:3118/callback?code=c&state=xyz&iss=http%3A%2F%2F127.0.0.1%3A8081"
        );
    }

    #[test]
    fn each_bad_parameter_is_named() {
        let cases: [(&[(&str, &str)], &str); 7] = [
            (&[("redirect_uri", "http://localhost:9/cb")], "not registered"),
            (&[("response_type", "token")], "response_type `token`"),
            (&[("code_challenge", "<absent>")], "code_challenge is required"),
            (&[("code_challenge_method", "plain")], "plain"),
            (&[("scope", "CONTACTS_READ bogus")], "Unknown scope: bogus"),
            (&[("resource", "https://other.example/mcp")], "other.example"),
            (&[("state", &"s".repeat(3000))], "state"),
        ];
        for (extra, needle) in cases {
            let err = run(extra).unwrap_err();
            assert!(err.description.contains(needle), "{needle}: {}", err.description);
        }
        let dup = vec![("client_id".to_string(), "a".to_string()), ("client_id".to_string(), "b".to_string())];
        assert!(AuthorizeParams::from_pairs(&dup).unwrap_err().description.contains("more than once"));
    }
}

//! The token endpoint's decisions (RFC 6749 §4.1.3, §6; OAuth 2.1 §4.1.3, §4.3).
use serde_json::{json, Value};

use crate::core::oauth::code::{AuthCode, Presentation, Refusal};
use crate::core::oauth::error::{ErrorCode, OAuthError};
use crate::core::oauth::pkce::CodeVerifier;
use crate::core::oauth::resource;
use crate::core::oauth::types::ClientId;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenRequest {
    AuthorizationCode {
        code: AuthCode,
        presented: Presentation,
    },
    /// `scope`: RFC 6749 §6's optional narrowing, as sent (checked against the grant by the
    /// caller, who holds the catalog and the connection).
    RefreshToken {
        refresh_token: String,
        client_id: ClientId,
        scope: Option<String>,
    },
}

const KNOWN: [&str; 8] = ["grant_type", "code", "redirect_uri", "client_id", "code_verifier", "resource", "refresh_token", "scope"];

/// Parses a form body. `origin` normalises `resource` (RFC 8707 §2.2).
pub fn parse(pairs: &[(String, String)], origin: &str) -> Result<TokenRequest, OAuthError> {
    let mut seen: Vec<&str> = Vec::new();
    for (k, _) in pairs.iter().filter(|(k, _)| KNOWN.contains(&k.as_str())) {
        if seen.contains(&k.as_str()) {
            return Err(OAuthError::invalid_request(format!("the `{k}` parameter appears more than once")));
        }
        seen.push(k);
    }
    let get = |name: &str| pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
    let client_id = || -> Result<ClientId, OAuthError> {
        let raw = get("client_id")
            .ok_or_else(|| OAuthError::invalid_request("client_id is required (public clients identify themselves in the body)"))?;
        ClientId::parse(raw).ok_or_else(|| OAuthError::new(ErrorCode::InvalidClient, "client_id is malformed"))
    };
    match get("grant_type") {
        Some("authorization_code") => {
            let raw = get("code").ok_or_else(|| OAuthError::invalid_request("code is required"))?;
            let code = AuthCode::parse(raw).ok_or_else(|| OAuthError::invalid_grant("The authorization code is invalid"))?;
            let presented = Presentation {
                client_id: client_id()?,
                redirect_uri: get("redirect_uri").map(str::to_string),
                verifier: CodeVerifier::parse(get("code_verifier"))?,
                resource: resource::normalize(get("resource"), origin)?,
            };
            Ok(TokenRequest::AuthorizationCode { code, presented })
        }
        Some("refresh_token") => {
            let refresh_token =
                get("refresh_token").filter(|t| !t.is_empty()).ok_or_else(|| OAuthError::invalid_request("refresh_token is required"))?;
            let client_id = client_id()?;
            // RFC 8707 §2.2: a refresh may name the resource again; it must be this one.
            resource::normalize(get("resource"), origin)?;
            let scope = get("scope").filter(|s| !s.is_empty()).map(str::to_string);
            Ok(TokenRequest::RefreshToken { refresh_token: refresh_token.to_string(), client_id, scope })
        }
        None => Err(OAuthError::invalid_request("grant_type is required")),
        Some(other) => Err(OAuthError::new(
            ErrorCode::UnsupportedGrantType,
            format!("grant_type `{other}` is not supported; use authorization_code or refresh_token"),
        )),
    }
}

/// The token endpoint's answer to a presentation that does not match the code's grant.
impl From<Refusal> for OAuthError {
    fn from(why: Refusal) -> OAuthError {
        match why {
            Refusal::Resource => OAuthError::new(ErrorCode::InvalidTarget, why.to_string()),
            _ => OAuthError::invalid_grant(why.to_string()),
        }
    }
}

/// RFC 6749 §5.1 success body.
pub fn token_response(access_token: &str, expires_in: i64, refresh_token: Option<&str>, scope: &str) -> Value {
    let mut body = json!({
        "access_token": access_token,
        "token_type": "Bearer",
        "expires_in": expires_in,
        "scope": scope,
    });
    if let Some(r) = refresh_token {
        body["refresh_token"] = json!(r);
    }
    body
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::oauth::code::CodeGrant;

    const O: &str = "http://127.0.0.1:8081";
    const CODE: &str = "c03_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

    fn form(items: &[(&str, &str)]) -> Vec<(String, String)> {
        items.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn grant() -> CodeGrant {
        CodeGrant {
            client_id: "c1".into(),
            redirect_uri: "http://localhost:3118/callback".into(),
            redirect_uri_sent: false,
            code_challenge: CHALLENGE.into(),
            resource: format!("{O}/mcp"),
            scopes: vec!["CONTACTS_READ".into()],
            user: "ada@example.com".into(),
            workspace: "acme".into(),
            connection_id: "k".into(),
        }
    }

    #[test]
    fn parses_an_sdk_style_exchange() {
        let req = parse(
            &form(&[
                ("grant_type", "authorization_code"),
                ("code", CODE),
                ("code_verifier", VERIFIER),
                ("redirect_uri", "http://localhost:3118/callback"),
                ("client_id", "c1"),
                ("resource", "http://127.0.0.1:8081/mcp"),
            ]),
            O,
        )
        .unwrap();
        let TokenRequest::AuthorizationCode { presented, .. } = req else { panic!("wrong grant") };
        presented.check(&grant()).unwrap();
    }

    #[test]
    fn every_mismatch_is_invalid_grant_or_named() {
        let right = Presentation {
            client_id: ClientId::parse("c1").unwrap(),
            redirect_uri: None,
            verifier: CodeVerifier::parse(Some(VERIFIER)).unwrap(),
            resource: format!("{O}/mcp"),
        };
        let refused = |grant: &CodeGrant, p: Presentation| OAuthError::from(p.check(grant).unwrap_err());
        let other = Presentation { client_id: ClientId::parse("c2").unwrap(), ..right.clone() };
        assert_eq!(refused(&grant(), other).code, ErrorCode::InvalidGrant);
        let elsewhere = Presentation { redirect_uri: Some("http://localhost:9/cb".into()), ..right.clone() };
        assert_eq!(refused(&grant(), elsewhere).code, ErrorCode::InvalidGrant);
        let wrong = Presentation { verifier: CodeVerifier::parse(Some(&"b".repeat(43))).unwrap(), ..right.clone() };
        assert!(refused(&grant(), wrong).description.contains("PKCE"));
        assert_eq!(refused(&grant(), Presentation { resource: "x".into(), ..right.clone() }).code, ErrorCode::InvalidTarget);
        let sent = CodeGrant { redirect_uri_sent: true, ..grant() };
        assert!(refused(&sent, right.clone()).description.starts_with("redirect_uri is required"));
        assert!(Presentation { redirect_uri: Some("http://localhost:3118/callback".into()), ..right }.check(&sent).is_ok());
    }

    #[test]
    fn malformed_requests() {
        assert_eq!(parse(&form(&[]), O).unwrap_err().description, "grant_type is required");
        assert_eq!(parse(&form(&[("grant_type", "password")]), O).unwrap_err().code, ErrorCode::UnsupportedGrantType);
        assert_eq!(
            parse(&form(&[("grant_type", "authorization_code"), ("code", "nope"), ("client_id", "c1"), ("code_verifier", VERIFIER)]), O)
                .unwrap_err()
                .code,
            ErrorCode::InvalidGrant
        );
        assert!(parse(&form(&[("grant_type", "authorization_code"), ("code", CODE), ("client_id", "c1")]), O)
            .unwrap_err()
            .description
            .contains("code_verifier"));
        assert!(parse(&form(&[("grant_type", "authorization_code"), ("grant_type", "x")]), O)
            .unwrap_err()
            .description
            .contains("more than once"));
        assert_eq!(
            parse(
                &form(&[
                    ("grant_type", "authorization_code"),
                    ("code", CODE),
                    ("client_id", "c1"),
                    ("code_verifier", VERIFIER),
                    ("resource", "https://evil.example")
                ]),
                O
            )
            .unwrap_err()
            .code,
            ErrorCode::InvalidTarget
        );
    }
}

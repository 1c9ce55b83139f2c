//! RFC 7591 dynamic client registration, for public clients only, and the client metadata it
//! shares with Client ID Metadata Documents (`super::cimd`).
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::core::oauth::error::{ErrorCode, OAuthError};
use crate::core::oauth::types::{ClientId, RedirectUri};
use crate::core::text;

/// A registered client, as stored (see docs/storage.md) and as /authorize and /token see it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClientRegistration {
    pub client_id: ClientId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_uri: Option<String>,
    pub redirect_uris: Vec<RedirectUri>,
    pub client_id_issued_at: i64,
    /// When the registration's lifetime was last pushed ahead (`renewal_due`); never sent to
    /// the client.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub renewed_at: Option<i64>,
}

/// A registration is renewed at most this often, however many codes its client redeems, and
/// wherever they are redeemed (the time is stored in the registration itself).
pub const RENEW_EVERY: i64 = 86_400;

impl ClientRegistration {
    /// Is a code redemption at `now` due to push the registration's lifetime ahead? Only once
    /// `RENEW_EVERY` has passed since it was made or last renewed: one KV write a day per client
    /// in use, at most. (Its lifetime exceeds the refresh tokens' by a day, so a day's delay
    /// never lets a registration lapse before the refresh tokens issued under it.)
    pub fn renewal_due(&self, now: i64) -> bool {
        now - self.renewed_at.unwrap_or(self.client_id_issued_at) >= RENEW_EVERY
    }

    /// The name people see: the registered name, else the client ID.
    pub fn display_name(&self) -> &str {
        self.client_name.as_deref().unwrap_or(self.client_id.as_str())
    }

    /// RFC 6749 §3.1.2.3: exact string match against a registered URI, except that a loopback
    /// URI registered without a port matches the same URI on any port (RFC 8252 §7.3: native
    /// apps listen on whatever port is free). Omitted → the only one.
    pub fn match_redirect_uri(&self, requested: Option<&str>) -> Result<RedirectUri, String> {
        match requested {
            Some(raw) => match self.redirect_uris.iter().find(|r| r.as_str() == raw || r.matches_on_any_port(raw)) {
                Some(registered) if registered.as_str() == raw => Ok(registered.clone()),
                // The port-ful URI the client asked for is where the code goes.
                Some(_) => RedirectUri::parse(raw),
                None => Err(format!("redirect_uri `{}` is not registered for this client", crate::core::text::quoted(raw))),
            },
            None if self.redirect_uris.len() == 1 => Ok(self.redirect_uris[0].clone()),
            None => Err("redirect_uri is required: this client registered several".to_string()),
        }
    }

    /// RFC 7591 §3.2.1 response body: every registered field, no nulls, no empty strings.
    pub fn to_response_json(&self) -> Value {
        let mut body = json!({
            "client_id": self.client_id.as_str(),
            "client_id_issued_at": self.client_id_issued_at,
            "redirect_uris": self.redirect_uris,
            "grant_types": GRANT_TYPES,
            "response_types": ["code"],
            "token_endpoint_auth_method": "none",
        });
        if let Some(name) = &self.client_name {
            body["client_name"] = json!(name);
        }
        if let Some(uri) = &self.client_uri {
            body["client_uri"] = json!(uri);
        }
        body
    }
}

pub const GRANT_TYPES: [&str; 2] = ["authorization_code", "refresh_token"];
/// A registration is kept 90 days in KV; these bound it to about 6 KB.
const MAX_REDIRECT_URIS: usize = 10;
const MAX_REGISTERED_URI: usize = 512;
const MAX_NAME: usize = 100;
const MAX_CLIENT_URI: usize = 512;

/// Client metadata (RFC 7591 §2), as a registration request or a metadata document carries it.
/// Fields we do not understand are ignored (RFC 7591 §2).
#[derive(Debug, Deserialize)]
struct MetadataFields {
    redirect_uris: Option<Value>,
    client_name: Option<Value>,
    client_uri: Option<Value>,
    grant_types: Option<Vec<String>>,
    response_types: Option<Vec<String>>,
    application_type: Option<Value>,
}

/// What this server keeps of a client's metadata.
#[derive(Debug, Clone, PartialEq)]
pub struct ClientMetadata {
    pub client_name: Option<String>,
    pub client_uri: Option<String>,
    pub redirect_uris: Vec<RedirectUri>,
}

/// Validates a registration body. `token_endpoint_auth_method` is always registered as `none`
/// (RFC 7591 §3.2.1 lets the server replace requested values; this server has only public clients).
pub fn parse_registration(body: &[u8], client_id: ClientId, now: i64) -> Result<ClientRegistration, OAuthError> {
    let body =
        std::str::from_utf8(body).map_err(|e| OAuthError::invalid_request(format!("the registration body must be UTF-8 JSON: {e}")))?;
    let fields: Value =
        serde_json::from_str(body).map_err(|e| OAuthError::invalid_request(format!("the registration body must be a JSON object: {e}")))?;
    if !fields.is_object() {
        return Err(OAuthError::invalid_request("the registration body must be a JSON object"));
    }
    let ClientMetadata { client_name, client_uri, redirect_uris } = parse_metadata(&fields)?;
    Ok(ClientRegistration { client_id, client_name, client_uri, redirect_uris, client_id_issued_at: now, renewed_at: None })
}

/// Checks the metadata fields shared by registrations and metadata documents: redirect URIs,
/// name, URI, grant and response types, and `application_type` (OpenID Connect Registration §2:
/// `web`, the default, or `native`, whose redirects are loopback or a private-use scheme).
pub fn parse_metadata(fields: &Value) -> Result<ClientMetadata, OAuthError> {
    let bad = |msg: String| OAuthError::new(ErrorCode::InvalidClientMetadata, msg);
    let req: MetadataFields = serde_json::from_value(fields.clone()).map_err(|e| bad(format!("the client metadata is malformed: {e}")))?;
    let uris = match req.redirect_uris {
        Some(Value::Array(items)) if !items.is_empty() => items,
        _ => return Err(OAuthError::new(ErrorCode::InvalidRedirectUri, "redirect_uris must be a non-empty array of URIs")),
    };
    if uris.len() > MAX_REDIRECT_URIS {
        return Err(OAuthError::new(ErrorCode::InvalidRedirectUri, format!("at most {MAX_REDIRECT_URIS} redirect_uris")));
    }
    let mut redirect_uris = Vec::with_capacity(uris.len());
    for item in uris {
        let raw = item.as_str().ok_or_else(|| OAuthError::new(ErrorCode::InvalidRedirectUri, "redirect_uris must be strings"))?;
        if raw.len() > MAX_REGISTERED_URI {
            let why = format!("a redirect URI of {} characters is longer than {MAX_REGISTERED_URI}", raw.len());
            return Err(OAuthError::new(ErrorCode::InvalidRedirectUri, why));
        }
        let uri = RedirectUri::parse(raw).map_err(|e| OAuthError::new(ErrorCode::InvalidRedirectUri, e))?;
        if !redirect_uris.contains(&uri) {
            redirect_uris.push(uri);
        }
    }
    match req.application_type {
        None | Some(Value::Null) => {}
        Some(Value::String(t)) if t == "web" => {}
        Some(Value::String(t)) if t == "native" => {
            if let Some(web) = redirect_uris.iter().find(|u| !u.is_native_app_uri()) {
                return Err(OAuthError::new(
                    ErrorCode::InvalidRedirectUri,
                    format!(
                        "redirect URI `{}` does not suit application_type native: use a loopback http URI or a private-use scheme",
                        web.as_str()
                    ),
                ));
            }
        }
        Some(other) => return Err(bad(format!("application_type must be `web` or `native`, not {other}"))),
    }
    let client_name = optional_string(req.client_name, "client_name", MAX_NAME).map_err(bad)?;
    let client_uri = optional_string(req.client_uri, "client_uri", MAX_CLIENT_URI).map_err(bad)?;
    if let Some(uri) = &client_uri {
        if url::Url::parse(uri).map(|u| u.scheme() != "https").unwrap_or(true) {
            return Err(bad(format!("client_uri `{uri}` must be an https URL")));
        }
    }
    if let Some(grants) = &req.grant_types {
        if let Some(other) = grants.iter().find(|g| !GRANT_TYPES.contains(&g.as_str())) {
            return Err(bad(format!("grant type `{other}` is not supported; use authorization_code and refresh_token")));
        }
        if !grants.iter().any(|g| g == "authorization_code") {
            return Err(bad("grant_types must include authorization_code".to_string()));
        }
    }
    if let Some(types) = &req.response_types {
        if types.iter().any(|t| t != "code") {
            return Err(bad("response_types may only contain `code`".to_string()));
        }
    }
    Ok(ClientMetadata { client_name, client_uri, redirect_uris })
}

/// A string field that is absent, or present and non-empty (empty and null count as absent).
fn optional_string(value: Option<Value>, field: &str, max: usize) -> Result<Option<String>, String> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(Value::String(s)) if s.chars().count() > max => Err(format!("{field} must be at most {max} characters")),
        Some(Value::String(s)) => match text::first_hidden(&s) {
            None => Ok(Some(s)),
            Some(c) => Err(format!(
                "{field} contains {c}, a control or invisible formatting character (bidirectional override, zero-width space…); remove it"
            )),
        },
        Some(_) => Err(format!("{field} must be a string")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id() -> ClientId {
        ClientId::parse("client-1").unwrap()
    }

    #[test]
    fn registers_a_claude_code_style_client_without_nulls() {
        let body = br#"{"redirect_uris":["http://localhost:3118/callback"],"client_name":"Claude Code (x)","grant_types":["authorization_code","refresh_token"],"response_types":["code"],"token_endpoint_auth_method":"none","client_uri":null,"logo_uri":""}"#;
        let reg = parse_registration(body, id(), 7).unwrap();
        let json = reg.to_response_json();
        assert_eq!(json["client_name"], "Claude Code (x)");
        assert_eq!(json["token_endpoint_auth_method"], "none");
        let obj = json.as_object().unwrap();
        assert!(obj.values().all(|v| !v.is_null() && v != ""), "{json}");
        assert!(!obj.contains_key("client_uri"));
    }

    #[test]
    fn a_registration_is_renewed_once_a_day_at_most_and_never_says_so_to_the_client() {
        let reg = parse_registration(br#"{"redirect_uris":["http://localhost:3118/callback"]}"#, id(), 1000).unwrap();
        assert!(!reg.renewal_due(1000 + RENEW_EVERY - 1), "a fresh registration is not written again");
        assert!(reg.renewal_due(1000 + RENEW_EVERY));
        let renewed = ClientRegistration { renewed_at: Some(5000 + RENEW_EVERY), ..reg };
        assert!(!renewed.renewal_due(5000 + 2 * RENEW_EVERY - 1));
        assert!(renewed.renewal_due(5000 + 2 * RENEW_EVERY));
        assert!(renewed.to_response_json().get("renewed_at").is_none());
        let stored: ClientRegistration = serde_json::from_value(serde_json::to_value(&renewed).unwrap()).unwrap();
        assert_eq!(stored, renewed);
    }

    #[test]
    fn names_that_would_read_as_something_else_and_oversized_fields_are_refused() {
        let refused = |fields: Value| parse_registration(fields.to_string().as_bytes(), id(), 0).unwrap_err().description;
        let cb = "http://localhost:3118/callback";
        for name in ["Claude Code\u{202E}", "Clau\u{200B}de Code", "\u{2066}Claude\u{2069}", "Claude\u{AD}Code", "\u{FEFF}Claude"] {
            let why = refused(json!({"redirect_uris": [cb], "client_name": name}));
            assert!(why.starts_with("client_name contains U+") && why.contains("remove it"), "{why}");
        }
        assert_eq!(refused(json!({"redirect_uris": [cb], "client_name": "x".repeat(101)})), "client_name must be at most 100 characters");
        let long = format!("http://localhost:3118/{}", "a".repeat(500));
        assert_eq!(refused(json!({"redirect_uris": [long]})), "a redirect URI of 522 characters is longer than 512");
        let many: Vec<String> = (0..11).map(|i| format!("http://localhost:{}/cb", 3000 + i)).collect();
        assert_eq!(refused(json!({"redirect_uris": many})), "at most 10 redirect_uris");
        assert!(
            parse_registration(json!({"redirect_uris": [cb], "client_name": "Zed — Éditeur 日本"}).to_string().as_bytes(), id(), 0).is_ok()
        );
    }

    #[test]
    fn rejects_bad_metadata_with_the_field_named() {
        let cases: [(&[u8], &str); 7] = [
            (b"[]", "JSON object"),
            (b"{\"client_name\":\"\xff\xfe\",\"redirect_uris\":[\"http://localhost/cb\"]}", "must be UTF-8 JSON"),
            (br#"{}"#, "redirect_uris"),
            (br#"{"redirect_uris":["javascript:alert(1)"]}"#, "javascript"),
            (br#"{"redirect_uris":["http://localhost/cb"],"grant_types":["client_credentials"]}"#, "client_credentials"),
            (br#"{"redirect_uris":["http://localhost/cb"],"response_types":["token"]}"#, "response_types"),
            (br#"{"redirect_uris":["http://localhost/cb"],"client_name":7}"#, "client_name"),
        ];
        for (body, needle) in cases {
            let err = parse_registration(body, id(), 0).unwrap_err();
            assert!(err.description.contains(needle), "{}: {}", String::from_utf8_lossy(body), err.description);
        }
    }

    #[test]
    fn hosts_are_ascii_punycode_is_accepted() {
        // `url` is built without Unicode tables (Cargo.toml, `idna_adapter`): a non-ASCII host is
        // refused with the URI named; its punycode form is an ordinary ASCII host.
        let err = parse_registration("{\"redirect_uris\":[\"https://bücher.example/cb\"]}".as_bytes(), id(), 0).unwrap_err();
        assert!(err.description.contains("bücher.example"), "{}", err.description);
        assert!(parse_registration(br#"{"redirect_uris":["https://xn--bcher-kva.example/cb"]}"#, id(), 0).is_ok());
    }

    #[test]
    fn native_clients_redirect_to_loopback_or_a_private_scheme() {
        let native =
            |uris: &str| parse_registration(format!(r#"{{"application_type":"native","redirect_uris":{uris}}}"#).as_bytes(), id(), 0);
        assert!(native(r#"["http://localhost:3118/callback","http://127.0.0.1/callback","com.example.app:/cb"]"#).is_ok());
        let e = native(r#"["https://app.example/cb"]"#).unwrap_err();
        assert!(e.description.contains("does not suit application_type native"), "{}", e.description);
        let e = parse_registration(br#"{"application_type":"desktop","redirect_uris":["http://localhost/cb"]}"#, id(), 0).unwrap_err();
        assert!(e.description.contains("application_type must be `web` or `native`"), "{}", e.description);
        assert!(parse_registration(br#"{"application_type":"web","redirect_uris":["https://app.example/cb"]}"#, id(), 0).is_ok());
    }

    #[test]
    fn a_loopback_uri_registered_without_a_port_matches_any_port() {
        let reg = parse_registration(br#"{"redirect_uris":["http://localhost/callback","http://127.0.0.1/callback"]}"#, id(), 0).unwrap();
        assert_eq!(reg.match_redirect_uri(Some("http://localhost:3118/callback")).unwrap().as_str(), "http://localhost:3118/callback");
        assert_eq!(reg.match_redirect_uri(Some("http://127.0.0.1:50123/callback")).unwrap().as_str(), "http://127.0.0.1:50123/callback");
        assert!(reg.match_redirect_uri(Some("http://localhost:3118/other")).is_err(), "only the port may differ");
        assert!(reg.match_redirect_uri(Some("http://localhost:3118/callback?x=1")).is_err());
        assert!(reg.match_redirect_uri(Some("http://[::1]:3118/callback")).is_err(), "nor the host");
        let https = parse_registration(br#"{"redirect_uris":["https://app.example/cb"]}"#, id(), 0).unwrap();
        assert!(https.match_redirect_uri(Some("https://app.example:8443/cb")).is_err(), "not for https");
    }

    #[test]
    fn redirect_matching_is_exact() {
        let reg = parse_registration(br#"{"redirect_uris":["http://localhost:3118/callback"]}"#, id(), 0).unwrap();
        assert!(reg.match_redirect_uri(Some("http://localhost:3118/callback")).is_ok());
        assert!(reg.match_redirect_uri(None).is_ok());
        assert!(reg.match_redirect_uri(Some("http://localhost:3119/callback")).is_err());
        assert!(reg.match_redirect_uri(Some("http://localhost:3118/callback/")).is_err());
    }
}

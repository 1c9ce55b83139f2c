//! The ID token (OIDC Core §2, §3.1.3.7): its JWS parts, and the checks of its claims. The
//! signature itself is verified by the edge (WebCrypto) over `signing_input`.
use serde_json::{Map, Value};

use super::JwsAlg;
use crate::core::b64;
use crate::core::cookies::MAX_SESSION_WORKSPACES;
use crate::core::ids::{Email, Identity, WorkspaceId};

/// Clock skew allowed on `exp` and `iat` (ours against the provider's).
pub const CLOCK_SKEW_SECONDS: i64 = 60;

/// A compact JWS, split and decoded; not yet verified.
#[derive(Debug, Clone, PartialEq)]
pub struct Jws {
    pub alg: JwsAlg,
    pub kid: Option<String>,
    /// `base64url(header).base64url(payload)`: what the signature covers.
    pub signing_input: String,
    pub signature: Vec<u8>,
    claims: Map<String, Value>,
}

/// Why an ID token is refused. Shown to the person (with what to try) and logged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdTokenError {
    Malformed(&'static str),
    /// `alg` is not RS256 or ES256 (`none` and HMAC never are).
    Algorithm(String),
    /// No key of the provider's key set, even fetched again, has this `kid`.
    UnknownKey(Option<String>),
    BadSignature,
    Issuer(String),
    Audience,
    AuthorizedParty,
    Expired {
        exp: i64,
        now: i64,
    },
    IssuedInTheFuture {
        iat: i64,
        now: i64,
    },
    Nonce,
    NoSubject,
}

impl std::fmt::Display for IdTokenError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            IdTokenError::Malformed(what) => write!(f, "the ID token is malformed ({what})"),
            IdTokenError::Algorithm(alg) => write!(f, "the ID token is signed with `{alg}`; only RS256 and ES256 are accepted"),
            IdTokenError::UnknownKey(Some(kid)) => {
                write!(f, "the ID token is signed with a key (kid `{kid}`) the provider does not publish")
            }
            IdTokenError::UnknownKey(None) => write!(f, "the ID token names no key, and the provider publishes more than one"),
            IdTokenError::BadSignature => write!(f, "the ID token's signature does not verify"),
            IdTokenError::Issuer(iss) => write!(f, "the ID token was issued by `{iss}`, not the configured provider"),
            IdTokenError::Audience => write!(f, "the ID token is not for this server (aud does not name OIDC_CLIENT_ID)"),
            IdTokenError::AuthorizedParty => write!(f, "the ID token was issued to another client (azp)"),
            IdTokenError::Expired { exp, now } => write!(f, "the ID token expired {} s ago", now.saturating_sub(*exp)),
            IdTokenError::IssuedInTheFuture { iat, now } => write!(f, "the ID token is dated {} s in the future", iat.saturating_sub(*now)),
            IdTokenError::Nonce => write!(f, "the ID token belongs to another sign-in (nonce)"),
            IdTokenError::NoSubject => write!(f, "the ID token has no subject (sub)"),
        }
    }
}

impl IdTokenError {
    /// Whether the clocks may be at fault (then the page says so).
    pub fn is_clock(&self) -> bool {
        matches!(self, IdTokenError::Expired { .. } | IdTokenError::IssuedInTheFuture { .. })
    }
}

impl Jws {
    pub fn parse(raw: &str) -> Result<Jws, IdTokenError> {
        let mut parts = raw.split('.');
        let (Some(header), Some(payload), Some(signature), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
            return Err(IdTokenError::Malformed("not three dot-separated parts"));
        };
        let json = |part: &str| -> Option<Map<String, Value>> { serde_json::from_slice(&b64::decode(part)?).ok() };
        let header = json(header).ok_or(IdTokenError::Malformed("the header is not base64url JSON"))?;
        let claims = json(payload).ok_or(IdTokenError::Malformed("the payload is not base64url JSON"))?;
        let signature = b64::decode(signature).ok_or(IdTokenError::Malformed("the signature is not base64url"))?;
        let alg_name = header.get("alg").and_then(Value::as_str).unwrap_or("");
        let alg = JwsAlg::parse(alg_name).ok_or_else(|| IdTokenError::Algorithm(alg_name.chars().take(20).collect()))?;
        if header.contains_key("crit") {
            return Err(IdTokenError::Malformed("critical header parameters are not understood"));
        }
        let kid = header.get("kid").and_then(Value::as_str).map(str::to_string);
        let signing_input = raw[..raw.len() - raw.rsplit('.').next().map_or(0, str::len) - 1].to_string();
        Ok(Jws { alg, kid, signing_input, signature, claims })
    }
}

/// What the claims must be for this sign-in.
pub struct Expected<'a> {
    pub issuer: &'a str,
    pub client_id: &'a str,
    pub nonce: &'a str,
    pub now: i64,
    /// The claim listing the person's workspace IDs (`OIDC_WORKSPACES_CLAIM`), if configured.
    pub workspaces_claim: Option<&'a str>,
}

/// Who the (signature-verified) ID token says signed in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedIn {
    pub identity: Identity,
    /// The `email` claim when the provider did not mark it verified (for the page that says so).
    pub unverified_email: Option<String>,
    /// From the workspaces claim, in its order; IDs that do not parse are left out.
    pub workspaces: Vec<WorkspaceId>,
}

fn number(claims: &Map<String, Value>, name: &'static str) -> Result<i64, IdTokenError> {
    claims.get(name).and_then(Value::as_f64).map(|n| n as i64).ok_or(IdTokenError::Malformed(name))
}

/// OIDC Core §3.1.3.7, in its order, after the signature (step 6) has been verified.
pub fn check(jws: &Jws, expected: &Expected) -> Result<SignedIn, IdTokenError> {
    let claims = &jws.claims;
    let iss = claims.get("iss").and_then(Value::as_str).unwrap_or("");
    if iss != expected.issuer {
        return Err(IdTokenError::Issuer(iss.chars().take(200).collect()));
    }
    // `aud` is a string or an array; it must contain our client ID. With several audiences,
    // `azp` must name us; when present, it must be us anyway.
    let audiences: Vec<&str> = match claims.get("aud") {
        Some(Value::String(a)) => vec![a.as_str()],
        Some(Value::Array(list)) => list.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    if !audiences.contains(&expected.client_id) {
        return Err(IdTokenError::Audience);
    }
    match claims.get("azp").and_then(Value::as_str) {
        Some(azp) if azp != expected.client_id => return Err(IdTokenError::AuthorizedParty),
        None if audiences.len() > 1 => return Err(IdTokenError::AuthorizedParty),
        _ => {}
    }
    let exp = number(claims, "exp")?;
    if expected.now >= exp.saturating_add(CLOCK_SKEW_SECONDS) {
        return Err(IdTokenError::Expired { exp, now: expected.now });
    }
    let iat = number(claims, "iat")?;
    if iat > expected.now.saturating_add(CLOCK_SKEW_SECONDS) {
        return Err(IdTokenError::IssuedInTheFuture { iat, now: expected.now });
    }
    let nonce = claims.get("nonce").and_then(Value::as_str).unwrap_or("");
    if !crate::core::oauth::pkce::constant_time_eq(nonce.as_bytes(), expected.nonce.as_bytes()) || nonce.is_empty() {
        return Err(IdTokenError::Nonce);
    }
    let sub = claims.get("sub").and_then(Value::as_str).filter(|s| !s.is_empty() && s.len() <= 255).ok_or(IdTokenError::NoSubject)?;
    // Membership by e-mail needs an address the provider verified (a self-asserted one is
    // anyone's to claim). Some providers send the flag as a string.
    let verified = matches!(claims.get("email_verified"), Some(Value::Bool(true)))
        || claims.get("email_verified").and_then(Value::as_str) == Some("true");
    let email = claims.get("email").and_then(Value::as_str);
    let workspaces = expected.workspaces_claim.and_then(|name| claims.get(name)).map(workspace_ids).unwrap_or_default();
    Ok(SignedIn {
        identity: Identity { subject: Some(sub.to_string()), email: email.filter(|_| verified).and_then(|e| Email::parse(e).ok()) },
        unverified_email: email.filter(|_| !verified).map(|e| e.chars().take(254).collect()),
        workspaces,
    })
}

/// A workspaces claim: an array of IDs, one string of IDs separated by spaces or commas, or an
/// object whose keys are the IDs (as some organisation claims are).
/// At most `MAX_SESSION_WORKSPACES` distinct IDs are taken, and at most `MAX_CLAIM_ITEMS` items
/// looked at: a claim filled from attributes a user can edit must not cost unbounded time.
fn workspace_ids(value: &Value) -> Vec<WorkspaceId> {
    let names: Box<dyn Iterator<Item = &str>> = match value {
        Value::Array(list) => Box::new(list.iter().filter_map(Value::as_str)),
        Value::String(s) => Box::new(s.split([' ', ','])),
        Value::Object(map) => Box::new(map.keys().map(String::as_str)),
        _ => Box::new(std::iter::empty()),
    };
    let mut ids: Vec<WorkspaceId> = Vec::new();
    for id in names.take(MAX_CLAIM_ITEMS).filter_map(|n| WorkspaceId::parse(n.trim())) {
        if !ids.contains(&id) {
            ids.push(id);
        }
        if ids.len() == MAX_SESSION_WORKSPACES {
            break;
        }
    }
    ids
}

const MAX_CLAIM_ITEMS: usize = 1000;

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const NOW: i64 = 1_800_000_000;

    fn token(header: Value, claims: Value) -> String {
        format!("{}.{}.{}", b64::encode(header.to_string().as_bytes()), b64::encode(claims.to_string().as_bytes()), b64::encode(b"sig"))
    }

    fn claims() -> Value {
        json!({"iss": "https://id.example.com", "aud": "mcp-edge", "sub": "u-1", "exp": NOW + 300, "iat": NOW, "nonce": "n-1",
               "email": "Ada@Example.com", "email_verified": true, "workspaces": ["acme", "north", "not a workspace!", "acme"]})
    }

    fn expected() -> Expected<'static> {
        Expected { issuer: "https://id.example.com", client_id: "mcp-edge", nonce: "n-1", now: NOW, workspaces_claim: Some("workspaces") }
    }

    fn checked(edit: impl FnOnce(&mut Value)) -> Result<SignedIn, IdTokenError> {
        let mut c = claims();
        edit(&mut c);
        check(&Jws::parse(&token(json!({"alg": "RS256", "kid": "k1"}), c)).unwrap(), &expected())
    }

    #[test]
    fn a_good_token_names_the_subject_the_verified_email_and_the_workspaces() {
        let jws = Jws::parse(&token(json!({"alg": "ES256", "kid": "k1"}), claims())).unwrap();
        assert_eq!((jws.alg, jws.kid.as_deref(), jws.signature.as_slice()), (JwsAlg::Es256, Some("k1"), b"sig".as_slice()));
        assert_eq!(jws.signing_input.matches('.').count(), 1);
        let signed_in = checked(|_| {}).unwrap();
        assert_eq!(signed_in.identity, Identity { subject: Some("u-1".into()), email: Some("ada@example.com".into()) });
        assert_eq!(signed_in.workspaces, vec![WorkspaceId::from("acme"), WorkspaceId::from("north")]);
        let string_claim = checked(|c| c["workspaces"] = json!("acme, south")).unwrap();
        assert_eq!(string_claim.workspaces, vec![WorkspaceId::from("acme"), WorkspaceId::from("south")]);
        let object_claim = checked(|c| c["workspaces"] = json!({"west": {"role": "x"}})).unwrap();
        assert_eq!(object_claim.workspaces, vec![WorkspaceId::from("west")]);
    }

    #[test]
    fn an_unverified_email_is_no_identity() {
        for flag in [json!(false), json!("false"), Value::Null] {
            let s = checked(|c| c["email_verified"] = flag.clone()).unwrap();
            assert_eq!((s.identity.email, s.unverified_email.as_deref()), (None, Some("Ada@Example.com")), "{flag}");
        }
        assert!(checked(|c| c["email_verified"] = json!("true")).unwrap().identity.email.is_some());
    }

    #[test]
    fn each_claim_rule_refuses_with_its_reason() {
        assert_eq!(checked(|c| c["iss"] = json!("https://evil.example")), Err(IdTokenError::Issuer("https://evil.example".into())));
        assert_eq!(checked(|c| c["aud"] = json!("someone-else")), Err(IdTokenError::Audience));
        assert!(checked(|c| c["aud"] = json!(["someone-else", "mcp-edge"])).is_err(), "several audiences need azp");
        assert!(checked(|c| {
            c["aud"] = json!(["someone-else", "mcp-edge"]);
            c["azp"] = json!("mcp-edge");
        })
        .is_ok());
        assert_eq!(checked(|c| c["azp"] = json!("other")), Err(IdTokenError::AuthorizedParty));
        assert_eq!(checked(|c| c["exp"] = json!(NOW - 61)), Err(IdTokenError::Expired { exp: NOW - 61, now: NOW }));
        assert!(checked(|c| c["exp"] = json!(NOW - 30)).is_ok(), "within the skew");
        assert!(checked(|c| c["iat"] = json!(NOW + 120)).unwrap_err().is_clock());
        assert_eq!(checked(|c| c["nonce"] = json!("n-2")), Err(IdTokenError::Nonce));
        assert_eq!(checked(|c| c["nonce"] = Value::Null), Err(IdTokenError::Nonce));
        assert_eq!(checked(|c| c["sub"] = json!("")), Err(IdTokenError::NoSubject));
        assert_eq!(checked(|c| c["exp"] = Value::Null), Err(IdTokenError::Malformed("exp")));
        assert!(checked(|c| c["exp"] = json!(-1e300)).unwrap_err().to_string().starts_with("the ID token expired"), "no overflow");
        assert!(checked(|c| c["iat"] = json!(1e300)).unwrap_err().is_clock());
        let many: Vec<String> = (0..5000).map(|i| format!("w{i}")).collect();
        assert_eq!(checked(|c| c["workspaces"] = json!(many)).unwrap().workspaces.len(), MAX_SESSION_WORKSPACES, "bounded");
    }

    #[test]
    fn only_asymmetric_algorithms_and_well_formed_tokens_are_parsed() {
        for alg in ["none", "HS256", "RS512", ""] {
            assert_eq!(Jws::parse(&token(json!({"alg": alg}), claims())), Err(IdTokenError::Algorithm(alg.into())), "{alg}");
        }
        assert!(Jws::parse(&token(json!({"alg": "RS256", "crit": ["exp"]}), claims())).is_err());
        assert!(Jws::parse("a.b").is_err() && Jws::parse("a.b.c.d").is_err() && Jws::parse("!.!.!").is_err());
    }
}

//! An OpenID provider for the native tests: discovery, a key set, an authorization step that
//! hands out codes, and a token endpoint that checks the code, the PKCE verifier and the client
//! secret, then signs a real ID token (RS256 or ES256, keys in `fixtures/`). The signature
//! checks use `rsa` and `p256` natively where the worker uses WebCrypto. The end-to-end suite
//! uses a real provider (`oidc-provider`) instead.
use std::cell::{Cell, RefCell};
use std::collections::HashMap;

use p256::ecdsa::signature::{Signer, Verifier};
use p256::pkcs8::DecodePrivateKey;
use rsa::signature::SignatureEncoding;
use rsa::traits::PublicKeyParts;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::app::UpstreamResponse;
use crate::core::b64;
use crate::core::oidc::jwks::Jwk;
use crate::core::oidc::{JwsAlg, ProviderRequest};

pub(crate) const ISSUER: &str = "https://id.example.test";
pub(crate) const CLIENT_ID: &str = "mcp-edge";
pub(crate) const CLIENT_SECRET: &str = "provider-secret";

/// The Worker vars of a deployment that signs people in through this provider.
pub(crate) const OIDC_VARS: [(&str, &str); 5] = [
    ("OIDC_ISSUER", ISSUER),
    ("OIDC_CLIENT_ID", CLIENT_ID),
    ("OIDC_CLIENT_SECRET", CLIENT_SECRET),
    ("OIDC_WORKSPACES_CLAIM", "workspaces"),
    ("DEV_SIGN_IN", ""),
];

/// What the token endpoint does to the ID token it would issue.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Issue {
    Honest,
    /// One character of the payload changed after signing.
    Tampered,
    /// Signed with a key the key set does not publish.
    UnknownKey,
}

/// A change to an ID token's claims before it is signed.
pub(crate) type ClaimsEdit = Box<dyn Fn(&mut Value)>;

/// A code handed out by the authorization step.
struct Grant {
    account: Value,
    nonce: String,
    challenge: String,
}

pub(crate) struct TestProvider {
    rsa: rsa::RsaPrivateKey,
    ec: p256::ecdsa::SigningKey,
    /// The algorithm (and so the key) ID tokens are signed with now.
    pub(crate) alg: Cell<JwsAlg>,
    /// The kids the key set publishes now (rotation: a new kid, the old one gone).
    pub(crate) published: RefCell<Vec<&'static str>>,
    pub(crate) issue: Cell<Issue>,
    /// Applied to the claims before signing (wrong audience, nonce, expiry, …).
    pub(crate) edit_claims: RefCell<Option<ClaimsEdit>>,
    pub(crate) down: Cell<bool>,
    /// Every request answered with this status and an empty object (a provider in trouble, or
    /// one configured wrongly).
    pub(crate) failing: Cell<Option<u16>>,
    pub(crate) jwks_fetches: Cell<u32>,
    pub(crate) discovery_fetches: Cell<u32>,
    codes: RefCell<HashMap<String, Grant>>,
    counter: Cell<u32>,
}

const RSA_KID: &str = "rsa-1";
pub(crate) const EC_KID: &str = "ec-2";

impl TestProvider {
    pub(crate) fn new() -> TestProvider {
        TestProvider {
            rsa: rsa::RsaPrivateKey::from_pkcs8_pem(include_str!("fixtures/provider-rsa.pem")).expect("test RSA key"),
            ec: p256::ecdsa::SigningKey::from_pkcs8_pem(include_str!("fixtures/provider-ec.pem")).expect("test EC key"),
            alg: Cell::new(JwsAlg::Rs256),
            published: RefCell::new(vec![RSA_KID]),
            issue: Cell::new(Issue::Honest),
            edit_claims: RefCell::new(None),
            down: Cell::new(false),
            failing: Cell::new(None),
            jwks_fetches: Cell::new(0),
            discovery_fetches: Cell::new(0),
            codes: RefCell::default(),
            counter: Cell::new(0),
        }
    }

    /// The provider rotates: ES256 under a new kid, the RSA key withdrawn.
    pub(crate) fn rotate_to_ec(&self) {
        self.alg.set(JwsAlg::Es256);
        *self.published.borrow_mut() = vec![EC_KID];
    }

    /// The person signs in at the provider as `account` (its claims) and consents: the code the
    /// provider redirects back with, for the authorization request at `url`.
    pub(crate) fn authorize(&self, url: &str, account: Value) -> (String, String) {
        let url = url::Url::parse(url).unwrap();
        assert!(url.as_str().starts_with(&format!("{ISSUER}/auth?")), "{url}");
        let q: HashMap<String, String> = url.query_pairs().into_owned().collect();
        assert_eq!(
            (q["response_type"].as_str(), q["client_id"].as_str(), q["code_challenge_method"].as_str()),
            ("code", CLIENT_ID, "S256")
        );
        assert!(q["scope"].split(' ').any(|s| s == "openid"));
        self.counter.set(self.counter.get() + 1);
        let code = format!("code-{}", self.counter.get());
        let grant = Grant { account, nonce: q["nonce"].clone(), challenge: q["code_challenge"].clone() };
        self.codes.borrow_mut().insert(code.clone(), grant);
        (code, q["state"].clone())
    }

    fn public_jwk(&self, kid: &str) -> Value {
        if kid == EC_KID {
            let point = self.ec.verifying_key().to_encoded_point(false);
            json!({"kty": "EC", "kid": kid, "use": "sig", "alg": "ES256", "crv": "P-256",
                   "x": b64::encode(point.x().unwrap()), "y": b64::encode(point.y().unwrap())})
        } else {
            let public = self.rsa.to_public_key();
            json!({"kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256",
                   "n": b64::encode(&public.n().to_bytes_be()), "e": b64::encode(&public.e().to_bytes_be())})
        }
    }

    fn sign(&self, alg: JwsAlg, kid: &str, claims: &Value) -> String {
        let header = json!({"alg": alg.as_str(), "kid": kid, "typ": "JWT"});
        let input = format!("{}.{}", b64::encode(header.to_string().as_bytes()), b64::encode(claims.to_string().as_bytes()));
        let signature = match alg {
            JwsAlg::Rs256 => rsa::pkcs1v15::SigningKey::<Sha256>::new(self.rsa.clone()).sign(input.as_bytes()).to_vec(),
            JwsAlg::Es256 => {
                let sig: p256::ecdsa::Signature = self.ec.sign(input.as_bytes());
                sig.to_bytes().to_vec()
            }
        };
        format!("{input}.{}", b64::encode(&signature))
    }

    fn token(&self, body: &str, headers: &[(String, String)], now: i64) -> (u16, Value) {
        let form: HashMap<String, String> = url::form_urlencoded::parse(body.as_bytes()).into_owned().collect();
        let basic = format!("Basic {}", base64_standard(format!("{CLIENT_ID}:{CLIENT_SECRET}").as_bytes()));
        if !headers.iter().any(|(k, v)| k == "authorization" && v == &basic) {
            return (401, json!({"error": "invalid_client"}));
        }
        let Some(grant) = form.get("code").and_then(|c| self.codes.borrow_mut().remove(c)) else {
            return (400, json!({"error": "invalid_grant", "error_description": "grant request is invalid"}));
        };
        let verifier = form.get("code_verifier").cloned().unwrap_or_default();
        if b64::encode(&Sha256::digest(verifier.as_bytes())) != grant.challenge {
            return (400, json!({"error": "invalid_grant", "error_description": "PKCE verification failed"}));
        }
        let mut claims = grant.account.clone();
        let fields = json!({"iss": ISSUER, "aud": CLIENT_ID, "iat": now, "exp": now + 300, "nonce": grant.nonce});
        for (k, v) in fields.as_object().unwrap() {
            claims[k] = v.clone();
        }
        if let Some(edit) = self.edit_claims.borrow().as_ref() {
            edit(&mut claims);
        }
        let alg = self.alg.get();
        let kid = if alg == JwsAlg::Es256 { EC_KID } else { RSA_KID };
        let id_token = match self.issue.get() {
            Issue::Honest => self.sign(alg, kid, &claims),
            Issue::UnknownKey => self.sign(alg, "never-published", &claims),
            Issue::Tampered => {
                let signed = self.sign(alg, kid, &claims);
                let mut parts: Vec<String> = signed.split('.').map(str::to_string).collect();
                let mut tampered = claims.clone();
                tampered["sub"] = json!("someone-else");
                parts[1] = b64::encode(tampered.to_string().as_bytes());
                parts.join(".")
            }
        };
        (200, json!({"access_token": "at", "token_type": "Bearer", "expires_in": 300, "id_token": id_token}))
    }

    /// The provider's side of `Services::provider_fetch`.
    pub(crate) fn fetch(&self, request: &ProviderRequest, now: i64) -> Result<UpstreamResponse, String> {
        if self.down.get() {
            return Err("connection refused".into());
        }
        if let Some(status) = self.failing.get() {
            return Ok(UpstreamResponse { status, content_type: "application/json".into(), body: b"{}".to_vec() });
        }
        let (status, body) = match (request.method, request.url.as_str()) {
            ("GET", u) if u == format!("{ISSUER}/.well-known/openid-configuration") => {
                self.discovery_fetches.set(self.discovery_fetches.get() + 1);
                (
                    200,
                    json!({"issuer": ISSUER, "authorization_endpoint": format!("{ISSUER}/auth"), "token_endpoint": format!("{ISSUER}/token"),
                    "jwks_uri": format!("{ISSUER}/jwks"), "code_challenge_methods_supported": ["S256"],
                    "token_endpoint_auth_methods_supported": ["client_secret_basic"]}),
                )
            }
            ("GET", u) if u == format!("{ISSUER}/jwks") => {
                self.jwks_fetches.set(self.jwks_fetches.get() + 1);
                let keys: Vec<Value> = self.published.borrow().iter().map(|kid| self.public_jwk(kid)).collect();
                (200, json!({ "keys": keys }))
            }
            ("POST", u) if u == format!("{ISSUER}/token") => self.token(request.body.as_deref().unwrap_or(""), &request.headers, now),
            _ => (404, json!({"error": "not_found"})),
        };
        Ok(UpstreamResponse { status, content_type: "application/json".into(), body: body.to_string().into_bytes() })
    }
}

fn base64_standard(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// `Services::verify_signature`, natively.
pub(crate) fn verify(alg: JwsAlg, key: &Jwk, input: &[u8], signature: &[u8]) -> Result<bool, String> {
    let field = |v: &Option<String>| v.as_deref().and_then(b64::decode).ok_or("a key field is missing".to_string());
    match alg {
        JwsAlg::Rs256 => {
            let n = rsa::BigUint::from_bytes_be(&field(&key.n)?);
            let e = rsa::BigUint::from_bytes_be(&field(&key.e)?);
            let public = rsa::RsaPublicKey::new(n, e).map_err(|e| e.to_string())?;
            let Ok(signature) = rsa::pkcs1v15::Signature::try_from(signature) else { return Ok(false) };
            Ok(rsa::pkcs1v15::VerifyingKey::<Sha256>::new(public).verify(input, &signature).is_ok())
        }
        JwsAlg::Es256 => {
            let (x, y) = (field(&key.x)?, field(&key.y)?);
            let point = p256::EncodedPoint::from_affine_coordinates(x.as_slice().into(), y.as_slice().into(), false);
            let public = p256::ecdsa::VerifyingKey::from_encoded_point(&point).map_err(|e| e.to_string())?;
            let Ok(signature) = p256::ecdsa::Signature::from_slice(signature) else { return Ok(false) };
            Ok(public.verify(input, &signature).is_ok())
        }
    }
}

//! The identity provider at the edge: its documents and token endpoint fetched with a timeout
//! (no redirects followed), and ID-token signatures verified by WebCrypto (`crypto.subtle`):
//! the runtime's RSA and P-256, instead of compiling them into the worker.
use std::cell::RefCell;
use std::rc::Rc;

use wasm_bindgen::JsCast;
use worker::wasm_bindgen_futures::JsFuture;
use worker::{js_sys, wasm_bindgen, web_sys, Headers, Method, Request, RequestInit, RequestRedirect};

use crate::app::{UpstreamFailure, UpstreamResponse};
use crate::core::oidc::jwks::{Jwk, ProviderCache};
use crate::core::oidc::{JwsAlg, ProviderRequest};

const PROVIDER_TIMEOUT_MS: u64 = 10_000;
const MAX_PROVIDER_BODY: usize = 1 << 20;

thread_local! {
    static CACHE: Rc<RefCell<ProviderCache>> = Rc::new(RefCell::new(ProviderCache::default()));
}

/// The isolate's cache of the provider's metadata and keys.
pub fn cache() -> Rc<RefCell<ProviderCache>> {
    CACHE.with(Rc::clone)
}

pub async fn fetch(request: &ProviderRequest) -> Result<UpstreamResponse, String> {
    let headers = Headers::new();
    for (k, v) in &request.headers {
        headers.set(k, v).map_err(|e| e.to_string())?;
    }
    let mut init = RequestInit::new();
    // A redirect could carry the client secret or the code elsewhere: the 3xx is the answer.
    init.with_method(Method::from(request.method.to_string())).with_headers(headers).with_redirect(RequestRedirect::Manual);
    if let Some(body) = &request.body {
        init.with_body(Some(body.clone().into()));
    }
    let req = Request::new_with_init(&request.url, &init).map_err(|e| e.to_string())?;
    match super::upstream::send(req, PROVIDER_TIMEOUT_MS, MAX_PROVIDER_BODY).await {
        Ok((_, true, _)) => Err(format!("{}: the answer is larger than {MAX_PROVIDER_BODY} bytes", request.url)),
        Ok((response, false, _)) => Ok(response),
        Err(UpstreamFailure::Timeout { after_ms }) => Err(format!("{}: no answer within {after_ms} ms", request.url)),
        Err(UpstreamFailure::Network(e)) => Err(format!("{}: {e}", request.url)),
    }
}

fn js_error(e: wasm_bindgen::JsValue) -> String {
    e.as_string().or_else(|| js_sys::JSON::stringify(&e).ok().and_then(|s| s.as_string())).unwrap_or_else(|| "a WebCrypto error".into())
}

fn object(value: &serde_json::Value) -> Result<js_sys::Object, String> {
    js_sys::JSON::parse(&value.to_string()).map_err(js_error)?.dyn_into::<js_sys::Object>().map_err(js_error)
}

/// RFC 7518 §3.3 (RSASSA-PKCS1-v1_5 with SHA-256) and §3.4 (ECDSA P-256 with SHA-256; the JWS
/// signature is `r ‖ s`, as WebCrypto takes it).
pub async fn verify(alg: JwsAlg, key: &Jwk, signing_input: &[u8], signature: &[u8]) -> Result<bool, String> {
    let (import, verify) = match alg {
        JwsAlg::Rs256 => {
            (serde_json::json!({ "name": "RSASSA-PKCS1-v1_5", "hash": "SHA-256" }), serde_json::json!({ "name": "RSASSA-PKCS1-v1_5" }))
        }
        JwsAlg::Es256 => {
            (serde_json::json!({ "name": "ECDSA", "namedCurve": "P-256" }), serde_json::json!({ "name": "ECDSA", "hash": "SHA-256" }))
        }
    };
    let subtle = js_sys::global().unchecked_into::<web_sys::WorkerGlobalScope>().crypto().map_err(js_error)?.subtle();
    let usages = js_sys::Array::of1(&"verify".into());
    let imported =
        subtle.import_key_with_object("jwk", &object(&key.public_jwk_json())?, &object(&import)?, false, &usages).map_err(js_error)?;
    let crypto_key = JsFuture::from(imported).await.map_err(js_error)?.dyn_into::<web_sys::CryptoKey>().map_err(js_error)?;
    let signature = js_sys::Uint8Array::from(signature);
    let checked =
        subtle.verify_with_object_and_u8_array_and_u8_slice(&object(&verify)?, &crypto_key, &signature, signing_input).map_err(js_error)?;
    Ok(JsFuture::from(checked).await.map_err(js_error)?.as_bool().unwrap_or(false))
}

//! Discovery endpoints (RFC 9728, RFC 8414, RFC 7517). Their documents depend only on the origin
//! and the keys, so each is serialized once per origin per isolate (`IsolateCache::documents`).
use super::Services;
use crate::core::http::Response;
use crate::core::isolate::Document;
use crate::core::oauth::keys::JwtPurpose;
use crate::core::oauth::metadata;

fn cached_json<S: Services>(svc: &S, document: Document, origin: &str, build: impl FnOnce() -> serde_json::Value) -> Response {
    let now = svc.now();
    let key = (document, origin.to_string());
    let cached = svc.isolate().borrow().documents.get(&key, now).cloned();
    let text = cached.unwrap_or_else(|| {
        let text: std::rc::Rc<str> = build().to_string().into();
        svc.isolate().borrow_mut().documents.insert(key, text.clone(), now);
        text
    });
    Response::json_text(200, text.to_string()).with_header("cache-control", "public, max-age=300")
}

pub fn protected_resource<S: Services>(svc: &S, origin: &str, path_form: bool) -> Response {
    let document = if path_form { Document::ProtectedResourceMcp } else { Document::ProtectedResource };
    cached_json(svc, document, origin, || metadata::protected_resource(origin, path_form))
}

pub fn authorization_server<S: Services>(svc: &S, origin: &str) -> Response {
    cached_json(svc, Document::AuthorizationServer, origin, || metadata::authorization_server(origin, svc.config().client_documents))
}

/// `/.well-known/jwks.json`: the access-token keys (the `jwks_uri` of the metadata).
pub fn jwks<S: Services>(svc: &S) -> Response {
    cached_json(svc, Document::Jwks, "", || svc.keys().jwks(JwtPurpose::AccessToken))
}

/// `/.well-known/upstream-jwks.json`: the keys upstream APIs verify our assertions with.
pub fn upstream_jwks<S: Services>(svc: &S) -> Response {
    cached_json(svc, Document::UpstreamJwks, "", || svc.keys().jwks(JwtPurpose::UpstreamAssertion))
}

//! `POST /register` (RFC 7591).
use super::Services;
use crate::core::http::{Request, Response};
use crate::core::oauth::error::{ErrorCode, OAuthError};
use crate::core::oauth::register::parse_registration;
use crate::core::oauth::types::ClientId;

pub async fn post<S: Services>(svc: &S, req: &Request) -> Response {
    if !req.content_type_is("application/json") {
        return OAuthError::invalid_request("Send the registration as Content-Type: application/json").to_response();
    }
    let Some(client_id) = ClientId::parse(&svc.random_token()) else {
        return OAuthError::new(ErrorCode::ServerError, "could not mint a client_id").to_response();
    };
    let client = match parse_registration(&req.body, client_id, svc.now()) {
        Ok(c) => c,
        Err(e) => return e.to_response(),
    };
    if let Err(e) = svc.register(&client, svc.now() + svc.config().client_ttl()).await {
        svc.log(&format!("register: store failed: {}", e.0));
        return OAuthError::new(ErrorCode::TemporarilyUnavailable, "Client registration is unavailable; try again").to_response();
    }
    Response::json(201, &client.to_response_json()).with_header("cache-control", "no-store")
}

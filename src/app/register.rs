//! `POST /register` (RFC 7591).
use super::error::{AppError, Store};
use super::Services;
use crate::core::http::{Request, Response};
use crate::core::oauth::error::{ErrorCode, OAuthError};
use crate::core::oauth::register::parse_registration;
use crate::core::oauth::types::ClientId;

pub async fn post<S: Services>(svc: &S, req: &Request) -> Result<Response, AppError> {
    if !req.content_type_is("application/json") {
        return Err(OAuthError::invalid_request("Send the registration as Content-Type: application/json").into());
    }
    let client_id =
        ClientId::parse(&svc.random_token()).ok_or_else(|| OAuthError::new(ErrorCode::ServerError, "could not mint a client_id"))?;
    let client = parse_registration(&req.body, client_id, svc.now())?;
    svc.register(&client, svc.now() + svc.config().client_ttl()).await.map_err(Store::Clients.failed())?;
    Ok(Response::json(201, &client.to_response_json()).with_header("cache-control", "no-store"))
}

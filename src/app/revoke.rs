//! `POST /revoke` (RFC 7009): revoking either token of a connection ends the connection.
//!
//! Who asks is a public client (RFC 6749 §2.3): it names itself by `client_id`, or — as Claude
//! Code retries after a 401 (docs/protocol.md §8) — by an access token of ours in
//! `Authorization: Bearer`, which names its client. Public clients hold no credentials, so
//! RFC 7009 §2.1 leaves one check: the token was issued to that client. Its registration (or
//! metadata document) is not needed for that, and is not looked up: a lapsed registration or an
//! unreachable document host must not keep a person from signing out.
use super::error::{AppError, Store};
use super::extract::{Bearer, Form};
use super::Services;
use crate::core::audit::{Actor, Event};
use crate::core::connection::ConnectionKey;
use crate::core::http::{Request, Response};
use crate::core::oauth::access_token;
use crate::core::oauth::error::{ErrorCode, OAuthError};
use crate::core::oauth::refresh::RefreshToken;
use crate::core::oauth::resource::mcp_resource;
use crate::core::oauth::types::ClientId;
use crate::core::store::RevokeOutcome;

fn another_client() -> AppError {
    OAuthError::new(ErrorCode::UnauthorizedClient, "The token was issued to another client").into()
}

fn done() -> Response {
    Response::new(200).with_header("cache-control", "no-store")
}

/// The client making the request: `client_id` in the form, or the client of the access token
/// in `Authorization: Bearer` (its expiry does not matter: it only says who is asking). Other
/// schemes are ignored, as at `/token`: this server issues no client secrets.
fn requester(svc: &impl Services, req: &Request, form: &Form, origin: &str) -> Result<ClientId, AppError> {
    let named = match form.non_empty("client_id") {
        Some(id) => Some(
            ClientId::parse(id)
                .ok_or_else(|| OAuthError::new(ErrorCode::InvalidClient, "client_id must be 1 to 256 printable ASCII characters"))?,
        ),
        None => None,
    };
    let bearer = match Bearer::from_request(req) {
        Ok(b) => Some(
            access_token::verify_ignoring_expiry(svc.keys(), b.as_str(), origin, &mcp_resource(origin))
                .map_err(|_| {
                    OAuthError::new(
                        ErrorCode::InvalidClient,
                        "The Authorization: Bearer token was not issued by this server; send the client's client_id instead",
                    )
                })?
                .claims
                .client_id,
        ),
        Err(_) => None,
    };
    match (named, bearer) {
        (Some(named), Some(bearer)) if named != bearer => Err(OAuthError::invalid_request(format!(
            "client_id `{}` is not the client of the Authorization: Bearer token; send one of them",
            named.as_str()
        ))
        .into()),
        (Some(id), _) | (None, Some(id)) => Ok(id),
        (None, None) => Err(OAuthError::invalid_request(
            "client_id is required (or Authorization: Bearer with one of the client's access tokens): a client may revoke only its own tokens",
        )
        .into()),
    }
}

pub async fn post<S: Services>(svc: &S, req: &Request, origin: &str) -> Result<Response, AppError> {
    let form = Form::from_body(req)
        .map_err(|_| OAuthError::invalid_request("Send the revocation request as Content-Type: application/x-www-form-urlencoded"))?;
    let token = form.non_empty("token").ok_or_else(|| OAuthError::invalid_request("token is required"))?;
    let client_id = requester(svc, req, &form, origin)?;
    // Which connection the token names. Tokens we did not issue are answered 200 with nothing
    // done (RFC 7009 §2.2): the client's goal, an unusable token, holds. An expired access token
    // of ours still names its connection, which is ended.
    let target = match RefreshToken::parse(svc.keys(), token) {
        Some(r) => Some((r.connection, None)),
        None => access_token::verify_ignoring_expiry(svc.keys(), token, origin, &mcp_resource(origin))
            .ok()
            .map(|t| (t.claims.connection(), Some(t.claims.client_id))),
    };
    let Some((connection, token_client)) = target else {
        return Ok(done());
    };
    // RFC 7009 §2.1: a client may revoke only its own tokens. A refresh token's client is
    // checked by the connection's store, which holds it.
    if token_client.is_some_and(|owner| owner != client_id) {
        return Err(another_client());
    }
    match svc.revoke(&connection, Some(&client_id), svc.now()).await.map_err(Store::Connections.failed())? {
        RevokeOutcome::Revoked => {
            svc.isolate().borrow_mut().active.forget(&connection);
            let ConnectionKey { workspace, user, id } = &connection;
            svc.audit(Event::Revoked { by: Actor::Client(&client_id), workspace, user, connection: Some(id), count: 1 });
            Ok(done())
        }
        RevokeOutcome::WrongClient => Err(another_client()),
    }
}

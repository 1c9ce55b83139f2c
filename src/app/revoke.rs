//! `POST /revoke` (RFC 7009): revoking either token of a connection ends the connection.
use super::clients::{self, ClientProblem};
use super::error::{AppError, Store};
use super::extract::Form;
use super::Services;
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

pub async fn post<S: Services>(svc: &S, req: &Request, origin: &str) -> Result<Response, AppError> {
    let form = Form::from_body(req)
        .map_err(|_| OAuthError::invalid_request("Send the revocation request as Content-Type: application/x-www-form-urlencoded"))?;
    let token = form.non_empty("token").ok_or_else(|| OAuthError::invalid_request("token is required"))?;
    // RFC 7009 §2.1: the client authenticates as at the token endpoint; a public client
    // (RFC 6749 §2.3) by its client_id, which must be registered here.
    let client_id = form
        .non_empty("client_id")
        .ok_or_else(|| OAuthError::invalid_request("client_id is required: a client may revoke only its own tokens"))?;
    let unknown = || OAuthError::new(ErrorCode::InvalidClient, format!("Unknown OAuth client `{client_id}`"));
    let client_id = ClientId::parse(client_id).ok_or_else(unknown)?;
    clients::find(svc, &client_id).await.map_err(|e| match e {
        ClientProblem::Unknown => unknown().into(),
        ClientProblem::Document(why) => OAuthError::new(ErrorCode::InvalidClient, why).into(),
        ClientProblem::Store(e) => e,
    })?;
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
    // RFC 7009 §2.1: a client may revoke only its own tokens.
    if token_client.is_some_and(|owner| owner != client_id) {
        return Err(another_client());
    }
    match svc.revoke(&connection, Some(&client_id), svc.now()).await.map_err(Store::Connections.failed())? {
        RevokeOutcome::Revoked => {
            svc.isolate().borrow_mut().active.forget(&connection);
            let ConnectionKey { workspace, user, id } = &connection;
            svc.log(&format!("revoke: connection {id} of {user} in {workspace} revoked"));
            Ok(done())
        }
        RevokeOutcome::WrongClient => Err(another_client()),
    }
}

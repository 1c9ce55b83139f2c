//! `POST /revoke` (RFC 7009): revoking either token of a connection ends the connection.
use super::Services;
use crate::core::http::{Request, Response};
use crate::core::oauth::access_token;
use crate::core::oauth::error::{ErrorCode, OAuthError};
use crate::core::oauth::refresh::RefreshToken;
use crate::core::oauth::resource::mcp_resource;
use crate::core::oauth::types::ClientId;
use crate::core::store::{RevokeOutcome, StoreError};

pub async fn post<S: Services>(svc: &S, req: &Request, origin: &str) -> Response {
    if !req.content_type_is("application/x-www-form-urlencoded") {
        return OAuthError::invalid_request("Send the revocation request as Content-Type: application/x-www-form-urlencoded").to_response();
    }
    let form = req.form_pairs();
    let field = |name: &str| form.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str()).filter(|v| !v.is_empty());
    let Some(token) = field("token") else {
        return OAuthError::invalid_request("token is required").to_response();
    };
    // RFC 7009 §2.1: the client authenticates as at the token endpoint; a public client
    // (RFC 6749 §2.3) by its client_id, which must be registered here.
    let Some(client_id) = field("client_id") else {
        return OAuthError::invalid_request("client_id is required: a client may revoke only its own tokens").to_response();
    };
    let registered = match ClientId::parse(client_id) {
        Some(id) => svc.client(&id).await,
        None => Ok(None),
    };
    match registered {
        Ok(Some(_)) => {}
        Ok(None) => return unknown_client(client_id),
        Err(e) => return unavailable(e),
    }
    // Which connection the token names. Tokens we did not issue are answered 200 with nothing
    // done (RFC 7009 §2.2): the client's goal, an unusable token, holds. An expired access token
    // of ours still names its connection, which is ended.
    let target = match RefreshToken::parse(svc.keys(), token) {
        Some(r) => Some((r.workspace, r.user, r.connection_id, None)),
        None => access_token::verify_ignoring_expiry(svc.keys(), token, origin, &mcp_resource(origin))
            .ok()
            .map(|t| (t.claims.ws, t.claims.sub, t.claims.cid, Some(t.claims.client_id))),
    };
    let Some((ws, user, cid, token_client)) = target else {
        return Response::new(200).with_header("cache-control", "no-store");
    };
    // RFC 7009 §2.1: a client may revoke only its own tokens.
    if token_client.is_some_and(|owner| owner != client_id) {
        return OAuthError::new(ErrorCode::UnauthorizedClient, "The token was issued to another client").to_response();
    }
    match svc.revoke(&ws, &user, &cid, Some(client_id), svc.now()).await {
        Ok(RevokeOutcome::Revoked) => {
            svc.log(&format!("revoke: connection {cid} of {user} in {ws} revoked"));
            Response::new(200).with_header("cache-control", "no-store")
        }
        Ok(RevokeOutcome::WrongClient) => {
            OAuthError::new(ErrorCode::UnauthorizedClient, "The token was issued to another client").to_response()
        }
        Err(e) => unavailable(e),
    }
}

fn unknown_client(client_id: &str) -> Response {
    OAuthError::new(ErrorCode::InvalidClient, format!("Unknown OAuth client `{client_id}`")).to_response()
}

fn unavailable(e: StoreError) -> Response {
    OAuthError::new(ErrorCode::TemporarilyUnavailable, "Revocation is unavailable; try again").with_detail(e.0).to_response()
}

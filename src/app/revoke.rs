//! `POST /revoke` (RFC 7009): revoking either token of a connection ends the connection.
use super::Services;
use crate::core::http::{Request, Response};
use crate::core::oauth::access_token;
use crate::core::oauth::error::{ErrorCode, OAuthError};
use crate::core::oauth::refresh::RefreshToken;
use crate::core::oauth::resource::mcp_resource;

pub async fn post<S: Services>(svc: &S, req: &Request, origin: &str) -> Response {
    if !req.content_type_is("application/x-www-form-urlencoded") {
        return OAuthError::invalid_request("Send the revocation request as Content-Type: application/x-www-form-urlencoded").to_response();
    }
    let form = req.form_pairs();
    let field = |name: &str| form.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
    let Some(token) = field("token").filter(|t| !t.is_empty()) else {
        return OAuthError::invalid_request("token is required").to_response();
    };
    let client_id = field("client_id");
    // Which connection the token names; unknown or foreign tokens are answered 200 (RFC 7009 §2.2).
    let target = if let Some(refresh) = RefreshToken::parse(token) {
        Some((refresh.workspace, refresh.user, refresh.connection_id, None))
    } else {
        access_token::verify(svc.keys(), token, origin, &mcp_resource(origin), svc.now())
            .ok()
            .map(|t| (t.claims.ws, t.claims.sub, t.claims.cid, Some(t.claims.client_id)))
    };
    if let Some((ws, user, cid, owner)) = target {
        // RFC 7009 §2.1: a client may only revoke its own tokens.
        if owner.is_some_and(|o| client_id.is_some_and(|c| c != o)) {
            return OAuthError::new(ErrorCode::UnauthorizedClient, "The token was issued to another client").to_response();
        }
        if let Err(e) = svc.revoke(&ws, &user, &cid, svc.now()).await {
            return OAuthError::new(ErrorCode::TemporarilyUnavailable, "Revocation is unavailable; try again").with_detail(e.0).to_response();
        }
        svc.log(&format!("revoke: connection {cid} of {user} in {ws} revoked"));
    }
    Response::new(200).with_header("cache-control", "no-store")
}

//! `POST /token` (and its aliases): the authorization_code grant. Refresh-token rotation is
//! issue #3; until then a refresh token is refused with a clear `invalid_grant`.
use super::{load_policy, Services};
use crate::core::http::{Request, Response};
use crate::core::oauth::access_token::{self, AccessClaims};
use crate::core::oauth::code::{CodeGrant, Redemption};
use crate::core::oauth::error::{ErrorCode, OAuthError};
use crate::core::oauth::refresh::RefreshToken;
use crate::core::oauth::token::{self, TokenRequest};
use crate::core::oauth::types::{ClientId, RedirectUri};
use crate::core::policy::evaluate::{self, AuthorizationFacts};
use crate::core::scopes::ScopeSet;
use crate::core::store::{CreateOutcome, NewConnection};

pub async fn post<S: Services>(svc: &S, req: &Request, origin: &str) -> Response {
    match exchange(svc, req, origin).await {
        Ok(body) => Response::json(200, &body).with_header("cache-control", "no-store").with_header("pragma", "no-cache"),
        Err(e) => {
            svc.log(&format!("token: {} {}", e.code.as_str(), e.description));
            e.to_response()
        }
    }
}

fn unavailable(what: &str, e: crate::core::store::StoreError) -> OAuthError {
    OAuthError::new(ErrorCode::TemporarilyUnavailable, format!("{what} is unavailable; try again")).with_detail(e.0)
}

async fn exchange<S: Services>(svc: &S, req: &Request, origin: &str) -> Result<serde_json::Value, OAuthError> {
    if !req.content_type_is("application/x-www-form-urlencoded") {
        return Err(OAuthError::invalid_request("Send the token request as Content-Type: application/x-www-form-urlencoded"));
    }
    match token::parse(&req.form_pairs(), origin)? {
        TokenRequest::AuthorizationCode { code, client_id, redirect_uri, verifier, resource } => {
            known_client(svc, &client_id).await?;
            let grant = match svc.redeem(&code, svc.now()).await.map_err(|e| unavailable("The code store", e))? {
                Redemption::Redeemed { grant } => grant,
                Redemption::Replayed { grant } => {
                    // RFC 6749 §4.1.2 / OAuth 2.1 §4.1.3: revoke what the first redemption issued.
                    svc.revoke(&grant.workspace, &grant.user, &grant.connection_id, svc.now())
                        .await
                        .map_err(|e| unavailable("The connection store", e))?;
                    svc.log(&format!("token: code replayed; connection {} revoked", grant.connection_id));
                    return Err(OAuthError::invalid_grant("The authorization code was already used; the tokens issued for it have been revoked"));
                }
                Redemption::Expired => return Err(OAuthError::invalid_grant("The authorization code expired; authorize again")),
                Redemption::Unknown => return Err(OAuthError::invalid_grant("The authorization code is invalid")),
            };
            token::check_redemption(&grant, &client_id, redirect_uri.as_deref(), &verifier, &resource)?;
            issue(svc, &grant, origin).await
        }
        TokenRequest::RefreshToken { client_id, .. } => {
            known_client(svc, &client_id).await?;
            Err(OAuthError::invalid_grant("Refresh tokens cannot be redeemed by this version; authorize again"))
        }
    }
}

/// Unknown client → 401 invalid_client (Claude Code then registers again).
async fn known_client<S: Services>(svc: &S, client_id: &ClientId) -> Result<(), OAuthError> {
    match svc.client(client_id).await.map_err(|e| unavailable("The client registry", e))? {
        Some(_) => Ok(()),
        None => Err(OAuthError::new(ErrorCode::InvalidClient, format!("Unknown OAuth client `{}`; register again", client_id.as_str()))),
    }
}

/// Re-checks the live policy, creates the connection and mints the tokens.
async fn issue<S: Services>(svc: &S, grant: &CodeGrant, origin: &str) -> Result<serde_json::Value, OAuthError> {
    let catalog = &svc.config().catalog;
    let policy = load_policy(svc, &grant.workspace)
        .await
        .map_err(|e| OAuthError::invalid_grant(format!("Token validation failed: policy ({})", e.describe())))?;
    let (Some(client_id), Ok(redirect_uri)) = (ClientId::parse(&grant.client_id), RedirectUri::parse(&grant.redirect_uri)) else {
        return Err(OAuthError::invalid_grant("The authorization code is invalid"));
    };
    let no_scopes = ScopeSet::default();
    let facts = AuthorizationFacts { user: &grant.user, client_id: &client_id, redirect_uri: &redirect_uri, requested: &no_scopes };
    let ceiling = evaluate::authorize(&policy, catalog, &facts)
        .map_err(|d| OAuthError::invalid_grant(format!("Token validation failed: {} ({})", d.token_reason(), d.message())))?;
    let scopes = catalog.meet(&ScopeSet::from_trusted(grant.scopes.iter().cloned()), &ceiling);
    if scopes.is_empty() {
        return Err(OAuthError::invalid_grant("Token validation failed: policy: no granted scope is allowed any more"));
    }
    let client_name = match svc.client(&client_id).await {
        Ok(Some(c)) => c.display_name().to_string(),
        _ => grant.client_id.clone(),
    };
    let now = svc.now();
    let config = svc.config();
    let refresh = RefreshToken::mint(&grant.workspace, &grant.user, &grant.connection_id, &svc.random_token());
    let connection = NewConnection {
        id: grant.connection_id.clone(),
        workspace: grant.workspace.clone(),
        user: grant.user.clone(),
        client_id: grant.client_id.clone(),
        client_name,
        scopes: scopes.to_vec(),
        created_at: now,
        refresh_hash: refresh.hash(),
        refresh_expires_at: now + config.refresh_token_ttl,
    };
    // If a replay of this code already revoked the connection, it is created revoked: this
    // redemption was the first, so it gets its answer, and the tokens in it are already dead.
    if svc.create(&connection).await.map_err(|e| unavailable("The connection store", e))? == CreateOutcome::AlreadyRevoked {
        svc.log(&format!("token: code replayed during its redemption; connection {} is created revoked", connection.id));
    }
    let claims = AccessClaims {
        iss: origin.to_string(),
        aud: grant.resource.clone(),
        sub: grant.user.clone(),
        ws: grant.workspace.clone(),
        client_id: grant.client_id.clone(),
        scope: scopes.to_param(),
        cid: grant.connection_id.clone(),
        jti: svc.random_token(),
    };
    let access = access_token::sign(svc.keys(), &claims, now, now + config.access_token_ttl);
    Ok(token::token_response(&access, config.access_token_ttl, Some(refresh.as_str()), &scopes.to_param()))
}

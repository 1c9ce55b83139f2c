//! `POST /token` (and its aliases): the authorization_code grant (RFC 6749 §4.1.3) and the
//! refresh_token grant with rotation (OAuth 2.1 §4.3). Both re-check the live policy.
use std::rc::Rc;

use super::clients::{self, ClientProblem};
use super::error::{AppError, Store};
use super::extract::Form;
use super::{cached_policy, Services};
use crate::core::audit::{Actor, Event};
use crate::core::connection::{ConnectionKey, ConnectionRecord, Rotation};
use crate::core::http::{Request, Response};
use crate::core::ids::WorkspaceId;
use crate::core::isolate::Chore;
use crate::core::oauth::access_token::{self, AccessClaims};
use crate::core::oauth::cimd;
use crate::core::oauth::code::{CodeGrant, Redemption};
use crate::core::oauth::error::{ErrorCode, OAuthError};
use crate::core::oauth::refresh::RefreshToken;
use crate::core::oauth::register::ClientRegistration;
use crate::core::oauth::resource::mcp_resource;
use crate::core::oauth::token::{self, TokenRequest};
use crate::core::oauth::types::ClientId;
use crate::core::policy::evaluate::{self, GrantFacts, TokenInvalid};
use crate::core::policy::model::WorkspacePolicy;
use crate::core::ratelimit::{Limit, Subject};
use crate::core::scopes::ScopeSet;
use crate::core::store::CreateOutcome;

pub async fn post<S: Services>(svc: &S, req: &Request, origin: &str) -> Result<Response, AppError> {
    match exchange(svc, req, origin).await {
        Ok(body) => Ok(Response::json(200, &body).with_header("cache-control", "no-store").with_header("pragma", "no-cache")),
        Err(AppError::OAuth(e)) => {
            svc.log(&format!("token: {} {}", e.code.as_str(), e.description));
            Err(AppError::OAuth(e))
        }
        Err(other) => Err(other),
    }
}

fn validation_failed(why: TokenInvalid) -> AppError {
    OAuthError::invalid_grant(why.to_string()).into()
}

const REPLAYED: &str = "The authorization code was already used; the tokens issued for it have been revoked";

async fn exchange<S: Services>(svc: &S, req: &Request, origin: &str) -> Result<serde_json::Value, AppError> {
    let form = Form::from_body(req)
        .map_err(|_| OAuthError::invalid_request("Send the token request as Content-Type: application/x-www-form-urlencoded"))?;
    let request = token::parse(form.pairs(), origin)?;
    let client_id = match &request {
        TokenRequest::AuthorizationCode { presented, .. } => &presented.client_id,
        TokenRequest::RefreshToken { client_id, .. } => client_id,
    };
    super::within_limit(svc, Limit::Client, Subject::Client(client_id.to_string())).await?;
    match request {
        TokenRequest::AuthorizationCode { code, presented } => {
            let client_id = presented.client_id.clone();
            let client = known_client(svc, &client_id).await?;
            let redeemed_at = svc.now();
            let grant = match svc.redeem(&code, redeemed_at, &presented).await.map_err(Store::Codes.failed())? {
                Redemption::Redeemed { grant } => grant,
                // Checked before anything was written: the code stays redeemable, and a
                // connection it made stays alive.
                Redemption::Refused(why) => return Err(OAuthError::from(why).into()),
                Redemption::Replayed { grant } => {
                    // RFC 6749 §4.1.2 / OAuth 2.1 §4.1.3: revoke what the first redemption issued.
                    svc.revoke(&grant.connection(), None, svc.now()).await.map_err(Store::Connections.failed())?;
                    svc.isolate().borrow_mut().active.forget(&grant.connection());
                    audit_reuse(svc, "authorization_code", &grant.connection());
                    return Err(OAuthError::invalid_grant(REPLAYED).into());
                }
                Redemption::Expired => return Err(OAuthError::invalid_grant("The authorization code expired; authorize again").into()),
                Redemption::Unknown => return Err(OAuthError::invalid_grant("The authorization code is invalid").into()),
            };
            let tokens = match redeem_code(svc, &grant, &client, origin).await {
                Ok(tokens) => tokens,
                // A store failed after the code was consumed (the policy, the connection): no
                // tokens reached the client, so the code is given back for its retry. (If the
                // release fails too, the code stays spent: the person authorizes again.)
                Err(e @ AppError::Unavailable { .. }) => {
                    if let Err(why) = svc.release(&code, redeemed_at).await {
                        svc.log(&format!("token: could not give back a code after a store failure: {}", why.0));
                    }
                    return Err(e);
                }
                Err(e) => return Err(e),
            };
            // A client in use is kept: its registration lives `client_ttl` from its last renewal,
            // due once a day at most (`renewal_due`, also at most once a day per isolate, whose
            // copy of the registration may be older). Best effort: the tokens are issued either
            // way. A metadata-document client has no registration here to renew.
            let now = svc.now();
            if !cimd::is_document_url(&client_id) && client.renewal_due(now) {
                let renewed = ClientRegistration { renewed_at: Some(now), ..client };
                let renew = svc.register(&renewed, now + svc.config().client_ttl());
                if let Err(e) = once_a_day(svc, Chore::Renewed(client_id.clone()), renew).await {
                    svc.log(&format!("token: could not renew the registration of {}: {}", client_id.as_str(), e.0));
                }
            }
            Ok(tokens)
        }
        TokenRequest::RefreshToken { refresh_token, client_id, scope } => {
            known_client(svc, &client_id).await?;
            refresh(svc, &refresh_token, &client_id, scope.as_deref(), origin).await
        }
    }
}

/// Unknown client → 401 invalid_client (Claude Code then registers again); a metadata document
/// that cannot be used → 401 invalid_client saying why (`clients::find`).
async fn known_client<S: Services>(svc: &S, client_id: &ClientId) -> Result<ClientRegistration, AppError> {
    clients::find(svc, client_id).await.map_err(|e| match e {
        ClientProblem::Unknown => {
            OAuthError::new(ErrorCode::InvalidClient, format!("Unknown OAuth client `{client_id}`; register again")).into()
        }
        ClientProblem::Document(why) => OAuthError::new(ErrorCode::InvalidClient, why).into(),
        ClientProblem::Store(e) => e,
    })
}

async fn policy_for<S: Services>(svc: &S, workspace: &WorkspaceId) -> Result<Rc<WorkspacePolicy>, AppError> {
    match cached_policy(svc, workspace).await {
        Ok(policy) => Ok(policy),
        Err(e) => Err(validation_failed(e.into_token_invalid()?)),
    }
}

/// `evaluate::recheck` for this grant: the scopes it may still use, or `Token validation failed`.
fn effective_scopes(svc: &impl Services, policy: &WorkspacePolicy, grant: &GrantFacts, granted: &[String]) -> Result<ScopeSet, AppError> {
    let granted = ScopeSet::from_trusted(granted.iter().cloned());
    evaluate::recheck(policy, &svc.config().catalog, grant, &granted).map_err(validation_failed)
}

/// A code's first redemption: re-check the policy, create the connection, mint the tokens.
async fn redeem_code<S: Services>(
    svc: &S,
    grant: &CodeGrant,
    client: &ClientRegistration,
    origin: &str,
) -> Result<serde_json::Value, AppError> {
    let policy = policy_for(svc, &grant.workspace).await?;
    let facts = GrantFacts { user: &grant.user, client_id: &client.client_id, redirect_uri: Some(&grant.redirect_uri) };
    let scopes = effective_scopes(svc, &policy, &facts, &grant.scopes)?;
    let now = svc.now();
    let connection = ConnectionRecord {
        id: grant.connection_id.clone(),
        workspace: grant.workspace.clone(),
        user: grant.user.clone(),
        client_id: Some(client.client_id.clone()),
        client_name: client.display_name().to_string(),
        scopes: scopes.to_vec(),
        created_at: now,
        last_used_at: None,
        generation: 1,
        rotated_at: None,
        refresh_expires_at: now + svc.config().refresh_token_ttl,
        revoked_at: None,
    };
    // The admin's connection list finds this user through the workspace's index even after
    // they leave the policy's members.
    // Best effort: the code is already consumed, so failing here would cost the person the
    // whole sign-in; the admin's listing also notes every current member.
    // Noted once, noted for good: at most once a day per isolate.
    let note = svc.note_connection_user(&connection.workspace, &connection.user);
    if let Err(e) = once_a_day(svc, Chore::Noted(connection.workspace.clone(), connection.user.clone()), note).await {
        svc.log(&format!("token: could not note {} in the connection index of {}: {}", connection.user, connection.workspace, e.0));
    }
    // If a replay of this code already revoked the connection, it is created revoked: this
    // redemption was the first, so it gets its answer, and the tokens in it are already dead.
    if svc.create(&connection).await.map_err(Store::Connections.failed())? == CreateOutcome::AlreadyRevoked {
        svc.log(&format!("token: code replayed during its redemption; connection {} is created revoked", connection.id));
    }
    svc.audit(Event::TokenIssued {
        workspace: &connection.workspace,
        user: &connection.user,
        client_id: &client.client_id,
        connection: &connection.id,
        scopes: &scopes.to_param(),
    });
    Ok(mint(svc, &connection, &client.client_id, &scopes, &grant.resource, origin))
}

/// OAuth 2.1 §4.3.1: every refresh returns a new refresh token; reuse of an older one revokes
/// the connection.
async fn refresh<S: Services>(
    svc: &S,
    raw: &str,
    client_id: &ClientId,
    scope: Option<&str>,
    origin: &str,
) -> Result<serde_json::Value, AppError> {
    let token = RefreshToken::parse(svc.keys(), raw).ok_or_else(|| OAuthError::invalid_grant("The refresh token is invalid"))?;
    let narrowed = match scope {
        Some(scope) => Some(narrowing(svc, &token, scope).await?),
        None => None,
    };
    // The live policy first: a refusal (MCP disabled, member removed, client unpinned) or a
    // store outage must not move the family on — the client would never receive the successor,
    // and its retry after the grace would count as reuse and revoke a connection that did
    // nothing wrong.
    let policy = policy_for(svc, &token.connection.workspace).await?;
    let facts = GrantFacts { user: &token.connection.user, client_id, redirect_uri: None };
    effective_scopes(svc, &policy, &facts, &policy.scope_ceiling.to_vec())?;
    let now = svc.now();
    let rotation = svc.rotate(&token.connection, token.generation, client_id, now).await.map_err(Store::Connections.failed())?;
    let connection = match rotation {
        Rotation::Rotated { connection, .. } => connection,
        Rotation::Reused => {
            svc.isolate().borrow_mut().active.forget(&token.connection);
            audit_reuse(svc, "refresh_token", &token.connection);
            return Err(
                OAuthError::invalid_grant("The refresh token was already used; the connection has been revoked. Authorize again").into()
            );
        }
        Rotation::Revoked | Rotation::Missing => return Err(validation_failed(TokenInvalid::ConnectionRevoked)),
        Rotation::Expired => return Err(OAuthError::invalid_grant("The refresh token expired; authorize again").into()),
        Rotation::WrongClient => return Err(OAuthError::invalid_grant("The refresh token was issued to another client").into()),
    };
    // The connection's own grant, narrowed to the current ceiling (its client is `client_id`:
    // `rotate` refused any other).
    let mut scopes = effective_scopes(svc, &policy, &facts, &connection.scopes)?;
    if let Some(narrowed) = narrowed {
        scopes = svc.config().catalog.meet(&narrowed, &scopes);
    }
    svc.audit(Event::Refreshed {
        workspace: &connection.workspace,
        user: &connection.user,
        client_id,
        connection: &connection.id,
        generation: connection.generation,
    });
    Ok(mint(svc, &connection, client_id, &scopes, &mcp_resource(origin), origin))
}

/// RFC 6749 §6: the `scope` of a refresh may keep or narrow the grant, never widen it. Checked
/// against the connection's grant before the family moves on (a grant never changes, so reading
/// it first cannot race the rotation), so a refused request spends nothing.
async fn narrowing<S: Services>(svc: &S, token: &RefreshToken, scope: &str) -> Result<ScopeSet, AppError> {
    let catalog = &svc.config().catalog;
    let invalid = |text: String| AppError::from(OAuthError::new(ErrorCode::InvalidScope, text));
    let requested = catalog.parse_request(scope).map_err(invalid)?.scopes;
    let ConnectionKey { workspace, user, id } = &token.connection;
    let listed = svc.list(workspace, user).await.map_err(Store::Connections.failed())?;
    let Some(connection) = listed.iter().find(|c| &c.id == id) else {
        return Err(validation_failed(TokenInvalid::ConnectionRevoked));
    };
    let excess = catalog.excess(&requested, &ScopeSet::from_trusted(connection.scopes.iter().cloned()));
    if !excess.is_empty() {
        return Err(invalid(format!(
            "scope {} was not granted to this connection; a refresh can keep or narrow its scopes, not widen them (authorize again for more)",
            excess.join(", ")
        )));
    }
    Ok(requested)
}

/// A replayed code or a reused refresh token (`what`), and the revocation of `connection` it caused.
fn audit_reuse<S: Services>(svc: &S, what: &str, connection: &ConnectionKey) {
    let ConnectionKey { workspace, user, id } = connection;
    svc.audit(Event::ReuseDetected { what, workspace, user, connection: id });
    svc.audit(Event::Revoked { by: Actor::Server, workspace, user, connection: Some(id), count: 1 });
}

/// The token response for `connection` (of `client_id`) at its current refresh generation.
fn mint<S: Services>(
    svc: &S,
    connection: &ConnectionRecord,
    client_id: &ClientId,
    scopes: &ScopeSet,
    resource: &str,
    origin: &str,
) -> serde_json::Value {
    let now = svc.now();
    let ttl = svc.config().access_token_ttl;
    let claims = AccessClaims {
        iss: origin.to_string(),
        aud: resource.to_string(),
        sub: connection.user.clone(),
        ws: connection.workspace.clone(),
        client_id: client_id.clone(),
        scope: scopes.to_param(),
        cid: connection.id.clone(),
        jti: svc.random_token(),
        client_name: Some(connection.client_name.clone()),
    };
    let access = access_token::sign(svc.keys(), &claims, now, now + ttl);
    let refresh = RefreshToken::mint(svc.keys(), &connection.key(), connection.generation);
    token::token_response(&access, ttl, Some(refresh.as_str()), &scopes.to_param())
}

/// Runs `write` unless this isolate did `chore` within `CHORE_SECONDS`; remembers it when it
/// succeeds (a failure is retried by the next request). The future is lazy: skipped, it never runs.
async fn once_a_day<S: Services>(
    svc: &S,
    chore: Chore,
    write: impl std::future::Future<Output = Result<(), crate::core::store::StoreError>>,
) -> Result<(), crate::core::store::StoreError> {
    if svc.isolate().borrow().done.get(&chore, svc.now()).is_some() {
        return Ok(());
    }
    write.await?;
    svc.isolate().borrow_mut().done.insert(chore, (), svc.now());
    Ok(())
}

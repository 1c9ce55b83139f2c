//! `POST /mcp`: stateless Streamable HTTP. Checks, in order: Origin (DNS-rebinding defence),
//! bearer token (RFC 6750 / RFC 9728 challenge), live state (policy, membership, connection),
//! one JSON-RPC message, then its era (`core::mcp::era`: 2026-07-28's `_meta` and headers, or
//! the legacy revisions) and its method.
use super::api_tools::{self, StepUpNeeded};
use super::error::{AppError, BearerRejection, McpRejection, Store};
use super::extract::{Bearer, BearerHeader};
use super::{cached_policy, Services};
use crate::core::audit::Event;
use crate::core::connection::ConnectionKey;
use crate::core::http::{Request, Response};
use crate::core::ids::ConnectionId;
use crate::core::mcp::era::{Era, McpHeaders};
use crate::core::mcp::jsonrpc::{self, envelope, Incoming, Outgoing, RpcError};
use crate::core::mcp::server::{self, Answer, ApiView, ClientRequest};
use crate::core::mcp::tools::Caller;
use crate::core::oauth::access_token::{self, BearerError, VerifiedToken};
use crate::core::oauth::resource::mcp_resource;
use crate::core::policy::evaluate::{self, GrantFacts, TokenInvalid};
use crate::core::scopes::ScopeSet;
use crate::core::store::ConnectionStatus;

const MAX_BODY: usize = 1 << 20;

pub async fn post<S: Services>(svc: &S, req: &Request, origin: &str) -> Result<Response, AppError> {
    let (token, caller) = authenticate(svc, req, origin).await?;
    if !req.content_type_is("application/json") {
        return Err(McpRejection::NotJson.into());
    }
    if req.body.len() > MAX_BODY {
        return Err(McpRejection::TooLarge.into());
    }
    let (id, method, params) = match jsonrpc::parse(&req.body).map_err(McpRejection::Malformed)? {
        Incoming::Notification { .. } | Incoming::ClientResponse => return Ok(Response::new(202)),
        Incoming::Request { id, method, params } => (id, method, params),
    };
    let headers =
        McpHeaders { protocol_version: req.header("mcp-protocol-version"), method: req.header("mcp-method"), name: req.header("mcp-name") };
    let error = |era: &Era, e: RpcError| (era.error_status(e.code), envelope(&id, Outgoing::Error(&e)));
    let (status, body) = match Era::of(headers, &method, params.as_ref()) {
        // Every era failure is a 400 (`-32602`, `-32020`, `-32022`), whatever the era would be.
        Err(e) => (400, envelope(&id, Outgoing::Error(&e))),
        Ok(era) => match ClientRequest::parse(&era, &method, params.as_ref()) {
            Err(e) => error(&era, e),
            Ok(request) => {
                // Tokens minted before they carried the client's name: look it up when shown.
                let caller =
                    if request.shows_client() && token.claims.client_name.is_none() { with_client_name(svc, caller).await } else { caller };
                match answer(svc, &id, &era, request, caller, &token.claims.cid, origin).await? {
                    Ok(body) => (200, body),
                    Err(e) => error(&era, e),
                }
            }
        },
    };
    Ok(Response::json_text(status, body)
        .with_header("cache-control", "no-store")
        .with_header("x-token-expires-at", &token.expires_at.to_string()))
}

/// One request, answered by core, or by an OpenAPI tool when core says to call one. The outer
/// `Err` is an HTTP answer instead of a JSON-RPC one (a step-up challenge).
async fn answer<S: Services>(
    svc: &S,
    id: &serde_json::Value,
    era: &Era,
    request: ClientRequest,
    caller: Caller,
    connection: &ConnectionId,
    origin: &str,
) -> Result<Result<String, RpcError>, AppError> {
    // `tools/list`, and native tools: `mcp_whoami` reports the catalog's state (cached).
    let catalog =
        if request.needs_api_view() || matches!(request, ClientRequest::CallApiTool { .. }) { Some(svc.api_catalog().await) } else { None };
    let view = match (&catalog, request.needs_api_view()) {
        (Some(catalog), true) => api_tools::view(svc, catalog, &caller),
        _ => ApiView::default(),
    };
    Ok(match server::answer(id, era, request, &caller, svc.now(), &view) {
        Answer::Response(body) => Ok(body),
        Answer::CallApiTool { name, arguments } => match catalog.as_deref().and_then(|c| c.tool(&name).map(|tool| (c, tool))) {
            Some((catalog, tool)) => match api_tools::call(svc, catalog, tool, &caller, &arguments, origin).await {
                Ok(result) => {
                    let failed = result.get("isError").and_then(serde_json::Value::as_bool).unwrap_or(false);
                    svc.audit(tool_called(&caller, connection, &name, if failed { "tool_error" } else { "ok" }));
                    Ok(server::respond(id, era, result))
                }
                Err(StepUpNeeded { scope, message }) => {
                    svc.audit(tool_called(&caller, connection, &name, "step_up"));
                    svc.log(&format!("mcp: step-up for {name}: {message}; challenge scope={}", scope.join(" ")));
                    let rejection = BearerRejection::InsufficientScope { scope: scope.join(" "), message };
                    return Err(AppError::Bearer { origin: origin.to_string(), rejection });
                }
            },
            None => Err(server::unknown_tool(&name)),
        },
    })
}

/// Verifies the token and the live state it depends on: the workspace policy (`cached_policy`)
/// and the connection (`connection_active`), both without a storage round trip in the common case.
async fn authenticate<S: Services>(svc: &S, req: &Request, origin: &str) -> Result<(VerifiedToken, Caller), AppError> {
    let reject = |rejection| AppError::Bearer { origin: origin.to_string(), rejection };
    let bearer = Bearer::from_request(req).map_err(|e| {
        reject(match e {
            BearerHeader::Missing => BearerRejection::Missing,
            BearerHeader::NotBearer => BearerRejection::NotBearer,
        })
    })?;
    let verified = verify(svc, bearer.as_str(), origin).map_err(|e| reject(BearerRejection::Token(e)))?;
    let claims = &verified.claims;
    let invalid = |why| reject(BearerRejection::Invalid(why));
    let policy = match cached_policy(svc, &claims.ws).await {
        Ok(p) => p,
        Err(e) => return Err(invalid(e.into_token_invalid()?)),
    };
    let granted = ScopeSet::from_trusted(claims.scope.split(' ').filter(|s| !s.is_empty()).map(str::to_string));
    let facts = GrantFacts { user: &claims.sub, client_id: &claims.client_id, redirect_uri: None };
    let scopes = evaluate::recheck(&policy, &svc.config().catalog, &facts, &granted).map_err(invalid)?;
    if !connection_active(svc, &claims.connection()).await? {
        return Err(invalid(TokenInvalid::ConnectionRevoked));
    }
    let member = policy.member(&claims.sub);
    let caller = Caller {
        user_email: claims.sub.clone(),
        user_name: member.map(|m| m.name.clone()).unwrap_or_else(|| claims.sub.to_string()),
        workspace_id: policy.id.clone(),
        workspace_name: policy.name.clone(),
        client_id: claims.client_id.clone(),
        client_name: claims.client_name.clone().unwrap_or_else(|| claims.client_id.to_string()),
        scopes: scopes.to_vec(),
        ceiling: policy.scope_ceiling.to_vec(),
        expires_at: verified.expires_at,
    };
    Ok((verified, caller))
}

fn tool_called<'a>(caller: &'a Caller, connection: &'a ConnectionId, tool: &'a str, outcome: &'a str) -> Event<'a> {
    Event::ToolCalled { workspace: &caller.workspace_id, user: &caller.user_email, client_id: &caller.client_id, connection, tool, outcome }
}

/// The client's registered name, read only when a tool result shows it and the token does not
/// carry it (best effort: the ID stands in for it).
async fn with_client_name<S: Services>(svc: &S, mut caller: Caller) -> Caller {
    if let Ok(client) = super::clients::find(svc, &caller.client_id).await {
        caller.client_name = client.display_name().to_string();
    }
    caller
}

/// Whether the connection is active: this isolate saw it active less than
/// `REVOCATION_CHECK_SECONDS` ago, else its Durable Object says so (and notes the use, at most
/// once a minute: `crate::core::connection::touch`).
async fn connection_active<S: Services>(svc: &S, key: &ConnectionKey) -> Result<bool, AppError> {
    let now = svc.now();
    if svc.isolate().borrow().active.get(key, now).is_some() {
        return Ok(true);
    }
    match svc.touch(key, now).await.map_err(Store::Connections.failed())? {
        ConnectionStatus::Active => {
            svc.isolate().borrow_mut().active.insert(key.clone(), (), now);
            Ok(true)
        }
        ConnectionStatus::Revoked | ConnectionStatus::Missing => Ok(false),
    }
}

/// `access_token::verify`, once per token per isolate (`IsolateCache::verified_token`).
fn verify<S: Services>(svc: &S, token: &str, origin: &str) -> Result<VerifiedToken, BearerError> {
    let (now, audience) = (svc.now(), mcp_resource(origin));
    if let Some(known) = svc.isolate().borrow().verified_token(token, origin, &audience, now) {
        return Ok(known.clone());
    }
    let verified = access_token::verify(svc.keys(), token, origin, &audience, now)?;
    svc.isolate().borrow_mut().tokens.insert(token.to_string(), verified.clone(), now);
    Ok(verified)
}

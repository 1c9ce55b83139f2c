//! `POST /mcp`: stateless Streamable HTTP. Checks, in order: Origin (DNS-rebinding defence),
//! bearer token (RFC 6750 / RFC 9728 challenge), live state (policy, membership, connection),
//! protocol version, then one JSON-RPC message.
use serde_json::{json, Value};

use super::{api_tools, load_policy, Services};
use crate::core::http::{Request, Response};
use crate::core::mcp::jsonrpc::{self, Incoming, RpcError, INVALID_REQUEST};
use crate::core::mcp::server::{self, version_supported, ApiView};
use crate::core::mcp::tools::Caller;
use crate::core::oauth::access_token::{self, VerifiedToken};
use crate::core::oauth::resource::mcp_resource;
use crate::core::oauth::types::{is_loopback_host, ClientId};
use crate::core::policy::evaluate;
use crate::core::scopes::ScopeSet;
use crate::core::store::ConnectionStatus;

const MAX_BODY: usize = 1 << 20;

/// Why a request is not authorized, as RFC 6750 §3 expresses it.
enum Unauthorized {
    NoToken,
    Invalid(String),
    Unavailable(String),
}

fn challenge(origin: &str, why: Unauthorized) -> Response {
    let metadata = format!("{origin}/.well-known/oauth-protected-resource/mcp");
    match why {
        Unauthorized::NoToken => Response::json(401, &json!({ "error": "invalid_request", "error_description": "Authorization required: send an OAuth access token as `Authorization: Bearer …`" }))
            .with_header("www-authenticate", &format!("Bearer resource_metadata=\"{metadata}\"")),
        Unauthorized::Invalid(description) => {
            let quoted = description.replace(['"', '\\'], "'");
            Response::json(401, &json!({ "error": "invalid_token", "error_description": description })).with_header(
                "www-authenticate",
                &format!("Bearer resource_metadata=\"{metadata}\", error=\"invalid_token\", error_description=\"{quoted}\""),
            )
        }
        Unauthorized::Unavailable(description) => Response::json(503, &json!({ "error": "temporarily_unavailable", "error_description": description }))
            .with_header("retry-after", "5"),
    }
}

fn rpc_error(status: u16, error: RpcError) -> Response {
    Response::json(status, &error.to_json())
}

pub async fn post<S: Services>(svc: &S, req: &Request, origin: &str) -> Response {
    if let Some(o) = req.header("origin") {
        if !origin_allowed(o, origin) {
            return rpc_error(403, RpcError::new(Value::Null, INVALID_REQUEST, format!("Forbidden: Origin {o} is not allowed")));
        }
    }
    let (token, caller) = match authenticate(svc, req, origin).await {
        Ok(ok) => ok,
        Err(why) => return challenge(origin, why),
    };
    if let Some(v) = req.header("mcp-protocol-version") {
        if !version_supported(v) {
            let supported = server::SUPPORTED_VERSIONS.join(", ");
            return rpc_error(
                400,
                RpcError::new(
                    Value::Null,
                    INVALID_REQUEST,
                    format!("Bad Request: unsupported MCP-Protocol-Version {v}; supported: {supported}"),
                ),
            );
        }
    }
    if !req.content_type_is("application/json") {
        return rpc_error(415, RpcError::new(Value::Null, INVALID_REQUEST, "Unsupported Media Type: send Content-Type: application/json"));
    }
    if req.body.len() > MAX_BODY {
        return rpc_error(413, RpcError::new(Value::Null, INVALID_REQUEST, "Request body larger than 1 MiB"));
    }
    match jsonrpc::parse(&req.body) {
        Err(e) => rpc_error(400, e),
        Ok(Incoming::Notification { .. } | Incoming::ClientResponse) => Response::new(202),
        Ok(Incoming::Request { id, method, params }) => {
            let caller = with_client_name(svc, caller, &method).await;
            let body = match method.as_str() {
                "tools/call" if !server::calls_native_tool(params.as_ref()) => {
                    let catalog = svc.api_catalog().await;
                    match api_tools::called(&catalog, params.as_ref()) {
                        Some((tool, args)) => {
                            jsonrpc::success(&id, api_tools::call(svc, &catalog, tool, &caller, &args, origin).await).to_string()
                        }
                        None => server::handle(&id, &method, params.as_ref(), &caller, svc.now(), &ApiView::default()),
                    }
                }
                // `tools/list`, and native tools: `mcp_whoami` reports the catalog's state (cached).
                "tools/list" | "tools/call" => {
                    let catalog = svc.api_catalog().await;
                    server::handle(&id, &method, params.as_ref(), &caller, svc.now(), &api_tools::view(svc, &catalog, &caller))
                }
                _ => server::handle(&id, &method, params.as_ref(), &caller, svc.now(), &ApiView::default()),
            };
            Response::json_text(200, body)
                .with_header("cache-control", "no-store")
                .with_header("x-token-expires-at", &token.expires_at.to_string())
        }
    }
}

/// DNS-rebinding defence (Streamable HTTP: servers MUST validate `Origin`): our own origin; and,
/// while we are served on a loopback address (local development), any loopback origin. A
/// rebinding page has its attacker's hostname as its origin, which matches neither.
fn origin_allowed(sent: &str, ours: &str) -> bool {
    if sent == ours {
        return true;
    }
    let host = |o: &str| url::Url::parse(o).ok().and_then(|u| u.host_str().map(str::to_string));
    match (host(sent), host(ours)) {
        (Some(s), Some(o)) => is_loopback_host(&o) && is_loopback_host(&s),
        _ => false,
    }
}

/// Verifies the token and the live state it depends on.
async fn authenticate<S: Services>(svc: &S, req: &Request, origin: &str) -> Result<(VerifiedToken, Caller), Unauthorized> {
    let header = req.header("authorization").ok_or(Unauthorized::NoToken)?;
    let token = match header.split_once(' ') {
        Some((scheme, t)) if scheme.eq_ignore_ascii_case("bearer") && !t.trim().is_empty() => t.trim(),
        _ => return Err(Unauthorized::Invalid("The Authorization header must be `Bearer <access token>`".into())),
    };
    let verified = access_token::verify(svc.keys(), token, origin, &mcp_resource(origin), svc.now())
        .map_err(|e| Unauthorized::Invalid(e.description().to_string()))?;
    let claims = &verified.claims;
    let failed = |reason: &str| Unauthorized::Invalid(evaluate::token_validation_failed(reason));
    let policy = load_policy(svc, &claims.ws).await.map_err(|e| match e {
        super::PolicyLoadError::Store(s) => Unauthorized::Unavailable(format!("The workspace policy cannot be read right now ({})", s.0)),
        other => failed(&format!("policy: {}", other.describe())),
    })?;
    let granted = ScopeSet::from_trusted(claims.scope.split(' ').filter(|s| !s.is_empty()).map(str::to_string));
    let scopes = evaluate::still_allowed(&policy, &svc.config().catalog, &claims.sub, &granted).map_err(|d| failed(d.token_reason()))?;
    if !policy.allowed_client_ids.is_empty() && !policy.allowed_client_ids.contains(&claims.client_id) {
        return Err(failed("policy: the OAuth client is no longer allowed"));
    }
    match svc.touch(&claims.ws, &claims.sub, &claims.cid, svc.now()).await {
        Ok(ConnectionStatus::Active) => {}
        Ok(ConnectionStatus::Revoked | ConnectionStatus::Missing) => return Err(failed("connection: the connection was revoked")),
        Err(e) => return Err(Unauthorized::Unavailable(format!("The connection store cannot be read right now ({})", e.0))),
    }
    let member = policy.member(&claims.sub);
    let caller = Caller {
        user_email: claims.sub.clone(),
        user_name: member.map(|m| m.name.clone()).unwrap_or_else(|| claims.sub.clone()),
        workspace_id: policy.id.clone(),
        workspace_name: policy.name.clone(),
        client_id: claims.client_id.clone(),
        client_name: claims.client_id.clone(),
        scopes: scopes.to_vec(),
        expires_at: verified.expires_at,
    };
    Ok((verified, caller))
}

/// The client's registered name, read only when a tool result shows it.
async fn with_client_name<S: Services>(svc: &S, mut caller: Caller, method: &str) -> Caller {
    if method == "tools/call" {
        if let Some(id) = ClientId::parse(&caller.client_id) {
            if let Ok(Some(client)) = svc.client(&id).await {
                caller.client_name = client.display_name().to_string();
            }
        }
    }
    caller
}

//! The workspace's authorization attempts: each rejection with its verdict and fix, the check of
//! an attempt no one made yet, and the clients seen in them.
use serde_json::{json, Value};

use super::connections::all_connections;
use super::{no_store, Admin};
use crate::app::error::{AdminError, AppError, Store};
use crate::app::extract::Json;
use crate::app::Services;
use crate::core::admin::{etag, OutcomeKind};
use crate::core::fixes;
use crate::core::http::{Request, Response};
use crate::core::ids::WorkspaceId;

/// The clients seen in the workspace's attempts, for pinning: whether each is pinned, its active
/// connections, its metadata document (a CIMD client's ID is the document's URL), and whether
/// the page should suggest pinning (nothing is pinned yet and a client was approved).
pub(super) async fn clients<S: Services>(svc: &S, ws: &WorkspaceId, admin: &Admin) -> Result<Response, AppError> {
    let seen = svc.seen_clients(ws).await.map_err(Store::Workspaces.failed())?;
    let connections = all_connections(svc, ws, admin.policy.as_ref()).await?;
    let pinned: Vec<&str> = admin.policy.iter().flat_map(|p| p.allowed_client_ids.iter().map(|c| c.as_str())).collect();
    let rows: Vec<Value> = seen
        .iter()
        .map(|c| {
            let active = connections.iter().filter(|k| k.revoked_at.is_none() && k.client_id.as_ref().is_some_and(|id| id.as_str() == c.client_id));
            let cimd = crate::core::oauth::types::ClientId::parse(&c.client_id).is_some_and(|id| crate::core::oauth::cimd::is_document_url(&id));
            let document = cimd.then_some(c.client_id.as_str());
            json!({
                "client_id": c.client_id, "name": c.name, "metadata_document": document, "first_seen": c.first_seen, "last_seen": c.last_seen,
                "approved": c.approved, "rejected": c.rejected, "connections": active.count(), "pinned": pinned.contains(&c.client_id.as_str()),
            })
        })
        .collect();
    let suggest = pinned.is_empty().then(|| seen.iter().filter(|c| c.approved > 0).min_by_key(|c| c.first_seen)).flatten();
    let body = json!({ "workspace": ws, "clients": rows, "suggest_pin": suggest.map(|c| &c.client_id) });
    Ok(no_store(Response::json(200, &body)))
}

/// The recent attempts; each rejected one with its verdict under the current policy (`fixes`):
/// the fix that lets it through, or that it would pass now. `etag` is the policy's the fixes
/// apply to: a fix is written with it as `If-Match`, so an edit made since is reported (412).
pub(super) async fn outcomes<S: Services>(svc: &S, ws: &WorkspaceId, admin: &Admin) -> Result<Response, AppError> {
    let list = svc.outcomes(ws).await.map_err(Store::Workspaces.failed())?;
    let (rejected, approved): (Vec<_>, Vec<_>) = list.into_iter().partition(|o| o.kind == OutcomeKind::Rejected);
    let rejected: Vec<Value> = rejected
        .iter()
        .map(|o| {
            let mut row = serde_json::to_value(o).unwrap_or(Value::Null);
            let who = fixes::Who::SignedIn { email: &o.user, subject: o.subject.as_deref() };
            let attempt = fixes::Attempt { who, client_id: &o.client_id, redirect_uri: &o.redirect_uri, scopes: &o.scopes };
            if let (Some(text), Some(policy), false) = (&admin.text, &admin.policy, o.client_id.is_empty()) {
                row["verdict"] = fixes::check(text, policy, &svc.config().catalog, &attempt)
                    .map(|v| serde_json::to_value(v).unwrap_or(Value::Null))
                    .unwrap_or(Value::Null);
            }
            row
        })
        .collect();
    let etag = admin.text.as_deref().map(etag);
    Ok(no_store(Response::json(200, &json!({ "workspace": ws, "etag": etag, "rejected": rejected, "approved": approved }))))
}

/// `POST …/check` `{"redirect_uri", "client_id", "scope"?, "user"?}`: would an authorization pass
/// under the current policy, and if not, the rule and the fix — before anyone tries.
pub(super) fn check<S: Services>(svc: &S, req: &Request, admin: &Admin) -> Result<Response, AppError> {
    let shape = "Send JSON {\"redirect_uri\": \"…\", \"client_id\": \"…\", \"scope\": \"…\" (optional), \"user\": \"…\" (optional)}";
    let body = Json::from_body(req).map_err(|_| AdminError::InvalidRequest(shape.into()))?;
    let (Some(redirect_uri), Some(client_id)) = (body.str_field("redirect_uri"), body.str_field("client_id")) else {
        return Err(AdminError::InvalidRequest(shape.into()).into());
    };
    let (Some(text), Some(policy)) = (&admin.text, &admin.policy) else {
        return Err(AdminError::InvalidRequest("The workspace has no valid policy to check against".into()).into());
    };
    let catalog = &svc.config().catalog;
    let requested = catalog.parse_request(body.str_field("scope").unwrap_or("")).map_err(AdminError::InvalidRequest)?;
    let who = body.str_field("user").map(str::trim).filter(|u| !u.is_empty()).map_or(fixes::Who::Anyone, fixes::Who::Email);
    let scopes = requested.scopes.to_vec();
    let attempt = fixes::Attempt { who, client_id: client_id.trim(), redirect_uri: redirect_uri.trim(), scopes: &scopes };
    let verdict = fixes::check(text, policy, catalog, &attempt).map_err(AdminError::InvalidRequest)?;
    let mut out = serde_json::to_value(verdict).unwrap_or(Value::Null);
    out["etag"] = json!(etag(text));
    Ok(no_store(Response::json(200, &out)))
}

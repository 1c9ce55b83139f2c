//! The workspace's connections: listed (also of users removed since) and revoked.
use std::collections::BTreeSet;

use serde_json::{json, Value};

use super::no_store;
use crate::app::error::{AdminError, AppError, Store};
use crate::app::extract::Json;
use crate::app::Services;
use crate::core::audit::{Actor, Event};
use crate::core::connection::ConnectionRecord;
use crate::core::http::{Request, Response};
use crate::core::ids::{Email, WorkspaceId};
use crate::core::policy::model::WorkspacePolicy;

/// Every connection of the workspace: of its current members and of every user who had
/// connections before (`connection_users`), so a removed member's connections stay visible and
/// revocable (`"member": false`), also while the policy is invalid.
pub(super) async fn connections<S: Services>(svc: &S, ws: &WorkspaceId, policy: Option<&WorkspacePolicy>) -> Result<Response, AppError> {
    let all = all_connections(svc, ws, policy).await?;
    let rows: Vec<Value> = all
        .iter()
        .map(|c| {
            json!({
                "id": c.id, "user": c.user, "client_id": c.client_id, "client_name": c.client_name, "scopes": c.scopes,
                "created_at": c.created_at, "last_used_at": c.last_used_at, "revoked_at": c.revoked_at,
                "active": c.revoked_at.is_none(), "member": policy.is_some_and(|p| p.member(&c.user).is_some()),
            })
        })
        .collect();
    Ok(no_store(Response::json(200, &json!({ "workspace": ws, "connections": rows }))))
}

/// The connections of every member and every noted user, newest first.
pub(super) async fn all_connections<S: Services>(
    svc: &S,
    ws: &WorkspaceId,
    policy: Option<&WorkspacePolicy>,
) -> Result<Vec<ConnectionRecord>, AppError> {
    let noted: BTreeSet<Email> = svc.connection_users(ws).await.map_err(Store::Workspaces.failed())?.into_iter().collect();
    let members = policy.map(|p| p.members.as_slice()).unwrap_or_default();
    let users: BTreeSet<&Email> = members.iter().map(|m| &m.email).chain(noted.iter()).collect();
    let mut all = Vec::new();
    for user in users {
        let list = svc.list(ws, user).await.map_err(Store::Connections.failed())?;
        // Index members whose connections were created before the index existed.
        if !list.is_empty() && !noted.contains(user) {
            svc.note_connection_user(ws, user).await.map_err(Store::Workspaces.failed())?;
        }
        all.extend(list);
    }
    all.sort_by_key(|c| std::cmp::Reverse(c.created_at));
    Ok(all)
}

/// `{"user", "id"}` revokes one connection (404 if the user has no such connection); without
/// `id`, every active connection of the user. `user` is normalised as members are (trimmed,
/// lowercased), so it names the same Connections object the grant did.
pub(super) async fn revoke<S: Services>(svc: &S, req: &Request, ws: &WorkspaceId, by: Actor<'_>) -> Result<Response, AppError> {
    let body = Json::from_body(req).map_err(|_| {
        AdminError::InvalidRequest("Send JSON {\"user\": \"…\", \"id\": \"…\"} (omit id to revoke all of the user's connections)".into())
    })?;
    let user = body.str_field("user").unwrap_or_default();
    let user = Email::parse(user).map_err(|why| AdminError::InvalidRequest(format!("`user` {why}")))?;
    let now = svc.now();
    // This isolate stops trusting the connections at once (others within the revocation bound).
    svc.isolate().borrow_mut().forget_connections_of(ws, &user);
    let (revoked, one) = match body.field("id").cloned() {
        None | Some(Value::Null) => (svc.revoke_all(ws, &user, now).await.map_err(Store::Connections.failed())?, None),
        Some(Value::String(id)) => {
            let list = svc.list(ws, &user).await.map_err(Store::Connections.failed())?;
            match list.into_iter().find(|c| c.id.as_str() == id) {
                None => return Err(AdminError::NoSuchConnection { workspace: ws.to_string(), user: user.to_string(), id }.into()),
                Some(c) if c.revoked_at.is_some() => (0, Some(c.id)),
                Some(c) => (svc.revoke(&c.key(), None, now).await.map(|_| 1).map_err(Store::Connections.failed())?, Some(c.id)),
            }
        }
        Some(_) => return Err(AdminError::InvalidRequest("`id` must be a string".into()).into()),
    };
    svc.audit(Event::Revoked { by, workspace: ws, user: &user, connection: one.as_ref(), count: revoked as usize });
    Ok(Response::json(200, &json!({ "revoked": revoked })))
}

//! The admin API (`/admin/api/…`, JSON) and the admin page (`/admin`).
//! Callers: a signed-in member with the admin role of the workspace (mutations also need the
//! page's CSRF header), or the operator token. Everyone else gets 401/403 and learns nothing
//! about other workspaces.
use std::collections::BTreeSet;

use serde_json::{json, Value};

use super::error::{AdminError, AppError, PageError, Store};
use super::extract::{self, Bearer, BearerHeader, CsrfNonce, Json};
use super::Services;
use crate::core::admin::{self, etag, AdminCaller, AdminDenied, OutcomeKind};
use crate::core::audit::{self, Actor, Event};
use crate::core::http::{Method, Request, Response};
use crate::core::ids::{Email, WorkspaceId};
use crate::core::policy::model::WorkspacePolicy;
use crate::core::secrets;
use crate::core::site::Site;
use crate::core::store::ReplaceOutcome;

pub const CSRF_HEADER: &str = "x-csrf-token";

fn caller<S: Services>(svc: &S, req: &Request, site: &Site) -> Result<Option<AdminCaller>, AppError> {
    match Bearer::from_request(req) {
        Ok(token) if admin::is_operator(svc.config().admin_token.as_deref(), token.as_str()) => return Ok(Some(AdminCaller::Operator)),
        Ok(_) | Err(BearerHeader::NotBearer) => return Err(AdminError::Unauthenticated.into()),
        Err(BearerHeader::Missing) => {}
    }
    let Some(session) = extract::session(svc, req, site) else {
        return Ok(None);
    };
    // Cookie-authenticated changes must come from our page (signed double-submit token).
    if req.method != Method::Get {
        CsrfNonce::verify(svc, req, site, req.header(CSRF_HEADER)).map_err(|_| AdminError::Csrf)?;
    }
    Ok(Some(AdminCaller::Session(session)))
}

/// Authenticates, authorizes, and loads the workspace's policy (if valid).
///
/// Authorization reads the policy text from the `Workspaces` object (`policy_text`), not from
/// KV: it is strongly consistent and the same text this API reads and writes, so an admin who
/// is demoted (or removed) loses access with the write, not up to 60 s later.
async fn guard<S: Services>(
    svc: &S,
    req: &Request,
    site: &Site,
    ws: &WorkspaceId,
) -> Result<(AdminCaller, Option<WorkspacePolicy>), AppError> {
    let who = caller(svc, req, site)?.ok_or(AdminError::Unauthenticated)?;
    // A session grants only its own workspace: refuse others without touching their storage.
    if matches!(&who, AdminCaller::Session(s) if !s.acts_in(ws)) {
        return Err(AdminError::Forbidden.into());
    }
    let text = svc.policy_text(ws).await.map_err(Store::Workspaces.failed())?;
    let parsed = text.map(|t| WorkspacePolicy::parse(ws, &t, &svc.config().catalog));
    let (policy, invalid) = match parsed {
        Some(Ok(p)) => (Some(p), None),
        Some(Err(e)) => (None, Some(e)),
        None => (None, None),
    };
    if let Err(denied) = admin::may_administer(Some(&who), ws, policy.as_ref()) {
        return Err(match (invalid, &who, denied) {
            // Fail closed, but say why to the workspace's own signed-in people.
            (Some(e), AdminCaller::Session(s), AdminDenied::Forbidden) if s.acts_in(ws) => AdminError::PolicyNeedsOperator(e),
            (_, _, AdminDenied::Forbidden) => AdminError::Forbidden,
            (_, _, AdminDenied::Unauthenticated) => AdminError::Unauthenticated,
        }
        .into());
    }
    Ok((who, policy))
}

pub async fn api<S: Services>(svc: &S, req: &Request, site: &Site) -> Result<Response, AppError> {
    let path = req.url.path().trim_start_matches("/admin/api/");
    let parts: Vec<&str> = path.split('/').collect();
    match (req.method, parts.as_slice()) {
        (Method::Get, ["catalog"]) => Ok(catalog(svc)),
        (Method::Get, ["session"]) => session(svc, req, site),
        (_, ["workspaces", ws, rest @ ..]) => match WorkspaceId::parse(ws) {
            Some(ws) => workspace(svc, req, site, &ws, rest).await,
            None => Err(AdminError::NoSuchWorkspace.into()),
        },
        (_, ["workspaces"]) => Err(AdminError::NoSuchWorkspace.into()),
        _ => Err(AdminError::NothingAt(req.url.path().to_string()).into()),
    }
}

async fn workspace<S: Services>(svc: &S, req: &Request, site: &Site, ws: &WorkspaceId, rest: &[&str]) -> Result<Response, AppError> {
    let (who, policy) = guard(svc, req, site, ws).await?;
    let by = actor(&who);
    // Every body here is JSON; a text/plain one is a mistake (or a form posted from elsewhere).
    if matches!(req.method, Method::Put | Method::Post) && !req.content_type_is("application/json") {
        return Err(AdminError::NotJson.into());
    }
    match (req.method, rest) {
        (Method::Get, ["policy"]) => get_policy(svc, ws).await,
        (Method::Put, ["policy"]) => put_policy(svc, req, ws, by, policy.as_ref()).await,
        (Method::Get, ["connections"]) => connections(svc, ws, policy.as_ref()).await,
        (Method::Post, ["connections", "revoke"]) => revoke(svc, req, ws, by).await,
        (Method::Get, ["outcomes"]) => outcomes(svc, ws).await,
        (Method::Get | Method::Put | Method::Delete, ["upstream-key"]) => upstream_key(svc, req, ws).await,
        (_, ["policy" | "connections" | "outcomes"] | ["connections", "revoke"]) => Err(AdminError::MethodNotAllowed.into()),
        _ => Err(AdminError::NoSuchResource.into()),
    }
}

/// Who an audit event names for this caller: the member's e-mail in the workspace, or the operator.
fn actor(who: &AdminCaller) -> Actor<'_> {
    match who {
        AdminCaller::Operator => Actor::Operator,
        AdminCaller::Session(s) => s.current.as_ref().map_or(Actor::Operator, |m| Actor::Admin(&m.email)),
    }
}

fn no_store(response: Response) -> Response {
    response.with_header("cache-control", "no-store")
}

fn catalog<S: Services>(svc: &S) -> Response {
    let scopes: Vec<Value> =
        svc.config().catalog.names().map(|n| json!({ "name": n, "description": svc.config().catalog.description(n) })).collect();
    Response::json(200, &json!({ "scopes": scopes }))
}

/// Who the page is signed in as, and its CSRF token.
fn session<S: Services>(svc: &S, req: &Request, site: &Site) -> Result<Response, AppError> {
    let s = extract::session(svc, req, site).ok_or(AdminError::Unauthenticated)?;
    let csrf = CsrfNonce::existing(svc, req, site).map(|n| n.token(svc.keys()));
    let (workspace, email) = match &s.current {
        Some(m) => (Some(&m.workspace), Some(&m.email)),
        None => (None, None),
    };
    Ok(no_store(Response::json(200, &json!({ "workspace": workspace, "email": email, "others": s.others, "csrf": csrf }))))
}

async fn get_policy<S: Services>(svc: &S, ws: &WorkspaceId) -> Result<Response, AppError> {
    let text = svc.policy_text(ws).await.map_err(Store::Workspaces.failed())?.ok_or_else(|| AdminError::NoPolicy(ws.to_string()))?;
    let tag = etag(&text);
    if let Err(error) = WorkspacePolicy::parse(ws, &text, &svc.config().catalog) {
        return Err(AdminError::StoredPolicyInvalid { workspace: ws.to_string(), etag: tag, error, text }.into());
    }
    let policy = serde_json::from_str::<Value>(&text).unwrap_or(Value::Null);
    let body = json!({ "workspace": ws, "etag": tag, "valid": true, "policy": policy });
    Ok(no_store(Response::json(200, &body).with_header("etag", &tag)))
}

async fn put_policy<S: Services>(
    svc: &S,
    req: &Request,
    ws: &WorkspaceId,
    by: Actor<'_>,
    before: Option<&WorkspacePolicy>,
) -> Result<Response, AppError> {
    let if_match = req.header("if-match");
    let creating = req.header("if-none-match") == Some("*");
    if if_match.is_none() && !creating {
        return Err(AdminError::PreconditionRequired.into());
    }
    let text = String::from_utf8(req.body.clone()).map_err(|_| AdminError::NotUtf8)?;
    let policy = WorkspacePolicy::parse(ws, &text, &svc.config().catalog).map_err(AdminError::InvalidPolicy)?;
    match svc.replace_policy(ws, &text, if_match).await.map_err(Store::Workspaces.failed())? {
        ReplaceOutcome::Replaced { etag } => {
            // This isolate decides by the new policy at once (others within POLICY_CACHE_SECONDS
            // of KV serving it).
            let changed = audit::policy_changes(before, &policy);
            svc.audit(Event::PolicyChanged { by, workspace: ws, etag: &etag, changed });
            svc.isolate().borrow_mut().policies.insert(ws.clone(), Ok(std::rc::Rc::new(policy)), svc.now());
            Ok(Response::json(200, &json!({ "workspace": ws, "etag": etag })).with_header("etag", &etag))
        }
        ReplaceOutcome::Conflict { current_etag: Some(current_etag) } if creating => {
            Err(AdminError::PolicyExists { workspace: ws.to_string(), current_etag }.into())
        }
        ReplaceOutcome::Conflict { current_etag } => Err(AdminError::Conflict { current_etag }.into()),
    }
}

/// Every connection of the workspace: of its current members and of every user who had
/// connections before (`connection_users`), so a removed member's connections stay visible and
/// revocable (`"member": false`), also while the policy is invalid.
async fn connections<S: Services>(svc: &S, ws: &WorkspaceId, policy: Option<&WorkspacePolicy>) -> Result<Response, AppError> {
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

/// `{"user", "id"}` revokes one connection (404 if the user has no such connection); without
/// `id`, every active connection of the user. `user` is normalised as members are (trimmed,
/// lowercased), so it names the same Connections object the grant did.
async fn revoke<S: Services>(svc: &S, req: &Request, ws: &WorkspaceId, by: Actor<'_>) -> Result<Response, AppError> {
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

/// The workspace's upstream API key: writable, never readable back.
async fn upstream_key<S: Services>(svc: &S, req: &Request, ws: &WorkspaceId) -> Result<Response, AppError> {
    let now = svc.now();
    match req.method {
        Method::Put => {
            let key = Json::from_body(req).ok().and_then(|b| b.str_field("api_key").map(str::to_string));
            let Some(key) = key.filter(|k| !k.is_empty() && k.len() <= 4096 && !k.chars().any(char::is_control)) else {
                return Err(AdminError::InvalidRequest("Send JSON {\"api_key\": \"…\"} (1–4096 printable characters)".into()).into());
            };
            let mut nonce = [0u8; secrets::NONCE_BYTES];
            svc.fill_random(&mut nonce);
            let sealed = secrets::seal(svc.keys(), key.as_bytes(), &nonce, ws.as_str());
            svc.set_upstream_secret(ws, Some(&sealed), now).await.map_err(Store::Workspaces.failed())?;
        }
        Method::Delete => svc.set_upstream_secret(ws, None, now).await.map_err(Store::Workspaces.failed())?,
        Method::Get | Method::Post | Method::Head | Method::Options | Method::Other => {}
    }
    let stored = svc.upstream_secret(ws).await.map_err(Store::Workspaces.failed())?;
    if let (Method::Get, Some((sealed, _))) = (req.method, &stored) {
        // A key sealed under SIGNING_KEY_PREVIOUS is sealed again under the current key.
        super::api_tools::open_upstream_key(svc, ws, sealed).await;
    }
    let body = json!({ "workspace": ws, "configured": stored.is_some(), "updated_at": stored.map(|s| s.1) });
    Ok(no_store(Response::json(200, &body)))
}

async fn outcomes<S: Services>(svc: &S, ws: &WorkspaceId) -> Result<Response, AppError> {
    let list = svc.outcomes(ws).await.map_err(Store::Workspaces.failed())?;
    let (rejected, approved): (Vec<_>, Vec<_>) = list.into_iter().partition(|o| o.kind == OutcomeKind::Rejected);
    Ok(no_store(Response::json(200, &json!({ "workspace": ws, "rejected": rejected, "approved": approved }))))
}

/// `GET /admin`: the page; sign in first.
pub fn page<S: Services>(svc: &S, req: &Request, site: &Site) -> Result<Response, AppError> {
    match extract::session(svc, req, site) {
        None if svc.config().dev_sign_in && !super::signin::can_sign_in(svc, site) => return Err(super::signin::no_sign_in(svc)),
        None if !super::signin::can_sign_in(svc, site) => return Err(PageError::AdminSignInDisabled.into()),
        None => return Ok(Response::redirect(303, "/signin?next=%2Fadmin")),
        Some(s) if s.current.is_none() => return Ok(Response::redirect(303, &super::signin::choose_workspace_url("/admin"))),
        Some(_) => {}
    }
    // The page's script reads the token from `…/session`; the nonce is set here.
    Ok(CsrfNonce::get_or_mint(svc, req, site).attach(Response::html(200, crate::core::pages::admin())))
}

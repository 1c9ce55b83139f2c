//! The admin API (`/admin/api/…`, JSON) and the admin page (`/admin`).
//! Callers: a signed-in member with the admin role of the workspace (mutations also need the
//! page's CSRF header), or the operator token. Everyone else gets 401/403 and learns nothing
//! about other workspaces.
use std::collections::BTreeSet;

use serde_json::{json, Value};

use super::{signin, Services};
use crate::core::admin::{self, etag, AdminCaller, AdminDenied, OutcomeKind};
use crate::core::cookies::{self, CSRF_COOKIE};
use crate::core::http::{Method, Request, Response};
use crate::core::policy::model::{check_email, valid_workspace_id, WorkspacePolicy};
use crate::core::secrets;
use crate::core::store::{ReplaceOutcome, StoreError};

pub const CSRF_HEADER: &str = "x-csrf-token";

fn error(status: u16, code: &str, description: impl Into<String>) -> Response {
    Response::json(status, &json!({ "error": code, "error_description": description.into() })).with_header("cache-control", "no-store")
}

fn denied(d: AdminDenied) -> Response {
    match d {
        AdminDenied::Unauthenticated => {
            error(401, "unauthorized", "Sign in as an admin of this workspace, or send the operator token as `Authorization: Bearer …`")
                .with_header("www-authenticate", "Bearer realm=\"mcp-edge admin\"")
        }
        AdminDenied::Forbidden => error(403, "forbidden", "You are not an admin of this workspace"),
    }
}

fn caller<S: Services>(svc: &S, req: &Request) -> Result<Option<AdminCaller>, Response> {
    if let Some(header) = req.header("authorization") {
        let token = header.strip_prefix("Bearer ").or_else(|| header.strip_prefix("bearer ")).unwrap_or("");
        return if admin::is_operator(svc.config().admin_token.as_deref(), token.trim()) {
            Ok(Some(AdminCaller::Operator))
        } else {
            Err(denied(AdminDenied::Unauthenticated))
        };
    }
    let Some(session) = signin::current_session(svc, req) else {
        return Ok(None);
    };
    // Cookie-authenticated changes must come from our page (signed double-submit token).
    if req.method != Method::Get && !cookies::csrf_valid(svc.keys(), req.cookie(CSRF_COOKIE).as_deref(), req.header(CSRF_HEADER)) {
        return Err(error(403, "csrf", "Missing or wrong X-CSRF-Token header; reload the admin page"));
    }
    Ok(Some(AdminCaller::Session(session)))
}

/// Authenticates, authorizes, and loads the workspace's policy (if valid).
///
/// Authorization reads the policy text from the `Workspaces` object (`policy_text`), not from
/// KV: it is strongly consistent and the same text this API reads and writes, so an admin who
/// is demoted (or removed) loses access with the write, not up to 60 s later.
async fn guard<S: Services>(svc: &S, req: &Request, ws: &str) -> Result<(AdminCaller, Option<WorkspacePolicy>), Response> {
    let Some(who) = caller(svc, req)? else {
        return Err(denied(AdminDenied::Unauthenticated));
    };
    // A session grants only its own workspace: refuse others without touching their storage.
    if matches!(&who, AdminCaller::Session(s) if s.workspace != ws) {
        return Err(denied(AdminDenied::Forbidden));
    }
    let text = svc.policy_text(ws).await.map_err(|e| unavailable(&e))?;
    let parsed = text.map(|t| WorkspacePolicy::parse(ws, &t, &svc.config().catalog));
    let policy = parsed.as_ref().and_then(|r| r.as_ref().ok()).cloned();
    admin::may_administer(Some(&who), ws, policy.as_ref()).map_err(|d| match (&parsed, &who, d) {
        // Fail closed, but say why to the workspace's own signed-in people.
        (Some(Err(e)), AdminCaller::Session(s), AdminDenied::Forbidden) if s.workspace == ws => {
            error(422, "invalid_policy", format!("{e}. Only the operator token can repair it."))
        }
        _ => denied(d),
    })?;
    Ok((who, policy))
}

fn unavailable(e: &StoreError) -> Response {
    error(503, "temporarily_unavailable", format!("The workspace store is unavailable ({})", e.0))
}

pub async fn api<S: Services>(svc: &S, req: &Request) -> Response {
    let path = req.url.path().trim_start_matches("/admin/api/");
    let parts: Vec<&str> = path.split('/').collect();
    match (req.method, parts.as_slice()) {
        (Method::Get, ["catalog"]) => catalog(svc),
        (Method::Get, ["session"]) => session(svc, req),
        (_, ["workspaces", ws, rest @ ..]) if valid_workspace_id(ws) => workspace(svc, req, ws, rest).await,
        (_, ["workspaces", ..]) => error(404, "not_found", "No such workspace"),
        _ => error(404, "not_found", format!("Nothing is served at {}", req.url.path())),
    }
}

async fn workspace<S: Services>(svc: &S, req: &Request, ws: &str, rest: &[&str]) -> Response {
    let (_, policy) = match guard(svc, req, ws).await {
        Ok(ok) => ok,
        Err(resp) => return resp,
    };
    match (req.method, rest) {
        (Method::Get, ["policy"]) => get_policy(svc, ws).await,
        (Method::Put, ["policy"]) => put_policy(svc, req, ws).await,
        (Method::Get, ["connections"]) => connections(svc, ws, policy.as_ref()).await,
        (Method::Post, ["connections", "revoke"]) => revoke(svc, req, ws).await,
        (Method::Get, ["outcomes"]) => outcomes(svc, ws).await,
        (Method::Get | Method::Put | Method::Delete, ["upstream-key"]) => upstream_key(svc, req, ws).await,
        (_, ["policy" | "connections" | "outcomes"] | ["connections", "revoke"]) => {
            error(405, "method_not_allowed", "See README, \"Admin API\"")
        }
        _ => error(404, "not_found", "No such resource"),
    }
}

fn catalog<S: Services>(svc: &S) -> Response {
    let scopes: Vec<Value> =
        svc.config().catalog.names().map(|n| json!({ "name": n, "description": svc.config().catalog.description(n) })).collect();
    Response::json(200, &json!({ "scopes": scopes }))
}

/// Who the page is signed in as, and its CSRF token.
fn session<S: Services>(svc: &S, req: &Request) -> Response {
    let Some(s) = signin::current_session(svc, req) else {
        return denied(AdminDenied::Unauthenticated);
    };
    let csrf = req.cookie(CSRF_COOKIE).map(|n| cookies::csrf_token(svc.keys(), &n));
    Response::json(200, &json!({ "workspace": s.workspace, "email": s.email, "csrf": csrf })).with_header("cache-control", "no-store")
}

async fn get_policy<S: Services>(svc: &S, ws: &str) -> Response {
    let text = match svc.policy_text(ws).await {
        Ok(Some(t)) => t,
        Ok(None) => return error(404, "no_policy", format!("Workspace `{ws}` has no policy yet; PUT one with `If-None-Match: *`")),
        Err(e) => return error(503, "temporarily_unavailable", e.0),
    };
    let tag = etag(&text);
    let body = match WorkspacePolicy::parse(ws, &text, &svc.config().catalog) {
        Ok(_) => {
            json!({ "workspace": ws, "etag": tag, "valid": true, "policy": serde_json::from_str::<Value>(&text).unwrap_or(Value::Null) })
        }
        Err(e) => json!({ "workspace": ws, "etag": tag, "valid": false, "error": e.to_string(), "text": text }),
    };
    let status = if body["valid"] == json!(true) { 200 } else { 422 };
    Response::json(status, &body).with_header("etag", &tag).with_header("cache-control", "no-store")
}

async fn put_policy<S: Services>(svc: &S, req: &Request, ws: &str) -> Response {
    let if_match = req.header("if-match");
    let creating = req.header("if-none-match") == Some("*");
    if if_match.is_none() && !creating {
        return error(428, "precondition_required", "Send If-Match with the ETag you read (or If-None-Match: * to create the policy)");
    }
    let Ok(text) = String::from_utf8(req.body.clone()) else {
        return error(400, "invalid_policy", "The body must be UTF-8 JSON");
    };
    if let Err(e) = WorkspacePolicy::parse(ws, &text, &svc.config().catalog) {
        return error(400, "invalid_policy", e.to_string());
    }
    match svc.replace_policy(ws, &text, if_match).await {
        Ok(ReplaceOutcome::Replaced { etag }) => {
            svc.log(&format!("admin: policy of {ws} replaced ({etag})"));
            Response::json(200, &json!({ "workspace": ws, "etag": etag })).with_header("etag", &etag)
        }
        Ok(ReplaceOutcome::Conflict { current_etag }) => {
            error(412, "precondition_failed", "The policy changed since you read it; reload, reapply your edit and save again")
                .with_header("etag", current_etag.as_deref().unwrap_or(""))
        }
        Err(e) => error(503, "temporarily_unavailable", e.0),
    }
}

/// Every connection of the workspace: of its current members and of every user who had
/// connections before (`connection_users`), so a removed member's connections stay visible and
/// revocable (`"member": false`), also while the policy is invalid.
async fn connections<S: Services>(svc: &S, ws: &str, policy: Option<&WorkspacePolicy>) -> Response {
    let noted: BTreeSet<String> = match svc.connection_users(ws).await {
        Ok(users) => users.into_iter().collect(),
        Err(e) => return unavailable(&e),
    };
    let members = policy.map(|p| p.members.as_slice()).unwrap_or_default();
    let users: BTreeSet<&str> = members.iter().map(|m| m.email.as_str()).chain(noted.iter().map(String::as_str)).collect();
    let mut all = Vec::new();
    for user in users {
        let list = match svc.list(ws, user).await {
            Ok(list) => list,
            Err(e) => return unavailable(&e),
        };
        // Index members whose connections were created before the index existed.
        if !list.is_empty() && !noted.contains(user) {
            if let Err(e) = svc.note_connection_user(ws, user).await {
                return unavailable(&e);
            }
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
    Response::json(200, &json!({ "workspace": ws, "connections": rows })).with_header("cache-control", "no-store")
}

/// `{"user", "id"}` revokes one connection (404 if the user has no such connection); without
/// `id`, every active connection of the user. `user` is normalised as members are (trimmed,
/// lowercased), so it names the same Connections object the grant did.
async fn revoke<S: Services>(svc: &S, req: &Request, ws: &str) -> Response {
    let Ok(body) = serde_json::from_slice::<Value>(&req.body) else {
        return error(
            400,
            "invalid_request",
            "Send JSON {\"user\": \"…\", \"id\": \"…\"} (omit id to revoke all of the user's connections)",
        );
    };
    let user = body.get("user").and_then(Value::as_str).map(|u| u.trim().to_ascii_lowercase()).unwrap_or_default();
    if let Err(why) = check_email(&user) {
        return error(400, "invalid_request", format!("`user` {why}"));
    }
    let now = svc.now();
    let result = match body.get("id") {
        None | Some(Value::Null) => svc.revoke_all(ws, &user, now).await,
        Some(Value::String(id)) => match svc.list(ws, &user).await {
            Err(e) => Err(e),
            Ok(list) => match list.iter().find(|c| &c.id == id) {
                None => return error(404, "not_found", format!("{user} has no connection {id} in workspace `{ws}`")),
                Some(c) if c.revoked_at.is_some() => Ok(0),
                Some(_) => svc.revoke(ws, &user, id, None, now).await.map(|_| 1),
            },
        },
        Some(_) => return error(400, "invalid_request", "`id` must be a string"),
    };
    match result {
        Ok(n) => {
            svc.log(&format!("admin: revoked {n} connection(s) of {user} in {ws}"));
            Response::json(200, &json!({ "revoked": n }))
        }
        Err(e) => unavailable(&e),
    }
}

/// The workspace's upstream API key: writable, never readable back.
async fn upstream_key<S: Services>(svc: &S, req: &Request, ws: &str) -> Response {
    let now = svc.now();
    let result = match req.method {
        Method::Put => {
            let key =
                serde_json::from_slice::<Value>(&req.body).ok().and_then(|b| b.get("api_key").and_then(Value::as_str).map(str::to_string));
            let Some(key) = key.filter(|k| !k.is_empty() && k.len() <= 4096 && !k.chars().any(char::is_control)) else {
                return error(400, "invalid_request", "Send JSON {\"api_key\": \"…\"} (1–4096 printable characters)");
            };
            let mut nonce = [0u8; secrets::NONCE_BYTES];
            svc.fill_random(&mut nonce);
            svc.set_upstream_secret(ws, Some(&secrets::seal(svc.keys(), key.as_bytes(), &nonce, ws)), now).await
        }
        Method::Delete => svc.set_upstream_secret(ws, None, now).await,
        _ => Ok(()),
    };
    if let Err(e) = result {
        return error(503, "temporarily_unavailable", e.0);
    }
    match svc.upstream_secret(ws).await {
        Ok(stored) => Response::json(200, &json!({ "workspace": ws, "configured": stored.is_some(), "updated_at": stored.map(|s| s.1) }))
            .with_header("cache-control", "no-store"),
        Err(e) => error(503, "temporarily_unavailable", e.0),
    }
}

async fn outcomes<S: Services>(svc: &S, ws: &str) -> Response {
    match svc.outcomes(ws).await {
        Ok(list) => {
            let (rejected, approved): (Vec<_>, Vec<_>) = list.into_iter().partition(|o| o.kind == OutcomeKind::Rejected);
            Response::json(200, &json!({ "workspace": ws, "rejected": rejected, "approved": approved }))
                .with_header("cache-control", "no-store")
        }
        Err(e) => error(503, "temporarily_unavailable", e.0),
    }
}

/// `GET /admin`: the page; sign in first.
pub fn page<S: Services>(svc: &S, req: &Request) -> Response {
    if signin::current_session(svc, req).is_none() {
        if !svc.config().dev_sign_in {
            return super::pages::simple(
                503,
                "Sign-in is not configured",
                "This deployment has no sign-in configured",
                "Use the admin API with the operator token, or for local development set DEV_SIGN_IN=on.",
            );
        }
        return Response::redirect(303, "/signin?next=%2Fadmin");
    }
    let (nonce, cookie) = match req.cookie(CSRF_COOKIE).filter(|n| n.len() >= 16) {
        Some(n) => (n, None),
        None => {
            let n = svc.random_token();
            (n.clone(), Some(cookies::set_cookie(CSRF_COOKIE, &n, cookies::SESSION_TTL, req.url.scheme() == "https")))
        }
    };
    let _ = nonce;
    let resp = Response::html(200, crate::core::pages::admin());
    match cookie {
        Some(c) => resp.with_header("set-cookie", &c),
        None => resp,
    }
}

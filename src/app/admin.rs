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
use crate::core::audit::{Actor, Event};
use crate::core::connection::ConnectionRecord;
use crate::core::fixes;
use crate::core::history::{self, Author, Source, Version};
use crate::core::http::{Method, Request, Response};
use crate::core::ids::{Email, WorkspaceId};
use crate::core::policy::model::WorkspacePolicy;
use crate::core::secrets;
use crate::core::site::Site;
use crate::core::store::ReplaceOutcome;
use crate::core::text;

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

/// An authorized caller, and the workspace's policy as the `Workspaces` object holds it.
struct Admin {
    who: AdminCaller,
    /// The stored text (none: no policy).
    text: Option<String>,
    /// `text` parsed (none: no policy, or it does not validate).
    policy: Option<WorkspacePolicy>,
}

impl Admin {
    /// Who a change is recorded as made by, and from where.
    fn author(&self, reverts: Option<i64>) -> Author {
        match &self.who {
            AdminCaller::Operator => Author { by: Some("operator".into()), source: Source::Api, reverts },
            AdminCaller::Session(s) => Author { by: s.current.as_ref().map(|m| m.email.to_string()), source: Source::Page, reverts },
        }
    }
}

/// Authenticates, authorizes, and loads the workspace's policy (if valid).
///
/// Authorization reads the policy text from the `Workspaces` object (`policy_text`), not from
/// KV: it is strongly consistent and the same text this API reads and writes, so an admin who
/// is demoted (or removed) loses access with the write, not up to 60 s later.
async fn guard<S: Services>(svc: &S, req: &Request, site: &Site, ws: &WorkspaceId) -> Result<Admin, AppError> {
    let who = caller(svc, req, site)?.ok_or(AdminError::Unauthenticated)?;
    // A session grants only its own workspace: refuse others without touching their storage.
    if matches!(&who, AdminCaller::Session(s) if !s.acts_in(ws)) {
        return Err(AdminError::Forbidden.into());
    }
    let text = svc.policy_text(ws).await.map_err(Store::Workspaces.failed())?;
    let parsed = text.as_deref().map(|t| WorkspacePolicy::parse(ws, t, &svc.config().catalog));
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
    Ok(Admin { who, text, policy })
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
    let admin = guard(svc, req, site, ws).await?;
    // Every body here is JSON; a text/plain one is a mistake (or a form posted from elsewhere).
    if matches!(req.method, Method::Put | Method::Post) && !req.content_type_is("application/json") {
        return Err(AdminError::NotJson.into());
    }
    match (req.method, rest) {
        (Method::Get, ["policy"]) => get_policy(svc, ws).await,
        (Method::Put, ["policy"]) => put_policy(svc, req, ws, &admin).await,
        (Method::Post, ["policy", "validate"]) => validate(svc, req, ws, &admin),
        (Method::Get, ["policy", "history"]) => history(svc, ws).await,
        (Method::Get, ["policy", "history", number]) => version(svc, ws, &admin, number).await,
        (Method::Post, ["policy", "revert"]) => revert(svc, req, ws, &admin).await,
        (Method::Get, ["connections"]) => connections(svc, ws, admin.policy.as_ref()).await,
        (Method::Post, ["connections", "revoke"]) => revoke(svc, req, ws, actor(&admin.who)).await,
        (Method::Get, ["clients"]) => clients(svc, ws, &admin).await,
        (Method::Get, ["outcomes"]) => outcomes(svc, ws, &admin).await,
        (Method::Post, ["check"]) => check(svc, req, &admin),
        (Method::Get | Method::Put | Method::Delete, ["upstream-key"]) => upstream_key(svc, req, ws).await,
        (_, path) => match allowed_methods(path) {
            Some(allow) => Err(AdminError::MethodNotAllowed { allow }.into()),
            None => Err(AdminError::NoSuchResource.into()),
        },
    }
}

/// The methods a workspace's resource answers (its `Allow` header), or `None` where there is none.
fn allowed_methods(rest: &[&str]) -> Option<&'static str> {
    Some(match rest {
        ["policy"] => "GET, PUT",
        ["policy", "validate" | "revert"] | ["connections", "revoke"] | ["check"] => "POST",
        ["policy", "history"] | ["policy", "history", _] | ["connections" | "outcomes" | "clients"] => "GET",
        ["upstream-key"] => "GET, PUT, DELETE",
        _ => return None,
    })
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

async fn put_policy<S: Services>(svc: &S, req: &Request, ws: &WorkspaceId, admin: &Admin) -> Result<Response, AppError> {
    let if_match = req.header("if-match");
    let creating = req.header("if-none-match") == Some("*");
    if if_match.is_none() && !creating {
        return Err(AdminError::PreconditionRequired.into());
    }
    let text = String::from_utf8(req.body.clone()).map_err(|_| AdminError::NotUtf8)?;
    write_policy(svc, ws, admin, &text, if_match, admin.author(None)).await
}

/// The largest policy the admin API writes: each version is kept in the history (docs/storage.md).
pub const MAX_POLICY_BYTES: usize = 128 * 1024;

pub fn too_large(bytes: usize) -> String {
    format!("The policy is {bytes} bytes; the admin API writes at most {MAX_POLICY_BYTES} (128 KiB)")
}

/// Checks `text` as a write would: at most `MAX_POLICY_BYTES`, a valid policy that keeps an admin.
fn checked(svc: &impl Services, ws: &WorkspaceId, admin: &Admin, text: &str) -> Result<WorkspacePolicy, AdminError> {
    if text.len() > MAX_POLICY_BYTES {
        return Err(AdminError::PolicyTooLarge(text.len()));
    }
    let policy = WorkspacePolicy::parse(ws, text, &svc.config().catalog).map_err(AdminError::InvalidPolicy)?;
    admin::keeps_an_admin(admin.policy.as_ref(), &policy).map_err(AdminError::LastAdmin)?;
    Ok(policy)
}

/// The one write path of the page, the API and a revert: validated, ETag-guarded, recorded in
/// the history and the audit log.
async fn write_policy<S: Services>(
    svc: &S,
    ws: &WorkspaceId,
    admin: &Admin,
    text: &str,
    if_match: Option<&str>,
    author: Author,
) -> Result<Response, AppError> {
    let policy = checked(svc, ws, admin, text)?;
    match svc.replace_policy(ws, text, if_match, &author).await.map_err(Store::Workspaces.failed())? {
        ReplaceOutcome::Replaced { etag } => {
            let changed = history::changes(admin.text.as_deref(), Some(text));
            svc.audit(Event::PolicyChanged { by: actor(&admin.who), workspace: ws, etag: &etag, changed });
            // This isolate decides by the new policy at once (others within POLICY_CACHE_SECONDS
            // of KV serving it).
            svc.isolate().borrow_mut().policies.insert(ws.clone(), Ok(std::rc::Rc::new(policy)), svc.now());
            Ok(Response::json(200, &json!({ "workspace": ws, "etag": etag })).with_header("etag", &etag))
        }
        ReplaceOutcome::Conflict { current_etag: Some(current_etag) } if if_match.is_none() => {
            Err(AdminError::PolicyExists { workspace: ws.to_string(), current_etag }.into())
        }
        ReplaceOutcome::Conflict { current_etag } => Err(AdminError::Conflict { current_etag }.into()),
    }
}

/// `POST …/policy/validate`: a draft checked as a write would check it, nothing written — the
/// admin page's inline validation, with the worker's own messages. `path` names the field the
/// message is about (`allowed_redirect_uris[2]`), when it names one. The message is the one a
/// write would give as `error_description`.
fn validate<S: Services>(svc: &S, req: &Request, ws: &WorkspaceId, admin: &Admin) -> Result<Response, AppError> {
    let text = String::from_utf8(req.body.clone()).map_err(|_| AdminError::NotUtf8)?;
    let body = match checked(svc, ws, admin, &text) {
        Ok(_) => json!({ "valid": true }),
        Err(AdminError::InvalidPolicy(e)) => json!({ "valid": false, "message": e.message, "path": field_path(&e.message) }),
        Err(AdminError::LastAdmin(message)) => json!({ "valid": false, "message": message, "path": "members" }),
        Err(AdminError::PolicyTooLarge(bytes)) => json!({ "valid": false, "message": too_large(bytes) }),
        Err(e) => return Err(e.into()),
    };
    Ok(no_store(Response::json(200, &body)))
}

/// The field a policy message starts with: "`members[1].role` must be…" → `members[1].role`.
fn field_path(message: &str) -> Option<&str> {
    let path = message.strip_prefix('`')?.split('`').next()?;
    let known = path.split(['[', '.']).next().is_some_and(|f| crate::core::policy::model::FIELDS.contains(&f));
    known.then_some(path)
}

async fn history<S: Services>(svc: &S, ws: &WorkspaceId) -> Result<Response, AppError> {
    let versions = svc.history(ws).await.map_err(Store::Workspaces.failed())?;
    Ok(no_store(Response::json(200, &json!({ "workspace": ws, "kept": history::HISTORY_KEPT, "versions": versions }))))
}

fn version_number(raw: &str) -> Result<i64, AdminError> {
    raw.parse::<i64>()
        .ok()
        .filter(|v| *v > 0)
        .ok_or_else(|| AdminError::InvalidRequest(format!("`{}` is not a version number", text::quoted(raw))))
}

/// One version with its document (`policy`: the text as JSON, or the text itself if it is not)
/// and what reverting to it would change (`restores`: the field diff from the current text).
async fn version<S: Services>(svc: &S, ws: &WorkspaceId, admin: &Admin, raw: &str) -> Result<Response, AppError> {
    let number = version_number(raw)?;
    let v = svc.policy_version(ws, number).await.map_err(Store::Workspaces.failed())?.ok_or(AdminError::NoSuchVersion(number))?;
    let document = v.text.as_deref().map(|t| serde_json::from_str::<Value>(t).unwrap_or_else(|_| Value::String(t.to_string())));
    let restores = history::changes(admin.text.as_deref(), v.text.as_deref());
    let mut body = serde_json::to_value(Version { text: None, ..v }).unwrap_or(Value::Null);
    body["policy"] = document.unwrap_or(Value::Null);
    body["restores"] = restores;
    Ok(no_store(Response::json(200, &body)))
}

/// `POST …/policy/revert` `{"version": N}` with `If-Match`: writes version N's text again, as a
/// new version that says it reverts N, through the same checks and guard as any write.
async fn revert<S: Services>(svc: &S, req: &Request, ws: &WorkspaceId, admin: &Admin) -> Result<Response, AppError> {
    let if_match = req.header("if-match").ok_or(AdminError::PreconditionRequired)?;
    let body = Json::from_body(req)
        .map_err(|_| AdminError::InvalidRequest("Send JSON {\"version\": N} (a version of GET …/policy/history)".into()))?;
    let number = body
        .field("version")
        .and_then(Value::as_i64)
        .ok_or_else(|| AdminError::InvalidRequest("`version` must be the number of a version of GET …/policy/history".into()))?;
    let v = svc.policy_version(ws, number).await.map_err(Store::Workspaces.failed())?.ok_or(AdminError::NoSuchVersion(number))?;
    let text = v.text.ok_or_else(|| {
        AdminError::InvalidRequest(format!("Version {number} is the policy's deletion; choose a version that has a policy"))
    })?;
    write_policy(svc, ws, admin, &text, Some(if_match), admin.author(Some(number))).await.map_err(|e| match e {
        AppError::Admin(AdminError::InvalidPolicy(e)) => {
            AdminError::InvalidRequest(format!("Version {number} cannot be restored: {e}")).into()
        }
        e => e,
    })
}

/// Every connection of the workspace: of its current members and of every user who had
/// connections before (`connection_users`), so a removed member's connections stay visible and
/// revocable (`"member": false`), also while the policy is invalid.
async fn connections<S: Services>(svc: &S, ws: &WorkspaceId, policy: Option<&WorkspacePolicy>) -> Result<Response, AppError> {
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
async fn all_connections<S: Services>(
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

/// The clients seen in the workspace's attempts, for pinning: whether each is pinned, its active
/// connections, its metadata document (a CIMD client's ID is the document's URL), and whether
/// the page should suggest pinning (nothing is pinned yet and a client was approved).
async fn clients<S: Services>(svc: &S, ws: &WorkspaceId, admin: &Admin) -> Result<Response, AppError> {
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

/// The recent attempts; each rejected one with its verdict under the current policy (`fixes`):
/// the fix that lets it through, or that it would pass now. `etag` is the policy's the fixes
/// apply to: a fix is written with it as `If-Match`, so an edit made since is reported (412).
async fn outcomes<S: Services>(svc: &S, ws: &WorkspaceId, admin: &Admin) -> Result<Response, AppError> {
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
fn check<S: Services>(svc: &S, req: &Request, admin: &Admin) -> Result<Response, AppError> {
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

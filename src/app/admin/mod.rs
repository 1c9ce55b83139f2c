//! The admin API (`/admin/api/…`, JSON) and the admin page (`/admin`).
//! Callers: a signed-in member with the admin role of the workspace (mutations also need the
//! page's CSRF header), or the operator token. Everyone else gets 401/403 and learns nothing
//! about other workspaces.
//!
//! Here: who may call, the routing, the session and the catalog, the upstream key. The policy and
//! its history are in `policy`, connections in `connections`, the attempts (their fixes, the
//! check, the clients seen) in `attempts`.
use serde_json::{json, Value};

use super::error::{AdminError, AppError, PageError, Store};
use super::extract::{self, Bearer, BearerHeader, CsrfNonce, Json};
use super::Services;
use crate::core::admin::{self, AdminCaller, AdminDenied};
use crate::core::audit::Actor;
use crate::core::history::{Author, Source};
use crate::core::http::{Method, Request, Response};
use crate::core::ids::WorkspaceId;
use crate::core::policy::model::WorkspacePolicy;
use crate::core::secrets;
use crate::core::site::Site;

mod attempts;
mod connections;
mod policy;

pub(super) use policy::too_large;

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
pub(super) struct Admin {
    pub(super) who: AdminCaller,
    /// The stored text (none: no policy).
    pub(super) text: Option<String>,
    /// `text` parsed (none: no policy, or it does not validate).
    pub(super) policy: Option<WorkspacePolicy>,
}

impl Admin {
    /// Who a change is recorded as made by, and from where.
    pub(super) fn author(&self, reverts: Option<i64>) -> Author {
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
        (Method::Get, ["policy"]) => policy::get_policy(svc, ws).await,
        (Method::Put, ["policy"]) => policy::put_policy(svc, req, ws, &admin).await,
        (Method::Post, ["policy", "validate"]) => policy::validate(svc, req, ws, &admin),
        (Method::Get, ["policy", "history"]) => policy::history(svc, ws).await,
        (Method::Get, ["policy", "history", number]) => policy::version(svc, ws, &admin, number).await,
        (Method::Post, ["policy", "revert"]) => policy::revert(svc, req, ws, &admin).await,
        (Method::Get, ["connections"]) => connections::connections(svc, ws, admin.policy.as_ref()).await,
        (Method::Post, ["connections", "revoke"]) => connections::revoke(svc, req, ws, actor(&admin.who)).await,
        (Method::Get, ["clients"]) => attempts::clients(svc, ws, &admin).await,
        (Method::Get, ["outcomes"]) => attempts::outcomes(svc, ws, &admin).await,
        (Method::Post, ["check"]) => attempts::check(svc, req, &admin),
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
pub(super) fn actor(who: &AdminCaller) -> Actor<'_> {
    match who {
        AdminCaller::Operator => Actor::Operator,
        AdminCaller::Session(s) => s.current.as_ref().map_or(Actor::Operator, |m| Actor::Admin(&m.email)),
    }
}

pub(super) fn no_store(response: Response) -> Response {
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

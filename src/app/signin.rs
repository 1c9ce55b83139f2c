//! Local-development sign-in: a workspace member signs in with their e-mail, when and only when
//! `DEV_SIGN_IN=on`. Production sign-in replaces this module (see README).
use super::error::{AppError, PageError};
use super::extract::{secure_cookies, CsrfNonce, Form};
use super::{load_policy, PolicyLoadError, Services};
use crate::core::cookies::{self, Session, SESSION_COOKIE, SESSION_TTL};
use crate::core::http::{Request, Response};
use crate::core::ids::{Email, WorkspaceId};
use crate::core::oauth::authorize::AuthorizeParams;
use crate::core::pages::signin;
use crate::core::policy::model::PolicyUnusable;

/// `/signin?next=<this authorization request>`.
pub fn signin_url(params: &AuthorizeParams) -> String {
    let next: String = url::form_urlencoded::Serializer::new(String::new()).append_pair("next", &params.to_path()).finish();
    format!("/signin?{next}")
}

pub fn redirect_to_signin<S: Services>(svc: &S, params: &AuthorizeParams) -> Result<Response, AppError> {
    if !svc.config().dev_sign_in {
        return Err(PageError::SignInDisabled.into());
    }
    Ok(Response::redirect(303, &signin_url(params)))
}

/// Only return to our own authorize endpoint (or the admin page).
fn safe_next(next: Option<&str>) -> String {
    next.filter(|n| (n.starts_with("/authorize?") || *n == "/admin") && !n.contains('\\')).unwrap_or("/authorize").to_string()
}

/// What the sign-in form shows: where to go next, what was typed, and why it was refused.
struct Shown<'a> {
    next: &'a str,
    workspace: &'a str,
    email: &'a str,
    error: Option<&'a str>,
}

fn page<S: Services>(svc: &S, req: &Request, origin: &str, status: u16, shown: &Shown) -> Response {
    let csrf = CsrfNonce::get_or_mint(svc, req, origin);
    let html = signin(shown.next, &csrf.token(svc.keys()), shown.workspace, shown.email, shown.error);
    csrf.attach(Response::html(status, html))
}

pub fn get<S: Services>(svc: &S, req: &Request, origin: &str) -> Result<Response, AppError> {
    if !svc.config().dev_sign_in {
        return Err(PageError::SignInDisabled.into());
    }
    let next = safe_next(Form::from_query(req).get("next"));
    Ok(page(svc, req, origin, 200, &Shown { next: &next, workspace: "", email: "", error: None }))
}

pub async fn post<S: Services>(svc: &S, req: &Request, origin: &str) -> Result<Response, AppError> {
    if !svc.config().dev_sign_in {
        return Err(PageError::SignInDisabled.into());
    }
    let form = Form::from_any_body(req);
    let field = |name: &str| form.get(name).map(str::trim).unwrap_or("");
    let next = safe_next(Some(field("next")));
    let (ws, email) = (field("workspace"), field("email"));
    let refuse = |error: &str| Ok(page(svc, req, origin, 403, &Shown { next: &next, workspace: ws, email, error: Some(error) }));
    if CsrfNonce::verify(svc.keys(), req, Some(field("csrf"))).is_err() {
        return refuse("The sign-in form expired; please sign in again");
    }
    let Some(workspace) = WorkspaceId::parse(ws) else {
        return refuse(&format!("Cannot sign in: {}", PolicyUnusable::Missing { workspace: ws.to_string() }));
    };
    let policy = match load_policy(svc, &workspace).await {
        Ok(p) => p,
        Err(PolicyLoadError::Unusable(why)) => return refuse(&format!("Cannot sign in: {why}")),
        Err(e) => return Err(e.into_page()),
    };
    let Some(member) = Email::parse(email).ok().and_then(|e| policy.member(&e)) else {
        return refuse(&format!("{email} is not a member of workspace `{ws}`"));
    };
    let session = Session { workspace: policy.id.clone(), email: member.email.clone(), expires_at: svc.now() + SESSION_TTL };
    let cookie =
        cookies::set_cookie(SESSION_COOKIE, &cookies::encode_session(svc.keys(), &session), SESSION_TTL, secure_cookies(req, origin));
    Ok(Response::redirect(303, &next).with_header("set-cookie", &cookie))
}

//! Local-development sign-in: a workspace member signs in with their e-mail, when and only when
//! `DEV_SIGN_IN=on`. Production sign-in replaces this module (see README).
use super::{load_policy, pages, Services};
use crate::core::cookies::{self, Session, CSRF_COOKIE, SESSION_COOKIE, SESSION_TTL};
use crate::core::http::{Request, Response};
use crate::core::oauth::authorize::AuthorizeParams;
use crate::core::pages::signin;

pub fn current_session<S: Services>(svc: &S, req: &Request) -> Option<Session> {
    let value = req.cookie(SESSION_COOKIE)?;
    cookies::decode_session(svc.keys(), &value, svc.now())
}

fn disabled() -> Response {
    pages::simple(
        503,
        "Sign-in is not configured",
        "This deployment has no sign-in configured",
        "For local development set DEV_SIGN_IN=on (make dev does this in .dev.vars). Production sign-in is not available yet.",
    )
}

/// `/signin?next=<this authorization request>`.
pub fn signin_url(params: &AuthorizeParams) -> String {
    let next: String = url::form_urlencoded::Serializer::new(String::new()).append_pair("next", &params.to_path()).finish();
    format!("/signin?{next}")
}

pub fn redirect_to_signin<S: Services>(svc: &S, params: &AuthorizeParams) -> Response {
    if !svc.config().dev_sign_in {
        return disabled();
    }
    Response::redirect(303, &signin_url(params))
}

/// Only return to our own authorize endpoint.
fn safe_next(next: Option<&str>) -> String {
    next.filter(|n| (n.starts_with("/authorize?") || *n == "/admin") && !n.contains('\\')).unwrap_or("/authorize").to_string()
}

fn page<S: Services>(svc: &S, req: &Request, status: u16, next: &str, ws: &str, email: &str, error: Option<&str>) -> Response {
    let (nonce, cookie) = match req.cookie(CSRF_COOKIE).filter(|n| n.len() >= 16) {
        Some(n) => (n, None),
        None => {
            let n = svc.random_token();
            (n.clone(), Some(cookies::set_cookie(CSRF_COOKIE, &n, SESSION_TTL, req.url.scheme() == "https")))
        }
    };
    let html = signin(next, &cookies::csrf_token(svc.keys(), &nonce), ws, email, error);
    let response = Response::html(status, html);
    match cookie {
        Some(c) => response.with_header("set-cookie", &c),
        None => response,
    }
}

pub fn get<S: Services>(svc: &S, req: &Request) -> Response {
    if !svc.config().dev_sign_in {
        return disabled();
    }
    let query = req.query_pairs();
    let next = safe_next(query.iter().find(|(k, _)| k == "next").map(|(_, v)| v.as_str()));
    page(svc, req, 200, &next, "", "", None)
}

pub async fn post<S: Services>(svc: &S, req: &Request) -> Response {
    if !svc.config().dev_sign_in {
        return disabled();
    }
    let form = req.form_pairs();
    let field = |name: &str| form.iter().find(|(k, _)| k == name).map(|(_, v)| v.trim()).unwrap_or("");
    let next = safe_next(Some(field("next")));
    let (ws, email) = (field("workspace"), field("email"));
    if !cookies::csrf_valid(svc.keys(), req.cookie(CSRF_COOKIE).as_deref(), Some(field("csrf"))) {
        return page(svc, req, 403, &next, ws, email, Some("The sign-in form expired; please sign in again"));
    }
    let policy = match load_policy(svc, ws).await {
        Ok(p) => p,
        Err(e) => return page(svc, req, 403, &next, ws, email, Some(&format!("Cannot sign in: {}", e.describe()))),
    };
    let Some(member) = policy.member(email) else {
        return page(svc, req, 403, &next, ws, email, Some(&format!("{email} is not a member of workspace `{ws}`")));
    };
    let session = Session { workspace: policy.id.clone(), email: member.email.clone(), expires_at: svc.now() + SESSION_TTL };
    let cookie =
        cookies::set_cookie(SESSION_COOKIE, &cookies::encode_session(svc.keys(), &session), SESSION_TTL, req.url.scheme() == "https");
    Response::redirect(303, &next).with_header("set-cookie", &cookie)
}

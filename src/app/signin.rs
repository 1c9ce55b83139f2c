//! `/signin`: through the OpenID Connect provider when one is configured (`super::oidc`), else
//! the local-development sign-in — a workspace member signs in with their e-mail, when and only
//! when `DEV_SIGN_IN=on` *and* the site is loopback (configured origin and `Host`; see
//! `crate::core::site`). And `POST /signout`, which ends any session.
//!
//! A refusal says the same thing whatever the reason (no such workspace, not a member, an
//! unusable policy): the visitor is anonymous and learns nothing about who is a member of what.
//! The reason goes to the log and, when the workspace exists, to its rejected attempts.
use super::error::{AppError, PageError, PageForm};
use super::extract::{self, CsrfNonce, Form};
use super::{load_policy, PolicyLoadError, Services};
use crate::core::admin::{Outcome, OutcomeKind};
use crate::core::cookies::Membership;
use crate::core::http::{printable, Request, Response};
use crate::core::ids::{Email, Identity, WorkspaceId};
use crate::core::oauth::authorize::AuthorizeParams;
use crate::core::pages::signin;
use crate::core::site::Site;

/// The one message every refused sign-in gets.
pub const SIGN_IN_REFUSED: &str =
    "Sign-in refused: check the workspace ID and the e-mail address. If both are right, ask an admin of the workspace to add you as a member.";

/// `/signin?next=<this authorization request>`.
pub fn signin_url(params: &AuthorizeParams) -> String {
    let next: String = url::form_urlencoded::Serializer::new(String::new()).append_pair("next", &params.to_path()).finish();
    format!("/signin?{next}")
}

/// `/signin/workspace?next=…`: name or choose the workspace, then go on to `next`.
pub fn choose_workspace_url(next: &str) -> String {
    let next: String = url::form_urlencoded::Serializer::new(String::new()).append_pair("next", next).finish();
    format!("/signin/workspace?{next}")
}

/// Development sign-in is honoured only on a loopback site (docs/protocol.md §13), and only
/// when no identity provider is configured.
pub fn dev_sign_in<S: Services>(svc: &S, site: &Site) -> bool {
    svc.config().dev_sign_in && site.is_loopback() && svc.config().oidc.is_none()
}

/// Whether anyone can sign in here at all.
pub fn can_sign_in<S: Services>(svc: &S, site: &Site) -> bool {
    svc.config().oidc.is_some() || dev_sign_in(svc, site)
}

/// Why nobody can sign in here: nothing is configured, or `DEV_SIGN_IN` is set where it is not
/// honoured (docs/protocol.md §13).
pub fn no_sign_in<S: Services>(svc: &S) -> AppError {
    if svc.config().dev_sign_in {
        AppError::Misconfigured(
            "DEV_SIGN_IN is set on a non-loopback origin (it works only at a loopback address, from this machine)".into(),
        )
    } else {
        PageError::SignInDisabled.into()
    }
}

pub fn redirect_to_signin<S: Services>(svc: &S, site: &Site, params: &AuthorizeParams) -> Result<Response, AppError> {
    if !can_sign_in(svc, site) {
        return Err(no_sign_in(svc));
    }
    Ok(Response::redirect(303, &signin_url(params)))
}

/// Only return to our own authorize endpoint (or the admin page).
pub(crate) fn safe_next(next: Option<&str>) -> String {
    next.filter(|n| (n.starts_with("/authorize?") || *n == "/admin") && !n.contains('\\')).unwrap_or("/authorize").to_string()
}

/// What the sign-in form shows: where to go next, what was typed, and why it was refused.
struct Shown<'a> {
    next: &'a str,
    workspace: &'a str,
    email: &'a str,
    error: Option<&'a str>,
}

fn page<S: Services>(svc: &S, req: &Request, site: &Site, status: u16, shown: &Shown) -> Response {
    let csrf = CsrfNonce::get_or_mint(svc, req, site);
    let html = signin(shown.next, &csrf.token(svc.keys()), shown.workspace, shown.email, shown.error);
    csrf.attach(Response::html(status, html))
}

pub async fn get<S: Services>(svc: &S, req: &Request, site: &Site) -> Result<Response, AppError> {
    let query = Form::from_query(req);
    let next = safe_next(query.get("next"));
    if let Some(provider) = &svc.config().oidc {
        return super::oidc::start(svc, site, provider, &next, query.get("switch") == Some("1")).await;
    }
    if !dev_sign_in(svc, site) {
        return Err(no_sign_in(svc));
    }
    Ok(page(svc, req, site, 200, &Shown { next: &next, workspace: "", email: "", error: None }))
}

pub async fn post<S: Services>(svc: &S, req: &Request, site: &Site) -> Result<Response, AppError> {
    if !dev_sign_in(svc, site) {
        return Err(if can_sign_in(svc, site) { PageError::DevSignInOff.into() } else { no_sign_in(svc) });
    }
    let form = Form::from_any_body(req);
    let field = |name: &str| form.get(name).map(str::trim).unwrap_or("");
    let next = safe_next(Some(field("next")));
    let (ws, email) = (field("workspace"), field("email"));
    let refuse = |error: &str| Ok(page(svc, req, site, 403, &Shown { next: &next, workspace: ws, email, error: Some(error) }));
    if CsrfNonce::verify(svc, req, site, Some(field("csrf"))).is_err() {
        return refuse("The sign-in form expired; please sign in again");
    }
    match member(svc, ws, email).await? {
        Ok((identity, membership)) => {
            let cookie = extract::begin_session(svc, site, identity, Some(membership), Vec::new());
            Ok(Response::redirect(303, &next).with_header("set-cookie", &cookie))
        }
        Err(why) => {
            svc.log(&format!("sign-in refused: workspace={} email={}: {why}", printable(ws), printable(email)));
            refuse(SIGN_IN_REFUSED)
        }
    }
}

/// The identity typed into the development sign-in and its membership of workspace `ws`, or
/// why not (for the log, never for the visitor).
async fn member<S: Services>(svc: &S, ws: &str, email: &str) -> Result<Result<(Identity, Membership), String>, AppError> {
    let Some(workspace) = WorkspaceId::parse(ws) else {
        return Ok(Err("not a workspace ID".into()));
    };
    let Ok(address) = Email::parse(email) else {
        return Ok(Err("not an e-mail address".into()));
    };
    let identity = Identity { subject: None, email: Some(address) };
    Ok(membership(svc, &workspace, &identity).await?.map(|m| (identity, m)))
}

/// The membership of `identity` in `workspace`, or why not (for the log and, when the workspace
/// exists, its rejected attempts; never for the visitor).
pub(crate) async fn membership<S: Services>(
    svc: &S,
    workspace: &WorkspaceId,
    identity: &Identity,
) -> Result<Result<Membership, String>, AppError> {
    let policy = match load_policy(svc, workspace).await {
        Ok(p) => p,
        Err(PolicyLoadError::Unusable(why)) => return Ok(Err(why.to_string())),
        Err(e) => return Err(e.into_page()),
    };
    if let Some(m) = policy.member_for(identity) {
        return Ok(Ok(Membership { workspace: policy.id.clone(), email: m.email.clone() }));
    }
    let who = match (&identity.email, &identity.subject) {
        (Some(email), _) => email.to_string(),
        (None, Some(sub)) => format!("subject {}", printable(sub)),
        (None, None) => "an unnamed identity".into(),
    };
    let rule = format!("Sign-in refused: {who} is not a member of this workspace");
    let outcome = Outcome {
        kind: OutcomeKind::Rejected,
        at: svc.now(),
        user: who,
        subject: None,
        client_id: String::new(),
        client_name: "(sign-in)".into(),
        redirect_uri: String::new(),
        scopes: Vec::new(),
        rule: Some(rule.clone()),
    };
    if let Err(e) = svc.record_outcome(&policy.id, &outcome).await {
        svc.log(&format!("sign-in: could not record the refusal: {}", e.0));
    }
    Ok(Err(rule))
}

/// `POST /signout`: ends the session (the form's CSRF token is checked, so another site cannot
/// sign a person out), then returns to `next` — which signs in again — or says so.
pub fn signout<S: Services>(svc: &S, req: &Request, site: &Site) -> Result<Response, AppError> {
    let form = Form::from_body(req).map_err(|_| PageError::FormNotUrlencoded(PageForm::SignOut))?;
    CsrfNonce::verify(svc, req, site, form.get("csrf")).map_err(|_| PageError::FormNotVerified(PageForm::SignOut))?;
    let ended = extract::end_session(site);
    // This ends the session here, not at the provider: signing in again asks it to let the
    // person choose the account, so a shared browser does not sign the same person in.
    let again = |next: String| match svc.config().oidc {
        Some(_) => format!("/signin?switch=1&next={}", url::form_urlencoded::byte_serialize(next.as_bytes()).collect::<String>()),
        None => next,
    };
    Ok(match form.non_empty("next") {
        Some(next) => Response::redirect(303, &again(safe_next(Some(next)))),
        None => Response::html(200, crate::core::pages::signed_out()),
    }
    .with_header("set-cookie", &ended))
}

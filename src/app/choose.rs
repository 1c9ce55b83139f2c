//! `/signin/workspace`: which workspace a signed-in browser acts in. The person enters a
//! workspace ID (sign-in through a provider without a workspaces claim: once per session) or
//! picks one of the workspaces the claim listed (the consent page's "Switch"). Membership is
//! checked again each time; a refusal says the same whatever the reason.
use super::error::{AppError, PageError, PageForm};
use super::extract::{self, CsrfNonce, Form};
use super::oidc::{describe, refusal};
use super::signin::{membership, safe_next};
use super::Services;
use crate::core::cookies::Session;
use crate::core::http::{Request, Response};
use crate::core::ids::WorkspaceId;
use crate::core::pages::{choose_workspace, WorkspaceView};
use crate::core::site::Site;

/// The one message a refused workspace gets (it may not exist; the person may not be in it).
pub const WORKSPACE_REFUSED: &str =
    "That workspace is not available to you: it does not exist, or you are not one of its members. Check the ID with your workspace admin.";

/// Whether the person may name any workspace (no claim lists theirs).
fn may_enter<S: Services>(svc: &S) -> bool {
    svc.config().oidc.as_ref().is_none_or(|p| p.workspaces_claim.is_none())
}

/// The workspaces the session knows, the current one first.
fn known(session: &Session) -> Vec<WorkspaceId> {
    session.current.iter().map(|m| m.workspace.clone()).chain(session.others.iter().cloned()).collect()
}

fn page<S: Services>(svc: &S, req: &Request, site: &Site, session: &Session, next: &str, status: u16, error: Option<&str>) -> Response {
    let csrf = CsrfNonce::get_or_mint(svc, req, site);
    let known = known(session);
    let known: Vec<&str> = known.iter().map(WorkspaceId::as_str).collect();
    let who = describe(&session.identity);
    let html =
        choose_workspace(&WorkspaceView { who: &who, next, csrf: &csrf.token(svc.keys()), known: &known, enter: may_enter(svc), error });
    csrf.attach(Response::html(status, html))
}

fn sign_in_first(next: &str) -> Response {
    let query: String = url::form_urlencoded::Serializer::new(String::new()).append_pair("next", next).finish();
    Response::redirect(303, &format!("/signin?{query}"))
}

pub fn get<S: Services>(svc: &S, req: &Request, site: &Site) -> Result<Response, AppError> {
    let next = safe_next(Form::from_query(req).get("next"));
    let Some(session) = extract::session(svc, req, site) else {
        return Ok(sign_in_first(&next));
    };
    Ok(page(svc, req, site, &session, &next, 200, None))
}

pub async fn post<S: Services>(svc: &S, req: &Request, site: &Site) -> Result<Response, AppError> {
    let form = Form::from_body(req).map_err(|_| PageError::FormNotUrlencoded(PageForm::Workspace))?;
    let next = safe_next(form.get("next"));
    let Some(session) = extract::session(svc, req, site) else {
        return Ok(sign_in_first(&next));
    };
    CsrfNonce::verify(svc, req, site, form.get("csrf")).map_err(|_| PageError::FormNotVerified(PageForm::Workspace))?;
    let refuse = |status| Ok(page(svc, req, site, &session, &next, status, Some(WORKSPACE_REFUSED)));
    let Some(workspace) = form.get("workspace").map(str::trim).and_then(WorkspaceId::parse) else {
        return refuse(400);
    };
    let listed = known(&session).contains(&workspace);
    if !listed && !may_enter(svc) {
        svc.log(&format!("workspace choice refused: {workspace} is not in the workspaces claim of {}", describe(&session.identity)));
        return refuse(403);
    }
    let chosen = match membership(svc, &workspace, &session.identity).await? {
        Ok(m) => m,
        Err(why) => {
            svc.log(&format!("workspace choice refused: {workspace}: {why}"));
            return match session.identity.email {
                None => Err(refusal(svc, &session.identity, None)),
                Some(_) => refuse(403),
            };
        }
    };
    // The same sign-in (its `sid` and expiry), now acting in the chosen workspace.
    let mut others: Vec<WorkspaceId> = known(&session).into_iter().filter(|w| w != &workspace).collect();
    others.truncate(crate::core::cookies::MAX_SESSION_WORKSPACES);
    let moved = Session { current: Some(chosen), others, ..session };
    Ok(Response::redirect(303, &next).with_header("set-cookie", &extract::session_cookie(svc, site, &moved)))
}

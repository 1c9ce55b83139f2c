//! `GET /authorize` shows the consent page; `POST /authorize` acts on Approve or Deny.
//! Pipeline, in order: parameters → client → redirect URI vs registration → protocol checks →
//! sign-in → workspace policy → consent. Every failure before consent is a page, not a redirect.
use super::clients::{self, ClientProblem};
use super::error::{AppError, PageError, PageForm, Store};
use super::extract::{self, CsrfNonce, Form};
use super::{load_policy, signin, PolicyLoadError, Services};
use crate::core::admin::{Outcome, OutcomeKind};
use crate::core::audit::Event;
use crate::core::cookies;
use crate::core::http::{Request, Response};
use crate::core::ids::{ConnectionId, Email, WorkspaceId};
use crate::core::oauth::authorize::{self as rules, AuthorizationRequest, AuthorizeParams};
use crate::core::oauth::cimd;
use crate::core::oauth::code::{AuthCode, CodeGrant};
use crate::core::oauth::error::{ErrorCode, OAuthError};
use crate::core::oauth::register::ClientRegistration;
use crate::core::pages::{consent, ConsentView, ReturnTo};
use crate::core::policy::evaluate::{self, AuthorizationFacts};
use crate::core::policy::model::WorkspacePolicy;
use crate::core::ratelimit::{Limit, Subject};
use crate::core::scopes::ScopeSet;
use crate::core::site::Site;

/// A request that passed every check up to consent.
struct Checked {
    client: ClientRegistration,
    request: AuthorizationRequest,
    params: AuthorizeParams,
    user: Email,
    /// The other workspaces of the signed-in person (the chooser).
    others: Vec<WorkspaceId>,
    policy: std::rc::Rc<WorkspacePolicy>,
    granted: ScopeSet,
}

/// Where the checks leave a request.
enum Step {
    /// Every check up to consent passed.
    Ready(Box<Checked>),
    /// Nobody is signed in: sign in first, then come back.
    SignIn(Response),
}

async fn check<S: Services>(svc: &S, req: &Request, form: &Form, site: &Site) -> Result<Step, AppError> {
    let rejected = |e| AppError::from(PageError::AuthorizationRejected(e));
    let params = AuthorizeParams::from_pairs(form.pairs()).map_err(rejected)?;
    let client_id = params.client_id().map_err(rejected)?;
    super::within_limit(svc, Limit::Client, Subject::Client(client_id.to_string())).await?;
    let client = clients::find(svc, &client_id).await.map_err(|e| match e {
        ClientProblem::Unknown => PageError::UnknownClient(client_id.as_str().to_string()).into(),
        ClientProblem::Document(why) => PageError::ClientDocument(why).into(),
        ClientProblem::Store(e) => e,
    })?;
    let request = rules::validate(&params, &client, &svc.config().catalog, site.origin()).map_err(rejected)?;
    let Some(session) = extract::session(svc, req, site) else {
        return Ok(Step::SignIn(signin::redirect_to_signin(svc, site, &params)?));
    };
    let Some(current) = session.current.clone() else {
        return Ok(Step::SignIn(Response::redirect(303, &signin::choose_workspace_url(&params.to_path()))));
    };
    let policy = load_policy(svc, &current.workspace).await.map_err(PolicyLoadError::into_page)?;
    let member = policy.member_for(&session.identity).map(|m| m.email.clone());
    let facts = AuthorizationFacts {
        user: member.as_ref(),
        client_id: &request.client_id,
        redirect_uri: &request.redirect_uri,
        requested: &request.requested.scopes,
    };
    let granted = match evaluate::authorize(&policy, &svc.config().catalog, &facts) {
        Ok(granted) => granted,
        Err(denial) => {
            let scopes = request.requested.scopes.to_vec();
            let user = member.as_ref().unwrap_or(&current.email);
            svc.audit(Event::Denied { workspace: &policy.id, user: user.as_str(), client_id: &client.client_id, rule: denial.message() });
            let refused = Refused { rule: denial.message(), subject: session.identity.subject.as_deref() };
            record(svc, &policy.id, OutcomeKind::Rejected, user, &client, &request, scopes, Some(refused)).await;
            let allowed = policy.allowed_redirect_uris.iter().any(|u| u == &request.redirect_uri);
            let return_to = denial.redirect_error().filter(|_| allowed).map(|code| ReturnTo {
                client_name: client.display_name().to_string(),
                url: request.error_redirect(&OAuthError::new(code, denial.message()), site.origin()),
            });
            return Err(PageError::Denied { denial, workspace_name: policy.name.clone(), return_to }.into());
        }
    };
    // `authorize` passed, so the identity is a member: `member` is set.
    let user = member.unwrap_or(current.email);
    Ok(Step::Ready(Box::new(Checked { client, request, params, user, others: session.others, policy, granted })))
}

pub async fn get<S: Services>(svc: &S, req: &Request, site: &Site) -> Result<Response, AppError> {
    match check(svc, req, &Form::from_query(req), site).await? {
        Step::Ready(checked) => Ok(consent_page(svc, req, &checked, site, None)),
        Step::SignIn(redirect) => Ok(redirect),
    }
}

/// What the consent page shows: the values `cookies::consent_digest` binds.
fn shown<T>(checked: &Checked, bind: impl FnOnce(&[&str]) -> T) -> T {
    let scopes = checked.granted.to_param();
    bind(&[
        checked.user.as_str(),
        checked.policy.id.as_str(),
        checked.client.client_id.as_str(),
        checked.request.redirect_uri.as_str(),
        &scopes,
    ])
}

fn consent_page<S: Services>(svc: &S, req: &Request, checked: &Checked, site: &Site, notice: Option<&str>) -> Response {
    let csrf = CsrfNonce::get_or_mint(svc, req, site);
    let redirect_host = checked.request.redirect_uri.display_host();
    let others: Vec<&str> = checked.others.iter().map(WorkspaceId::as_str).collect();
    let verified_host = cimd::verified_host(&checked.client.client_id);
    let page = consent(&ConsentView {
        client_name: checked.client.display_name(),
        client_id: checked.client.client_id.as_str(),
        verified_host: verified_host.as_deref(),
        redirect_host: &redirect_host,
        workspace_name: &checked.policy.name,
        workspace_id: checked.policy.id.as_str(),
        user_email: checked.user.as_str(),
        scopes: &checked.granted,
        catalog: &svc.config().catalog,
        params: checked.params.pairs(),
        csrf: &csrf.token(svc.keys()),
        shown: &shown(checked, |values| cookies::consent_digest(svc.keys(), values)),
        return_path: &checked.params.to_path(),
        notice,
        other_workspaces: &others,
    });
    csrf.attach(Response::html(200, page).allow_form_target(&checked.request.redirect_uri.csp_source()))
}

pub async fn post<S: Services>(svc: &S, req: &Request, site: &Site) -> Result<Response, AppError> {
    let form = Form::from_body(req).map_err(|_| PageError::FormNotUrlencoded(PageForm::Consent))?;
    CsrfNonce::verify(svc, req, site, form.get("csrf")).map_err(|_| PageError::FormNotVerified(PageForm::Consent))?;
    let checked = match check(svc, req, &form, site).await? {
        Step::Ready(checked) => checked,
        Step::SignIn(redirect) => return Ok(redirect),
    };
    match form.get("decision") {
        Some("approve") if !shown(&checked, |values| cookies::consent_matches(svc.keys(), values, form.get("shown").unwrap_or(""))) => {
            let notice = "What this approval would grant changed since the page was shown (another sign-in, or a new workspace policy). Review it and approve again.";
            Ok(consent_page(svc, req, &checked, site, Some(notice)))
        }
        Some("approve") => approve(svc, *checked, site.origin()).await,
        Some("deny") => {
            let error = OAuthError::new(ErrorCode::AccessDenied, "The user denied the request");
            Ok(Response::redirect(302, &checked.request.error_redirect(&error, site.origin())))
        }
        _ => Err(PageError::NoDecision.into()),
    }
}

/// Why an attempt was refused, as its outcome records it: the rule, and the signed-in subject (so
/// the admin page decides membership as `/authorize` did: `WorkspacePolicy::member_for`).
struct Refused<'a> {
    rule: &'a str,
    subject: Option<&'a str>,
}

/// Adds to the workspace's recent outcomes (admin page). Best effort: a failure is logged and
/// does not change the answer the person gets.
#[allow(clippy::too_many_arguments)]
async fn record<S: Services>(
    svc: &S,
    ws: &WorkspaceId,
    kind: OutcomeKind,
    user: &Email,
    client: &ClientRegistration,
    request: &AuthorizationRequest,
    scopes: Vec<String>,
    refused: Option<Refused<'_>>,
) {
    let outcome = Outcome {
        kind,
        at: svc.now(),
        user: user.to_string(),
        subject: refused.as_ref().and_then(|r| r.subject).map(str::to_string),
        client_id: client.client_id.as_str().to_string(),
        client_name: client.display_name().to_string(),
        redirect_uri: request.redirect_uri.as_str().to_string(),
        scopes,
        rule: refused.map(|r| r.rule.to_string()),
    };
    if let Err(e) = svc.record_outcome(ws, &outcome).await {
        svc.log(&format!("authorize: could not record the outcome: {}", e.0));
    }
}

async fn approve<S: Services>(svc: &S, checked: Checked, origin: &str) -> Result<Response, AppError> {
    let mut random = [0u8; 33];
    svc.fill_random(&mut random);
    let code = AuthCode::from_random(&random);
    let mut connection = [0u8; 32];
    svc.fill_random(&mut connection);
    let grant = CodeGrant {
        client_id: checked.client.client_id.clone(),
        redirect_uri: checked.request.redirect_uri.clone(),
        redirect_uri_sent: checked.request.redirect_uri_sent,
        code_challenge: checked.request.code_challenge.as_str().to_string(),
        resource: checked.request.resource.clone(),
        scopes: checked.granted.to_vec(),
        user: checked.user.clone(),
        workspace: checked.policy.id.clone(),
        connection_id: ConnectionId::from_random(&connection),
    };
    let expires_at = svc.now() + svc.config().code_ttl;
    svc.insert(&code, &grant, expires_at).await.map_err(Store::Codes.failed())?;
    svc.audit(Event::Approved {
        workspace: &grant.workspace,
        user: &grant.user,
        client_id: &grant.client_id,
        connection: &grant.connection_id,
        scopes: &grant.scopes,
    });
    record(svc, &grant.workspace, OutcomeKind::Approved, &grant.user, &checked.client, &checked.request, grant.scopes.clone(), None).await;
    Ok(Response::redirect(302, &checked.request.success_redirect(code.as_str(), origin)))
}

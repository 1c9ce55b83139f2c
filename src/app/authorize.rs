//! `GET /authorize` shows the consent page; `POST /authorize` acts on Approve or Deny.
//! Pipeline, in order: parameters → client → redirect URI vs registration → protocol checks →
//! sign-in → workspace policy → consent. Every failure before consent is a page, not a redirect.
use super::{load_policy, pages, signin, Services};
use crate::core::admin::{Outcome, OutcomeKind};
use crate::core::cookies::{self, CSRF_COOKIE};
use crate::core::http::{Request, Response};
use crate::core::oauth::authorize::{self as rules, AuthorizationRequest, AuthorizeParams};
use crate::core::oauth::code::{AuthCode, CodeGrant};
use crate::core::oauth::error::{ErrorCode, OAuthError};
use crate::core::oauth::pkce::constant_time_eq;
use crate::core::oauth::register::ClientRegistration;
use crate::core::pages::{consent, ConsentView};
use crate::core::policy::evaluate::{self, AuthorizationFacts};
use crate::core::policy::model::WorkspacePolicy;
use crate::core::scopes::ScopeSet;

/// A request that passed every check up to consent.
struct Checked {
    client: ClientRegistration,
    request: AuthorizationRequest,
    params: AuthorizeParams,
    user: String,
    policy: WorkspacePolicy,
    granted: ScopeSet,
}

async fn check<S: Services>(svc: &S, req: &Request, pairs: &[(String, String)], origin: &str) -> Result<Checked, Response> {
    let params = AuthorizeParams::from_pairs(pairs).map_err(|e| pages::oauth_error(&e))?;
    let client_id = params.client_id().map_err(|e| pages::oauth_error(&e))?;
    let client = match svc.client(&client_id).await {
        Ok(Some(c)) => c,
        Ok(None) => {
            return Err(pages::simple(
                400,
                "Unknown OAuth client",
                &format!("OAuth client `{}` is not registered here", client_id.as_str()),
                "Remove and re-add the server in your MCP client so that it registers again.",
            ))
        }
        Err(e) => {
            svc.log(&format!("authorize: client store failed: {}", e.0));
            return Err(pages::simple(
                503,
                "Temporarily unavailable",
                "The client registry cannot be read right now",
                "Try again in a moment.",
            ));
        }
    };
    let request = rules::validate(&params, &client, &svc.config().catalog, origin).map_err(|e| pages::oauth_error(&e))?;
    let Some(session) = signin::current_session(svc, req) else {
        return Err(signin::redirect_to_signin(svc, &params));
    };
    let policy = load_policy(svc, &session.workspace).await.map_err(|e| pages::policy_unavailable(&e))?;
    let facts = AuthorizationFacts {
        user: &session.email,
        client_id: &request.client_id,
        redirect_uri: &request.redirect_uri,
        requested: &request.requested.scopes,
    };
    let granted = match evaluate::authorize(&policy, &svc.config().catalog, &facts) {
        Ok(granted) => granted,
        Err(d) => {
            svc.log(&format!("authorize denied: workspace={} client={} rule=\"{}\"", policy.id, client.client_id.as_str(), d.message()));
            let scopes = request.requested.scopes.to_vec();
            record(svc, &policy.id, OutcomeKind::Rejected, &session.email, &client, &request, scopes, Some(d.message())).await;
            return Err(pages::denial(&d, &policy));
        }
    };
    Ok(Checked { client, request, params, user: session.email, policy, granted })
}

pub async fn get<S: Services>(svc: &S, req: &Request, origin: &str) -> Response {
    match check(svc, req, &req.query_pairs(), origin).await {
        Ok(checked) => consent_page(svc, req, &checked, origin, None),
        Err(page) => page,
    }
}

/// What the consent page shows, bound (see `cookies::consent_digest`).
fn shown_digest<S: Services>(svc: &S, checked: &Checked) -> String {
    let scopes = checked.granted.to_param();
    cookies::consent_digest(
        svc.keys(),
        &[&checked.user, &checked.policy.id, checked.client.client_id.as_str(), checked.request.redirect_uri.as_str(), &scopes],
    )
}

fn consent_page<S: Services>(svc: &S, req: &Request, checked: &Checked, origin: &str, notice: Option<&str>) -> Response {
    let (nonce, set_cookie) = match req.cookie(CSRF_COOKIE).filter(|n| n.len() >= 16) {
        Some(n) => (n, None),
        None => {
            let n = svc.random_token();
            let cookie = cookies::set_cookie(CSRF_COOKIE, &n, cookies::SESSION_TTL, origin.starts_with("https:"));
            (n, Some(cookie))
        }
    };
    let redirect_host = checked.request.redirect_uri.display_host();
    let page = consent(&ConsentView {
        client_name: checked.client.display_name(),
        client_id: checked.client.client_id.as_str(),
        redirect_host: &redirect_host,
        workspace_name: &checked.policy.name,
        user_email: &checked.user,
        scopes: &checked.granted,
        catalog: &svc.config().catalog,
        params: checked.params.pairs(),
        csrf: &cookies::csrf_token(svc.keys(), &nonce),
        shown: &shown_digest(svc, checked),
        switch_url: &signin::signin_url(&checked.params),
        notice,
    });
    let response = Response::html(200, page).allow_form_target(&checked.request.redirect_uri.csp_source());
    match set_cookie {
        Some(c) => response.with_header("set-cookie", &c),
        None => response,
    }
}

pub async fn post<S: Services>(svc: &S, req: &Request, origin: &str) -> Response {
    if !req.content_type_is("application/x-www-form-urlencoded") {
        return pages::simple(
            415,
            "Unsupported form",
            "The consent form must be posted as application/x-www-form-urlencoded",
            "Use the Approve or Deny button on the consent page.",
        );
    }
    let form = req.form_pairs();
    let field = |name: &str| form.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
    let nonce = req.cookie(CSRF_COOKIE);
    if !cookies::csrf_valid(svc.keys(), nonce.as_deref(), field("csrf")) {
        return pages::simple(
            403,
            "Request not verified",
            "The consent form could not be verified (missing or wrong CSRF token)",
            "Go back to your MCP client and start the connection again; approve from the page it opens.",
        );
    }
    let checked = match check(svc, req, &form, origin).await {
        Ok(c) => c,
        Err(page) => return page,
    };
    match field("decision") {
        Some("approve") if !constant_time_eq(shown_digest(svc, &checked).as_bytes(), field("shown").unwrap_or("").as_bytes()) => {
            let notice = "What this approval would grant changed since the page was shown (another sign-in, or a new workspace policy). Review it and approve again.";
            consent_page(svc, req, &checked, origin, Some(notice))
        }
        Some("approve") => approve(svc, checked, origin).await,
        Some("deny") => {
            let error = OAuthError::new(ErrorCode::AccessDenied, "The user denied the request");
            Response::redirect(302, &checked.request.error_redirect(&error, origin))
        }
        _ => pages::simple(400, "No decision", "The form must say approve or deny", "Use the Approve or Deny button on the consent page."),
    }
}

/// Adds to the workspace's recent outcomes (admin page). Best effort: a failure is logged and
/// does not change the answer the person gets.
#[allow(clippy::too_many_arguments)]
async fn record<S: Services>(
    svc: &S,
    ws: &str,
    kind: OutcomeKind,
    user: &str,
    client: &ClientRegistration,
    request: &AuthorizationRequest,
    scopes: Vec<String>,
    rule: Option<&str>,
) {
    let outcome = Outcome {
        kind,
        at: svc.now(),
        user: user.to_string(),
        client_id: client.client_id.as_str().to_string(),
        client_name: client.display_name().to_string(),
        redirect_uri: request.redirect_uri.as_str().to_string(),
        scopes,
        rule: rule.map(str::to_string),
    };
    if let Err(e) = svc.record_outcome(ws, &outcome).await {
        svc.log(&format!("authorize: could not record the outcome: {}", e.0));
    }
}

async fn approve<S: Services>(svc: &S, checked: Checked, origin: &str) -> Response {
    let mut random = [0u8; 33];
    svc.fill_random(&mut random);
    let code = AuthCode::from_random(&random);
    let grant = CodeGrant {
        client_id: checked.client.client_id.as_str().to_string(),
        redirect_uri: checked.request.redirect_uri.as_str().to_string(),
        redirect_uri_sent: checked.request.redirect_uri_sent,
        code_challenge: checked.request.code_challenge.as_str().to_string(),
        resource: checked.request.resource.clone(),
        scopes: checked.granted.to_vec(),
        user: checked.user.clone(),
        workspace: checked.policy.id.clone(),
        connection_id: svc.random_token(),
    };
    let expires_at = svc.now() + svc.config().code_ttl;
    if let Err(e) = svc.insert(&code, &grant, expires_at).await {
        svc.log(&format!("authorize: code store failed: {}", e.0));
        return pages::simple(503, "Temporarily unavailable", "The authorization could not be saved", "Try approving again in a moment.");
    }
    svc.log(&format!("authorize approved: workspace={} client={} scopes={}", grant.workspace, grant.client_id, grant.scopes.join(" ")));
    record(svc, &grant.workspace, OutcomeKind::Approved, &grant.user, &checked.client, &checked.request, grant.scopes.clone(), None).await;
    Response::redirect(302, &checked.request.success_redirect(code.as_str(), origin))
}

//! Sign-in through the product's OpenID Connect provider (OIDC Core 1.0 §3.1, the authorization
//! code flow, with PKCE): `GET /signin` sends the browser to the provider (`start`), the
//! provider sends it back to `GET /oidc/callback` (`callback`), which exchanges the code,
//! verifies the ID token and maps the identity to workspace members. Every failure is a page
//! that says what happened and what to try (`SignInFailure`).
use super::error::{AppError, PageError, SignInFailure};
use super::extract::{self, Form};
use super::signin::{choose_workspace_url, membership};
use super::Services;
use crate::core::config::OidcConfig;
use crate::core::cookies::Membership;
use crate::core::http::{Request, Response};
use crate::core::ids::{Identity, WorkspaceId};
use crate::core::oidc::discovery::ProviderMetadata;
use crate::core::oidc::flow::{Flow, CALLBACK_PATH, FLOW_TTL};
use crate::core::oidc::id_token::{self, Expected, IdTokenError, Jws, SignedIn};
use crate::core::oidc::jwks::{Jwk, Jwks};
use crate::core::oidc::ProviderRequest;
use crate::core::site::Site;

fn failed(failure: SignInFailure) -> AppError {
    PageError::SignIn(failure).into()
}

/// A provider call without a usable answer. `down`: it could not be reached, or said it is
/// overloaded (5xx, 429) — worth retrying, unlike an answer this server cannot use.
struct Unanswered {
    down: bool,
    what: String,
}

impl Unanswered {
    fn unusable(what: impl Into<String>) -> Self {
        Unanswered { down: false, what: what.into() }
    }

    /// The page of this failure, after `context` (which call) and the reason go to the log.
    fn fail<S: Services>(self, svc: &S, context: &str) -> AppError {
        svc.log(&format!("oidc: {context}: {}", self.what));
        failed(if self.down { SignInFailure::ProviderDown(self.what) } else { SignInFailure::ProviderUnusable(self.what) })
    }
}

/// `Services::provider_fetch`, its transport failures counted as the provider being down.
async fn provider_fetch<S: Services>(svc: &S, request: &ProviderRequest) -> Result<crate::app::UpstreamResponse, Unanswered> {
    svc.provider_fetch(request).await.map_err(|what| Unanswered { down: true, what })
}

/// The redirect URI registered at the provider.
fn redirect_uri(site: &Site) -> String {
    format!("{}{CALLBACK_PATH}", site.origin())
}

/// `GET /signin` with a provider configured: a new flow in the browser, and off to the provider.
pub async fn start<S: Services>(
    svc: &S,
    site: &Site,
    provider: &OidcConfig,
    next: &str,
    switch_account: bool,
) -> Result<Response, AppError> {
    let meta = metadata(svc, provider).await?;
    let flow = Flow {
        state: svc.random_token(),
        nonce: svc.random_token(),
        verifier: svc.random_token(),
        next: next.to_string(),
        expires_at: svc.now() + FLOW_TTL,
    };
    let location = flow.authorization_url(&meta, provider, &redirect_uri(site), switch_account);
    Ok(Response::redirect(303, &location).with_header("set-cookie", &extract::begin_oidc_flow(svc, site, &flow)))
}

/// `GET /oidc/callback?code=…&state=…` (or `?error=…`), RFC 6749 §4.1.2 and RFC 9207.
pub async fn callback<S: Services>(svc: &S, req: &Request, site: &Site) -> Result<Response, AppError> {
    // Without a provider nothing here sends a person to this address.
    let Some(provider) = &svc.config().oidc else {
        return Err(AppError::NotFound { path: req.url.path().to_string() });
    };
    let query = Form::from_query(req);
    let flow = extract::oidc_flow(svc, req, site).ok_or(failed(SignInFailure::FlowLost))?;
    if !flow.state_matches(query.get("state").unwrap_or("")) {
        return Err(failed(SignInFailure::FlowLost));
    }
    // RFC 9207 §2.4: when the provider names itself, it must be the one we sent the person to.
    if query.get("iss").is_some_and(|iss| iss != provider.issuer) {
        return Err(failed(SignInFailure::WrongIssuer));
    }
    if let Some(error) = query.non_empty("error") {
        let description = query.non_empty("error_description").map(str::to_string);
        return Err(failed(SignInFailure::Denied { error: error.to_string(), description }));
    }
    let code = query.non_empty("code").ok_or(failed(SignInFailure::Denied { error: "no code".into(), description: None }))?;
    let meta = metadata(svc, provider).await?;
    let id_token = exchange(svc, &meta, provider, &flow, &redirect_uri(site), code).await?;
    let signed_in = verify(svc, &meta, provider, &id_token, &flow.nonce).await?;
    let ended = extract::end_oidc_flow(site);
    let session = sign_in(svc, site, provider, signed_in, &flow.next).await?;
    Ok(session.with_header("set-cookie", &ended))
}

/// The provider's metadata: cached for an hour per isolate, else fetched and checked.
async fn metadata<S: Services>(svc: &S, provider: &OidcConfig) -> Result<ProviderMetadata, AppError> {
    if let Some(m) = svc.provider_cache().borrow().metadata(svc.now()) {
        return Ok(m);
    }
    let url = ProviderMetadata::url_for(&provider.issuer);
    let context = format!("discovery {url}");
    let text = fetch_ok(svc, &ProviderRequest::get(&url)).await.map_err(|e| e.fail(svc, &context))?;
    let meta = ProviderMetadata::parse(&text, &provider.issuer).map_err(|e| Unanswered::unusable(e.to_string()).fail(svc, &context))?;
    svc.provider_cache().borrow_mut().store_metadata(meta.clone(), svc.now());
    Ok(meta)
}

/// A 200 answer's body.
async fn fetch_ok<S: Services>(svc: &S, request: &ProviderRequest) -> Result<String, Unanswered> {
    let answer = provider_fetch(svc, request).await?;
    match answer.status {
        200 => Ok(String::from_utf8_lossy(&answer.body).into_owned()),
        status => Err(Unanswered { down: status == 429 || status >= 500, what: format!("HTTP {status}") }),
    }
}

/// OIDC Core §3.1.3: the code for tokens; the ID token is what we keep.
async fn exchange<S: Services>(
    svc: &S,
    meta: &ProviderMetadata,
    provider: &OidcConfig,
    flow: &Flow,
    redirect_uri: &str,
    code: &str,
) -> Result<String, AppError> {
    let request = flow.token_request(meta, provider, redirect_uri, code);
    let answer = provider_fetch(svc, &request).await.map_err(|e| e.fail(svc, "token endpoint"))?;
    let body: serde_json::Value = serde_json::from_slice(&answer.body).unwrap_or_default();
    let field = |name: &str| body.get(name).and_then(|v| v.as_str()).map(str::to_string);
    match (answer.status, field("id_token")) {
        (200, Some(id_token)) => Ok(id_token),
        (200, None) => {
            Err(Unanswered::unusable("the token response has no id_token (is `openid` in OIDC_SCOPES?)").fail(svc, "token endpoint"))
        }
        (400..=499, _) if field("error").is_some() => {
            let (error, description) = (field("error").unwrap_or_default(), field("error_description"));
            svc.log(&format!("oidc: token endpoint refused the code: {error} {}", description.as_deref().unwrap_or("")));
            Err(failed(SignInFailure::TokenRefused { error, description }))
        }
        (status, _) => Err(Unanswered { down: status == 429 || status >= 500, what: format!("HTTP {status}") }.fail(svc, "token endpoint")),
    }
}

/// The ID token's signature against the provider's keys (fetched again once when it names a
/// key the cache does not have), then its claims. A refused token is a page saying why; keys
/// that cannot be fetched because the provider is down are the provider's outage.
async fn verify<S: Services>(
    svc: &S,
    meta: &ProviderMetadata,
    provider: &OidcConfig,
    raw: &str,
    nonce: &str,
) -> Result<SignedIn, AppError> {
    let refused = |e: IdTokenError| {
        svc.log(&format!("oidc: ID token refused: {e}"));
        failed(SignInFailure::IdToken(e))
    };
    let jws = Jws::parse(raw).map_err(refused)?;
    let cached = svc.provider_cache().borrow().key(jws.kid.as_deref(), jws.alg, svc.now());
    let key = match cached {
        Some(key) => key,
        None => fetch_key(svc, meta, &jws).await?.map_err(refused)?,
    };
    check_signed(svc, provider, &jws, &key, nonce).await.map_err(refused)
}

async fn check_signed<S: Services>(svc: &S, provider: &OidcConfig, jws: &Jws, key: &Jwk, nonce: &str) -> Result<SignedIn, IdTokenError> {
    match svc.verify_signature(jws.alg, key, jws.signing_input.as_bytes(), &jws.signature).await {
        Ok(true) => {}
        Ok(false) => return Err(IdTokenError::BadSignature),
        Err(e) => {
            svc.log(&format!("oidc: the provider's key {:?} cannot be used: {e}", key.kid));
            return Err(IdTokenError::BadSignature);
        }
    }
    let expected = Expected {
        issuer: &provider.issuer,
        client_id: &provider.client_id,
        nonce,
        now: svc.now(),
        workspaces_claim: provider.workspaces_claim.as_deref(),
    };
    id_token::check(jws, &expected)
}

/// The key `jws` names, from the provider's JWKS. Outer error: the provider is down; inner: no
/// usable key (an unusable key set counts as not naming it).
async fn fetch_key<S: Services>(svc: &S, meta: &ProviderMetadata, jws: &Jws) -> Result<Result<Jwk, IdTokenError>, AppError> {
    let unknown = || IdTokenError::UnknownKey(jws.kid.clone());
    let text = match fetch_ok(svc, &ProviderRequest::get(&meta.jwks_uri)).await {
        Ok(text) => text,
        Err(e) if e.down => return Err(e.fail(svc, &format!("keys {}", meta.jwks_uri))),
        Err(e) => {
            svc.log(&format!("oidc: keys {}: {}", meta.jwks_uri, e.what));
            return Ok(Err(unknown()));
        }
    };
    let jwks = match Jwks::parse(&text) {
        Ok(jwks) => jwks,
        Err(e) => {
            svc.log(&format!("oidc: {e}"));
            return Ok(Err(unknown()));
        }
    };
    let key = jwks.select(jws.kid.as_deref(), jws.alg).cloned();
    svc.provider_cache().borrow_mut().store_keys(jwks, svc.now());
    Ok(key.ok_or_else(unknown))
}

/// The most workspaces of one claim that are looked up (each is a policy read).
const MAX_CLAIMED: usize = crate::core::cookies::MAX_SESSION_WORKSPACES;

/// Maps the identity to members: of the workspaces the claim lists, or — without a claim — of
/// the workspace the person names next (`/signin/workspace`).
async fn sign_in<S: Services>(svc: &S, site: &Site, provider: &OidcConfig, signed_in: SignedIn, next: &str) -> Result<Response, AppError> {
    let SignedIn { identity, unverified_email, workspaces } = signed_in;
    if provider.workspaces_claim.is_none() {
        let cookie = extract::begin_session(svc, site, identity, None, Vec::new());
        return Ok(Response::redirect(303, &choose_workspace_url(next)).with_header("set-cookie", &cookie));
    }
    let memberships = memberships(svc, &identity, &workspaces).await?;
    let Some((first, others)) = memberships.split_first() else {
        svc.log(&format!("oidc: sign-in refused: {} is a member of none of {workspaces:?}", describe(&identity)));
        return Err(refusal(svc, &identity, unverified_email));
    };
    let others: Vec<WorkspaceId> = others.iter().map(|m| m.workspace.clone()).collect();
    let cookie = extract::begin_session(svc, site, identity, Some(first.clone()), others);
    Ok(Response::redirect(303, next).with_header("set-cookie", &cookie))
}

async fn memberships<S: Services>(svc: &S, identity: &Identity, workspaces: &[WorkspaceId]) -> Result<Vec<Membership>, AppError> {
    let mut found = Vec::new();
    for ws in workspaces.iter().take(MAX_CLAIMED) {
        match membership(svc, ws, identity).await? {
            Ok(m) => found.push(m),
            Err(why) => svc.log(&format!("oidc: {ws}: {why}")),
        }
    }
    Ok(found)
}

/// The page for an identity that is a member of nothing here: without a verified e-mail the
/// missing verification is the likelier cause, and the page says so.
pub(crate) fn refusal<S: Services>(svc: &S, identity: &Identity, unverified_email: Option<String>) -> AppError {
    match &identity.email {
        None => failed(SignInFailure::NoVerifiedEmail { email: unverified_email }),
        Some(_) => failed(SignInFailure::NotAMember { who: describe(identity), help: svc.config().sign_in_help.clone() }),
    }
}

pub(crate) fn describe(identity: &Identity) -> String {
    match (&identity.email, &identity.subject) {
        (Some(email), _) => email.to_string(),
        (None, Some(sub)) => format!("subject {sub}"),
        (None, None) => "nobody".into(),
    }
}

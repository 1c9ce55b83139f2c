//! The one error type of the request pipeline, `AppError`, and the one place it becomes a
//! response, `render`: an exhaustive `match` with no catch-all arm. Internal detail (what a store
//! said, an `OAuthError`'s `detail`) is logged here and never rendered; a store failure reaches
//! the client as a fixed "temporarily unavailable" message with `Retry-After`.
use serde_json::{json, Value};

use crate::core::http::{printable, Response};
use crate::core::mcp::jsonrpc::{envelope, Outgoing, Rejected, RpcCode, RpcError};
use crate::core::oauth::access_token::BearerError;
use crate::core::oauth::error::{ErrorCode, OAuthError};
use crate::core::oidc::id_token::IdTokenError;
use crate::core::policy::evaluate::{Denial, TokenInvalid};
use crate::core::policy::model::{PolicyError, PolicyUnusable};
use crate::core::site::Misdirected;
use crate::core::store::StoreError;

const MISDIRECTED_HINT: &str =
    "Open this server at the address its operator configured (PUBLIC_ORIGIN); for local development use http://127.0.0.1:8081.";

/// Seconds a client should wait before retrying after a store failure.
const RETRY_AFTER: &str = "5";

#[derive(Debug)]
pub enum AppError {
    /// RFC 6749 §5.2 JSON error: the token, registration and revocation endpoints.
    OAuth(OAuthError),
    /// An HTML error page of a browser step.
    Page(PageError),
    /// `/mcp` without a usable token: 401 with the RFC 9728 challenge naming our metadata.
    Bearer {
        origin: String,
        rejection: BearerRejection,
    },
    /// `/mcp` requests refused before any JSON-RPC method is looked at.
    Mcp(McpRejection),
    /// The admin API's JSON errors.
    Admin(AdminError),
    /// A store could not be reached: nothing is decided (503, never "allow").
    Unavailable {
        store: Store,
        detail: StoreError,
    },
    NotFound {
        path: String,
    },
    MethodNotAllowed {
        allow: &'static str,
    },
    /// The edge could not build the configuration or keys (the message names the variable).
    Misconfigured(String),
    /// A `Host` this deployment does not serve (DNS rebinding, or a missing `PUBLIC_ORIGIN`).
    Misdirected(Misdirected),
    /// An unsafe method sent from another site's page.
    ForeignOrigin {
        sent: String,
        ours: String,
    },
    /// Past an abuse limit (`core::ratelimit`): 429 with `Retry-After`.
    RateLimited(crate::core::ratelimit::Limited),
    /// A body over the edge's 1 MiB limit.
    BodyTooLarge,
    /// The body could not be read (the client went away mid-body); the runtime's reason.
    BodyUnreadable(String),
    BadUrl,
}

/// The vocabulary an error is spoken in where the endpoint does not decide it (store failures):
/// browser steps get a page, everything else JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Surface {
    Json,
    Page,
}

/// The stores a request may find unavailable, as the fixed message names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Store {
    Policies,
    Clients,
    Codes,
    Connections,
    Workspaces,
}

impl Store {
    fn name(self) -> &'static str {
        match self {
            Store::Policies => "The workspace policy store",
            Store::Clients => "The client registry",
            Store::Codes => "The authorization code store",
            Store::Connections => "The connection store",
            Store::Workspaces => "The workspace store",
        }
    }

    /// The fixed message of a failure of this store.
    pub fn unavailable(self) -> String {
        format!("{} is temporarily unavailable; try again in a few seconds", self.name())
    }

    /// `map_err` for a store call: `svc.client(&id).await.map_err(Store::Clients.failed())?`.
    pub fn failed(self) -> impl FnOnce(StoreError) -> AppError {
        move |detail| self.error(detail)
    }

    pub fn error(self, detail: StoreError) -> AppError {
        AppError::Unavailable { store: self, detail }
    }
}

#[derive(Debug)]
pub enum BearerRejection {
    /// No `Authorization` header: the bare challenge (RFC 6750 §3.1: no error code).
    Missing,
    NotBearer,
    Token(BearerError),
    /// A valid token whose grant no longer holds.
    Invalid(TokenInvalid),
    /// A valid token without the scopes a tool needs (`STEP_UP=challenge`): 403 naming the
    /// scopes to ask for (RFC 6750 §3.1, MCP authorization "Step-up").
    InsufficientScope {
        scope: String,
        message: String,
    },
}

#[derive(Debug)]
pub enum McpRejection {
    /// Streamable HTTP: servers MUST validate `Origin` (DNS rebinding).
    ForbiddenOrigin(String),
    NotJson,
    TooLarge,
    Malformed(Rejected),
}

#[derive(Debug)]
pub enum PageError {
    /// A protocol error before the redirect URI is trusted: shown, never redirected.
    AuthorizationRejected(OAuthError),
    UnknownClient(String),
    /// The client ID is a metadata-document URL whose document could not be used: why.
    ClientDocument(String),
    Denied {
        denial: Denial,
        workspace_name: String,
        /// The way back to the client with the error, when the redirect URI is registered and
        /// allowed and the refusal is one the client should hear of (`Denial::redirect_error`).
        return_to: Option<crate::core::pages::ReturnTo>,
    },
    PolicyUnusable(PolicyUnusable),
    /// One of our forms was posted as something else than a URL-encoded form.
    FormNotUrlencoded(PageForm),
    /// One of our forms came back without the CSRF token of this browser's session.
    FormNotVerified(PageForm),
    NoDecision,
    /// No sign-in method is configured (authorize and sign-in).
    SignInDisabled,
    /// A development sign-in form posted where people sign in through the identity provider.
    DevSignInOff,
    /// Sign-in through the identity provider did not produce a member.
    SignIn(SignInFailure),
    /// No sign-in method is configured (the admin page: the operator token still works).
    AdminSignInDisabled,
}

/// The forms our pages post (an error about one names it and says how to post it again).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PageForm {
    Consent,
    SignOut,
    Workspace,
}

impl PageForm {
    pub(crate) fn name(self) -> &'static str {
        match self {
            PageForm::Consent => "consent",
            PageForm::SignOut => "sign-out",
            PageForm::Workspace => "workspace",
        }
    }

    /// How to post it again, from a page that carries a current token.
    pub(crate) fn again(self) -> &'static str {
        match self {
            PageForm::Consent => "Go back to your MCP client and start the connection again; approve from the page it opens.",
            PageForm::SignOut => "Reload the page and sign out from it again.",
            PageForm::Workspace => "Reload the page and choose the workspace again.",
        }
    }
}

/// Why a sign-in through the identity provider (or a workspace choice) failed: each is a page
/// saying what happened and what to try.
#[derive(Debug)]
pub enum SignInFailure {
    /// The provider answered the authorization with an error (the person cancelled, or the
    /// provider refused), RFC 6749 §4.1.2.1.
    Denied {
        error: String,
        description: Option<String>,
    },
    /// No sign-in of this browser is waiting for this callback (none started, expired, or
    /// another `state`).
    FlowLost,
    /// RFC 9207: the callback names another issuer.
    WrongIssuer,
    /// The provider's discovery document, keys or token endpoint could not be reached, or said
    /// it is overloaded (5xx, 429): 503 with `Retry-After`.
    ProviderDown(String),
    /// The provider answered something this server cannot use (its configuration is wrong).
    ProviderUnusable(String),
    /// The token endpoint refused the code.
    TokenRefused {
        error: String,
        description: Option<String>,
    },
    IdToken(IdTokenError),
    /// Membership needs a verified e-mail address, and the provider did not vouch for one.
    NoVerifiedEmail {
        email: Option<String>,
    },
    /// Signed in, but a member of no workspace here (or not of the one named).
    NotAMember {
        who: String,
        help: Option<String>,
    },
}

#[derive(Debug)]
pub enum AdminError {
    Unauthenticated,
    /// Credentials that do not grant this workspace: 403, saying nothing about the workspace.
    Forbidden,
    Csrf,
    /// The workspace's own signed-in people learn why they are refused.
    PolicyNeedsOperator(PolicyError),
    NoSuchWorkspace,
    NoSuchResource,
    NothingAt(String),
    /// The path exists; `allow` lists the methods it answers (the `Allow` header).
    MethodNotAllowed {
        allow: &'static str,
    },
    NoPolicy(String),
    PreconditionRequired,
    /// A PUT or POST whose body is not declared `application/json`.
    NotJson,
    NotUtf8,
    InvalidPolicy(PolicyError),
    /// The write would leave the workspace without an admin (`core::admin::keeps_an_admin`).
    LastAdmin(String),
    /// A policy of this many bytes, over `admin::MAX_POLICY_BYTES`.
    PolicyTooLarge(usize),
    /// No such version in the policy's history (never, or no longer, kept).
    NoSuchVersion(i64),
    Conflict {
        current_etag: Option<String>,
    },
    /// `If-None-Match: *` (create), and the workspace has a policy.
    PolicyExists {
        workspace: String,
        current_etag: String,
    },
    InvalidRequest(String),
    /// The stored policy does not validate: the error and the text, so an admin can repair it.
    StoredPolicyInvalid {
        workspace: String,
        etag: String,
        error: PolicyError,
        text: String,
    },
    NoSuchConnection {
        workspace: String,
        user: String,
        id: String,
    },
}

/// The admin API's error codes.
#[derive(Debug, Clone, Copy)]
enum AdminCode {
    Unauthorized,
    Forbidden,
    Csrf,
    InvalidPolicy,
    NotFound,
    MethodNotAllowed,
    NoPolicy,
    PreconditionRequired,
    PreconditionFailed,
    InvalidRequest,
    UnsupportedMediaType,
    LastAdmin,
}

impl AdminCode {
    fn as_str(self) -> &'static str {
        match self {
            AdminCode::Unauthorized => "unauthorized",
            AdminCode::Forbidden => "forbidden",
            AdminCode::Csrf => "csrf",
            AdminCode::InvalidPolicy => "invalid_policy",
            AdminCode::NotFound => "not_found",
            AdminCode::MethodNotAllowed => "method_not_allowed",
            AdminCode::NoPolicy => "no_policy",
            AdminCode::PreconditionRequired => "precondition_required",
            AdminCode::PreconditionFailed => "precondition_failed",
            AdminCode::InvalidRequest => "invalid_request",
            AdminCode::UnsupportedMediaType => "unsupported_media_type",
            AdminCode::LastAdmin => "last_admin",
        }
    }
}

impl From<OAuthError> for AppError {
    fn from(e: OAuthError) -> AppError {
        AppError::OAuth(e)
    }
}

impl From<PageError> for AppError {
    fn from(e: PageError) -> AppError {
        AppError::Page(e)
    }
}

impl From<AdminError> for AppError {
    fn from(e: AdminError) -> AppError {
        AppError::Admin(e)
    }
}

impl From<McpRejection> for AppError {
    fn from(e: McpRejection) -> AppError {
        AppError::Mcp(e)
    }
}

mod pages;
use pages::{error_page, page};

/// The one place an `AppError` becomes a response.
pub fn render(error: AppError, surface: Surface, log: &dyn Fn(&str)) -> Response {
    match error {
        AppError::OAuth(e) => oauth(e, log),
        AppError::Page(e) => page(e),
        AppError::Bearer { origin, rejection } => bearer(&origin, rejection),
        AppError::Mcp(e) => mcp(e),
        AppError::Admin(e) => admin(e),
        AppError::Unavailable { store, detail } => {
            log(&format!("{}: store failed: {}", store.name(), detail.0));
            unavailable(store, surface)
        }
        AppError::NotFound { path } => json_error(404, "not_found", &format!("Nothing is served at {path}")),
        AppError::MethodNotAllowed { allow } => json_error(405, "method_not_allowed", &format!("Use {allow}")).with_header("allow", allow),
        AppError::Misconfigured(message) => {
            log(&format!("configuration error: {message}"));
            json_error(503, ErrorCode::TemporarilyUnavailable.as_str(), &format!("Server misconfigured: {message}"))
        }
        AppError::Misdirected(refused) => {
            let message = refused.to_string();
            log(&message);
            match surface {
                Surface::Json => json_error(421, "misdirected_request", &message),
                Surface::Page => error_page(421, "Wrong address", &message, MISDIRECTED_HINT),
            }
        }
        AppError::ForeignOrigin { sent, ours } => {
            let message = format!("Forbidden: Origin {} is not allowed; changes must come from {ours}", printable(&sent));
            match surface {
                Surface::Json => json_error(403, "forbidden_origin", &message),
                Surface::Page => error_page(403, "Request from another site", &message, "Start again from this server's own page."),
            }
        }
        AppError::RateLimited(limited) => {
            let message = limited.to_string();
            log(&format!("rate limit: {} ({})", message, limited.subject.key()));
            let response = match surface {
                Surface::Json => json_error(429, "too_many_requests", &message),
                Surface::Page => error_page(429, "Too many requests", &message, "Wait a minute, then reload this page."),
            };
            response
                .with_header("retry-after", &crate::core::ratelimit::PERIOD_SECONDS.to_string())
                .with_header("cache-control", "no-store")
        }
        AppError::BodyTooLarge => Response::text(413, "Request body larger than 1 MiB"),
        AppError::BodyUnreadable(why) => {
            Response::text(400, &format!("The request body could not be read ({}); send it again", printable(&why)))
        }
        AppError::BadUrl => Response::text(400, "Bad request URL"),
    }
}

fn json_error(status: u16, code: &str, description: &str) -> Response {
    Response::json(status, &json!({ "error": code, "error_description": description }))
}

fn unavailable(store: Store, surface: Surface) -> Response {
    let response = match surface {
        Surface::Json => {
            json_error(503, ErrorCode::TemporarilyUnavailable.as_str(), &store.unavailable()).with_header("cache-control", "no-store")
        }
        Surface::Page => error_page(503, "Temporarily unavailable", &store.unavailable(), "Reload this page then."),
    };
    response.with_header("retry-after", RETRY_AFTER)
}

fn oauth(e: OAuthError, log: &dyn Fn(&str)) -> Response {
    if let Some(detail) = &e.detail {
        log(&format!("{}: {} ({detail})", e.code.as_str(), e.description));
    }
    let response = json_error(e.code.status(), e.code.as_str(), &e.description).with_header("cache-control", "no-store");
    match e.code.challenge() {
        Some(challenge) => response.with_header("www-authenticate", challenge),
        None => response,
    }
}

/// RFC 6750 §3 / RFC 9728 §5.1: the challenge names the protected resource's metadata.
fn bearer(origin: &str, rejection: BearerRejection) -> Response {
    let metadata = format!("{origin}/.well-known/oauth-protected-resource/mcp");
    let description = match rejection {
        BearerRejection::Missing => {
            return json_error(401, "invalid_request", "Authorization required: send an OAuth access token as `Authorization: Bearer …`")
                .with_header("www-authenticate", &format!("Bearer resource_metadata=\"{metadata}\""))
        }
        BearerRejection::InsufficientScope { scope, message } => {
            let quoted = message.replace(['"', '\\'], "'");
            return json_error(403, "insufficient_scope", &message).with_header(
                "www-authenticate",
                &format!(
                    "Bearer resource_metadata=\"{metadata}\", error=\"insufficient_scope\", scope=\"{scope}\", error_description=\"{quoted}\""
                ),
            );
        }
        BearerRejection::NotBearer => "The Authorization header must be `Bearer <access token>`".to_string(),
        BearerRejection::Token(e) => e.description().to_string(),
        BearerRejection::Invalid(why) => why.to_string(),
    };
    let quoted = description.replace(['"', '\\'], "'");
    json_error(401, "invalid_token", &description).with_header(
        "www-authenticate",
        &format!("Bearer resource_metadata=\"{metadata}\", error=\"invalid_token\", error_description=\"{quoted}\""),
    )
}

fn mcp(e: McpRejection) -> Response {
    let (status, rejected) = match e {
        McpRejection::ForbiddenOrigin(origin) => (403, invalid_request(format!("Forbidden: Origin {origin} is not allowed"))),
        McpRejection::NotJson => (415, invalid_request("Unsupported Media Type: send Content-Type: application/json".into())),
        McpRejection::TooLarge => (413, invalid_request("Request body larger than 1 MiB".into())),
        McpRejection::Malformed(rejected) => (400, rejected),
    };
    Response::json_text(status, envelope(&rejected.id, Outgoing::Error(&rejected.error)))
}

fn invalid_request(message: String) -> Rejected {
    Rejected { id: Value::Null, error: RpcError::new(RpcCode::InvalidRequest, message) }
}

fn admin(e: AdminError) -> Response {
    use AdminCode as C;
    let (status, code, description) = match e {
        AdminError::Unauthenticated => {
            let text = "Sign in as an admin of this workspace, or send the operator token as `Authorization: Bearer …`";
            return admin_json(401, C::Unauthorized, text).with_header("www-authenticate", "Bearer realm=\"mcp-edge admin\"");
        }
        AdminError::Forbidden => (403, C::Forbidden, "You are not an admin of this workspace".to_string()),
        AdminError::Csrf => (403, C::Csrf, "Missing or wrong X-CSRF-Token header; reload the admin page".to_string()),
        AdminError::PolicyNeedsOperator(e) => (422, C::InvalidPolicy, format!("{e}. Only the operator token can repair it.")),
        AdminError::NoSuchWorkspace => (404, C::NotFound, "No such workspace".to_string()),
        AdminError::NoSuchResource => (404, C::NotFound, "No such resource".to_string()),
        AdminError::NothingAt(path) => (404, C::NotFound, format!("Nothing is served at {path}")),
        AdminError::MethodNotAllowed { allow } => {
            return admin_json(405, C::MethodNotAllowed, &format!("Use {allow} (README, \"Admin API\")")).with_header("allow", allow);
        }
        AdminError::NoPolicy(ws) => (404, C::NoPolicy, format!("Workspace `{ws}` has no policy yet; PUT one with `If-None-Match: *`")),
        AdminError::PreconditionRequired => {
            (428, C::PreconditionRequired, "Send If-Match with the ETag you read (or If-None-Match: * to create the policy)".to_string())
        }
        AdminError::NotJson => (415, C::UnsupportedMediaType, "Send the body as Content-Type: application/json".to_string()),
        AdminError::NotUtf8 => (400, C::InvalidPolicy, "The body must be UTF-8 JSON".to_string()),
        AdminError::InvalidPolicy(e) => (400, C::InvalidPolicy, e.to_string()),
        AdminError::LastAdmin(text) => (409, C::LastAdmin, text),
        AdminError::PolicyTooLarge(bytes) => (413, C::InvalidPolicy, super::admin::too_large(bytes)),
        AdminError::NoSuchVersion(v) => (
            404,
            C::NotFound,
            format!("The policy history has no version {v} (the newest {} are kept)", crate::core::history::HISTORY_KEPT),
        ),
        AdminError::Conflict { current_etag } => {
            let text = "The policy changed since you read it; reload, reapply your edit and save again";
            return admin_json(412, C::PreconditionFailed, text).with_header("etag", current_etag.as_deref().unwrap_or(""));
        }
        AdminError::PolicyExists { workspace, current_etag } => {
            let text = format!("Workspace `{workspace}` already has a policy; read it and send If-Match with its ETag to replace it");
            return admin_json(412, C::PreconditionFailed, &text).with_header("etag", &current_etag);
        }
        AdminError::InvalidRequest(text) => (400, C::InvalidRequest, text),
        AdminError::StoredPolicyInvalid { workspace, etag, error, text } => {
            let body = json!({ "workspace": workspace, "etag": etag, "valid": false, "error": error.to_string(), "text": text });
            return Response::json(422, &body).with_header("etag", &etag).with_header("cache-control", "no-store");
        }
        AdminError::NoSuchConnection { workspace, user, id } => {
            (404, C::NotFound, format!("{user} has no connection {id} in workspace `{workspace}`"))
        }
    };
    admin_json(status, code, &description)
}

fn admin_json(status: u16, code: AdminCode, description: &str) -> Response {
    json_error(status, code.as_str(), description).with_header("cache-control", "no-store")
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;

    use super::*;

    fn rendered(error: AppError, surface: Surface) -> (Response, Vec<String>) {
        let logged = RefCell::new(Vec::new());
        let response = render(error, surface, &|line| logged.borrow_mut().push(line.to_string()));
        (response, logged.into_inner())
    }

    #[test]
    fn internal_detail_is_logged_and_never_rendered() {
        let detail = StoreError("D1: connection reset by peer at 10.0.0.7".into());
        for surface in [Surface::Json, Surface::Page] {
            let (r, log) = rendered(AppError::Unavailable { store: Store::Codes, detail: detail.clone() }, surface);
            let body = String::from_utf8_lossy(&r.body).to_string();
            assert_eq!((r.status, r.header("retry-after")), (503, Some("5")));
            assert!(body.contains("The authorization code store is temporarily unavailable") && !body.contains("10.0.0.7"), "{body}");
            assert!(log.iter().any(|l| l.contains("10.0.0.7")), "{log:?}");
        }
        let (r, log) =
            rendered(OAuthError::invalid_grant("The refresh token is invalid").with_detail("generation 7 of c1").into(), Surface::Json);
        assert!(!String::from_utf8_lossy(&r.body).contains("generation 7"));
        assert!(log.iter().any(|l| l.contains("generation 7")), "{log:?}");
    }

    #[test]
    fn the_edge_failures_keep_their_answers() {
        let (r, log) = rendered(AppError::Misconfigured("SIGNING_KEY is not set".into()), Surface::Json);
        assert_eq!(r.status, 503);
        assert!(String::from_utf8_lossy(&r.body).contains("Server misconfigured: SIGNING_KEY is not set"));
        assert_eq!(log.len(), 1);
        assert_eq!(rendered(AppError::BodyTooLarge, Surface::Json).0.status, 413);
        assert_eq!(rendered(AppError::BadUrl, Surface::Json).0.status, 400);
        let (r, _) = rendered(OAuthError::new(ErrorCode::InvalidClient, "Unknown OAuth client `x`").into(), Surface::Json);
        assert_eq!((r.status, r.header("www-authenticate")), (401, Some("Basic realm=\"mcp-edge\"")));
    }
}

//! The pages of browser steps: every `PageError` (and `SignInFailure`) rendered with what
//! happened and what to try.
use super::{PageError, SignInFailure};
use crate::core::http::{printable, Response};
use crate::core::pages;
use crate::core::policy::model::PolicyUnusable;

/// Seconds a browser (or a person) should wait after the identity provider could not be reached.
const PROVIDER_RETRY_AFTER: &str = "30";

pub(super) fn error_page(status: u16, title: &str, message: &str, hint: &str) -> Response {
    Response::html(status, pages::error(title, message, hint))
}

pub(super) fn page(e: PageError) -> Response {
    const USE_THE_BUTTONS: &str = "Use the Approve or Deny button on the consent page.";
    match e {
        PageError::AuthorizationRejected(e) => error_page(
            400,
            "Authorization request rejected",
            &e.description,
            "The MCP client sent an authorization request this server cannot accept. Update the client, or remove and re-add the server so it registers again.",
        ),
        PageError::UnknownClient(id) => error_page(
            400,
            "Unknown OAuth client",
            &format!("OAuth client `{id}` is not registered here"),
            "Remove and re-add the server in your MCP client so that it registers again.",
        ),
        PageError::ClientDocument(why) => error_page(
            400,
            "Client metadata document unusable",
            &why,
            "The MCP client identifies itself by a Client ID Metadata Document, and this server could not use it. The client's maintainers must fix the document; until then, the client may work if it registers instead (dynamic registration).",
        ),
        PageError::Denied { denial, workspace_name, return_to } => Response::html(
            403,
            pages::error_returning("Authorization blocked by workspace policy", denial.message(), &denial.hint(&workspace_name), return_to.as_ref()),
        ),
        PageError::PolicyUnusable(PolicyUnusable::Missing { workspace }) => error_page(
            403,
            "Workspace policy unavailable",
            &format!("Workspace `{workspace}` has no MCP policy"),
            "An admin must create the workspace policy before anyone can connect.",
        ),
        PageError::PolicyUnusable(PolicyUnusable::Invalid(e)) => error_page(
            403,
            "Workspace policy unavailable",
            &e.to_string(),
            "The stored policy is malformed, so nothing is allowed until an admin fixes it (run `make policy-check FILE=…` before `wrangler kv key put`).",
        ),
        PageError::FormNotUrlencoded(form) => error_page(
            415,
            "Unsupported form",
            &format!("The {} form must be posted as application/x-www-form-urlencoded", form.name()),
            form.again(),
        ),
        PageError::FormNotVerified(form) => error_page(
            403,
            "Request not verified",
            &format!("The {} form could not be verified (missing or wrong CSRF token)", form.name()),
            form.again(),
        ),
        PageError::NoDecision => error_page(400, "No decision", "The form must say approve or deny", USE_THE_BUTTONS),
        PageError::SignInDisabled => error_page(
            503,
            "Sign-in is not configured",
            "This deployment has no sign-in configured",
            "The operator configures sign-in through the OpenID Connect provider (OIDC_ISSUER, README \"Sign-in\"). For local development set DEV_SIGN_IN=on (make dev does this in .dev.vars); it works on a loopback address only.",
        ),
        PageError::DevSignInOff => error_page(
            403,
            "Development sign-in is off",
            "This server signs people in through its identity provider, not with an e-mail address alone",
            "Open the page you came from again; it sends you to the identity provider.",
        ),
        PageError::SignIn(failure) => sign_in_failure(failure),
        PageError::AdminSignInDisabled => error_page(
            503,
            "Sign-in is not configured",
            "This deployment has no sign-in configured",
            "Configure sign-in through the OpenID Connect provider (OIDC_ISSUER), use the admin API with the operator token, or for local development set DEV_SIGN_IN=on.",
        ),
    }
}

const START_AGAIN: &str = "Go back to your MCP client and start the connection again (Claude Code: /mcp, then Authenticate).";

fn sign_in_failure(failure: SignInFailure) -> Response {
    match failure {
        SignInFailure::Denied { error, description } => {
            let said = description.map(|d| format!(": {}", printable(&d))).unwrap_or_default();
            let message = format!("The identity provider did not sign you in ({}{said})", printable(&error));
            error_page(403, "Sign-in cancelled", &message, START_AGAIN)
        }
        SignInFailure::FlowLost => error_page(
            400,
            "Sign-in expired",
            "This sign-in was not started in this browser, or it took longer than 10 minutes",
            START_AGAIN,
        ),
        SignInFailure::WrongIssuer => {
            error_page(400, "Sign-in not accepted", "The sign-in response came from another identity provider (iss)", START_AGAIN)
        }
        SignInFailure::ProviderDown(_) => error_page(
            503,
            "Identity provider unavailable",
            "The identity provider could not be reached or is overloaded",
            "Try again in a minute. If it keeps failing, the operator should check OIDC_ISSUER and the worker's log.",
        )
        .with_header("retry-after", PROVIDER_RETRY_AFTER),
        SignInFailure::ProviderUnusable(_) => error_page(
            502,
            "Identity provider answer unusable",
            "The identity provider gave an answer this server cannot use",
            "The operator should check OIDC_ISSUER, OIDC_CLIENT_ID and the worker's log, which names the URL and the reason.",
        ),
        SignInFailure::TokenRefused { error, description } => {
            let said = description.map(|d| format!(": {}", printable(&d))).unwrap_or_default();
            let message = format!("The identity provider refused to complete the sign-in ({}{said})", printable(&error));
            let hint = "Start again. If it keeps failing, the operator should check OIDC_CLIENT_ID, OIDC_CLIENT_SECRET and the redirect URI registered at the provider (<origin>/oidc/callback).";
            error_page(502, "Sign-in not completed", &message, hint)
        }
        SignInFailure::IdToken(e) => {
            let hint = if e.is_clock() {
                "The clocks of this server and the identity provider disagree by more than a minute, or the sign-in took too long. Start again; if it keeps failing, the operator should check the provider's clock."
            } else {
                "Start again. If it keeps failing, the operator should check OIDC_ISSUER and OIDC_CLIENT_ID against the provider."
            };
            error_page(401, "Sign-in not accepted", &format!("Sign-in not accepted: {e}"), hint)
        }
        SignInFailure::NoVerifiedEmail { email } => {
            let message = match email {
                Some(e) => format!("The identity provider has not verified your e-mail address {}", printable(&e)),
                None => "The identity provider did not give a verified e-mail address".to_string(),
            };
            let hint = "Verify your e-mail address with the identity provider, then start again; or ask a workspace admin to add you by your subject (`sub`) instead.";
            error_page(403, "No verified e-mail address", &message, hint)
        }
        SignInFailure::NotAMember { who, help } => {
            let message = format!("You are signed in as {}, but not as a member of a workspace this server serves", printable(&who));
            let ask = match help {
                Some(h) => {
                    format!("Ask your workspace's admin ({}) to add you to the workspace's members, then start again.", printable(&h))
                }
                None => "Ask your workspace's admin to add you to the workspace's members, then start again.".to_string(),
            };
            error_page(403, "Not a member", &message, &ask)
        }
    }
}

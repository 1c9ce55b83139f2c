//! Error pages for the browser steps, each with the exact message and what to check.
use super::PolicyLoadError;
use crate::core::http::Response;
use crate::core::oauth::error::OAuthError;
use crate::core::pages;
use crate::core::policy::evaluate::Denial;
use crate::core::policy::model::WorkspacePolicy;

/// A protocol error before the redirect URI is trusted: shown, never redirected.
pub fn oauth_error(error: &OAuthError) -> Response {
    let hint = "The MCP client sent an authorization request this server cannot accept. Update the client, or remove and re-add the server so it registers again.";
    Response::html(400, pages::error("Authorization request rejected", &error.description, hint))
}

pub fn denial(denial: &Denial, policy: &WorkspacePolicy) -> Response {
    Response::html(403, pages::error("Authorization blocked by workspace policy", denial.message(), &denial.hint(&policy.name)))
}

pub fn policy_unavailable(error: &PolicyLoadError) -> Response {
    let (status, message, hint) = match error {
        PolicyLoadError::Missing(ws) => (403, format!("Workspace `{ws}` has no MCP policy"), "An admin must create the workspace policy before anyone can connect.".to_string()),
        PolicyLoadError::Invalid(e) => (403, e.to_string(), "The stored policy is malformed, so nothing is allowed until an admin fixes it (run `make policy-check FILE=…` before `wrangler kv key put`).".to_string()),
        PolicyLoadError::Store(_) => (503, "The workspace policy cannot be read right now".to_string(), "Try again in a moment.".to_string()),
    };
    Response::html(status, pages::error("Workspace policy unavailable", &message, &hint))
}

pub fn simple(status: u16, title: &str, message: &str, hint: &str) -> Response {
    Response::html(status, pages::error(title, message, hint))
}

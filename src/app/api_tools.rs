//! Calls of OpenAPI-derived tools: scope check, argument check, upstream request signed by us
//! (never the client's token), response mapping.
use serde_json::Value;

use super::error::Store;
use super::{Services, UpstreamFailure};
use crate::core::config::{StepUp, UpstreamAuth};
use crate::core::ids::WorkspaceId;
use crate::core::mcp::server::ApiView;
use crate::core::mcp::tools::{ApiToolsStatus, Caller};
use crate::core::openapi::assertion::{self, AssertionClaims};
use crate::core::openapi::call::{self, error_result};
use crate::core::openapi::catalog::ApiCatalog;
use crate::core::openapi::output;
use crate::core::openapi::to_tools::ApiTool;
use crate::core::secrets::{self, SealedUnder};

/// The tools `caller` is shown (their serialized definitions): those its effective scopes
/// allow, or with `STEP_UP=challenge` those the workspace's ceiling allows (a call then asks for
/// the scopes it lacks); and the catalog's state for `mcp_whoami`.
pub fn view<'a, S: Services>(svc: &S, catalog: &'a ApiCatalog, caller: &Caller) -> ApiView<'a> {
    let scopes = &svc.config().catalog;
    let callable = catalog.visible(&caller.scopes, scopes);
    let shown = match svc.config().step_up {
        StepUp::ToolError => callable.clone(),
        StepUp::Challenge => catalog.visible(&caller.ceiling, scopes),
    };
    let listings: Vec<&str> = shown.iter().map(|&i| catalog.tools[i].listing.as_str()).collect();
    let status = ApiToolsStatus { available: callable.len(), total: catalog.tools.len(), problems: catalog.problems.clone() };
    ApiView { listings, status }
}

/// A tool call this connection's scopes do not allow, answered as a step-up challenge
/// (`STEP_UP=challenge`): the client re-authorizes with `scope` and calls again.
#[derive(Debug, Clone, PartialEq)]
pub struct StepUpNeeded {
    /// The scopes held plus those the tool needs, all within the workspace's ceiling.
    pub scope: Vec<String>,
    /// `Tool requires scopes: …`, as the tool error would say.
    pub message: String,
}

pub async fn call<S: Services>(
    svc: &S,
    catalog: &ApiCatalog,
    tool: &ApiTool,
    caller: &Caller,
    args: &Value,
    origin: &str,
) -> Result<Value, StepUpNeeded> {
    let scopes = &svc.config().catalog;
    let Some(granting) = tool.required_scopes.met_by(&caller.scopes, scopes) else {
        let missing = tool.required_scopes.describe_missing(&caller.scopes, scopes);
        // Step-up only when a re-authorization could succeed: an alternative within the ceiling.
        if let (StepUp::Challenge, Some(needed)) = (svc.config().step_up, tool.required_scopes.met_by(&caller.ceiling, scopes)) {
            let mut scope = caller.scopes.clone();
            scope.extend(needed.iter().filter(|s| !caller.scopes.contains(s)).cloned());
            return Err(StepUpNeeded { scope, message: format!("Tool requires scopes: {missing}") });
        }
        let held = if caller.scopes.is_empty() { "none".to_string() } else { caller.scopes.join(", ") };
        return Ok(error_result(&format!(
            "Tool requires scopes: {missing}. This connection has: {held}. Ask an admin of workspace {} to allow them in the MCP scope ceiling, then reconnect.",
            caller.workspace_name
        )));
    };
    Ok(call_allowed(svc, tool, caller, args, origin, catalog, granting).await)
}

/// A call the scopes allow, made under `granting` (the alternative the upstream should check).
async fn call_allowed<S: Services>(
    svc: &S,
    tool: &ApiTool,
    caller: &Caller,
    args: &Value,
    origin: &str,
    catalog: &ApiCatalog,
    granting: &[String],
) -> Value {
    let Some(base) = catalog.base_url.as_deref() else {
        return error_result("This server has no upstream API configured (UPSTREAM_BASE_URL)");
    };
    let request = match call::build(tool, base, args) {
        Ok(r) => r,
        Err(problems) => return error_result(&format!("Invalid arguments for {}:\n- {}", tool.name, problems.join("\n- "))),
    };
    let now = svc.now();
    let claims = AssertionClaims {
        iss: origin.to_string(),
        aud: assertion::audience(base),
        sub: caller.user_email.to_string(),
        ws: caller.workspace_id.to_string(),
        client_id: caller.client_id.to_string(),
        // The alternative this call is made under: the scopes the upstream should check.
        scope: granting.join(" "),
        jti: svc.random_token(),
    };
    let credential = match &svc.config().upstream_auth {
        UpstreamAuth::Assertion => ("authorization".to_string(), format!("Bearer {}", assertion::sign(svc.keys(), &claims, now))),
        UpstreamAuth::ApiKey { header } => match workspace_key(svc, &caller.workspace_id).await {
            Ok(key) => (header.clone(), key),
            Err(message) => return error_result(&message),
        },
    };
    let mut headers = vec![credential, ("accept".to_string(), "application/json, text/*;q=0.8, */*;q=0.5".to_string())];
    if request.body.is_some() {
        headers.push(("content-type".to_string(), "application/json".to_string()));
    }
    match svc.upstream(&request, &headers).await {
        Ok(r) => {
            let result = call::to_result(r.status, &r.content_type, &r.body, svc.config().upstream_max_bytes);
            match &tool.output {
                Some(output) => output::conform(result, output),
                None => result,
            }
        }
        Err(UpstreamFailure::Timeout { after_ms }) => {
            error_result(&format!("The API did not answer within {after_ms} ms ({} {})", request.method, tool.path))
        }
        Err(UpstreamFailure::Network(e)) => error_result(&format!("The API could not be reached: {e}")),
    }
}

/// The workspace's upstream API key, decrypted for this call only.
async fn workspace_key<S: Services>(svc: &S, ws: &WorkspaceId) -> Result<String, String> {
    let missing = || format!("Workspace {ws} has no upstream API key; an admin sets it with PUT /admin/api/workspaces/{ws}/upstream-key");
    let stored = svc.upstream_secret(ws).await.map_err(|e| {
        svc.log(&format!("api tools: the upstream API key of {ws} cannot be read: {}", e.0));
        Store::Workspaces.unavailable()
    })?;
    let (sealed, _) = stored.ok_or_else(missing)?;
    let key = open_upstream_key(svc, ws, &sealed)
        .await
        .ok_or("The stored upstream API key cannot be decrypted: it was sealed under a signing key that is neither SIGNING_KEY nor SIGNING_KEY_PREVIOUS; an admin must set it again")?;
    String::from_utf8(key).map_err(|_| "The stored upstream API key is not text".to_string())
}

/// Opens the workspace's sealed API key; one sealed under `SIGNING_KEY_PREVIOUS` is sealed again
/// under the current key and stored (unless it changed since it was read), so that removing the
/// previous key after a rotation loses none in use. Best effort: a failed re-seal is logged, and
/// the next use tries again.
pub(super) async fn open_upstream_key<S: Services>(svc: &S, ws: &WorkspaceId, sealed: &str) -> Option<Vec<u8>> {
    let (plain, under) = secrets::open_noting_key(svc.keys(), sealed, ws.as_str())?;
    if under == SealedUnder::Previous {
        let mut nonce = [0u8; secrets::NONCE_BYTES];
        svc.fill_random(&mut nonce);
        let resealed = secrets::seal(svc.keys(), &plain, &nonce, ws.as_str());
        match svc.reseal_upstream_secret(ws, sealed, &resealed).await {
            Ok(true) => svc.log(&format!("api tools: the upstream API key of {ws} is sealed again under the current SIGNING_KEY")),
            Ok(false) => {}
            Err(e) => svc.log(&format!("api tools: the upstream API key of {ws} could not be sealed again: {}", e.0)),
        }
    }
    Some(plain)
}

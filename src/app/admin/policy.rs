//! The policy: read, write (validated, ETag-guarded, recorded), validate a draft, the history
//! and a revert.
use serde_json::{json, Value};

use super::{actor, no_store, Admin};
use crate::app::error::{AdminError, AppError, Store};
use crate::app::extract::Json;
use crate::app::Services;
use crate::core::admin::{self, etag};
use crate::core::audit::Event;
use crate::core::history::{self, Author, Version};
use crate::core::http::{Request, Response};
use crate::core::ids::WorkspaceId;
use crate::core::policy::model::WorkspacePolicy;
use crate::core::store::ReplaceOutcome;
use crate::core::text;

pub(super) async fn get_policy<S: Services>(svc: &S, ws: &WorkspaceId) -> Result<Response, AppError> {
    let text = svc.policy_text(ws).await.map_err(Store::Workspaces.failed())?.ok_or_else(|| AdminError::NoPolicy(ws.to_string()))?;
    let tag = etag(&text);
    if let Err(error) = WorkspacePolicy::parse(ws, &text, &svc.config().catalog) {
        return Err(AdminError::StoredPolicyInvalid { workspace: ws.to_string(), etag: tag, error, text }.into());
    }
    let policy = serde_json::from_str::<Value>(&text).unwrap_or(Value::Null);
    let body = json!({ "workspace": ws, "etag": tag, "valid": true, "policy": policy });
    Ok(no_store(Response::json(200, &body).with_header("etag", &tag)))
}

pub(super) async fn put_policy<S: Services>(svc: &S, req: &Request, ws: &WorkspaceId, admin: &Admin) -> Result<Response, AppError> {
    let if_match = req.header("if-match");
    let creating = req.header("if-none-match") == Some("*");
    if if_match.is_none() && !creating {
        return Err(AdminError::PreconditionRequired.into());
    }
    let text = String::from_utf8(req.body.clone()).map_err(|_| AdminError::NotUtf8)?;
    write_policy(svc, ws, admin, &text, if_match, admin.author(None)).await
}

/// The largest policy the admin API writes: each version is kept in the history (docs/storage.md).
pub const MAX_POLICY_BYTES: usize = 128 * 1024;

pub fn too_large(bytes: usize) -> String {
    format!("The policy is {bytes} bytes; the admin API writes at most {MAX_POLICY_BYTES} (128 KiB)")
}

/// Checks `text` as a write would: at most `MAX_POLICY_BYTES`, a valid policy that keeps an admin.
fn checked(svc: &impl Services, ws: &WorkspaceId, admin: &Admin, text: &str) -> Result<WorkspacePolicy, AdminError> {
    if text.len() > MAX_POLICY_BYTES {
        return Err(AdminError::PolicyTooLarge(text.len()));
    }
    let policy = WorkspacePolicy::parse(ws, text, &svc.config().catalog).map_err(AdminError::InvalidPolicy)?;
    admin::keeps_an_admin(admin.policy.as_ref(), &policy).map_err(AdminError::LastAdmin)?;
    Ok(policy)
}

/// The one write path of the page, the API and a revert: validated, ETag-guarded, recorded in
/// the history and the audit log.
async fn write_policy<S: Services>(
    svc: &S,
    ws: &WorkspaceId,
    admin: &Admin,
    text: &str,
    if_match: Option<&str>,
    author: Author,
) -> Result<Response, AppError> {
    let policy = checked(svc, ws, admin, text)?;
    match svc.replace_policy(ws, text, if_match, &author).await.map_err(Store::Workspaces.failed())? {
        ReplaceOutcome::Replaced { etag } => {
            let changed = history::changes(admin.text.as_deref(), Some(text));
            svc.audit(Event::PolicyChanged { by: actor(&admin.who), workspace: ws, etag: &etag, changed });
            // This isolate decides by the new policy at once (others within POLICY_CACHE_SECONDS
            // of KV serving it).
            svc.isolate().borrow_mut().policies.insert(ws.clone(), Ok(std::rc::Rc::new(policy)), svc.now());
            Ok(Response::json(200, &json!({ "workspace": ws, "etag": etag })).with_header("etag", &etag))
        }
        ReplaceOutcome::Conflict { current_etag: Some(current_etag) } if if_match.is_none() => {
            Err(AdminError::PolicyExists { workspace: ws.to_string(), current_etag }.into())
        }
        ReplaceOutcome::Conflict { current_etag } => Err(AdminError::Conflict { current_etag }.into()),
    }
}

/// `POST …/policy/validate`: a draft checked as a write would check it, nothing written — the
/// admin page's inline validation, with the worker's own messages. `path` names the field the
/// message is about (`allowed_redirect_uris[2]`), when it names one. The message is the one a
/// write would give as `error_description`.
pub(super) fn validate<S: Services>(svc: &S, req: &Request, ws: &WorkspaceId, admin: &Admin) -> Result<Response, AppError> {
    let text = String::from_utf8(req.body.clone()).map_err(|_| AdminError::NotUtf8)?;
    let body = match checked(svc, ws, admin, &text) {
        Ok(_) => json!({ "valid": true }),
        Err(AdminError::InvalidPolicy(e)) => json!({ "valid": false, "message": e.message, "path": field_path(&e.message) }),
        Err(AdminError::LastAdmin(message)) => json!({ "valid": false, "message": message, "path": "members" }),
        Err(AdminError::PolicyTooLarge(bytes)) => json!({ "valid": false, "message": too_large(bytes) }),
        Err(e) => return Err(e.into()),
    };
    Ok(no_store(Response::json(200, &body)))
}

/// The field a policy message starts with: "`members[1].role` must be…" → `members[1].role`.
fn field_path(message: &str) -> Option<&str> {
    let path = message.strip_prefix('`')?.split('`').next()?;
    let known = path.split(['[', '.']).next().is_some_and(|f| crate::core::policy::model::FIELDS.contains(&f));
    known.then_some(path)
}

pub(super) async fn history<S: Services>(svc: &S, ws: &WorkspaceId) -> Result<Response, AppError> {
    let versions = svc.history(ws).await.map_err(Store::Workspaces.failed())?;
    Ok(no_store(Response::json(200, &json!({ "workspace": ws, "kept": history::HISTORY_KEPT, "versions": versions }))))
}

fn version_number(raw: &str) -> Result<i64, AdminError> {
    raw.parse::<i64>()
        .ok()
        .filter(|v| *v > 0)
        .ok_or_else(|| AdminError::InvalidRequest(format!("`{}` is not a version number", text::quoted(raw))))
}

/// One version with its document (`policy`: the text as JSON, or the text itself if it is not)
/// and what reverting to it would change (`restores`: the field diff from the current text).
pub(super) async fn version<S: Services>(svc: &S, ws: &WorkspaceId, admin: &Admin, raw: &str) -> Result<Response, AppError> {
    let number = version_number(raw)?;
    let v = svc.policy_version(ws, number).await.map_err(Store::Workspaces.failed())?.ok_or(AdminError::NoSuchVersion(number))?;
    let document = v.text.as_deref().map(|t| serde_json::from_str::<Value>(t).unwrap_or_else(|_| Value::String(t.to_string())));
    let restores = history::changes(admin.text.as_deref(), v.text.as_deref());
    let mut body = serde_json::to_value(Version { text: None, ..v }).unwrap_or(Value::Null);
    body["policy"] = document.unwrap_or(Value::Null);
    body["restores"] = restores;
    Ok(no_store(Response::json(200, &body)))
}

/// `POST …/policy/revert` `{"version": N}` with `If-Match`: writes version N's text again, as a
/// new version that says it reverts N, through the same checks and guard as any write.
pub(super) async fn revert<S: Services>(svc: &S, req: &Request, ws: &WorkspaceId, admin: &Admin) -> Result<Response, AppError> {
    let if_match = req.header("if-match").ok_or(AdminError::PreconditionRequired)?;
    let body = Json::from_body(req)
        .map_err(|_| AdminError::InvalidRequest("Send JSON {\"version\": N} (a version of GET …/policy/history)".into()))?;
    let number = body
        .field("version")
        .and_then(Value::as_i64)
        .ok_or_else(|| AdminError::InvalidRequest("`version` must be the number of a version of GET …/policy/history".into()))?;
    let v = svc.policy_version(ws, number).await.map_err(Store::Workspaces.failed())?.ok_or(AdminError::NoSuchVersion(number))?;
    let text = v.text.ok_or_else(|| {
        AdminError::InvalidRequest(format!("Version {number} is the policy's deletion; choose a version that has a policy"))
    })?;
    write_policy(svc, ws, admin, &text, Some(if_match), admin.author(Some(number))).await.map_err(|e| match e {
        AppError::Admin(AdminError::InvalidPolicy(e)) => {
            AdminError::InvalidRequest(format!("Version {number} cannot be restored: {e}")).into()
        }
        e => e,
    })
}

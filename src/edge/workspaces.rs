//! `Workspaces`: a SQLite-backed Durable Object per workspace — the admin write path of its
//! policy and the bounded record of recent authorization outcomes.
//!
//! Readers (authorize, token, /mcp) read the policy from KV. Writes go through this object:
//! inside `block_concurrency_while` it resolves the current text, compares ETags, stores the new
//! text and writes it to KV, so two concurrent writers with the same ETag cannot both succeed and
//! KV receives writes in order. A hand edit made with `wrangler kv key put` is adopted when KV
//! differs from what this object last wrote more than `KV_PROPAGATION` seconds ago (before
//! that, a difference is taken to be KV's edge cache still serving the older value).
use serde::{Deserialize, Serialize};
use worker::{durable_object, DurableObject, Env, KvStore, Request, Response, Result, SqlStorage, SqlStorageValue, State};

use super::POLICIES_KV;
use crate::core::admin::{etag, Outcome, OutcomeKind, OUTCOMES_KEPT};
use crate::core::store::ReplaceOutcome;

const KV_PROPAGATION: i64 = 60;

#[derive(Serialize, Deserialize)]
pub struct PolicyBody {
    pub workspace: String,
    #[serde(default)]
    pub text: Option<String>,
    #[serde(default)]
    pub if_match: Option<String>,
}

#[derive(Serialize, Deserialize)]
pub struct OutcomeBody {
    pub outcome: Outcome,
}

#[derive(Serialize, Deserialize)]
pub struct SecretBody {
    pub sealed: Option<String>,
    pub now: i64,
}

#[derive(Deserialize)]
struct Stored {
    text: String,
    written_at: i64,
}

#[durable_object]
pub struct Workspaces {
    state: State,
    env: Env,
}

impl DurableObject for Workspaces {
    fn new(state: State, env: Env) -> Self {
        let sql = state.storage().sql();
        let _ = sql.exec(
            "CREATE TABLE IF NOT EXISTS policy (id INTEGER PRIMARY KEY CHECK (id = 1), text TEXT NOT NULL, written_at INTEGER NOT NULL)",
            None,
        );
        let _ = sql.exec(
            "CREATE TABLE IF NOT EXISTS outcomes (seq INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT NOT NULL, at INTEGER NOT NULL, body TEXT NOT NULL)",
            None,
        );
        let _ =
            sql.exec("CREATE TABLE IF NOT EXISTS secrets (name TEXT PRIMARY KEY, sealed TEXT NOT NULL, updated_at INTEGER NOT NULL)", None);
        Workspaces { state, env }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        match req.path().as_str() {
            "/policy" => {
                let body: PolicyBody = req.json().await?;
                let kv = self.env.kv(POLICIES_KV)?;
                let sql = self.state.storage().sql();
                let text = self.state.block_concurrency_while(async move { current(&sql, &kv, &body.workspace).await }).await?;
                Response::from_json(&text)
            }
            "/replace" => {
                let body: PolicyBody = req.json().await?;
                let kv = self.env.kv(POLICIES_KV)?;
                let sql = self.state.storage().sql();
                let outcome = self.state.block_concurrency_while(async move { replace(&sql, &kv, body).await }).await?;
                Response::from_json(&outcome)
            }
            "/record" => {
                let body: OutcomeBody = req.json().await?;
                record(&self.state.storage().sql(), &body.outcome)?;
                Response::from_json(&serde_json::json!({ "ok": true }))
            }
            "/outcomes" => Response::from_json(&outcomes(&self.state.storage().sql())?),
            "/secret" => {
                #[derive(Deserialize)]
                struct Row {
                    sealed: String,
                    updated_at: i64,
                }
                let rows: Vec<Row> = self
                    .state
                    .storage()
                    .sql()
                    .exec("SELECT sealed, updated_at FROM secrets WHERE name = 'upstream_api_key'", None)?
                    .to_array()?;
                Response::from_json(&rows.into_iter().next().map(|r| (r.sealed, r.updated_at)))
            }
            "/set_secret" => {
                let body: SecretBody = req.json().await?;
                let sql = self.state.storage().sql();
                match body.sealed {
                    Some(sealed) => sql.exec(
                        "INSERT OR REPLACE INTO secrets (name, sealed, updated_at) VALUES ('upstream_api_key', ?, ?)",
                        vec![sealed.into(), SqlStorageValue::Integer(body.now)],
                    )?,
                    None => sql.exec("DELETE FROM secrets WHERE name = 'upstream_api_key'", None)?,
                };
                Response::from_json(&serde_json::json!({ "ok": true }))
            }
            other => Response::error(format!("unknown operation {other}"), 404),
        }
    }
}

fn now() -> i64 {
    (worker::Date::now().as_millis() / 1000) as i64
}

/// The policy text as of now (see the module comment for the rule).
async fn current(sql: &SqlStorage, kv: &KvStore, workspace: &str) -> Result<Option<String>> {
    let kv_text = kv.get(&format!("policy:{workspace}")).text().await?;
    let stored: Vec<Stored> = sql.exec("SELECT text, written_at FROM policy WHERE id = 1", None)?.to_array()?;
    Ok(match (stored.into_iter().next(), kv_text) {
        (None, kv_text) => kv_text,
        (Some(s), Some(k)) if k != s.text && now() - s.written_at > KV_PROPAGATION => Some(k),
        (Some(s), _) => Some(s.text),
    })
}

async fn replace(sql: &SqlStorage, kv: &KvStore, body: PolicyBody) -> Result<ReplaceOutcome> {
    let existing = current(sql, kv, &body.workspace).await?;
    let current_etag = existing.as_deref().map(etag);
    if current_etag.as_deref() != body.if_match.as_deref() {
        return Ok(ReplaceOutcome::Conflict { current_etag });
    }
    let text = body.text.unwrap_or_default();
    sql.exec(
        "INSERT OR REPLACE INTO policy (id, text, written_at) VALUES (1, ?, ?)",
        vec![text.as_str().into(), SqlStorageValue::Integer(now())],
    )?;
    kv.put(&format!("policy:{}", body.workspace), text.as_str())?.execute().await?;
    Ok(ReplaceOutcome::Replaced { etag: etag(&text) })
}

fn kind_name(kind: OutcomeKind) -> &'static str {
    match kind {
        OutcomeKind::Rejected => "rejected",
        OutcomeKind::Approved => "approved",
    }
}

fn record(sql: &SqlStorage, outcome: &Outcome) -> Result<()> {
    let kind = kind_name(outcome.kind);
    sql.exec(
        "INSERT INTO outcomes (kind, at, body) VALUES (?, ?, ?)",
        vec![kind.into(), SqlStorageValue::Integer(outcome.at), serde_json::to_string(outcome)?.into()],
    )?;
    sql.exec(
        "DELETE FROM outcomes WHERE kind = ? AND seq NOT IN (SELECT seq FROM outcomes WHERE kind = ? ORDER BY seq DESC LIMIT ?)",
        vec![kind.into(), kind.into(), SqlStorageValue::Integer(OUTCOMES_KEPT as i64)],
    )?;
    Ok(())
}

fn outcomes(sql: &SqlStorage) -> Result<Vec<Outcome>> {
    #[derive(Deserialize)]
    struct Row {
        body: String,
    }
    let rows: Vec<Row> = sql.exec("SELECT body FROM outcomes ORDER BY seq DESC", None)?.to_array()?;
    Ok(rows.iter().filter_map(|r| serde_json::from_str(&r.body).ok()).collect())
}

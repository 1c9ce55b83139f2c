//! `Workspaces`: a SQLite-backed Durable Object per workspace — the admin write path of its
//! policy, the index of users with connections, and the bounded record of recent
//! authorization outcomes.
//!
//! Readers (authorize, token, /mcp) read the policy from KV; the admin API reads it here.
//! Writes go through this object: inside `block_concurrency_while` it resolves the current
//! text, compares ETags, writes the new text to KV **with metadata `{"etag": …}`** and, only
//! once KV accepted it, stores it. Two concurrent writers with the same ETag cannot both
//! succeed, and KV receives writes in order. Which text is current when KV and the stored text
//! differ is `core::admin::resolve_policy_text`: a KV value without our metadata is a hand edit
//! (`wrangler kv key put`) and is adopted at once; one with our metadata is KV's cache serving
//! an older write of ours.
use serde::{Deserialize, Serialize};
use worker::{durable_object, DurableObject, Env, KvStore, Request, Response, Result, SqlStorage, SqlStorageValue, State};

use super::POLICIES_KV;
use crate::core::admin::{etag, resolve_policy_text, Outcome, OutcomeKind, PolicyText, StoredPolicy, KV_ETAG_METADATA, OUTCOMES_KEPT};
use crate::core::store::ReplaceOutcome;

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

#[derive(Serialize, Deserialize)]
pub struct UserBody {
    pub user: String,
}

#[derive(Deserialize)]
struct Stored {
    text: String,
    written_at: i64,
    #[serde(default)]
    replaced_etag: Option<String>,
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
            "CREATE TABLE IF NOT EXISTS policy (id INTEGER PRIMARY KEY CHECK (id = 1), text TEXT NOT NULL, written_at INTEGER NOT NULL, replaced_etag TEXT)",
            None,
        );
        // Objects created before `replaced_etag` existed get the column (an error means it is there).
        let _ = sql.exec("ALTER TABLE policy ADD COLUMN replaced_etag TEXT", None);
        let _ = sql.exec(
            "CREATE TABLE IF NOT EXISTS outcomes (seq INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT NOT NULL, at INTEGER NOT NULL, body TEXT NOT NULL)",
            None,
        );
        let _ = sql.exec("CREATE TABLE IF NOT EXISTS users (email TEXT PRIMARY KEY, noted_at INTEGER NOT NULL)", None);
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
            "/note_user" => {
                let body: UserBody = req.json().await?;
                self.state.storage().sql().exec(
                    "INSERT OR IGNORE INTO users (email, noted_at) VALUES (?, ?)",
                    vec![body.user.into(), SqlStorageValue::Integer(now())],
                )?;
                Response::from_json(&serde_json::json!({ "ok": true }))
            }
            "/users" => {
                #[derive(Deserialize)]
                struct Row {
                    email: String,
                }
                let rows: Vec<Row> = self.state.storage().sql().exec("SELECT email FROM users", None)?.to_array()?;
                Response::from_json(&rows.into_iter().map(|r| r.email).collect::<Vec<_>>())
            }
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

fn kv_key(workspace: &str) -> String {
    format!("policy:{workspace}")
}

fn store(sql: &SqlStorage, text: &str, replaced_etag: Option<String>) -> Result<()> {
    let replaced = replaced_etag.map_or(SqlStorageValue::Null, SqlStorageValue::from);
    sql.exec(
        "INSERT OR REPLACE INTO policy (id, text, written_at, replaced_etag) VALUES (1, ?, ?, ?)",
        vec![text.into(), SqlStorageValue::Integer(now()), replaced],
    )?;
    Ok(())
}

/// The policy text as of now (`resolve_policy_text`); a hand edit found in KV is stored.
async fn current(sql: &SqlStorage, kv: &KvStore, workspace: &str) -> Result<Option<String>> {
    let (kv_text, metadata) = kv.get(&kv_key(workspace)).text_with_metadata::<serde_json::Value>().await?;
    let kv_etag = metadata.as_ref().and_then(|m| m.get(KV_ETAG_METADATA)).and_then(|e| e.as_str());
    let stored: Vec<Stored> = sql.exec("SELECT text, written_at, replaced_etag FROM policy WHERE id = 1", None)?.to_array()?;
    let stored =
        stored.first().map(|s| StoredPolicy { text: &s.text, written_at: s.written_at, replaced_etag: s.replaced_etag.as_deref() });
    Ok(match resolve_policy_text(stored, kv_text.as_deref(), kv_etag, now()) {
        PolicyText::Absent => None,
        PolicyText::Stored(text) => Some(text.to_string()),
        PolicyText::Adopt(text) => {
            store(sql, text, None)?;
            Some(text.to_string())
        }
    })
}

/// KV first (with our metadata), then the stored text: a failed KV write changes nothing, and
/// a KV value carrying our metadata is always one this object wrote.
async fn replace(sql: &SqlStorage, kv: &KvStore, body: PolicyBody) -> Result<ReplaceOutcome> {
    let existing = current(sql, kv, &body.workspace).await?;
    let current_etag = existing.as_deref().map(etag);
    if current_etag.as_deref() != body.if_match.as_deref() {
        return Ok(ReplaceOutcome::Conflict { current_etag });
    }
    let text = body.text.unwrap_or_default();
    let tag = etag(&text);
    kv.put(&kv_key(&body.workspace), text.as_str())?.metadata(serde_json::json!({ KV_ETAG_METADATA: tag }))?.execute().await?;
    store(sql, &text, current_etag)?;
    Ok(ReplaceOutcome::Replaced { etag: tag })
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

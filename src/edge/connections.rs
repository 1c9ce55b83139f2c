//! `Connections`: a SQLite-backed Durable Object per (workspace, user) holding that user's
//! connections (one per approval) and their refresh-token hashes. Revocation is immediate:
//! every /mcp call asks this object.
use serde::{Deserialize, Serialize};
use worker::{durable_object, DurableObject, Env, Request, Response, Result, SqlStorage, SqlStorageValue, State};

use crate::core::store::{ConnectionStatus, CreateOutcome, NewConnection};

/// `last_used_at` is written at most this often, so a busy connection is not a write per call.
const TOUCH_EVERY: i64 = 60;

#[derive(Serialize, Deserialize)]
pub struct IdBody {
    pub id: String,
    pub workspace: String,
    pub user: String,
    pub now: i64,
}

#[derive(Deserialize)]
struct Revoked {
    revoked_at: Option<i64>,
}

#[durable_object]
pub struct Connections {
    state: State,
}

impl DurableObject for Connections {
    fn new(state: State, _env: Env) -> Self {
        let sql = state.storage().sql();
        let _ = sql.exec(
            "CREATE TABLE IF NOT EXISTS connections (
                id TEXT PRIMARY KEY, workspace TEXT NOT NULL, user TEXT NOT NULL,
                client_id TEXT, client_name TEXT, scopes TEXT,
                created_at INTEGER, last_used_at INTEGER,
                refresh_hash TEXT, refresh_expires_at INTEGER, revoked_at INTEGER)",
            None,
        );
        Connections { state }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        let sql = self.state.storage().sql();
        match req.path().as_str() {
            "/create" => {
                let c: NewConnection = req.json().await?;
                Response::from_json(&create(&sql, &c)?)
            }
            "/touch" => {
                let b: IdBody = req.json().await?;
                Response::from_json(&touch(&sql, &b.id, b.now)?)
            }
            "/revoke" => {
                let b: IdBody = req.json().await?;
                revoke(&sql, &b)?;
                Response::from_json(&serde_json::json!({ "ok": true }))
            }
            other => Response::error(format!("unknown operation {other}"), 404),
        }
    }
}

fn status_row(sql: &SqlStorage, id: &str) -> Result<Option<Revoked>> {
    let rows: Vec<Revoked> = sql.exec("SELECT revoked_at FROM connections WHERE id = ?", vec![id.into()])?.to_array()?;
    Ok(rows.into_iter().next())
}

fn create(sql: &SqlStorage, c: &NewConnection) -> Result<CreateOutcome> {
    // A replay may have revoked this ID before the first redemption got here: the row is then
    // a tombstone, which keeps its `revoked_at` and gains the details.
    let outcome = match status_row(sql, &c.id)? {
        Some(row) if row.revoked_at.is_some() => CreateOutcome::AlreadyRevoked,
        _ => CreateOutcome::Created,
    };
    sql.exec(
        "INSERT INTO connections (id, workspace, user, client_id, client_name, scopes, created_at, last_used_at, refresh_hash, refresh_expires_at, revoked_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, NULL, ?, ?, NULL)
         ON CONFLICT(id) DO UPDATE SET client_id = excluded.client_id, client_name = excluded.client_name, scopes = excluded.scopes,
           created_at = excluded.created_at, refresh_hash = excluded.refresh_hash, refresh_expires_at = excluded.refresh_expires_at",
        vec![
            c.id.as_str().into(),
            c.workspace.as_str().into(),
            c.user.as_str().into(),
            c.client_id.as_str().into(),
            c.client_name.as_str().into(),
            c.scopes.join(" ").into(),
            SqlStorageValue::Integer(c.created_at),
            c.refresh_hash.as_str().into(),
            SqlStorageValue::Integer(c.refresh_expires_at),
        ],
    )?;
    Ok(outcome)
}

fn touch(sql: &SqlStorage, id: &str, now: i64) -> Result<ConnectionStatus> {
    let Some(row) = status_row(sql, id)? else {
        return Ok(ConnectionStatus::Missing);
    };
    if row.revoked_at.is_some() {
        return Ok(ConnectionStatus::Revoked);
    }
    sql.exec(
        "UPDATE connections SET last_used_at = ? WHERE id = ? AND (last_used_at IS NULL OR last_used_at < ?)",
        vec![SqlStorageValue::Integer(now), id.into(), SqlStorageValue::Integer(now - TOUCH_EVERY)],
    )?;
    Ok(ConnectionStatus::Active)
}

/// Revokes, or records a tombstone so a later `create` of this ID is refused.
fn revoke(sql: &SqlStorage, b: &IdBody) -> Result<()> {
    sql.exec(
        "INSERT INTO connections (id, workspace, user, revoked_at) VALUES (?, ?, ?, ?)
         ON CONFLICT(id) DO UPDATE SET revoked_at = COALESCE(revoked_at, excluded.revoked_at)",
        vec![b.id.as_str().into(), b.workspace.as_str().into(), b.user.as_str().into(), SqlStorageValue::Integer(b.now)],
    )?;
    Ok(())
}

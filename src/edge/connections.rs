//! `Connections`: a SQLite-backed Durable Object per (workspace, user) holding that user's
//! connections (one per approval) and the generation of each refresh family. Each operation is
//! one event with no `await` between its read and its write, so it is atomic; and since every
//! /mcp call asks this object, a revocation takes effect at the next call.
use serde::{Deserialize, Serialize};
use worker::{durable_object, DurableObject, Env, Request, Response, Result, SqlStorage, SqlStorageValue, State};

use crate::core::connection::{rotate, ConnectionRecord, Rotation};
use crate::core::store::{ConnectionStatus, CreateOutcome, RevokeOutcome};

/// `last_used_at` is written at most this often, so a busy connection is not a write per call.
const TOUCH_EVERY: i64 = 60;
/// Connections revoked, or whose refresh family expired, this long ago are forgotten (after
/// the admin page has shown them for a while), so a user's object does not grow forever.
const FORGET_AFTER: i64 = 30 * 86_400;

#[derive(Serialize, Deserialize)]
pub struct IdBody {
    pub id: String,
    pub workspace: String,
    pub user: String,
    pub now: i64,
    #[serde(default)]
    pub client_id: Option<String>,
    #[serde(default)]
    pub presented: u32,
}

/// A row as SQLite returns it (scopes space-separated).
#[derive(Deserialize)]
struct Row {
    id: String,
    workspace: String,
    user: String,
    client_id: String,
    client_name: String,
    scopes: String,
    created_at: i64,
    last_used_at: Option<i64>,
    generation: i64,
    #[serde(default)]
    rotated_at: Option<i64>,
    refresh_expires_at: i64,
    revoked_at: Option<i64>,
}

impl From<Row> for ConnectionRecord {
    fn from(r: Row) -> ConnectionRecord {
        ConnectionRecord {
            id: r.id,
            workspace: r.workspace,
            user: r.user,
            client_id: r.client_id,
            client_name: r.client_name,
            scopes: r.scopes.split(' ').filter(|s| !s.is_empty()).map(str::to_string).collect(),
            created_at: r.created_at,
            last_used_at: r.last_used_at,
            generation: u32::try_from(r.generation).unwrap_or(0),
            rotated_at: r.rotated_at,
            refresh_expires_at: r.refresh_expires_at,
            revoked_at: r.revoked_at,
        }
    }
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
                client_id TEXT NOT NULL DEFAULT '', client_name TEXT NOT NULL DEFAULT '', scopes TEXT NOT NULL DEFAULT '',
                created_at INTEGER NOT NULL, last_used_at INTEGER,
                generation INTEGER NOT NULL DEFAULT 0, refresh_expires_at INTEGER NOT NULL DEFAULT 0,
                revoked_at INTEGER, rotated_at INTEGER)",
            None,
        );
        // Objects created before `rotated_at` existed get the column (an error means it is there).
        let _ = sql.exec("ALTER TABLE connections ADD COLUMN rotated_at INTEGER", None);
        Connections { state }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        let sql = self.state.storage().sql();
        match req.path().as_str() {
            "/create" => {
                let c: ConnectionRecord = req.json().await?;
                Response::from_json(&create(&sql, &c)?)
            }
            "/rotate" => {
                let b: IdBody = req.json().await?;
                let client_id = b.client_id.clone().unwrap_or_default();
                let outcome = match load(&sql, &b.id)? {
                    None => Rotation::Missing,
                    Some(mut record) => {
                        let outcome = rotate(&mut record, b.presented, &client_id, b.now);
                        save(&sql, &record)?;
                        outcome
                    }
                };
                Response::from_json(&outcome)
            }
            "/touch" => {
                let b: IdBody = req.json().await?;
                Response::from_json(&touch(&sql, &b.id, b.now)?)
            }
            "/revoke" => {
                let b: IdBody = req.json().await?;
                Response::from_json(&revoke(&sql, &b)?)
            }
            "/list" => {
                let rows: Vec<Row> =
                    sql.exec("SELECT * FROM connections WHERE client_id != '' ORDER BY created_at DESC", None)?.to_array()?;
                Response::from_json(&rows.into_iter().map(ConnectionRecord::from).collect::<Vec<_>>())
            }
            "/revoke_all" => {
                let b: IdBody = req.json().await?;
                let n = sql.exec("UPDATE connections SET revoked_at = ? WHERE revoked_at IS NULL", vec![int(b.now)])?.rows_written();
                Response::from_json(&n)
            }
            other => Response::error(format!("unknown operation {other}"), 404),
        }
    }
}

fn int(v: i64) -> SqlStorageValue {
    SqlStorageValue::Integer(v)
}

fn opt_int(v: Option<i64>) -> SqlStorageValue {
    v.map_or(SqlStorageValue::Null, SqlStorageValue::Integer)
}

fn load(sql: &SqlStorage, id: &str) -> Result<Option<ConnectionRecord>> {
    let rows: Vec<Row> = sql.exec("SELECT * FROM connections WHERE id = ?", vec![id.into()])?.to_array()?;
    Ok(rows.into_iter().next().map(ConnectionRecord::from))
}

/// Writes the whole record (insert or replace).
fn save(sql: &SqlStorage, c: &ConnectionRecord) -> Result<()> {
    sql.exec(
        "INSERT OR REPLACE INTO connections (id, workspace, user, client_id, client_name, scopes, created_at, last_used_at, generation, refresh_expires_at, revoked_at, rotated_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        vec![
            c.id.as_str().into(),
            c.workspace.as_str().into(),
            c.user.as_str().into(),
            c.client_id.as_str().into(),
            c.client_name.as_str().into(),
            c.scopes.join(" ").into(),
            int(c.created_at),
            opt_int(c.last_used_at),
            int(i64::from(c.generation)),
            int(c.refresh_expires_at),
            opt_int(c.revoked_at),
            opt_int(c.rotated_at),
        ],
    )?;
    Ok(())
}

/// A replay may have revoked this ID before the first redemption got here: the tombstone's
/// `revoked_at` is kept and the details are filled in.
fn create(sql: &SqlStorage, c: &ConnectionRecord) -> Result<CreateOutcome> {
    let revoked_at = load(sql, &c.id)?.and_then(|r| r.revoked_at);
    save(sql, &ConnectionRecord { revoked_at, ..c.clone() })?;
    // Housekeeping on the rare write path. Tombstones (no client yet) go only by their age.
    let forget_before = int(c.created_at - FORGET_AFTER);
    sql.exec(
        "DELETE FROM connections WHERE revoked_at < ? OR (client_id != '' AND refresh_expires_at < ?)",
        vec![forget_before.clone(), forget_before],
    )?;
    Ok(if revoked_at.is_some() { CreateOutcome::AlreadyRevoked } else { CreateOutcome::Created })
}

fn touch(sql: &SqlStorage, id: &str, now: i64) -> Result<ConnectionStatus> {
    let Some(record) = load(sql, id)? else {
        return Ok(ConnectionStatus::Missing);
    };
    if record.revoked_at.is_some() {
        return Ok(ConnectionStatus::Revoked);
    }
    if record.last_used_at.is_none_or(|t| t < now - TOUCH_EVERY) {
        sql.exec("UPDATE connections SET last_used_at = ? WHERE id = ?", vec![int(now), id.into()])?;
    }
    Ok(ConnectionStatus::Active)
}

fn revoke(sql: &SqlStorage, b: &IdBody) -> Result<RevokeOutcome> {
    let record = load(sql, &b.id)?.unwrap_or_else(|| ConnectionRecord {
        id: b.id.clone(),
        workspace: b.workspace.clone(),
        user: b.user.clone(),
        client_id: String::new(),
        client_name: String::new(),
        scopes: Vec::new(),
        created_at: b.now,
        last_used_at: None,
        generation: 0,
        rotated_at: None,
        refresh_expires_at: 0,
        revoked_at: None,
    });
    if b.client_id.as_deref().is_some_and(|c| !record.client_id.is_empty() && c != record.client_id) {
        return Ok(RevokeOutcome::WrongClient);
    }
    save(sql, &ConnectionRecord { revoked_at: record.revoked_at.or(Some(b.now)), ..record })?;
    Ok(RevokeOutcome::Revoked)
}

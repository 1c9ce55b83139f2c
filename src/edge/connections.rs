//! `Connections`: a SQLite-backed Durable Object per (workspace, user) holding that user's
//! connections (one per approval) and the generation of each refresh family. Each operation
//! loads its rows, applies its `core::connection` transition and saves the result in one event
//! with no `.await` in between (SQL in a Durable Object is synchronous), so it is atomic; and
//! since every /mcp call asks this object, a revocation takes effect at the next call.
use serde::Deserialize;
use worker::{durable_object, DurableObject, Env, Request, Response, Result, SqlStorage, SqlStorageValue, State};

use crate::core::connection::{self, ConnectionRecord};
use crate::core::ids::{ConnectionId, Email, WorkspaceId};
use crate::core::messages::ConnectionsCall;
use crate::core::oauth::types::ClientId;
use crate::core::store::CreateOutcome;

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

/// A stored row is read back through the same parses as everything else: a row that does not
/// hold valid identities is an error, never a record.
impl TryFrom<Row> for ConnectionRecord {
    type Error = worker::Error;

    fn try_from(r: Row) -> Result<ConnectionRecord> {
        let invalid = |what: &str| worker::Error::RustError(format!("a stored connection has an invalid {what}"));
        Ok(ConnectionRecord {
            id: ConnectionId::parse(&r.id).ok_or_else(|| invalid("id"))?,
            workspace: WorkspaceId::parse(&r.workspace).ok_or_else(|| invalid("workspace"))?,
            user: Email::parse(&r.user).map_err(|_| invalid("user"))?,
            // A tombstone is stored with an empty client.
            client_id: match r.client_id.as_str() {
                "" => None,
                raw => Some(ClientId::parse(raw).ok_or_else(|| invalid("client_id"))?),
            },
            client_name: r.client_name,
            scopes: r.scopes.split(' ').filter(|s| !s.is_empty()).map(str::to_string).collect(),
            created_at: r.created_at,
            last_used_at: r.last_used_at,
            generation: u32::try_from(r.generation).map_err(|_| invalid("generation"))?,
            rotated_at: r.rotated_at,
            refresh_expires_at: r.refresh_expires_at,
            revoked_at: r.revoked_at,
        })
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
        let call: ConnectionsCall = match serde_json::from_str(&req.text().await?) {
            Ok(call) => call,
            Err(e) => return Response::error(format!("bad message: {e}"), 400),
        };
        let sql = self.state.storage().sql();
        match call {
            ConnectionsCall::Create { connection } => Response::from_json(&create(&sql, &connection)?),
            ConnectionsCall::Rotate { id, presented, client_id, now } => {
                let (write, outcome) = connection::rotate_row(load(&sql, &id)?, presented, &client_id, now);
                save_all(&sql, write)?;
                Response::from_json(&outcome)
            }
            ConnectionsCall::Touch { id, now } => {
                let (write, status) = connection::touch(load(&sql, &id)?, now);
                save_all(&sql, write)?;
                Response::from_json(&status)
            }
            ConnectionsCall::Revoke { connection, client_id, now } => {
                let (write, outcome) = connection::revoke(load(&sql, &connection.id)?, &connection, client_id.as_ref(), now);
                save_all(&sql, write)?;
                Response::from_json(&outcome)
            }
            ConnectionsCall::List => Response::from_json(&connection::list(load_all(&sql)?)),
            ConnectionsCall::RevokeAll { now } => {
                let (write, count) = connection::revoke_all(load_all(&sql)?, now);
                save_all(&sql, write)?;
                Response::from_json(&count)
            }
        }
    }
}

fn int(v: i64) -> SqlStorageValue {
    SqlStorageValue::Integer(v)
}

fn opt_int(v: Option<i64>) -> SqlStorageValue {
    v.map_or(SqlStorageValue::Null, SqlStorageValue::Integer)
}

fn load(sql: &SqlStorage, id: &ConnectionId) -> Result<Option<ConnectionRecord>> {
    let rows: Vec<Row> = sql.exec("SELECT * FROM connections WHERE id = ?", vec![id.as_str().into()])?.to_array()?;
    rows.into_iter().next().map(ConnectionRecord::try_from).transpose()
}

/// Every row of the object (one user's connections: a few, kept few by `forget_on_create`). A
/// row that does not parse is logged and left out, so one damaged row cannot take the user's
/// listing, `revoke_all` or the next connection's housekeeping down with it (the row itself
/// keeps failing closed wherever it is loaded by its ID).
fn load_all(sql: &SqlStorage) -> Result<Vec<ConnectionRecord>> {
    let rows: Vec<Row> = sql.exec("SELECT * FROM connections", None)?.to_array()?;
    Ok(rows
        .into_iter()
        .filter_map(|row| {
            let id = row.id.clone();
            ConnectionRecord::try_from(row).map_err(|e| worker::console_error!("connection row {id:?} is unreadable: {e}")).ok()
        })
        .collect())
}

/// Writes each whole record (insert or replace).
fn save_all(sql: &SqlStorage, records: impl IntoIterator<Item = ConnectionRecord>) -> Result<()> {
    records.into_iter().try_for_each(|c| save(sql, &c))
}

fn save(sql: &SqlStorage, c: &ConnectionRecord) -> Result<()> {
    sql.exec(
        "INSERT OR REPLACE INTO connections (id, workspace, user, client_id, client_name, scopes, created_at, last_used_at, generation, refresh_expires_at, revoked_at, rotated_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        vec![
            c.id.as_str().into(),
            c.workspace.as_str().into(),
            c.user.as_str().into(),
            c.client_id.as_ref().map_or("", ClientId::as_str).into(),
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

/// `connection::create`, then the housekeeping of this rare write path: the rows
/// `connection::forget_on_create` names are deleted.
fn create(sql: &SqlStorage, c: &ConnectionRecord) -> Result<CreateOutcome> {
    let (row, outcome) = connection::create(load(sql, &c.id)?, c);
    save(sql, &row)?;
    // SQL narrows the rows to those that may be forgotten (revoked, or whose family expired,
    // long enough ago); `forget_on_create` decides. Loading every row here cost a user with
    // hundreds of connections milliseconds of CPU per new one (BENCHMARKS.md).
    let before = c.created_at - connection::FORGET_AFTER;
    let candidates: Vec<Row> = sql
        .exec(
            "SELECT * FROM connections WHERE id != ? AND ((revoked_at IS NOT NULL AND revoked_at < ?) OR refresh_expires_at < ?)",
            vec![c.id.as_str().into(), int(before), int(before)],
        )?
        .to_array()?;
    let candidates = candidates.into_iter().filter_map(|r| ConnectionRecord::try_from(r).ok());
    for old in candidates.filter(|r| connection::forget_on_create(r, c)) {
        sql.exec("DELETE FROM connections WHERE id = ?", vec![old.id.as_str().into()])?;
    }
    // Only past the cap are all the rows loaded (`beyond_cap`).
    #[derive(Deserialize)]
    struct Count {
        n: i64,
    }
    let count: Vec<Count> = sql.exec("SELECT COUNT(*) AS n FROM connections", None)?.to_array()?;
    if count.first().is_some_and(|c| c.n as usize > connection::MAX_PER_USER) {
        for id in connection::beyond_cap(&load_all(sql)?, c, c.created_at) {
            worker::console_log!("connections: {id} forgotten: the user has more than {} connections", connection::MAX_PER_USER);
            sql.exec("DELETE FROM connections WHERE id = ?", vec![id.as_str().into()])?;
        }
    }
    Ok(outcome)
}

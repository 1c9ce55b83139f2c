//! `AuthCodes`: a SQLite-backed Durable Object holding single-use authorization codes.
//! Codes are sharded over `CODE_SHARDS` objects by the prefix each code carries.
//!
//! Atomicity: a Durable Object runs one event at a time, and SQL in a Durable Object is
//! synchronous. `redeem` loads the row, applies `core::oauth::code::redeem` and saves the
//! result with no `.await` in between, so the three are one atomic step: of any number of
//! concurrent redemptions exactly one sees the row unconsumed. (This replaces a single
//! `UPDATE … RETURNING`; the contract now lives in the core, shared with the test store.)
use serde::Deserialize;
use worker::{durable_object, DurableObject, Env, Request, Response, Result, SqlStorage, SqlStorageValue, State};

use crate::core::messages::CodesCall;
use crate::core::oauth::code::{self, CodeGrant, CodeRow, Presentation, Redemption, KEEP_AFTER_EXPIRY};

/// A row as SQLite returns it (the grant as JSON).
#[derive(Deserialize)]
struct Row {
    grant_json: String,
    expires_at: i64,
    consumed_at: Option<i64>,
}

#[durable_object]
pub struct AuthCodes {
    state: State,
}

impl DurableObject for AuthCodes {
    fn new(state: State, _env: Env) -> Self {
        let sql = state.storage().sql();
        let _ = sql.exec(
            "CREATE TABLE IF NOT EXISTS codes (key TEXT PRIMARY KEY, grant_json TEXT NOT NULL, expires_at INTEGER NOT NULL, consumed_at INTEGER)",
            None,
        );
        AuthCodes { state }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        let call: CodesCall = match serde_json::from_str(&req.text().await?) {
            Ok(call) => call,
            Err(e) => return Response::error(format!("bad message: {e}"), 400),
        };
        let sql = self.state.storage().sql();
        match call {
            CodesCall::Insert { key, grant, expires_at } => {
                insert(&sql, &key, &grant, expires_at)?;
                if self.state.storage().get_alarm().await?.is_none() {
                    self.state.storage().set_alarm((expires_at + KEEP_AFTER_EXPIRY) * 1000).await?;
                }
                Response::from_json(&())
            }
            CodesCall::Redeem { key, now, presented } => Response::from_json(&redeem(&sql, &key, now, &presented)?),
            CodesCall::Release { key, consumed_at } => {
                // Load, `code::release`, save: one atomic step (no `.await`).
                if let Some(row) = code::release(load(&sql, &key)?, consumed_at) {
                    save(&sql, &key, &row)?;
                }
                Response::from_json(&())
            }
        }
    }

    async fn alarm(&self) -> Result<Response> {
        let now = (worker::Date::now().as_millis() / 1000) as i64;
        let sql = self.state.storage().sql();
        sql.exec("DELETE FROM codes WHERE expires_at < ?", vec![SqlStorageValue::Integer(now - KEEP_AFTER_EXPIRY)])?;
        #[derive(Deserialize)]
        struct Next {
            next: Option<i64>,
        }
        let next: Vec<Next> = sql.exec("SELECT MIN(expires_at) AS next FROM codes", None)?.to_array()?;
        if let Some(next) = next.first().and_then(|n| n.next) {
            self.state.storage().set_alarm((next + KEEP_AFTER_EXPIRY) * 1000).await?;
        }
        Response::ok("ok")
    }
}

fn load(sql: &SqlStorage, key: &str) -> Result<Option<CodeRow>> {
    let rows: Vec<Row> = sql.exec("SELECT grant_json, expires_at, consumed_at FROM codes WHERE key = ?", vec![key.into()])?.to_array()?;
    match rows.into_iter().next() {
        None => Ok(None),
        Some(r) => Ok(Some(CodeRow { grant: serde_json::from_str(&r.grant_json)?, expires_at: r.expires_at, consumed_at: r.consumed_at })),
    }
}

/// Writes the whole row (insert or replace).
fn save(sql: &SqlStorage, key: &str, row: &CodeRow) -> Result<()> {
    sql.exec(
        "INSERT OR REPLACE INTO codes (key, grant_json, expires_at, consumed_at) VALUES (?, ?, ?, ?)",
        vec![
            key.into(),
            serde_json::to_string(&row.grant)?.into(),
            SqlStorageValue::Integer(row.expires_at),
            row.consumed_at.map_or(SqlStorageValue::Null, SqlStorageValue::Integer),
        ],
    )?;
    Ok(())
}

/// `CodeStore::insert`: load, `code::insert`, save — one atomic step (no `.await`).
fn insert(sql: &SqlStorage, key: &str, grant: &CodeGrant, expires_at: i64) -> Result<()> {
    let row = code::insert(load(sql, key)?.as_ref(), grant, expires_at).map_err(|e| worker::Error::RustError(e.to_string()))?;
    save(sql, key, &row)
}

/// `CodeStore::redeem`: load, `code::redeem`, save — one atomic step (no `.await`).
fn redeem(sql: &SqlStorage, key: &str, now: i64, presented: &Presentation) -> Result<Redemption> {
    let (write, outcome) = code::redeem(load(sql, key)?, now, presented);
    if let Some(row) = write {
        save(sql, key, &row)?;
    }
    Ok(outcome)
}

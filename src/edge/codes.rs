//! `AuthCodes`: a SQLite-backed Durable Object holding single-use authorization codes.
//! Codes are sharded over `CODE_SHARDS` objects by the prefix each code carries.
//!
//! Atomicity: a Durable Object runs one event at a time, and `redeem` is a single
//! `UPDATE … RETURNING` with no `await` around it, so of any number of concurrent redemptions
//! exactly one sees the row unconsumed.
use serde::{Deserialize, Serialize};
use worker::{durable_object, DurableObject, Env, Request, Response, Result, SqlStorage, SqlStorageValue, State};

use crate::core::oauth::code::{CodeGrant, Redemption};

/// Consumed codes are kept this long past their expiry, so a late replay is still recognised.
const KEEP_AFTER_EXPIRY: i64 = 3600;

#[derive(Serialize, Deserialize)]
pub struct InsertBody {
    pub key: String,
    pub grant: CodeGrant,
    pub expires_at: i64,
}

#[derive(Serialize, Deserialize)]
pub struct RedeemBody {
    pub key: String,
    pub now: i64,
}

#[derive(Deserialize)]
struct Row {
    grant_json: String,
    consumed_at: Option<i64>,
    expires_at: i64,
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
        let sql = self.state.storage().sql();
        match req.path().as_str() {
            "/insert" => {
                let body: InsertBody = req.json().await?;
                let grant = serde_json::to_string(&body.grant)?;
                sql.exec(
                    "INSERT INTO codes (key, grant_json, expires_at, consumed_at) VALUES (?, ?, ?, NULL)",
                    vec![body.key.into(), grant.into(), SqlStorageValue::Integer(body.expires_at)],
                )?;
                if self.state.storage().get_alarm().await?.is_none() {
                    self.state.storage().set_alarm((body.expires_at + KEEP_AFTER_EXPIRY) * 1000).await?;
                }
                Response::from_json(&serde_json::json!({ "ok": true }))
            }
            "/redeem" => {
                let body: RedeemBody = req.json().await?;
                Response::from_json(&redeem(&sql, &body.key, body.now)?)
            }
            other => Response::error(format!("unknown operation {other}"), 404),
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

/// `CodeStore::redeem`'s contract, in one statement plus a read for the failure reason.
fn redeem(sql: &SqlStorage, key: &str, now: i64) -> Result<Redemption> {
    #[derive(Deserialize)]
    struct Consumed {
        grant_json: String,
    }
    let won: Vec<Consumed> = sql
        .exec(
            "UPDATE codes SET consumed_at = ? WHERE key = ? AND consumed_at IS NULL AND expires_at > ? RETURNING grant_json",
            vec![SqlStorageValue::Integer(now), key.into(), SqlStorageValue::Integer(now)],
        )?
        .to_array()?;
    if let Some(row) = won.first() {
        return Ok(Redemption::Redeemed { grant: serde_json::from_str(&row.grant_json)? });
    }
    let rows: Vec<Row> = sql.exec("SELECT grant_json, consumed_at, expires_at FROM codes WHERE key = ?", vec![key.into()])?.to_array()?;
    Ok(match rows.first() {
        None => Redemption::Unknown,
        Some(row) if row.consumed_at.is_some() => Redemption::Replayed { grant: serde_json::from_str(&row.grant_json)? },
        Some(row) if row.expires_at <= now => Redemption::Expired,
        Some(_) => Redemption::Unknown,
    })
}

//! `Workspaces`: a SQLite-backed Durable Object per workspace — the admin write path of its
//! policy and its history, the index of users with connections, and the bounded records of
//! recent authorization outcomes and of the clients seen in them.
//!
//! Readers (authorize, token, /mcp) read the policy from KV; the admin API reads it here.
//! Writes go through this object: inside `block_concurrency_while` it resolves the current
//! text, compares ETags, writes the new text to KV **with metadata `{"etag": …}`** and, only
//! once KV accepted it, stores it. Two concurrent writers with the same ETag cannot both
//! succeed, and KV receives writes in order. Which text is current when KV and the stored text
//! differ is `core::admin::resolve_policy_text`: a KV value without our metadata is a hand edit
//! (`wrangler kv key put`) and is adopted at once; one with our metadata is KV's cache serving
//! an older write of ours; whether to replace at all is `core::admin::replace_policy`.
//!
//! The other operations never `.await` between reading and writing SQL (which is synchronous
//! in a Durable Object), so each is atomic without `block_concurrency_while`.
use serde::Deserialize;
use worker::{durable_object, DurableObject, Env, KvStore, Request, Response, Result, SqlStorage, SqlStorageValue, State};

use super::{policy_key, POLICIES_KV};
use crate::core::admin::{
    beyond, bound_outcomes, etag, replace_policy, resolve_policy_text, seen_client, Outcome, OutcomeKind, PolicyText, SeenClient,
    StoredPolicy, CLIENTS_KEPT, KV_ETAG_METADATA,
};
use crate::core::history::{self, Author, Replaced, Source, Version};
use crate::core::ids::{Email, WorkspaceId};
use crate::core::messages::WorkspacesCall;
use crate::core::secrets::reseal_applies;
use crate::core::store::ReplaceOutcome;

/// The name of the upstream API key in the `secrets` table.
const UPSTREAM_SECRET: &str = "upstream_api_key";

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
        let _ =
            sql.exec("CREATE TABLE IF NOT EXISTS history (version INTEGER PRIMARY KEY AUTOINCREMENT, body TEXT NOT NULL, text TEXT)", None);
        let _ = sql
            .exec("CREATE TABLE IF NOT EXISTS clients (client_id TEXT PRIMARY KEY, last_seen INTEGER NOT NULL, body TEXT NOT NULL)", None);
        Workspaces { state, env }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        let call: WorkspacesCall = match serde_json::from_str(&req.text().await?) {
            Ok(call) => call,
            Err(e) => return Response::error(format!("bad message: {e}"), 400),
        };
        let sql = self.state.storage().sql();
        match call {
            WorkspacesCall::Policy { workspace } => {
                let kv = self.env.kv(POLICIES_KV)?;
                let text = self.state.block_concurrency_while(async move { current(&sql, &kv, &workspace).await }).await?;
                Response::from_json(&text)
            }
            WorkspacesCall::Replace { workspace, text, if_match, author } => {
                let kv = self.env.kv(POLICIES_KV)?;
                let replace = async move { replace(&sql, &kv, &workspace, &text, if_match.as_deref(), &author).await };
                Response::from_json(&self.state.block_concurrency_while(replace).await?)
            }
            WorkspacesCall::History => Response::from_json(&versions(&sql, None)?),
            WorkspacesCall::Version { version } => Response::from_json(&versions(&sql, Some(version))?.into_iter().next()),
            WorkspacesCall::Record { outcome } => Response::from_json(&record(&sql, &outcome)?),
            WorkspacesCall::Outcomes => Response::from_json(&outcomes(&sql)?),
            WorkspacesCall::Clients => Response::from_json(&clients(&sql)?),
            WorkspacesCall::Secret => Response::from_json(&secret(&sql)?),
            WorkspacesCall::SetSecret { sealed, now } => Response::from_json(&set_secret(&sql, sealed, now)?),
            WorkspacesCall::ResealSecret { was, sealed } => Response::from_json(&reseal_secret(&sql, &was, sealed)?),
            WorkspacesCall::NoteUser { user } => Response::from_json(&note_user(&sql, &user)?),
            WorkspacesCall::Users => Response::from_json(&users(&sql)?),
        }
    }
}

fn now() -> i64 {
    (worker::Date::now().as_millis() / 1000) as i64
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
async fn current(sql: &SqlStorage, kv: &KvStore, workspace: &WorkspaceId) -> Result<Option<String>> {
    let (kv_text, metadata) = kv.get(&policy_key(workspace)).text_with_metadata::<serde_json::Value>().await?;
    let kv_etag = metadata.as_ref().and_then(|m| m.get(KV_ETAG_METADATA)).and_then(|e| e.as_str());
    let stored: Vec<Stored> = sql.exec("SELECT text, written_at, replaced_etag FROM policy WHERE id = 1", None)?.to_array()?;
    let stored =
        stored.first().map(|s| StoredPolicy { text: &s.text, written_at: s.written_at, replaced_etag: s.replaced_etag.as_deref() });
    let before = stored.map(|s| Replaced { text: s.text, written_at: s.written_at });
    Ok(match resolve_policy_text(stored, kv_text.as_deref(), kv_etag, now()) {
        PolicyText::Absent => None,
        PolicyText::Deleted => {
            sql.exec("DELETE FROM policy", None)?;
            record_version(sql, before, None, &Author::hand_edit())?;
            None
        }
        PolicyText::Stored(text) => Some(text.to_string()),
        PolicyText::Adopt(text) => {
            store(sql, text, None)?;
            // Our own KV write whose store step failed carries our metadata: not a hand edit,
            // but who made it is lost with the step.
            let ours = kv_etag == Some(etag(text).as_str());
            let author = if ours { Author { by: None, source: Source::Unrecorded, reverts: None } } else { Author::hand_edit() };
            record_version(sql, before, Some(text), &author)?;
            Some(text.to_string())
        }
    })
}

/// Appends the versions `history::new_versions` gives (`text` none: the policy was deleted), in
/// the same event as the write they record, and deletes those beyond `HISTORY_KEPT`.
fn record_version(sql: &SqlStorage, before: Option<Replaced>, text: Option<&str>, author: &Author) -> Result<()> {
    #[derive(Deserialize)]
    struct Row {
        version: i64,
    }
    let mut kept: Vec<i64> =
        sql.exec("SELECT version FROM history ORDER BY version DESC", None)?.to_array::<Row>()?.into_iter().map(|r| r.version).collect();
    let insert = |version: &Version| -> Result<i64> {
        let text = version.text.clone().map_or(SqlStorageValue::Null, SqlStorageValue::from);
        let body = serde_json::to_string(&Version { text: None, ..version.clone() })?;
        let rows: Vec<Row> =
            sql.exec("INSERT INTO history (body, text) VALUES (?, ?) RETURNING version", vec![body.into(), text])?.to_array()?;
        Ok(rows.first().map_or(0, |r| r.version))
    };
    for version in history::new_versions(kept.is_empty(), before, text, author, now()) {
        kept.insert(0, insert(&version)?);
    }
    for dropped in history::beyond_bound(kept) {
        sql.exec("DELETE FROM history WHERE version = ?", vec![SqlStorageValue::Integer(dropped)])?;
    }
    Ok(())
}

/// The versions, newest first, without texts; or the one numbered `only`, with its text.
fn versions(sql: &SqlStorage, only: Option<i64>) -> Result<Vec<Version>> {
    #[derive(Deserialize)]
    struct Row {
        version: i64,
        body: String,
        #[serde(default)]
        text: Option<String>,
    }
    let rows: Vec<Row> = match only {
        Some(v) => sql.exec("SELECT version, body, text FROM history WHERE version = ?", vec![SqlStorageValue::Integer(v)])?.to_array()?,
        None => sql.exec("SELECT version, body FROM history ORDER BY version DESC", None)?.to_array()?,
    };
    Ok(rows
        .into_iter()
        .filter_map(|r| serde_json::from_str::<Version>(&r.body).ok().map(|v| Version { version: r.version, text: r.text, ..v }))
        .collect())
}

/// `replace_policy` decides; then KV first (with our metadata), then the stored text: a
/// failed KV write changes nothing, and a KV value carrying our metadata is always one this
/// object wrote. The KV write is awaited between read and write, hence the caller's
/// `block_concurrency_while`.
async fn replace(
    sql: &SqlStorage,
    kv: &KvStore,
    workspace: &WorkspaceId,
    text: &str,
    if_match: Option<&str>,
    author: &Author,
) -> Result<ReplaceOutcome> {
    let existing = current(sql, kv, workspace).await?;
    let (write, outcome) = replace_policy(existing.as_deref(), text, if_match);
    if let Some(w) = write {
        kv.put(&policy_key(workspace), w.text)?.metadata(serde_json::json!({ KV_ETAG_METADATA: w.etag }))?.execute().await?;
        let written_at = stored_at(sql)?;
        store(sql, w.text, w.replaced_etag)?;
        let before = existing.as_deref().zip(written_at).map(|(text, written_at)| Replaced { text, written_at });
        record_version(sql, before, Some(w.text), author)?;
    }
    Ok(outcome)
}

/// When the stored text was written (none: there is none).
fn stored_at(sql: &SqlStorage) -> Result<Option<i64>> {
    #[derive(Deserialize)]
    struct Row {
        written_at: i64,
    }
    Ok(sql.exec("SELECT written_at FROM policy WHERE id = 1", None)?.to_array::<Row>()?.first().map(|r| r.written_at))
}

fn kind_name(kind: OutcomeKind) -> &'static str {
    match kind {
        OutcomeKind::Rejected => "rejected",
        OutcomeKind::Approved => "approved",
    }
}

/// Inserts the outcome, then deletes the rows `bound_outcomes` drops (one event, no `.await`).
fn record(sql: &SqlStorage, outcome: &Outcome) -> Result<()> {
    sql.exec(
        "INSERT INTO outcomes (kind, at, body) VALUES (?, ?, ?)",
        vec![kind_name(outcome.kind).into(), SqlStorageValue::Integer(outcome.at), serde_json::to_string(outcome)?.into()],
    )?;
    #[derive(Deserialize)]
    struct Kept {
        seq: i64,
        kind: OutcomeKind,
    }
    let rows: Vec<Kept> = sql.exec("SELECT seq, kind FROM outcomes ORDER BY seq DESC", None)?.to_array()?;
    for dropped in bound_outcomes(rows, |r| r.kind).1 {
        sql.exec("DELETE FROM outcomes WHERE seq = ?", vec![SqlStorageValue::Integer(dropped.seq)])?;
    }
    #[derive(Deserialize)]
    struct Seen {
        client_id: String,
    }
    let existing = clients_where(sql, Some(&outcome.client_id))?.into_iter().next();
    if let Some(row) = seen_client(existing, outcome) {
        sql.exec(
            "INSERT OR REPLACE INTO clients (client_id, last_seen, body) VALUES (?, ?, ?)",
            vec![row.client_id.as_str().into(), SqlStorageValue::Integer(row.last_seen), serde_json::to_string(&row)?.into()],
        )?;
        let all: Vec<Seen> = sql.exec("SELECT client_id FROM clients ORDER BY last_seen DESC, rowid DESC", None)?.to_array()?;
        for dropped in beyond(all, CLIENTS_KEPT) {
            sql.exec("DELETE FROM clients WHERE client_id = ?", vec![dropped.client_id.into()])?;
        }
    }
    Ok(())
}

fn clients(sql: &SqlStorage) -> Result<Vec<SeenClient>> {
    clients_where(sql, None)
}

/// The seen clients, most recently seen first (or the one with `client_id`).
fn clients_where(sql: &SqlStorage, client_id: Option<&str>) -> Result<Vec<SeenClient>> {
    #[derive(Deserialize)]
    struct Row {
        body: String,
    }
    let rows: Vec<Row> = match client_id {
        Some(id) => sql.exec("SELECT body FROM clients WHERE client_id = ?", vec![id.into()])?.to_array()?,
        None => sql.exec("SELECT body FROM clients ORDER BY last_seen DESC", None)?.to_array()?,
    };
    Ok(rows.iter().filter_map(|r| serde_json::from_str(&r.body).ok()).collect())
}

fn outcomes(sql: &SqlStorage) -> Result<Vec<Outcome>> {
    #[derive(Deserialize)]
    struct Row {
        body: String,
    }
    let rows: Vec<Row> = sql.exec("SELECT body FROM outcomes ORDER BY seq DESC", None)?.to_array()?;
    Ok(rows.iter().filter_map(|r| serde_json::from_str(&r.body).ok()).collect())
}

fn secret(sql: &SqlStorage) -> Result<Option<(String, i64)>> {
    #[derive(Deserialize)]
    struct Row {
        sealed: String,
        updated_at: i64,
    }
    let rows: Vec<Row> = sql.exec("SELECT sealed, updated_at FROM secrets WHERE name = ?", vec![UPSTREAM_SECRET.into()])?.to_array()?;
    Ok(rows.into_iter().next().map(|r| (r.sealed, r.updated_at)))
}

fn set_secret(sql: &SqlStorage, sealed: Option<String>, now: i64) -> Result<()> {
    match sealed {
        Some(sealed) => sql.exec(
            "INSERT OR REPLACE INTO secrets (name, sealed, updated_at) VALUES (?, ?, ?)",
            vec![UPSTREAM_SECRET.into(), sealed.into(), SqlStorageValue::Integer(now)],
        )?,
        None => sql.exec("DELETE FROM secrets WHERE name = ?", vec![UPSTREAM_SECRET.into()])?,
    };
    Ok(())
}

/// `reseal_applies` decides; read and write in one event, no `.await` between.
fn reseal_secret(sql: &SqlStorage, was: &str, sealed: String) -> Result<bool> {
    let stored = secret(sql)?;
    if !reseal_applies(stored.as_ref().map(|(s, _)| s.as_str()), was) {
        return Ok(false);
    }
    sql.exec("UPDATE secrets SET sealed = ? WHERE name = ?", vec![sealed.into(), UPSTREAM_SECRET.into()])?;
    Ok(true)
}

fn note_user(sql: &SqlStorage, user: &Email) -> Result<()> {
    sql.exec("INSERT OR IGNORE INTO users (email, noted_at) VALUES (?, ?)", vec![user.as_str().into(), SqlStorageValue::Integer(now())])?;
    Ok(())
}

/// The noted users; a stored address that no longer parses is left out (it names no one).
fn users(sql: &SqlStorage) -> Result<Vec<Email>> {
    #[derive(Deserialize)]
    struct Row {
        email: String,
    }
    let rows: Vec<Row> = sql.exec("SELECT email FROM users", None)?.to_array()?;
    Ok(rows.iter().filter_map(|r| Email::parse(&r.email).ok()).collect())
}

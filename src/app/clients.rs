//! Who a client is: a registration made here (RFC 7591, in KV), or a Client ID Metadata Document
//! at the URL that is its ID (`core::oauth::cimd`), fetched and checked. `/authorize`, `/token`
//! and `/mcp` ask `find`; `/revoke` needs only the token's client (`revoke.rs`).
use super::error::{AppError, Store};
use super::Services;
use crate::core::oauth::cimd;
use crate::core::oauth::register::ClientRegistration;
use crate::core::oauth::types::ClientId;

#[derive(Debug)]
pub enum ClientProblem {
    /// No registration has this ID (expired, or never made here).
    Unknown,
    /// The ID is a document URL, and the document could not be fetched or used: why.
    Document(String),
    /// The registrations could not be read.
    Store(AppError),
}

/// The client with this ID. A registration found is remembered for a minute, a document for as
/// long as its `Cache-Control` allows (within `cimd::MAX_CACHE_SECONDS`), and a document that
/// could not be fetched or used for `cimd::FAILURE_SECONDS` (so a flood of requests naming it
/// is not a flood of fetches).
pub async fn find<S: Services>(svc: &S, id: &ClientId) -> Result<ClientRegistration, ClientProblem> {
    let now = svc.now();
    if cimd::is_document_url(id) {
        return document(svc, id, now).await;
    }
    if let Some(c) = svc.isolate().borrow().clients.get(id, now) {
        return Ok(c.clone());
    }
    match svc.client(id).await.map_err(|e| ClientProblem::Store(Store::Clients.error(e)))? {
        Some(c) => {
            svc.isolate().borrow_mut().clients.insert(id.clone(), c.clone(), now);
            Ok(c)
        }
        None => Err(ClientProblem::Unknown),
    }
}

async fn document<S: Services>(svc: &S, id: &ClientId, now: i64) -> Result<ClientRegistration, ClientProblem> {
    if let Some((client, until)) = svc.isolate().borrow().client_documents.get(id, now) {
        if *until > now {
            return Ok(client.clone());
        }
    }
    if !svc.config().client_documents {
        let why = format!("The client ID `{id}` is the URL of a metadata document, and this server does not accept those (CLIENT_ID_METADATA_DOCUMENTS=off): the client must register");
        return Err(ClientProblem::Document(why));
    }
    // Plain http only for a loopback document while developing locally (no PUBLIC_ORIGIN).
    let url = cimd::document_url(id, svc.config().public_origin.is_none()).map_err(ClientProblem::Document)?;
    if let Some(why) = svc.isolate().borrow().failed_documents.get(id, now) {
        return Err(ClientProblem::Document(why.clone()));
    }
    let checked = match svc.client_document(url.as_str()).await {
        Ok(fetched) => cimd::client_from_document(id, &fetched, now),
        Err(why) => Err(format!("The client's metadata document at {id} could not be fetched: {why}")),
    };
    let (client, until) = checked.map_err(|why| {
        svc.isolate().borrow_mut().failed_documents.insert(id.clone(), why.clone(), now);
        ClientProblem::Document(why)
    })?;
    if until > now {
        svc.isolate().borrow_mut().client_documents.insert(id.clone(), (client.clone(), until), now);
    }
    svc.log(&format!("client metadata document fetched: {id} ({} redirect URIs, kept {} s)", client.redirect_uris.len(), until - now));
    Ok(client)
}

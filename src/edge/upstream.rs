//! The upstream API: the OpenAPI catalog (bundled or fetched, cached per isolate) and tool calls
//! with a timeout and a size limit.
use std::cell::RefCell;
use std::future::{poll_fn, Future};
use std::rc::Rc;
use std::task::Poll;
use std::time::Duration;

use futures_util::StreamExt;
use worker::{AbortController, Delay, Fetch, Headers, Method, Request, RequestInit};

use crate::app::{UpstreamFailure, UpstreamResponse};
use crate::core::config::Config;
use crate::core::openapi::call::UpstreamRequest;
use crate::core::openapi::catalog::ApiCatalog;

/// The document bundled at build time (`config/openapi.json`); `OPENAPI_URL` replaces it.
const BUNDLED_OPENAPI: &str = include_str!("../../config/openapi.json");
/// How long a fetched document is used before asking the origin whether it changed.
const REFRESH_AFTER: i64 = 300;
const DOCUMENT_TIMEOUT_MS: u64 = 5_000;
const MAX_DOCUMENT: usize = 8 << 20;

struct Cached {
    checked_at: i64,
    etag: Option<String>,
    text_len_hash: (usize, u64),
    catalog: Rc<ApiCatalog>,
}

thread_local! {
    static CATALOG: RefCell<Option<Cached>> = const { RefCell::new(None) };
}

fn fingerprint(text: &str) -> (usize, u64) {
    // FNV-1a: only to notice a changed document, not a security boundary.
    let hash = text.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3));
    (text.len(), hash)
}

fn build(config: &Config, text: &str) -> Rc<ApiCatalog> {
    let catalog = ApiCatalog::from_document(text, config.upstream_base_url.as_deref(), &config.catalog);
    worker::console_log!("openapi: {} tools built", catalog.tools.len());
    for p in &catalog.problems {
        worker::console_warn!("openapi: {p}");
    }
    Rc::new(catalog)
}

/// Built once per document version per isolate.
pub async fn catalog(config: &Config, now: i64) -> Rc<ApiCatalog> {
    let Some(url) = config.openapi_url.clone() else {
        if let Some(c) = CATALOG.with(|c| c.borrow().as_ref().map(|c| c.catalog.clone())) {
            return c;
        }
        let catalog = build(config, BUNDLED_OPENAPI);
        store(now, None, fingerprint(BUNDLED_OPENAPI), catalog.clone());
        return catalog;
    };
    let cached = CATALOG.with(|c| c.borrow().as_ref().map(|c| (c.checked_at, c.etag.clone(), c.text_len_hash, c.catalog.clone())));
    if let Some((checked_at, _, _, catalog)) = &cached {
        if now - checked_at < REFRESH_AFTER {
            return catalog.clone();
        }
    }
    let etag = cached.as_ref().and_then(|c| c.1.clone());
    match fetch_document(&url, etag.as_deref()).await {
        Ok(None) => match cached {
            // 304: unchanged.
            Some((_, etag, fp, catalog)) => {
                store(now, etag, fp, catalog.clone());
                catalog
            }
            None => Rc::new(ApiCatalog::failed(format!("{url} answered 304 to an unconditional request"))),
        },
        Ok(Some((text, new_etag))) => {
            let fp = fingerprint(&text);
            let catalog = match cached {
                Some((_, _, old_fp, catalog)) if old_fp == fp => catalog,
                _ => build(config, &text),
            };
            store(now, new_etag, fp, catalog.clone());
            catalog
        }
        Err(e) => {
            worker::console_warn!("openapi: cannot fetch {url}: {e}");
            match cached {
                // Keep serving the last good catalog; try again at the next refresh.
                Some((_, etag, fp, catalog)) => {
                    store(now, etag, fp, catalog.clone());
                    catalog
                }
                None => Rc::new(ApiCatalog::failed(format!("the OpenAPI document at {url} cannot be fetched: {e}"))),
            }
        }
    }
}

fn store(now: i64, etag: Option<String>, fp: (usize, u64), catalog: Rc<ApiCatalog>) {
    CATALOG.with(|c| *c.borrow_mut() = Some(Cached { checked_at: now, etag, text_len_hash: fp, catalog }));
}

async fn fetch_document(url: &str, etag: Option<&str>) -> Result<Option<(String, Option<String>)>, String> {
    let headers = Headers::new();
    let _ = headers.set("accept", "application/json");
    if let Some(tag) = etag {
        let _ = headers.set("if-none-match", tag);
    }
    let mut init = RequestInit::new();
    init.with_method(Method::Get).with_headers(headers);
    let request = Request::new_with_init(url, &init).map_err(|e| e.to_string())?;
    let resp = send(request, DOCUMENT_TIMEOUT_MS, MAX_DOCUMENT).await.map_err(|e| match e {
        UpstreamFailure::Timeout { after_ms } => format!("no answer within {after_ms} ms"),
        UpstreamFailure::Network(e) => e,
    })?;
    match resp.0.status {
        304 => Ok(None),
        200 if !resp.1 => Ok(Some((String::from_utf8_lossy(&resp.0.body).into_owned(), resp.2))),
        200 => Err(format!("larger than {MAX_DOCUMENT} bytes")),
        s => Err(format!("HTTP {s}")),
    }
}

/// One tool call to the upstream.
pub async fn call(config: &Config, request: &UpstreamRequest, headers: &[(String, String)]) -> Result<UpstreamResponse, UpstreamFailure> {
    let h = Headers::new();
    for (k, v) in headers {
        h.set(k, v).map_err(|e| UpstreamFailure::Network(e.to_string()))?;
    }
    let method = Method::from(request.method.clone());
    let mut init = RequestInit::new();
    init.with_method(method).with_headers(h);
    if let Some(body) = &request.body {
        init.with_body(Some(String::from_utf8_lossy(body).into_owned().into()));
    }
    let req = Request::new_with_init(&request.url, &init).map_err(|e| UpstreamFailure::Network(e.to_string()))?;
    // Read one byte past the limit, so the mapping knows to say "truncated".
    let (mut resp, _, _) = send(req, config.upstream_timeout_ms, config.upstream_max_bytes + 1).await?;
    resp.body.truncate(config.upstream_max_bytes + 1);
    Ok(resp)
}

/// Sends with a timeout (aborting the fetch) and reads at most `limit` bytes of the body.
/// Returns the response, whether the body went over the limit, and its ETag.
async fn send(req: Request, timeout_ms: u64, limit: usize) -> Result<(UpstreamResponse, bool, Option<String>), UpstreamFailure> {
    let controller = AbortController::default();
    let signal = controller.signal();
    let work = async move {
        let mut resp = Fetch::Request(req).send_with_signal(&signal).await.map_err(|e| UpstreamFailure::Network(e.to_string()))?;
        let status = resp.status_code();
        let content_type = resp.headers().get("content-type").ok().flatten().unwrap_or_default();
        let etag = resp.headers().get("etag").ok().flatten();
        let mut body = Vec::new();
        let mut over = false;
        if let Ok(mut stream) = resp.stream() {
            while let Some(chunk) = stream.next().await {
                let chunk = chunk.map_err(|e| UpstreamFailure::Network(e.to_string()))?;
                body.extend_from_slice(&chunk);
                if body.len() > limit {
                    over = true;
                    break;
                }
            }
        }
        Ok((UpstreamResponse { status, content_type, body }, over, etag))
    };
    let mut work = std::pin::pin!(work);
    let mut delay = std::pin::pin!(Delay::from(Duration::from_millis(timeout_ms)));
    let raced = poll_fn(|cx| {
        if let Poll::Ready(r) = work.as_mut().poll(cx) {
            return Poll::Ready(Some(r));
        }
        if delay.as_mut().poll(cx).is_ready() {
            return Poll::Ready(None);
        }
        Poll::Pending
    })
    .await;
    match raced {
        Some(result) => result,
        None => {
            controller.abort();
            Err(UpstreamFailure::Timeout { after_ms: timeout_ms })
        }
    }
}

//! The upstream API: the OpenAPI catalog (bundled or fetched, cached per isolate) and tool calls
//! with a timeout, a size limit and no redirects followed.
use std::cell::RefCell;
use std::future::{poll_fn, Future};
use std::rc::Rc;
use std::task::Poll;
use std::time::Duration;

use futures_util::StreamExt;
use worker::{AbortController, Delay, Fetch, Headers, Method, Request, RequestInit, RequestRedirect};

use crate::app::{UpstreamFailure, UpstreamResponse};
use crate::core::config::Config;
use crate::core::oauth::cimd::{self, FetchedDocument};
use crate::core::openapi::cache::{DocumentCache, Fetched, Next};
use crate::core::openapi::call::UpstreamRequest;
use crate::core::openapi::catalog::ApiCatalog;

/// The document bundled at build time (`config/openapi.json`); `OPENAPI_URL` replaces it.
const BUNDLED_OPENAPI: &str = include_str!("../../config/openapi.json");
const DOCUMENT_TIMEOUT_MS: u64 = 5_000;
const MAX_DOCUMENT: usize = 8 << 20;
/// While another request fetches the first version, check every `WAIT_MS` for up to a little
/// longer than the fetch may take; then fetch here (that request has gone away).
const WAIT_MS: u64 = 50;
const MAX_WAITS: u64 = (DOCUMENT_TIMEOUT_MS + 1_000) / WAIT_MS;

thread_local! {
    static BUNDLED: RefCell<Option<Rc<ApiCatalog>>> = const { RefCell::new(None) };
    static FETCHED: RefCell<DocumentCache> = RefCell::new(DocumentCache::default());
}

fn build(config: &Config, text: &str) -> ApiCatalog {
    let catalog = ApiCatalog::from_document(text, config.upstream_base_url.as_deref(), &config.catalog);
    worker::console_log!("openapi: {} tools built", catalog.tools.len());
    for p in &catalog.problems {
        worker::console_warn!("openapi: {p}");
    }
    catalog
}

/// Built once per document version per isolate.
pub async fn catalog(config: &Config, now: i64) -> Rc<ApiCatalog> {
    let Some(url) = config.openapi_url.clone() else {
        if let Some(c) = BUNDLED.with(|c| c.borrow().clone()) {
            return c;
        }
        let catalog = Rc::new(build(config, BUNDLED_OPENAPI));
        BUNDLED.with(|c| *c.borrow_mut() = Some(catalog.clone()));
        return catalog;
    };
    let mut waits = 0;
    let etag = loop {
        match FETCHED.with(|c| c.borrow_mut().begin(now)) {
            Next::Serve(catalog) => return catalog,
            Next::Fetch { etag } => break etag,
            Next::Wait if waits < MAX_WAITS => {
                waits += 1;
                Delay::from(Duration::from_millis(WAIT_MS)).await;
            }
            Next::Wait => break None,
        }
    };
    let fetched = fetch_document(&url, etag.as_deref()).await.unwrap_or_else(Fetched::Failed);
    if let Fetched::Failed(e) = &fetched {
        worker::console_warn!("openapi: cannot fetch {url}: {e}");
    }
    let mut log = Vec::new();
    let catalog = FETCHED.with(|c| c.borrow_mut().finish(now, fetched, &url, |text| build(config, text), &mut log));
    for line in log {
        worker::console_warn!("openapi: {line}");
    }
    catalog
}

async fn fetch_document(url: &str, etag: Option<&str>) -> Result<Fetched, String> {
    let headers = Headers::new();
    let _ = headers.set("accept", "application/json");
    if let Some(tag) = etag {
        let _ = headers.set("if-none-match", tag);
    }
    let mut init = RequestInit::new();
    // The document decides which tools exist and what they send: a redirect could hand that
    // to another origin, so the 3xx is the answer (and the fetch fails).
    init.with_method(Method::Get).with_headers(headers).with_redirect(RequestRedirect::Manual);
    let request = Request::new_with_init(url, &init).map_err(|e| e.to_string())?;
    let resp = send(request, DOCUMENT_TIMEOUT_MS, MAX_DOCUMENT).await.map_err(|e| match e {
        UpstreamFailure::Timeout { after_ms } => format!("no answer within {after_ms} ms"),
        UpstreamFailure::Network(e) => e,
    })?;
    match resp.0.status {
        304 => Ok(Fetched::NotModified),
        200 if !resp.1 => Ok(Fetched::Document { text: String::from_utf8_lossy(&resp.0.body).into_owned(), etag: resp.2.etag }),
        200 => Err(format!("larger than {MAX_DOCUMENT} bytes")),
        s @ 300..=399 => Err(format!("HTTP {s}: redirects are not followed; set OPENAPI_URL to the document's own URL")),
        s => Err(format!("HTTP {s}")),
    }
}

/// A client's metadata document (`core::oauth::cimd`): no redirects followed (the 3xx is the
/// answer, which `cimd` refuses), a timeout, at most one byte past the size limit read.
pub async fn client_document(url: &str) -> Result<FetchedDocument, String> {
    let headers = Headers::new();
    let _ = headers.set("accept", "application/json");
    let mut init = RequestInit::new();
    init.with_method(Method::Get).with_headers(headers).with_redirect(RequestRedirect::Manual);
    let request = Request::new_with_init(url, &init).map_err(|e| e.to_string())?;
    match send(request, cimd::FETCH_TIMEOUT_MS, cimd::MAX_DOCUMENT_BYTES + 1).await {
        Ok((r, _, caching)) => {
            Ok(FetchedDocument { status: r.status, content_type: r.content_type, cache_control: caching.cache_control, body: r.body })
        }
        Err(UpstreamFailure::Timeout { after_ms }) => Err(format!("no answer within {after_ms} ms")),
        Err(UpstreamFailure::Network(e)) => {
            // workerd's "internal error; reference = …" is for its operators, not the person.
            worker::console_warn!("client metadata document {url}: {e}");
            Err(format!("the connection failed ({})", e.split("; reference =").next().unwrap_or(&e)))
        }
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
    // A redirect could take the call (and its credential) to another origin: the 3xx itself is
    // the answer, mapped to a tool error by `call::to_result`.
    init.with_method(method).with_headers(h).with_redirect(RequestRedirect::Manual);
    if let Some(body) = &request.body {
        init.with_body(Some(String::from_utf8_lossy(body).into_owned().into()));
    }
    let req = Request::new_with_init(&request.url, &init).map_err(|e| UpstreamFailure::Network(e.to_string()))?;
    // Read one byte past the limit, so the mapping knows to say "truncated".
    let (mut resp, _, _) = send(req, config.upstream_timeout_ms, config.upstream_max_bytes + 1).await?;
    resp.body.truncate(config.upstream_max_bytes + 1);
    Ok(resp)
}

/// The response headers a caller of `send` may need besides the content type.
#[derive(Debug, Default)]
pub(super) struct Caching {
    pub etag: Option<String>,
    pub cache_control: Option<String>,
}

/// Sends with a timeout (aborting the fetch) and reads at most `limit` bytes of the body.
/// Returns the response, whether the body went over the limit, and its caching headers.
pub(super) async fn send(req: Request, timeout_ms: u64, limit: usize) -> Result<(UpstreamResponse, bool, Caching), UpstreamFailure> {
    let controller = AbortController::default();
    let signal = controller.signal();
    let work = async move {
        let mut resp = Fetch::Request(req).send_with_signal(&signal).await.map_err(|e| UpstreamFailure::Network(e.to_string()))?;
        let status = resp.status_code();
        let content_type = resp.headers().get("content-type").ok().flatten().unwrap_or_default();
        let caching =
            Caching { etag: resp.headers().get("etag").ok().flatten(), cache_control: resp.headers().get("cache-control").ok().flatten() };
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
        Ok((UpstreamResponse { status, content_type, body }, over, caching))
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

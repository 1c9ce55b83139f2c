//! The per-isolate cache of a fetched OpenAPI document's catalog, as a state machine the edge
//! drives (`begin`, fetch, `finish`): the catalog is built once per document version; one request
//! at a time refreshes it while the others keep serving the last one; a failed fetch is retried
//! after a backoff, not on every request; and a new version that yields no tools does not replace
//! a catalog that has some.
use std::rc::Rc;

use super::catalog::ApiCatalog;

/// How long a fetched document is used before asking the origin whether it changed.
pub const REFRESH_AFTER: i64 = 300;
/// How long after a failed fetch (or an unusable document) to try again.
pub const RETRY_AFTER_FAILURE: i64 = 60;
/// How long a refresh may be in flight before another request may start one (the fetch times
/// out well before this; the request doing it may have gone away).
pub const IN_FLIGHT_FOR: i64 = 30;

/// What asking the origin gave.
#[derive(Debug, Clone, PartialEq)]
pub enum Fetched {
    /// 304: the version we have is current.
    NotModified,
    Document {
        text: String,
        etag: Option<String>,
    },
    Failed(String),
}

/// What a request should do for the catalog.
#[derive(Debug, Clone)]
pub enum Next {
    Serve(Rc<ApiCatalog>),
    /// Fetch the document (conditionally when there is an ETag), then call `finish`.
    Fetch {
        etag: Option<String>,
    },
    /// Another request is fetching the first version: wait a little and ask again.
    Wait,
}

#[derive(Debug, Default)]
pub struct DocumentCache {
    current: Option<Current>,
    in_flight_until: Option<i64>,
}

#[derive(Debug)]
struct Current {
    catalog: Rc<ApiCatalog>,
    /// The ETag and fingerprint of the last version fetched (which may not be the one served,
    /// if it was unusable).
    etag: Option<String>,
    fingerprint: Option<(usize, u64)>,
    refresh_at: i64,
}

impl DocumentCache {
    pub fn begin(&mut self, now: i64) -> Next {
        let in_flight = self.in_flight_until.is_some_and(|until| now < until);
        match &self.current {
            Some(c) if in_flight || now < c.refresh_at => Next::Serve(c.catalog.clone()),
            None if in_flight => Next::Wait,
            current => {
                // Marked before the fetch is awaited, so concurrent requests serve what we have.
                self.in_flight_until = Some(now + IN_FLIGHT_FOR);
                Next::Fetch { etag: current.as_ref().and_then(|c| c.etag.clone()) }
            }
        }
    }

    /// Records what the fetch gave and returns the catalog to serve. `build` is called only for a
    /// version not seen before; `log` gets what the operator should know.
    pub fn finish(
        &mut self,
        now: i64,
        fetched: Fetched,
        source: &str,
        build: impl FnOnce(&str) -> ApiCatalog,
        log: &mut Vec<String>,
    ) -> Rc<ApiCatalog> {
        self.in_flight_until = None;
        let current = self.current.take();
        let next = match (fetched, current) {
            // Only a version we fetched can be "not modified" (a failure has no ETag to send).
            (Fetched::NotModified, Some(c)) if c.fingerprint.is_some() => Current { refresh_at: now + REFRESH_AFTER, ..c },
            (Fetched::NotModified, _) => failed(now, format!("{source} answered 304 to an unconditional request")),
            (Fetched::Document { text, etag }, current) => {
                let fingerprint = Some(fingerprint(&text));
                match current {
                    Some(c) if c.fingerprint == fingerprint => Current { etag, refresh_at: now + REFRESH_AFTER, ..c },
                    current => {
                        let built = build(&text);
                        match current {
                            Some(c) if built.tools.is_empty() && !c.catalog.tools.is_empty() => {
                                log.push(format!("the new version of {source} yields no tools; keeping the previous catalog"));
                                log.extend(built.problems.iter().cloned());
                                let mut kept = (*c.catalog).clone();
                                kept.problems.retain(|p| !p.starts_with(NEWER_UNUSABLE));
                                kept.problems
                                    .push(format!("{NEWER_UNUSABLE} ({}); the previous version is served", built.problems.join("; ")));
                                Current { catalog: Rc::new(kept), etag, fingerprint, refresh_at: now + REFRESH_AFTER }
                            }
                            _ => {
                                let refresh_at = now + if built.tools.is_empty() { RETRY_AFTER_FAILURE } else { REFRESH_AFTER };
                                Current { catalog: Rc::new(built), etag, fingerprint, refresh_at }
                            }
                        }
                    }
                }
            }
            // Keep serving a catalog with tools; retry sooner than a normal refresh.
            (Fetched::Failed(_), Some(c)) if !c.catalog.tools.is_empty() => Current { refresh_at: now + RETRY_AFTER_FAILURE, ..c },
            (Fetched::Failed(e), _) => failed(now, format!("the OpenAPI document at {source} cannot be fetched: {e}")),
        };
        let catalog = next.catalog.clone();
        self.current = Some(next);
        catalog
    }
}

const NEWER_UNUSABLE: &str = "the latest version of the OpenAPI document cannot be used";

/// A catalog saying why there are no tools, kept (not refetched on every request) until
/// `RETRY_AFTER_FAILURE`.
fn failed(now: i64, problem: String) -> Current {
    Current { catalog: Rc::new(ApiCatalog::failed(problem)), etag: None, fingerprint: None, refresh_at: now + RETRY_AFTER_FAILURE }
}

/// To notice a changed document when the origin sends no ETag. FNV-1a: not a security boundary.
fn fingerprint(text: &str) -> (usize, u64) {
    let hash = text.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3));
    (text.len(), hash)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::config::BUNDLED_SCOPE_CATALOG;
    use crate::core::scopes::ScopeCatalog;

    const SAMPLE: &str = include_str!("../../../config/openapi.json");
    const URL: &str = "https://api.example/openapi.json";

    fn build(text: &str) -> ApiCatalog {
        ApiCatalog::from_document(text, None, &ScopeCatalog::parse(BUNDLED_SCOPE_CATALOG).unwrap())
    }

    fn document(text: &str, etag: &str) -> Fetched {
        Fetched::Document { text: text.to_string(), etag: Some(etag.to_string()) }
    }

    fn finish(cache: &mut DocumentCache, now: i64, fetched: Fetched) -> (Rc<ApiCatalog>, usize) {
        let mut builds = 0;
        let mut log = Vec::new();
        let c = cache.finish(
            now,
            fetched,
            URL,
            |t| {
                builds += 1;
                build(t)
            },
            &mut log,
        );
        (c, builds)
    }

    #[test]
    fn a_failed_first_fetch_is_cached_and_retried_after_a_backoff() {
        let mut cache = DocumentCache::default();
        assert!(matches!(cache.begin(0), Next::Fetch { etag: None }));
        let (c, _) = finish(&mut cache, 0, Fetched::Failed("no answer within 5000 ms".into()));
        assert_eq!(c.problems, vec![format!("the OpenAPI document at {URL} cannot be fetched: no answer within 5000 ms")]);
        assert!(matches!(cache.begin(1), Next::Serve(c) if c.tools.is_empty()), "not refetched on the next request");
        assert!(matches!(cache.begin(RETRY_AFTER_FAILURE - 1), Next::Serve(_)));
        assert!(matches!(cache.begin(RETRY_AFTER_FAILURE), Next::Fetch { .. }));
        let (c, _) = finish(&mut cache, RETRY_AFTER_FAILURE, Fetched::NotModified);
        assert!(c.problems[0].contains("304"));
        assert!(matches!(cache.begin(RETRY_AFTER_FAILURE + 1), Next::Serve(_)), "a 304 without a cache is cached too");
    }

    #[test]
    fn one_request_refreshes_while_the_others_serve_or_wait() {
        let mut cache = DocumentCache::default();
        assert!(matches!(cache.begin(0), Next::Fetch { .. }));
        assert!(matches!(cache.begin(0), Next::Wait), "the first fetch is in flight");
        let (first, builds) = finish(&mut cache, 1, document(SAMPLE, "v1"));
        assert_eq!(builds, 1);
        assert!(matches!(cache.begin(1), Next::Serve(_)));
        assert!(matches!(cache.begin(REFRESH_AFTER + 1), Next::Fetch { etag: Some(e) } if e == "v1"));
        assert!(matches!(cache.begin(REFRESH_AFTER + 2), Next::Serve(c) if Rc::ptr_eq(&c, &first)), "stale, while refreshing");
        let (same, builds) = finish(&mut cache, REFRESH_AFTER + 3, Fetched::NotModified);
        assert!(Rc::ptr_eq(&same, &first));
        assert_eq!(builds, 0);
        assert!(matches!(cache.begin(2 * REFRESH_AFTER + 3), Next::Fetch { .. }));
        assert!(matches!(cache.begin(2 * REFRESH_AFTER + 3 + IN_FLIGHT_FOR), Next::Fetch { .. }), "a refresh that never finished");
        let (same, builds) = finish(&mut cache, 2 * REFRESH_AFTER + 4, document(SAMPLE, "v1-again"));
        assert!(Rc::ptr_eq(&same, &first), "same text: not rebuilt");
        assert_eq!(builds, 0);
    }

    #[test]
    fn an_unusable_new_version_does_not_replace_a_good_catalog() {
        let mut cache = DocumentCache::default();
        cache.begin(0);
        let (good, _) = finish(&mut cache, 0, document(SAMPLE, "v1"));
        cache.begin(REFRESH_AFTER);
        let (kept, builds) = finish(&mut cache, REFRESH_AFTER, document("{\"openapi\": \"3.1.0\", oops", "v2"));
        assert_eq!(builds, 1);
        assert_eq!(kept.tools.len(), good.tools.len());
        assert!(kept
            .problems
            .last()
            .unwrap()
            .starts_with("the latest version of the OpenAPI document cannot be used (the OpenAPI document is not valid JSON"));
        assert!(matches!(cache.begin(2 * REFRESH_AFTER), Next::Fetch { etag: Some(e) } if e == "v2"));
        let (still, builds) = finish(&mut cache, 2 * REFRESH_AFTER, Fetched::NotModified);
        assert_eq!((still.tools.len(), builds), (good.tools.len(), 0));
        cache.begin(3 * REFRESH_AFTER);
        let (fixed, _) = finish(&mut cache, 3 * REFRESH_AFTER, document(&SAMPLE.replace("Contacts", "People"), "v3"));
        assert!(fixed.problems.is_empty(), "{:?}", fixed.problems);
        cache.begin(4 * REFRESH_AFTER);
        let (after_failure, _) = finish(&mut cache, 4 * REFRESH_AFTER, Fetched::Failed("HTTP 500".into()));
        assert!(Rc::ptr_eq(&after_failure, &fixed), "a failed refresh keeps the catalog");
    }
}

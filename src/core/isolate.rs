//! What one isolate remembers between requests so that `/mcp` needs no storage round trip in
//! the common case, each entry with a bounded freshness (docs/storage.md, "Per-isolate caches"):
//!
//! - a workspace's parsed, validated policy (or why it has none), for `POLICY_CACHE_SECONDS`;
//! - that a connection was active when its Durable Object was last asked, for
//!   `REVOCATION_CHECK_SECONDS`.
//!
//! A freshness of 0 turns a cache off: every request reads the store, as before. Revocations and
//! policy writes made through this isolate forget the entry at once; elsewhere the bound holds.
//!
//! Verified access tokens are remembered until they expire (a token's signature, issuer and
//! audience do not change; its expiry is checked on every use), so a client's next call costs a
//! map lookup instead of an Ed25519 verification.
//!
//! The token endpoint also remembers registrations it found (a minute: they are immutable, and
//! an unknown client is never remembered), and the chores it need not repeat within a day:
//! noting a user in the workspace's connection index (an insert that is never undone), and
//! renewing a registration's expiry (90 days or more).
use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::Hash;
use std::rc::Rc;

use crate::core::connection::ConnectionKey;
use crate::core::ids::{Email, WorkspaceId};
use crate::core::oauth::access_token::VerifiedToken;
use crate::core::oauth::register::ClientRegistration;
use crate::core::oauth::types::ClientId;
use crate::core::policy::model::{PolicyUnusable, WorkspacePolicy};

/// Entries a cache holds at most: past it, stale entries are dropped, and if every entry is
/// fresh, all of them (the next requests read the store again; memory stays bounded).
pub const POLICY_ENTRIES: usize = 1_000;
pub const CONNECTION_ENTRIES: usize = 10_000;
pub const CLIENT_ENTRIES: usize = 1_000;
/// About 1 KB each (the token and its claims).
pub const TOKEN_ENTRIES: usize = 2_000;
pub const CLIENT_SECONDS: i64 = 60;
pub const CHORE_ENTRIES: usize = 10_000;
/// Discovery documents: a few per origin served (one in production, each loopback name in
/// development); they change only with a new deployment, which is a new isolate.
pub const DOCUMENT_ENTRIES: usize = 64;
pub const DOCUMENT_SECONDS: i64 = 86_400;
pub const CHORE_SECONDS: i64 = 86_400;

/// A map whose entries count for `ttl` seconds after they were stored.
#[derive(Debug)]
pub struct Fresh<K, V> {
    ttl: i64,
    cap: usize,
    entries: HashMap<K, (i64, V)>,
}

impl<K: Eq + Hash, V> Fresh<K, V> {
    pub fn new(ttl: i64, cap: usize) -> Fresh<K, V> {
        Fresh { ttl, cap, entries: HashMap::new() }
    }

    /// The value stored less than `ttl` seconds before `now` (never, with a `ttl` of 0).
    pub fn get<Q: Eq + Hash + ?Sized>(&self, key: &Q, now: i64) -> Option<&V>
    where
        K: Borrow<Q>,
    {
        self.entries.get(key).filter(|(at, _)| is_fresh(*at, now, self.ttl)).map(|(_, v)| v)
    }

    pub fn insert(&mut self, key: K, value: V, now: i64) {
        if self.ttl <= 0 {
            return;
        }
        if self.entries.len() >= self.cap && !self.entries.contains_key(&key) {
            let ttl = self.ttl;
            self.entries.retain(|_, (at, _)| is_fresh(*at, now, ttl));
            if self.entries.len() >= self.cap {
                self.entries.clear();
            }
        }
        self.entries.insert(key, (now, value));
    }

    pub fn forget(&mut self, key: &K) {
        self.entries.remove(key);
    }

    pub fn forget_where(&mut self, mut matches: impl FnMut(&K) -> bool) {
        self.entries.retain(|k, _| !matches(k));
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// A clock that steps back (another isolate's writes, NTP) makes an entry stale, not eternal.
fn is_fresh(stored_at: i64, now: i64, ttl: i64) -> bool {
    (0..ttl).contains(&(now - stored_at))
}

/// A workspace's policy as the last read found it: usable, or why not (missing, invalid).
/// Store failures are never cached.
pub type CachedPolicy = Result<Rc<WorkspacePolicy>, PolicyUnusable>;

/// The caches of one isolate.
#[derive(Debug)]
pub struct IsolateCache {
    pub policies: Fresh<WorkspaceId, CachedPolicy>,
    /// Connections seen active by their Durable Object.
    pub active: Fresh<ConnectionKey, ()>,
    pub clients: Fresh<ClientId, ClientRegistration>,
    /// Clients described by metadata documents, each with the time it may be kept until
    /// (`Cache-Control`, within `cimd::MAX_CACHE_SECONDS`).
    pub client_documents: Fresh<ClientId, (ClientRegistration, i64)>,
    /// Metadata documents that could not be fetched or used, and why (`cimd::FAILURE_SECONDS`).
    pub failed_documents: Fresh<ClientId, String>,
    pub done: Fresh<Chore, ()>,
    /// Access tokens this isolate verified, by their text (`verified_token`).
    pub tokens: Fresh<String, VerifiedToken>,
    /// Serialized discovery documents, by kind and origin.
    pub documents: Fresh<(Document, String), Rc<str>>,
}

/// The discovery documents (`app::discovery`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Document {
    AuthorizationServer,
    ProtectedResource,
    ProtectedResourceMcp,
    Jwks,
    UpstreamJwks,
}

/// A write whose effect lasts: done once, it need not be done again for `CHORE_SECONDS`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Chore {
    /// The user is in the workspace's index of users with connections.
    Noted(WorkspaceId, Email),
    /// The registration's expiry was pushed `client_ttl` ahead.
    Renewed(ClientId),
}

impl IsolateCache {
    pub fn new(policy_seconds: i64, revocation_seconds: i64) -> IsolateCache {
        IsolateCache {
            policies: Fresh::new(policy_seconds, POLICY_ENTRIES),
            active: Fresh::new(revocation_seconds, CONNECTION_ENTRIES),
            clients: Fresh::new(CLIENT_SECONDS, CLIENT_ENTRIES),
            client_documents: Fresh::new(crate::core::oauth::cimd::MAX_CACHE_SECONDS, crate::core::oauth::cimd::CACHE_ENTRIES),
            failed_documents: Fresh::new(crate::core::oauth::cimd::FAILURE_SECONDS, crate::core::oauth::cimd::CACHE_ENTRIES),
            done: Fresh::new(CHORE_SECONDS, CHORE_ENTRIES),
            tokens: Fresh::new(crate::core::config::MAX_ACCESS_TOKEN_TTL, TOKEN_ENTRIES),
            documents: Fresh::new(DOCUMENT_SECONDS, DOCUMENT_ENTRIES),
        }
    }

    /// `token` as verified before for this `issuer` and `audience`, if it is still unexpired.
    pub fn verified_token(&self, token: &str, issuer: &str, audience: &str, now: i64) -> Option<&VerifiedToken> {
        self.tokens.get(token, now).filter(|t| t.expires_at > now && t.claims.iss == issuer && t.claims.aud == audience)
    }

    /// After this isolate revoked connections: every connection of (`workspace`, `user`).
    pub fn forget_connections_of(&mut self, workspace: &WorkspaceId, user: &Email) {
        self.active.forget_where(|k| &k.workspace == workspace && &k.user == user);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_counts_for_exactly_ttl_seconds() {
        let mut c: Fresh<&str, u8> = Fresh::new(10, 4);
        c.insert("a", 1, 100);
        assert_eq!(c.get(&"a", 100), Some(&1));
        assert_eq!(c.get(&"a", 109), Some(&1));
        assert_eq!(c.get(&"a", 110), None, "stale at the bound");
        assert_eq!(c.get(&"a", 99), None, "a clock that stepped back");
        c.forget(&"a");
        assert_eq!(c.get(&"a", 100), None);
    }

    #[test]
    fn a_ttl_of_zero_caches_nothing() {
        let mut c: Fresh<&str, u8> = Fresh::new(0, 4);
        c.insert("a", 1, 100);
        assert_eq!(c.get(&"a", 100), None);
        assert!(c.is_empty());
    }

    #[test]
    fn full_caches_drop_stale_entries_then_everything() {
        let mut c: Fresh<u32, ()> = Fresh::new(10, 3);
        c.insert(1, (), 0);
        c.insert(2, (), 5);
        c.insert(3, (), 5);
        c.insert(4, (), 12); // 1 is stale: dropped
        assert_eq!((c.len(), c.get(&2, 12), c.get(&1, 12)), (3, Some(&()), None));
        c.insert(5, (), 13); // all fresh: cleared, then 5
        assert_eq!(c.len(), 1);
        c.insert(5, (), 14); // an existing key never evicts
        assert_eq!(c.len(), 1);
    }

    #[test]
    fn revoking_forgets_every_connection_of_the_user() {
        let key = |ws: &str, user: &str, id: &str| ConnectionKey { workspace: ws.into(), user: user.into(), id: id.into() };
        let mut c = IsolateCache::new(10, 10);
        for k in [key("acme", "ada@example.com", "c1"), key("acme", "ada@example.com", "c2"), key("acme", "bob@example.com", "c3")] {
            c.active.insert(k, (), 0);
        }
        c.forget_connections_of(&"acme".into(), &"ada@example.com".into());
        assert_eq!(c.active.len(), 1);
        assert!(c.active.get(&key("acme", "bob@example.com", "c3"), 1).is_some());
    }
}

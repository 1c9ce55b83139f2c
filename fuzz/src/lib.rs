//! What the fuzz targets share: the deployment's fixed inputs (scope catalog, keys, a caller),
//! the seeds' constants, and helpers for the properties they assert.
#![forbid(unsafe_code)]

use std::sync::OnceLock;

use mcp_edge::core::config::BUNDLED_SCOPE_CATALOG;
use mcp_edge::core::ids::{ConnectionId, Email, WorkspaceId};
use mcp_edge::core::oauth::access_token::AccessClaims;
use mcp_edge::core::oauth::keys::Keys;
use mcp_edge::core::oauth::types::ClientId;
use mcp_edge::core::policy::model::{Role, WorkspacePolicy};
use mcp_edge::core::scopes::ScopeCatalog;
use serde_json::{json, Value};

/// The origin the server runs at in every target (issuer, `resource`, audience).
pub const ORIGIN: &str = "https://mcp.example.com";
/// The clock of every target, and of the signed seeds (`examples/seeds.rs`).
pub const NOW: i64 = 1_800_000_000;
/// When the signed seeds were issued; they expire an hour later.
pub const ISSUED_AT: i64 = NOW - 60;
pub const EXPIRES_AT: i64 = ISSUED_AT + 3600;

/// The bundled scope catalog (config/scopes.json), as the server loads it by default.
pub fn catalog() -> &'static ScopeCatalog {
    static CATALOG: OnceLock<ScopeCatalog> = OnceLock::new();
    CATALOG.get_or_init(|| ScopeCatalog::parse(BUNDLED_SCOPE_CATALOG).expect("the bundled catalog parses"))
}

/// The server's keys, from a fixed `SIGNING_KEY` (base64url of 32 bytes of 7).
pub fn keys() -> &'static Keys {
    static KEYS: OnceLock<Keys> = OnceLock::new();
    KEYS.get_or_init(|| Keys::from_secrets("BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc", None).expect("a 32-byte seed"))
}

pub fn email(raw: &str) -> Email {
    Email::parse(raw).expect("a fixed e-mail address")
}

pub fn workspace(raw: &str) -> WorkspaceId {
    WorkspaceId::parse(raw).expect("a fixed workspace ID")
}

pub fn client_id(raw: &str) -> ClientId {
    ClientId::parse(raw).expect("a fixed client ID")
}

/// The claims of the signed seeds' access token.
pub fn seed_claims() -> AccessClaims {
    AccessClaims {
        iss: ORIGIN.to_string(),
        aud: format!("{ORIGIN}/mcp"),
        sub: email("dev@example.com"),
        ws: workspace("acme"),
        client_id: client_id("c1"),
        scope: "CONTACTS_READ WORKSPACE_READ".to_string(),
        cid: ConnectionId::parse("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA").expect("a fixed connection ID"),
        jti: "seed".to_string(),
        client_name: Some("Seed client".to_string()),
    }
}

/// The input as UTF-8 text, or `None` (every target reads text, as the server does).
pub fn text(data: &[u8]) -> Option<&str> {
    std::str::from_utf8(data).ok()
}

/// A policy as the document it was parsed from would say it (schemas/policy.schema.json):
/// parsing this again must give the same policy.
pub fn policy_document(policy: &WorkspacePolicy) -> Value {
    let members: Vec<Value> = policy
        .members
        .iter()
        .map(|m| {
            let role = match m.role {
                Role::Admin => "admin",
                Role::Member => "member",
            };
            let mut member = json!({ "email": m.email.as_str(), "name": m.name, "role": role });
            if let Some(sub) = &m.sub {
                member["sub"] = json!(sub);
            }
            member
        })
        .collect();
    json!({
        "schema": 1,
        "name": policy.name,
        "mcp_enabled": policy.mcp_enabled,
        "allowed_redirect_uris": policy.allowed_redirect_uris.iter().map(|u| u.as_str()).collect::<Vec<_>>(),
        "allowed_client_ids": policy.allowed_client_ids.iter().map(|c| c.as_str()).collect::<Vec<_>>(),
        "scope_ceiling": policy.scope_ceiling.to_vec(),
        "members": members,
    })
}

/// Whether two URLs reach the same endpoint: scheme, host, port and path (queries may differ).
pub fn same_endpoint(a: &url::Url, b: &url::Url) -> bool {
    a.scheme() == b.scheme()
        && a.host_str() == b.host_str()
        && a.port_or_known_default() == b.port_or_known_default()
        && a.path() == b.path()
}

/// RFC 8252 §7.3 loopback, decided independently of the server's `is_loopback_host`: the name
/// `localhost`, or a parsed IP address that is loopback.
pub fn is_loopback(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

//! Deployment configuration, read once per isolate from Worker vars (see README "Configuration").
use crate::core::oauth::types::is_loopback_host;
use crate::core::scopes::ScopeCatalog;

/// The Worker's bindings (wrangler.toml), named in one place.
pub mod bindings {
    pub const POLICIES_KV: &str = "POLICIES";
    pub const CLIENTS_KV: &str = "CLIENTS";
    pub const CODES_DO: &str = "AUTH_CODES";
    pub const CONNECTIONS_DO: &str = "CONNECTIONS";
    pub const WORKSPACES_DO: &str = "WORKSPACES";
    pub const KV: [&str; 2] = [POLICIES_KV, CLIENTS_KV];
    pub const DURABLE_OBJECTS: [(&str, &str); 3] =
        [(CODES_DO, "AuthCodes"), (CONNECTIONS_DO, "Connections"), (WORKSPACES_DO, "Workspaces")];
    /// Secrets the worker reads (`wrangler secret put`), and whether each is required.
    pub const SECRETS: [(&str, bool); 4] =
        [("SIGNING_KEY", true), ("SIGNING_KEY_PREVIOUS", false), ("OIDC_CLIENT_SECRET", false), ("ADMIN_TOKEN", false)];
}

/// The sample catalog bundled at build time; `SCOPE_CATALOG` replaces it.
pub const BUNDLED_SCOPE_CATALOG: &str = include_str!("../../config/scopes.json");

#[derive(Debug, Clone)]
pub struct Config {
    /// `PUBLIC_ORIGIN` (e.g. `https://mcp.example.com`): the one origin served, and the issuer.
    /// Without it only loopback hosts are served (`crate::core::site`).
    pub public_origin: Option<String>,
    pub catalog: ScopeCatalog,
    pub access_token_ttl: i64,
    pub refresh_token_ttl: i64,
    pub code_ttl: i64,
    /// `POLICY_CACHE_SECONDS`: how long an isolate uses a workspace policy it read (0: read KV
    /// on every request). A hand edit takes effect within KV propagation (≤ 60 s) + this.
    pub policy_cache_seconds: i64,
    /// `REVOCATION_CHECK_SECONDS`: how long an isolate trusts that a connection it saw active is
    /// still active (0: ask its Durable Object on every `/mcp` call). A revocation elsewhere
    /// takes effect on `/mcp` within this; one made through the same isolate at once.
    pub revocation_check_seconds: i64,
    /// Sign-in through the product's OpenID Connect provider (`OIDC_ISSUER`, …).
    pub oidc: Option<OidcConfig>,
    /// `SIGN_IN_HELP`: whom a person who is in no workspace should ask (shown on that page).
    pub sign_in_help: Option<String>,
    /// Local-development sign-in (`DEV_SIGN_IN=on`); off unless configured, refused with a
    /// non-loopback `PUBLIC_ORIGIN`, and honoured only on a loopback site.
    pub dev_sign_in: bool,
    /// `ADMIN_TOKEN` (secret, ≥ 32 characters): the operator's key to every workspace's admin API.
    pub admin_token: Option<String>,
    /// `OPENAPI_URL`: fetch the product's OpenAPI document from here (else the bundled one).
    pub openapi_url: Option<String>,
    /// `UPSTREAM_BASE_URL`: where tool calls go (else the bundled document's first
    /// `servers[].url`; required with `OPENAPI_URL`, whose document must not choose it).
    pub upstream_base_url: Option<String>,
    pub upstream_timeout_ms: u64,
    pub upstream_max_bytes: usize,
    pub upstream_auth: UpstreamAuth,
    /// `STEP_UP`: what a tool call lacking scopes gets.
    pub step_up: StepUp,
    /// `CLIENT_ID_METADATA_DOCUMENTS` (default `on`): whether a client ID may be the URL of its
    /// metadata document. Off, the metadata does not offer it and clients register instead
    /// (a deployment that must not fetch from the Internet, or a laptop without it).
    pub client_documents: bool,
}

/// The OpenID Connect provider people sign in with (README, "Sign-in").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OidcConfig {
    /// `OIDC_ISSUER`: exactly the provider's `iss` (https; http only on loopback).
    pub issuer: String,
    /// `OIDC_CLIENT_ID`: this server's client at the provider.
    pub client_id: String,
    /// `OIDC_CLIENT_SECRET` (a Worker secret); none for a public client (PKCE only).
    pub client_secret: Option<String>,
    /// `OIDC_SCOPES`, default `openid email profile`.
    pub scopes: String,
    /// `OIDC_WORKSPACES_CLAIM`: the ID-token claim that lists the person's workspace IDs.
    /// Unset: the person enters a workspace ID once per session.
    pub workspaces_claim: Option<String>,
}

fn oidc(var: &impl Fn(&str) -> Option<String>) -> Result<Option<OidcConfig>, String> {
    let set = |name: &str| var(name).map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
    let Some(issuer) = set("OIDC_ISSUER") else {
        return match set("OIDC_CLIENT_ID") {
            Some(_) => Err("OIDC_CLIENT_ID is set without OIDC_ISSUER".into()),
            None => Ok(None),
        };
    };
    let url = url::Url::parse(&issuer).map_err(|_| format!("OIDC_ISSUER must be a URL, not `{issuer}`"))?;
    let host = url.host_str().unwrap_or("").to_string();
    if !(url.scheme() == "https" || url.scheme() == "http" && is_loopback_host(&host)) || url.query().is_some() || url.fragment().is_some()
    {
        return Err(format!("OIDC_ISSUER must be an https URL without query or fragment (plain http only on loopback), not `{issuer}`"));
    }
    let client_id = set("OIDC_CLIENT_ID").ok_or("OIDC_ISSUER is set but OIDC_CLIENT_ID is not")?;
    let scopes = set("OIDC_SCOPES").unwrap_or_else(|| "openid email profile".into());
    if !scopes.split(' ').any(|s| s == "openid") {
        return Err(format!("OIDC_SCOPES must include `openid`, not `{scopes}`"));
    }
    Ok(Some(OidcConfig {
        issuer,
        client_id,
        client_secret: set("OIDC_CLIENT_SECRET"),
        scopes,
        workspaces_claim: set("OIDC_WORKSPACES_CLAIM"),
    }))
}

/// How tool calls authenticate to the upstream API (never with the client's token).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpstreamAuth {
    /// `UPSTREAM_AUTH=assertion` (default): a 60-second JWT signed by this server.
    Assertion,
    /// `UPSTREAM_AUTH=api_key`: the workspace's API key (set through the admin API), sent in
    /// `UPSTREAM_API_KEY_HEADER` (default `x-api-key`).
    ApiKey { header: String },
}

/// What a tool call lacking scopes gets (`STEP_UP`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepUp {
    /// `tool_error` (default, as the reference product): the tool error `Tool requires scopes: …`;
    /// `tools/list` shows only the tools the connection's scopes allow.
    ToolError,
    /// `challenge`: HTTP 403 `insufficient_scope` naming the scopes held plus those the tool
    /// needs, when the workspace's ceiling allows them, so that clients re-authorize with them
    /// (MCP authorization, "Step-up"); `tools/list` shows every tool the ceiling allows.
    Challenge,
}

pub const DEFAULT_ACCESS_TOKEN_TTL: i64 = 3600;
pub const MAX_ACCESS_TOKEN_TTL: i64 = 86_400;
pub const DEFAULT_REFRESH_TOKEN_TTL: i64 = 30 * 24 * 3600;
pub const DEFAULT_CODE_TTL: i64 = 60;
/// `POLICY_CACHE_SECONDS` and `REVOCATION_CHECK_SECONDS` (BENCHMARKS.md and docs/storage.md say
/// why 10: a busy connection then costs an isolate at most one Durable Object call per 10 s,
/// and a revocation ends it well inside the 60 s that KV itself takes to propagate).
pub const DEFAULT_CACHE_SECONDS: i64 = 10;
pub const MAX_CACHE_SECONDS: i64 = 300;

/// How long a dynamically registered client is kept after it was registered or last used to
/// obtain a code: registration is unauthenticated, so unused registrations must not pile up.
const CLIENT_TTL_MIN: i64 = 90 * 86_400;

impl Config {
    /// What would make this configuration unfit to serve off loopback (`make deploy-check`).
    pub fn production_problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        match self.public_origin.as_deref() {
            None => problems.push("PUBLIC_ORIGIN is not set: off loopback every request would be refused (421)".to_string()),
            Some(o) if is_loopback_origin(o) => problems.push(format!("PUBLIC_ORIGIN `{o}` is a loopback origin")),
            Some(_) => {}
        }
        if self.dev_sign_in {
            problems.push("DEV_SIGN_IN is set: remove it (it belongs in .dev.vars only)".into());
        }
        if self.oidc.is_none() {
            problems.push("OIDC_ISSUER is not set: nobody could sign in to approve a connection (README, \"Sign-in\")".into());
        }
        problems
    }

    /// Outlives every refresh token issued for a code obtained with the registration.
    pub fn client_ttl(&self) -> i64 {
        CLIENT_TTL_MIN.max(self.refresh_token_ttl + 86_400)
    }

    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Config, String> {
        let catalog_json = var("SCOPE_CATALOG").unwrap_or_else(|| BUNDLED_SCOPE_CATALOG.to_string());
        let public_origin = match var("PUBLIC_ORIGIN").filter(|v| !v.is_empty()) {
            None => None,
            Some(raw) => Some(parse_origin(&raw)?),
        };
        let dev_sign_in = matches!(var("DEV_SIGN_IN").as_deref(), Some("on" | "true" | "1"));
        if let Some(origin) = public_origin.as_deref().filter(|o| dev_sign_in && !is_loopback_origin(o)) {
            return Err(format!(
                "DEV_SIGN_IN is set on a non-loopback origin ({origin}): it lets anyone sign in as any member. Remove DEV_SIGN_IN (it belongs in .dev.vars only)"
            ));
        }
        // Loopback upstreams over plain http are for a server that itself runs on loopback.
        let local_development = public_origin.as_deref().is_none_or(is_loopback_origin);
        let openapi_url = upstream_url(&var, "OPENAPI_URL", local_development)?;
        let upstream_base_url = upstream_url(&var, "UPSTREAM_BASE_URL", local_development)?;
        if openapi_url.is_some() && upstream_base_url.is_none() {
            return Err(
                "OPENAPI_URL is set but UPSTREAM_BASE_URL is not: tool calls, with their credentials, would go wherever the fetched document's `servers` says. Set UPSTREAM_BASE_URL to the API's base URL"
                    .into(),
            );
        }
        Ok(Config {
            oidc: oidc(&var)?,
            sign_in_help: var("SIGN_IN_HELP").map(|v| v.trim().to_string()).filter(|v| !v.is_empty()),
            public_origin,
            catalog: ScopeCatalog::parse(&catalog_json)?,
            access_token_ttl: seconds(&var, "ACCESS_TOKEN_TTL_SECONDS", DEFAULT_ACCESS_TOKEN_TTL, 60, MAX_ACCESS_TOKEN_TTL)?,
            refresh_token_ttl: seconds(&var, "REFRESH_TOKEN_TTL_SECONDS", DEFAULT_REFRESH_TOKEN_TTL, 3600, 366 * 86_400)?,
            code_ttl: seconds(&var, "AUTH_CODE_TTL_SECONDS", DEFAULT_CODE_TTL, 1, 600)?,
            policy_cache_seconds: seconds(&var, "POLICY_CACHE_SECONDS", DEFAULT_CACHE_SECONDS, 0, MAX_CACHE_SECONDS)?,
            revocation_check_seconds: seconds(&var, "REVOCATION_CHECK_SECONDS", DEFAULT_CACHE_SECONDS, 0, MAX_CACHE_SECONDS)?,
            dev_sign_in,
            openapi_url,
            upstream_base_url,
            upstream_timeout_ms: seconds(&var, "UPSTREAM_TIMEOUT_MS", 10_000, 100, 60_000)? as u64,
            upstream_max_bytes: seconds(&var, "UPSTREAM_MAX_BYTES", 256 * 1024, 1024, 8 << 20)? as usize,
            upstream_auth: match var("UPSTREAM_AUTH").as_deref() {
                None | Some("" | "assertion") => UpstreamAuth::Assertion,
                Some("api_key") => UpstreamAuth::ApiKey {
                    header: var("UPSTREAM_API_KEY_HEADER")
                        .filter(|h| !h.is_empty())
                        .unwrap_or_else(|| "x-api-key".into())
                        .to_ascii_lowercase(),
                },
                Some(other) => return Err(format!("UPSTREAM_AUTH must be `assertion` or `api_key`, not `{other}`")),
            },
            step_up: match var("STEP_UP").as_deref() {
                None | Some("" | "tool_error") => StepUp::ToolError,
                Some("challenge") => StepUp::Challenge,
                Some(other) => return Err(format!("STEP_UP must be `tool_error` or `challenge`, not `{other}`")),
            },
            client_documents: match var("CLIENT_ID_METADATA_DOCUMENTS").as_deref() {
                None | Some("" | "on") => true,
                Some("off") => false,
                Some(other) => return Err(format!("CLIENT_ID_METADATA_DOCUMENTS must be `on` or `off`, not `{other}`")),
            },
            admin_token: match var("ADMIN_TOKEN").filter(|t| !t.is_empty()) {
                Some(t) if t.len() < 32 => return Err("ADMIN_TOKEN must be at least 32 characters".into()),
                other => other,
            },
        })
    }
}

fn seconds(var: &impl Fn(&str) -> Option<String>, name: &str, default: i64, min: i64, max: i64) -> Result<i64, String> {
    match var(name) {
        None => Ok(default),
        Some(raw) => match raw.trim().parse::<i64>() {
            Ok(n) if (min..=max).contains(&n) => Ok(n),
            _ => Err(format!("{name} must be a whole number from {min} to {max}, not `{raw}`")),
        },
    }
}

/// Where tool calls and their credentials go, or where the tools come from: https, or plain http
/// to a loopback host while developing locally (no `PUBLIC_ORIGIN`).
fn upstream_url(var: &impl Fn(&str) -> Option<String>, name: &str, local_development: bool) -> Result<Option<String>, String> {
    let Some(raw) = url_var(var, name)? else { return Ok(None) };
    let url = url::Url::parse(&raw).map_err(|e| format!("{name} is not a URL: {e}"))?;
    match url.scheme() {
        "https" => Ok(Some(raw)),
        _ if local_development && url.host_str().is_some_and(is_loopback_host) => Ok(Some(raw)),
        _ => Err(format!("{name} must be an https URL (plain http only to a loopback host while PUBLIC_ORIGIN is unset), not `{raw}`")),
    }
}

fn url_var(var: &impl Fn(&str) -> Option<String>, name: &str) -> Result<Option<String>, String> {
    match var(name).filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(raw) => match url::Url::parse(&raw) {
            Ok(u) if matches!(u.scheme(), "http" | "https") => Ok(Some(raw)),
            _ => Err(format!("{name} must be an http(s) URL, not `{raw}`")),
        },
    }
}

fn parse_origin(raw: &str) -> Result<String, String> {
    let url = url::Url::parse(raw).map_err(|e| format!("PUBLIC_ORIGIN `{raw}` is not a URL: {e}"))?;
    if !matches!(url.scheme(), "https" | "http") || url.path() != "/" || url.query().is_some() || !url.username().is_empty() {
        return Err(format!("PUBLIC_ORIGIN must look like https://host, not `{raw}`"));
    }
    let origin = url.origin().ascii_serialization();
    if url.scheme() == "http" && !is_loopback_origin(&origin) {
        return Err(format!("PUBLIC_ORIGIN must be https (plain http only on loopback), not `{raw}`"));
    }
    Ok(origin)
}

fn is_loopback_origin(origin: &str) -> bool {
    url::Url::parse(origin).ok().and_then(|u| u.host_str().map(is_loopback_host)).unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn cfg(pairs: &[(&str, &str)]) -> Result<Config, String> {
        let map: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Config::from_vars(|k| map.get(k).cloned())
    }

    #[test]
    fn defaults_are_safe() {
        let c = cfg(&[]).unwrap();
        assert!(!c.dev_sign_in);
        assert_eq!(c.code_ttl, 60);
        assert_eq!(c.access_token_ttl, 3600);
        assert!(c.catalog.contains("CONTACTS_READ"));
    }

    #[test]
    fn bad_values_are_named() {
        assert!(cfg(&[]).unwrap().client_documents, "metadata documents are accepted unless turned off");
        assert!(!cfg(&[("CLIENT_ID_METADATA_DOCUMENTS", "off")]).unwrap().client_documents);
        assert_eq!(
            cfg(&[("CLIENT_ID_METADATA_DOCUMENTS", "no")]).unwrap_err(),
            "CLIENT_ID_METADATA_DOCUMENTS must be `on` or `off`, not `no`"
        );
        assert!(cfg(&[("AUTH_CODE_TTL_SECONDS", "soon")]).unwrap_err().contains("AUTH_CODE_TTL_SECONDS"));
        assert!(cfg(&[("PUBLIC_ORIGIN", "https://x.example/mcp")]).unwrap_err().contains("PUBLIC_ORIGIN"));
        assert_eq!(cfg(&[("PUBLIC_ORIGIN", "https://x.example/")]).unwrap().public_origin.unwrap(), "https://x.example");
        assert!(cfg(&[("PUBLIC_ORIGIN", "http://x.example")]).unwrap_err().contains("must be https"));
        assert!(cfg(&[("PUBLIC_ORIGIN", "http://127.0.0.1:8081")]).is_ok(), "plain http on loopback");
    }

    #[test]
    fn the_upstream_is_named_by_the_operator_and_reached_over_https() {
        let api = ("UPSTREAM_BASE_URL", "https://api.example/v1");
        let doc = ("OPENAPI_URL", "https://api.example/openapi.json");
        let prod = ("PUBLIC_ORIGIN", "https://mcp.example");
        assert!(cfg(&[doc]).unwrap_err().starts_with("OPENAPI_URL is set but UPSTREAM_BASE_URL is not"));
        assert!(cfg(&[doc, api, prod]).is_ok());
        assert!(cfg(&[api, prod]).is_ok(), "the bundled document needs no fetch");
        let plain = ("OPENAPI_URL", "http://api.example/openapi.json");
        assert_eq!(
            cfg(&[plain, api, prod]).unwrap_err(),
            "OPENAPI_URL must be an https URL (plain http only to a loopback host while PUBLIC_ORIGIN is unset), not `http://api.example/openapi.json`"
        );
        let local = [("OPENAPI_URL", "http://127.0.0.1:4010/openapi.json"), ("UPSTREAM_BASE_URL", "http://127.0.0.1:4010")];
        assert!(cfg(&local).is_ok(), "loopback while developing");
        assert!(cfg(&[local[0], local[1], ("PUBLIC_ORIGIN", "http://127.0.0.1:8081")]).is_ok(), "a loopback deployment too");
        assert!(cfg(&[local[0], local[1], prod]).unwrap_err().starts_with("OPENAPI_URL must be an https URL"));
        assert!(cfg(&[("UPSTREAM_BASE_URL", "http://api.example"), prod])
            .unwrap_err()
            .starts_with("UPSTREAM_BASE_URL must be an https URL"));
    }

    #[test]
    fn an_identity_provider_is_configured_whole_or_not_at_all() {
        assert!(cfg(&[]).unwrap().oidc.is_none());
        let c = cfg(&[("OIDC_ISSUER", "https://id.example.com"), ("OIDC_CLIENT_ID", "mcp")]).unwrap().oidc.unwrap();
        assert_eq!((c.scopes.as_str(), c.client_secret), ("openid email profile", None));
        assert!(cfg(&[("OIDC_ISSUER", "https://id.example.com")]).unwrap_err().contains("OIDC_CLIENT_ID is not"));
        assert!(cfg(&[("OIDC_CLIENT_ID", "mcp")]).unwrap_err().contains("without OIDC_ISSUER"));
        assert!(cfg(&[("OIDC_ISSUER", "http://id.example.com"), ("OIDC_CLIENT_ID", "m")]).unwrap_err().contains("https"));
        assert!(cfg(&[("OIDC_ISSUER", "http://127.0.0.1:8901"), ("OIDC_CLIENT_ID", "m")]).is_ok(), "a provider on loopback");
        assert!(cfg(&[("OIDC_ISSUER", "https://id.example.com"), ("OIDC_CLIENT_ID", "m"), ("OIDC_SCOPES", "email")]).is_err());
    }

    #[test]
    fn a_production_configuration_has_its_origin_and_its_provider() {
        let good = [("PUBLIC_ORIGIN", "https://mcp.example.com"), ("OIDC_ISSUER", "https://id.example.com"), ("OIDC_CLIENT_ID", "m")];
        assert_eq!(cfg(&good).unwrap().production_problems(), Vec::<String>::new());
        let local = cfg(&[("DEV_SIGN_IN", "on")]).unwrap().production_problems();
        assert_eq!(local.len(), 3, "{local:?}");
        assert!(
            local[0].starts_with("PUBLIC_ORIGIN is not set") && local[1].starts_with("DEV_SIGN_IN") && local[2].starts_with("OIDC_ISSUER")
        );
        assert!(cfg(&[("PUBLIC_ORIGIN", "http://127.0.0.1:8081")]).unwrap().production_problems()[0].contains("loopback"));
    }

    #[test]
    fn development_sign_in_is_refused_on_a_public_origin() {
        let refused = cfg(&[("DEV_SIGN_IN", "on"), ("PUBLIC_ORIGIN", "https://mcp.example.com")]).unwrap_err();
        assert!(refused.starts_with("DEV_SIGN_IN is set on a non-loopback origin"), "{refused}");
        assert!(cfg(&[("DEV_SIGN_IN", "on"), ("PUBLIC_ORIGIN", "http://localhost:8081")]).unwrap().dev_sign_in);
        assert!(cfg(&[("DEV_SIGN_IN", "on")]).unwrap().dev_sign_in, "unpinned: the site serves loopback hosts only");
    }
}

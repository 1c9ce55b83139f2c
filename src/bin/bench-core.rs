//! `make bench-core`: the pure core's share of one `/mcp` call, counted in instructions under
//! `valgrind --tool=callgrind` (scripts/callgrind.sh runs each operation 1 and 1 + N times and
//! divides the difference, so set-up is not counted). Instruction counts repeat run to run,
//! whatever else the machine is doing; times on a shared machine do not.
//!
//! Usage: bench-core OPERATION COUNT, OPERATION one of `verify` (access-token verification),
//! `decide` (the live re-check against a parsed, cached policy), `list` (`tools/list` on a
//! 324-operation catalog, parse to answer), `call` (`tools/call mcp_whoami`, parse to answer).
use std::hint::black_box;

use mcp_edge::core::config::BUNDLED_SCOPE_CATALOG;
use mcp_edge::core::ids::{ConnectionId, Email, WorkspaceId};
use mcp_edge::core::mcp::era::{Era, McpHeaders};
use mcp_edge::core::mcp::jsonrpc::{self, Incoming};
use mcp_edge::core::mcp::server::{self, Answer, ApiView, ClientRequest};
use mcp_edge::core::mcp::tools::{ApiToolsStatus, Caller};
use mcp_edge::core::oauth::access_token::{self, AccessClaims};
use mcp_edge::core::oauth::keys::Keys;
use mcp_edge::core::oauth::types::ClientId;
use mcp_edge::core::openapi::catalog::ApiCatalog;
use mcp_edge::core::policy::evaluate::{self, GrantFacts};
use mcp_edge::core::policy::model::WorkspacePolicy;
use mcp_edge::core::scopes::{ScopeCatalog, ScopeSet};
use serde_json::json;

#[path = "common/sample.rs"]
mod sample;

use sample::document;

const POLICY: &str = include_str!("../../config/dev-policy.json");
const ORIGIN: &str = "https://mcp.example.com";
const NOW: i64 = 1_800_000_000;

fn caller(scopes: &[String]) -> Caller {
    Caller {
        user_email: Email::parse("dev@example.com").expect("a valid e-mail"),
        user_name: "Dev".into(),
        workspace_id: WorkspaceId::parse("dev").expect("a valid workspace ID"),
        workspace_name: "Dev".into(),
        client_id: ClientId::parse("c1").expect("a valid client ID"),
        client_name: "Claude Code".into(),
        scopes: scopes.to_vec(),
        ceiling: scopes.to_vec(),
        expires_at: NOW + 3600,
    }
}

/// A JSON-RPC body from parse to the answer's text, as `app::mcp` drives it.
fn dispatch(body: &[u8], caller: &Caller, view: &ApiView) -> usize {
    let Ok(Incoming::Request { id, method, params }) = jsonrpc::parse(body) else { panic!("a request") };
    let era = Era::of(McpHeaders::default(), &method, params.as_ref()).expect("a legacy request");
    let request = ClientRequest::parse(&era, &method, params.as_ref()).expect("a served method");
    match server::answer(&id, &era, request, caller, NOW, view) {
        Answer::Response(text) => text.len(),
        Answer::CallApiTool { .. } => 0,
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let (Some(op), Some(count)) = (args.next(), args.next().and_then(|n| n.parse::<u32>().ok())) else {
        eprintln!("usage: bench-core verify|decide|list|call COUNT");
        std::process::exit(2);
    };
    let scopes = ScopeCatalog::parse(BUNDLED_SCOPE_CATALOG).expect("bundled catalog");
    let keys = Keys::from_secrets("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8", None).expect("a 32-byte key");
    let workspace = WorkspaceId::parse("dev").expect("a valid workspace ID");
    let policy = WorkspacePolicy::parse(&workspace, POLICY, &scopes).expect("the development policy");
    let held: Vec<String> = policy.scope_ceiling.to_vec();
    let claims = AccessClaims {
        iss: ORIGIN.into(),
        aud: format!("{ORIGIN}/mcp"),
        sub: Email::parse("dev@example.com").expect("a valid e-mail"),
        ws: workspace.clone(),
        client_id: ClientId::parse("c1").expect("a valid client ID"),
        scope: held.join(" "),
        cid: ConnectionId::parse("conn-1").expect("a valid connection ID"),
        jti: "j".repeat(43),
        client_name: Some("Claude Code".into()),
    };
    let token = access_token::sign(&keys, &claims, NOW, NOW + 3600);
    let audience = format!("{ORIGIN}/mcp");
    let catalog = ApiCatalog::from_document(&document(300), None, &scopes);
    let caller = caller(&held);
    let listings: Vec<&str> = catalog.tools.iter().filter(|t| ApiCatalog::allows(t, &held, &scopes)).map(|t| t.listing.as_str()).collect();
    let view = ApiView { listings, status: ApiToolsStatus::default() };
    let list = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}).to_string();
    let call = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "mcp_whoami", "arguments": {}}}).to_string();
    let mut sink = 0usize;
    for _ in 0..count {
        sink += match op.as_str() {
            "verify" => access_token::verify(&keys, black_box(&token), ORIGIN, &audience, NOW).map_or(0, |t| t.claims.scope.len()),
            "decide" => {
                let granted = ScopeSet::from_trusted(claims.scope.split(' ').map(str::to_string));
                let facts = GrantFacts { user: &claims.sub, client_id: &claims.client_id, redirect_uri: None };
                evaluate::recheck(black_box(&policy), &scopes, &facts, &granted).map_or(0, |s| s.to_vec().len())
            }
            "list" => {
                // The per-call part: the visible tools (worked out once per scope set), then the answer.
                let listings: Vec<&str> = catalog.visible(&held, &scopes).iter().map(|&i| catalog.tools[i].listing.as_str()).collect();
                dispatch(black_box(list.as_bytes()), &caller, &ApiView { listings, status: ApiToolsStatus::default() })
            }
            "call" => dispatch(black_box(call.as_bytes()), &caller, &view),
            other => {
                eprintln!("unknown operation `{other}`");
                std::process::exit(2);
            }
        };
    }
    println!("{op} x{count}: {sink}");
}

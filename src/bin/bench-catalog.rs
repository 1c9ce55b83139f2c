//! `make bench-core`: how long building the tool catalog takes for a 300-operation document, and how
//! long one tools/list filtering pass takes once it is built. The worker builds the catalog once
//! per document version per isolate; this says what that one build costs.
use std::time::Instant;

use mcp_edge::core::config::BUNDLED_SCOPE_CATALOG;
use mcp_edge::core::ids::{Email, WorkspaceId};
use mcp_edge::core::mcp::era::Era;
use mcp_edge::core::mcp::server::{self, Answer, ApiView, ClientRequest};
use mcp_edge::core::mcp::tools::{ApiToolsStatus, Caller};
use mcp_edge::core::oauth::types::ClientId;
use mcp_edge::core::openapi::catalog::ApiCatalog;
use mcp_edge::core::scopes::ScopeCatalog;
use serde_json::json;

#[path = "common/sample.rs"]
mod sample;

use sample::document;

fn main() {
    let scopes = ScopeCatalog::parse(BUNDLED_SCOPE_CATALOG).expect("bundled catalog");
    let text = document(300);
    let runs = 50;
    let start = Instant::now();
    let mut tools = 0;
    for _ in 0..runs {
        tools = ApiCatalog::from_document(&text, None, &scopes).tools.len();
    }
    let build = start.elapsed() / runs;
    let catalog = ApiCatalog::from_document(&text, None, &scopes);
    let held = vec!["CONTACTS_READ".to_string(), "COMPANIES_READ".to_string()];
    let start = Instant::now();
    let mut visible = 0;
    for _ in 0..1000 {
        visible = catalog.tools.iter().filter(|t| ApiCatalog::allows(t, &held, &scopes)).count();
    }
    let filter = start.elapsed() / 1000;
    // The whole tools/list answer as the worker makes it (`server::answer` over the listings
    // serialized at build time), for a reader and for a token with ALL (every tool).
    let caller = |held: &[String]| Caller {
        user_email: Email::parse("ada@example.com").expect("a valid e-mail"),
        user_name: "Ada".into(),
        workspace_id: WorkspaceId::parse("acme").expect("a valid workspace ID"),
        workspace_name: "Acme".into(),
        client_id: ClientId::parse("c1").expect("a valid client ID"),
        client_name: "Claude Code".into(),
        scopes: held.to_vec(),
        ceiling: held.to_vec(),
        expires_at: 0,
    };
    let answer = |held: &[String]| {
        let start = Instant::now();
        let (mut count, mut bytes) = (0, 0);
        for _ in 0..1000 {
            let listings: Vec<&str> =
                catalog.tools.iter().filter(|t| ApiCatalog::allows(t, held, &scopes)).map(|t| t.listing.as_str()).collect();
            count = listings.len();
            let view = ApiView { listings, status: ApiToolsStatus::default() };
            bytes = match server::answer(&json!(1), &Era::Legacy, ClientRequest::ToolsList, &caller(held), 0, &view) {
                Answer::Response(text) => text.len(),
                Answer::CallApiTool { .. } => 0,
            };
        }
        (count, bytes, start.elapsed() / 1000)
    };
    println!("document: {} bytes, {tools} operations → {tools} tools", text.len());
    println!("catalog build (once per document version per isolate): {:.2} ms", build.as_secs_f64() * 1000.0);
    println!("tools/list scope filter ({visible} visible): {:.1} µs", filter.as_secs_f64() * 1e6);
    for held in [held, vec!["ALL".to_string()]] {
        let (count, bytes, took) = answer(&held);
        println!("tools/list answer for {} ({count} tools, {bytes} bytes of JSON): {:.1} µs", held.join(" "), took.as_secs_f64() * 1e6);
    }
}

//! `policy-check FILE [WORKSPACE_ID]`: validates a workspace policy file exactly as the worker
//! will, before an admin runs `wrangler kv key put`. Uses the bundled scope catalog, or the
//! `SCOPE_CATALOG` environment variable when set. Exit 0 when valid, 1 with the reason if not.
use std::process::ExitCode;

use mcp_edge::core::config::BUNDLED_SCOPE_CATALOG;
use mcp_edge::core::ids::WorkspaceId;
use mcp_edge::core::policy::model::WorkspacePolicy;
use mcp_edge::core::scopes::ScopeCatalog;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(file) = args.first() else {
        eprintln!("usage: policy-check FILE [WORKSPACE_ID]");
        return ExitCode::from(2);
    };
    let workspace = args
        .get(1)
        .cloned()
        .unwrap_or_else(|| std::path::Path::new(file).file_stem().and_then(|s| s.to_str()).unwrap_or("workspace").to_string());
    let Some(workspace) = WorkspaceId::parse(&workspace) else {
        eprintln!("`{workspace}` is not a valid workspace ID (1-64 of A-Z a-z 0-9 - _); pass one as the second argument");
        return ExitCode::from(2);
    };
    let catalog_json = std::env::var("SCOPE_CATALOG").unwrap_or_else(|_| BUNDLED_SCOPE_CATALOG.to_string());
    let catalog = match ScopeCatalog::parse(&catalog_json) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let text = match std::fs::read_to_string(file) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("cannot read {file}: {e}");
            return ExitCode::from(2);
        }
    };
    match WorkspacePolicy::parse(&workspace, &text, &catalog) {
        Ok(p) => {
            println!(
                "{file}: valid policy for workspace `{workspace}` ({}): MCP {}, {} redirect URI(s), {} pinned client ID(s), ceiling [{}], {} member(s)",
                p.name,
                if p.mcp_enabled { "enabled" } else { "disabled" },
                p.allowed_redirect_uris.len(),
                p.allowed_client_ids.len(),
                p.scope_ceiling.to_param(),
                p.members.len()
            );
            println!("store it with: wrangler kv key put --binding POLICIES policy:{workspace} --path {file}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{file}: {e}");
            ExitCode::FAILURE
        }
    }
}

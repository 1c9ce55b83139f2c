//! `deploy-check [WRANGLER_TOML] [ENV]`: checks the configuration a `wrangler deploy --env ENV`
//! would run with, exactly as the worker reads it (`Config::from_vars`), plus what a deployment
//! off loopback needs (`Config::production_problems`) and the bindings. `make deploy-check`
//! runs it after `wrangler deploy --dry-run`. Exit 0 when deployable, 1 with the problems.
use std::process::ExitCode;

use mcp_edge::core::config::{bindings, Config};
use mcp_edge::core::ratelimit::{Limit, PERIOD_SECONDS};
use toml::Value;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let file = args.first().map(String::as_str).unwrap_or("wrangler.toml");
    let env = args.get(1).map(String::as_str).unwrap_or("production");
    let text = match std::fs::read_to_string(file) {
        Ok(t) => t,
        Err(e) => return fail(&[format!("cannot read {file}: {e}")]),
    };
    let doc: Value = match text.parse() {
        Ok(d) => d,
        Err(e) => return fail(&[format!("{file} is not TOML: {e}")]),
    };
    let Some(table) = doc.get("env").and_then(|e| e.get(env)) else {
        return fail(&[format!("{file} has no [env.{env}] section (README, \"Deploy to Cloudflare\")")]);
    };
    let vars = table.get("vars").and_then(Value::as_table).cloned().unwrap_or_default();
    // wrangler passes every var to the worker as text.
    let var = |name: &str| {
        vars.get(name).map(|v| match v {
            Value::String(s) => s.clone(),
            Value::Integer(n) => n.to_string(),
            Value::Float(f) => f.to_string(),
            Value::Boolean(b) => b.to_string(),
            other => format!("{other:?}"),
        })
    };
    let config = match Config::from_vars(var) {
        Ok(c) => c,
        Err(e) => return fail(&[format!("Server misconfigured: {e}")]),
    };
    let mut problems = config.production_problems();
    for (name, _) in bindings::SECRETS.into_iter().filter(|(name, _)| vars.contains_key(*name)) {
        problems.push(format!("{name} is in [env.{env}.vars], where anyone who reads the repository sees it: remove it and `wrangler secret put {name} --env {env}`"));
    }
    problems.extend(missing_bindings(table, env));
    if !problems.is_empty() {
        return fail(&problems);
    }
    for warning in placeholder_ids(table) {
        println!("warning: {warning}");
    }
    let origin = config.public_origin.as_deref().unwrap_or_default();
    println!("[env.{env}] of {file} is deployable:");
    println!("  origin      {origin} (MCP endpoint {origin}/mcp)");
    if let Some(oidc) = &config.oidc {
        println!("  sign-in     {} (client {}), redirect URI to register there: {origin}/oidc/callback", oidc.issuer, oidc.client_id);
    }
    for (name, required) in bindings::SECRETS {
        let need = if required { "required" } else { "if used" };
        println!("  secret      {name} ({need}): wrangler secret put {name} --env {env}");
    }
    ExitCode::SUCCESS
}

fn names<'a>(table: &'a Value, path: &[&str], field: &str) -> Vec<&'a str> {
    let mut node = Some(table);
    for key in path {
        node = node.and_then(|n| n.get(key));
    }
    node.and_then(Value::as_array).map(|list| list.iter().filter_map(|b| b.get(field)?.as_str()).collect()).unwrap_or_default()
}

/// Bindings are not inherited by an environment: each must be in `[env.ENV]` itself.
fn missing_bindings(table: &Value, env: &str) -> Vec<String> {
    let kv = names(table, &["kv_namespaces"], "binding");
    let objects = names(table, &["durable_objects", "bindings"], "name");
    let missing_kv = bindings::KV.into_iter().filter(|b| !kv.contains(b)).map(|b| format!("[env.{env}] has no KV namespace bound as {b}"));
    let missing_do = bindings::DURABLE_OBJECTS
        .into_iter()
        .filter(|(b, _)| !objects.contains(b))
        .map(|(b, class)| format!("[env.{env}] has no Durable Object {b} (class {class})"));
    let limits: Vec<&Value> = table.get("ratelimits").and_then(Value::as_array).map(|l| l.iter().collect()).unwrap_or_default();
    let unfit_limits = Limit::ALL.into_iter().filter_map(|limit| {
        let name = limit.binding();
        let found = limits.iter().find(|l| l.get("name").and_then(Value::as_str) == Some(name));
        let period = found.and_then(|l| l.get("simple")?.get("period")?.as_integer());
        match (found, period) {
            (None, _) => Some(format!("[env.{env}] has no rate limit {name} (README, \"Abuse limits\")")),
            (Some(_), Some(p)) if p == PERIOD_SECONDS => None,
            (Some(_), _) => {
                Some(format!("rate limit {name} must have simple.period = {PERIOD_SECONDS}: its 429 says to retry in {PERIOD_SECONDS} s"))
            }
        }
    });
    missing_kv.chain(missing_do).chain(unfit_limits).collect()
}

fn placeholder_ids(table: &Value) -> Vec<String> {
    let Some(list) = table.get("kv_namespaces").and_then(Value::as_array) else { return Vec::new() };
    list.iter()
        .filter_map(|b| {
            let (binding, id) = (b.get("binding")?.as_str()?, b.get("id")?.as_str()?);
            let example = id.starts_with("0000000000");
            example.then(|| {
                format!("KV namespace {binding} has the example id {id}: `wrangler kv namespace create {binding}` and put its id here")
            })
        })
        .collect()
}

fn fail(problems: &[String]) -> ExitCode {
    for p in problems {
        eprintln!("deploy-check: {p}");
    }
    ExitCode::FAILURE
}

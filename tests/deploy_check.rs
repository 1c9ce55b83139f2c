//! `deploy-check` on wrangler.toml variants: the repository's own passes; each way a production
//! environment can be unfit is refused with its reason.
use std::process::Command;

fn check(toml: &str) -> (bool, String) {
    let dir = std::env::temp_dir().join(format!("deploy-check-{}-{}", std::process::id(), toml.len()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("wrangler.toml");
    std::fs::write(&file, toml).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_deploy-check")).arg(&file).arg("production").output().unwrap();
    (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

const STORES: &str = r#"
[[env.production.kv_namespaces]]
binding = "POLICIES"
id = "a1"
[[env.production.kv_namespaces]]
binding = "CLIENTS"
id = "a2"
[env.production.durable_objects]
bindings = [{ name = "AUTH_CODES", class_name = "AuthCodes" }, { name = "CONNECTIONS", class_name = "Connections" }, { name = "WORKSPACES", class_name = "Workspaces" }]
"#;

/// The stores and the five rate limits a production environment needs.
fn bindings() -> String {
    let limits: String = mcp_edge::core::ratelimit::Limit::ALL
        .iter()
        .enumerate()
        .map(|(i, l)| {
            format!(
                "[[env.production.ratelimits]]\nname = \"{}\"\nnamespace_id = \"{}\"\nsimple = {{ limit = 5, period = 60 }}\n",
                l.binding(),
                i + 1
            )
        })
        .collect();
    format!("{STORES}{limits}")
}

#[test]
fn the_repositorys_production_environment_is_deployable() {
    let (ok, out) = check(&std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/wrangler.toml")).unwrap());
    assert!(ok, "{out}");
    assert!(out.contains("redirect URI to register there: https://mcp.example.com/oidc/callback"), "{out}");
}

#[test]
fn each_unfit_production_environment_is_refused_with_its_reason() {
    let vars = "[env.production.vars]\nPUBLIC_ORIGIN = \"https://mcp.example.com\"\nOIDC_ISSUER = \"https://id.example.com\"\nOIDC_CLIENT_ID = \"m\"\n";
    let bindings = bindings();
    assert!(check(&format!("{vars}{bindings}")).0);
    let cases = [
        (format!("{}{bindings}", vars.replace("PUBLIC_ORIGIN = \"https://mcp.example.com\"\n", "")), "PUBLIC_ORIGIN is not set"),
        (format!("{}DEV_SIGN_IN = \"on\"\n{bindings}", vars), "Server misconfigured: DEV_SIGN_IN is set on a non-loopback origin"),
        (
            format!("{}{bindings}", vars.replace("OIDC_ISSUER = \"https://id.example.com\"\n", "").replace("OIDC_CLIENT_ID = \"m\"\n", "")),
            "OIDC_ISSUER is not set",
        ),
        (format!("{}{bindings}", vars.replace("https://mcp", "http://mcp")), "PUBLIC_ORIGIN must be https"),
        (vars.to_string(), "has no KV namespace bound as POLICIES"),
        (format!("{vars}{}", STORES), "has no rate limit RATE_LIMIT_REGISTER"),
        (
            format!("{vars}{}", bindings.replacen("period = 60", "period = 10", 1)),
            "rate limit RATE_LIMIT_REGISTER must have simple.period = 60",
        ),
        (format!("{vars}SIGNING_KEY = \"x\"\n{bindings}"), "SIGNING_KEY is in [env.production.vars]"),
        (format!("{vars}SIGNING_KEY_PREVIOUS = \"x\"\n{bindings}"), "SIGNING_KEY_PREVIOUS is in [env.production.vars]"),
        ("[vars]\n".to_string(), "has no [env.production] section"),
    ];
    for (toml, says) in cases {
        let (ok, out) = check(&toml);
        assert!(!ok && out.contains(says), "{says}: {out}");
    }
}

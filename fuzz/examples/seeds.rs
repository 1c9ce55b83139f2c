//! Writes the signed seeds of the `signed_values` target (fuzz/corpus/signed_values): values the
//! fixed keys issued, which no fuzzer could forge. `cargo +nightly run --example seeds` in fuzz/.
use std::fs;

use mcp_edge::core::connection::ConnectionKey;
use mcp_edge::core::cookies::{self, Membership, Session};
use mcp_edge::core::ids::{ConnectionId, Identity};
use mcp_edge::core::oauth::access_token::{self, AccessClaims};
use mcp_edge::core::oauth::refresh::RefreshToken;
use mcp_edge_fuzz::{email, keys, seed_claims, workspace, EXPIRES_AT, ISSUED_AT, NOW};

fn main() -> std::io::Result<()> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/corpus/signed_values");
    fs::create_dir_all(dir)?;
    let keys = keys();
    let write = |name: &str, value: String| fs::write(format!("{dir}/{name}"), value);

    write("access-token", access_token::sign(keys, &seed_claims(), ISSUED_AT, EXPIRES_AT))?;
    write("access-token-expired", access_token::sign(keys, &seed_claims(), ISSUED_AT - 7200, NOW - 1))?;
    let other = AccessClaims { aud: "https://other.example/mcp".into(), client_name: None, ..seed_claims() };
    write("access-token-other-audience", access_token::sign(keys, &other, ISSUED_AT, EXPIRES_AT))?;

    let session = Session {
        identity: Identity { subject: Some("sub-1".into()), email: Some(email("dev@example.com")) },
        current: Some(Membership { workspace: workspace("acme"), email: email("dev@example.com") }),
        others: vec![workspace("beta")],
        expires_at: EXPIRES_AT,
        sid: "sid-1".into(),
    };
    write("session", cookies::encode_session(keys, &session))?;

    let id = ConnectionId::parse("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA").expect("a fixed connection ID");
    let connection = ConnectionKey { workspace: workspace("acme"), user: email("dev@example.com"), id };
    write("refresh-token", RefreshToken::mint(keys, &connection, 3).as_str().to_string())?;
    Ok(())
}

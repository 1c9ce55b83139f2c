//! The workspace policy document (`WorkspacePolicy::parse`, what KV and the admin page hand the
//! server), and the /authorize and token-time decisions made from an accepted one. Input: the
//! document's text.
//!
//! Properties: nothing panics, and a refusal names the workspace; an accepted policy written
//! back as a document (`policy_document`) parses to the same policy, with e-mails lowercased
//! and every redirect URI, client ID and ceiling scope valid; what `authorize` grants and what
//! `recheck` leaves in force never exceed the ceiling.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mcp_edge::core::oauth::types::ClientId;
use mcp_edge::core::policy::evaluate::{authorize, recheck, AuthorizationFacts, GrantFacts};
use mcp_edge::core::policy::model::WorkspacePolicy;
use mcp_edge::core::scopes::ScopeSet;
use mcp_edge_fuzz::{catalog, client_id, policy_document, text, workspace};

fuzz_target!(|data: &[u8]| {
    let Some(json) = text(data) else { return };
    let ws = workspace("acme");
    let policy = match WorkspacePolicy::parse(&ws, json, catalog()) {
        Ok(p) => p,
        Err(e) => {
            assert_eq!(e.workspace, ws);
            assert!(!e.message.is_empty());
            return;
        }
    };
    assert!(!policy.name.trim().is_empty());
    for m in &policy.members {
        assert_eq!(m.email.as_str(), m.email.as_str().to_ascii_lowercase(), "e-mails are compared lowercased");
        assert!(!m.name.trim().is_empty() && m.name.trim() == m.name);
    }
    assert!(policy.scope_ceiling.iter().all(|s| catalog().contains(s)));
    for uri in &policy.allowed_redirect_uris {
        assert!(!uri.as_str().chars().any(|c| c.is_whitespace() || c.is_control()), "{uri:?}");
    }

    let document = policy_document(&policy).to_string();
    let again = WorkspacePolicy::parse(&ws, &document, catalog()).unwrap_or_else(|e| panic!("written back, it fails: {e}\n{document}"));
    assert_eq!(again, policy, "written back, it parses to another policy:\n{document}");

    let (Some(member), Some(redirect_uri)) = (policy.members.first(), policy.allowed_redirect_uris.first()) else { return };
    let client = policy.allowed_client_ids.first().cloned().unwrap_or_else(|| client_id("any-client"));
    let everything = ScopeSet::from_trusted(catalog().names());
    for requested in [ScopeSet::default(), policy.scope_ceiling.clone(), everything] {
        let facts = AuthorizationFacts { user: Some(&member.email), client_id: &client, redirect_uri, requested: &requested };
        if let Ok(granted) = authorize(&policy, catalog(), &facts) {
            assert!(policy.mcp_enabled && !granted.is_empty());
            assert!(catalog().excess(&granted, &policy.scope_ceiling).is_empty(), "granted {granted:?} over {:?}", policy.scope_ceiling);
            let grant = GrantFacts { user: &member.email, client_id: &client, redirect_uri: Some(redirect_uri) };
            let effective = recheck(&policy, catalog(), &grant, &granted).expect("a grant just made stands");
            assert!(catalog().excess(&effective, &policy.scope_ceiling).is_empty());
        }
    }
    // A client the pin does not list is refused.
    if !policy.allowed_client_ids.is_empty() {
        let stranger = ClientId::parse("not-a-listed-client").expect("valid");
        if !policy.allowed_client_ids.contains(&stranger) {
            let facts =
                AuthorizationFacts { user: Some(&member.email), client_id: &stranger, redirect_uri, requested: &ScopeSet::default() };
            assert!(authorize(&policy, catalog(), &facts).is_err());
        }
    }
});

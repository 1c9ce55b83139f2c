//! Scope parsing and the inclusion rules, against the bundled catalog. Input: two lines, the
//! `scope` parameter a client asks for and (if it parses) a workspace's ceiling.
//!
//! Properties: an accepted parameter holds only catalog scopes, sets `offline_access` exactly
//! when it names it, and `to_param` parses back to the same set; a refusal names every unknown
//! scope (its hidden characters written out). What a token may do under a ceiling (`meet`) is covered by both (no `excess`), is the
//! same either way round, and `excess` lists exactly what the ceiling does not imply.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mcp_edge::core::scopes::{ScopeSet, OFFLINE_ACCESS};
use mcp_edge::core::text::quoted;
use mcp_edge_fuzz::{catalog, text};

fuzz_target!(|data: &[u8]| {
    let Some(input) = text(data) else { return };
    let (asked, ceiling) = input.split_once('\n').unwrap_or((input, ""));
    let c = catalog();
    let Some(asked) = parsed(asked) else { return };
    let Some(ceiling) = parsed(ceiling) else { return };

    let met = c.meet(&asked, &ceiling);
    assert!(c.excess(&met, &ceiling).is_empty(), "meet exceeds the ceiling: {met:?} under {ceiling:?}");
    assert!(c.excess(&met, &asked).is_empty(), "meet exceeds the grant: {met:?} from {asked:?}");
    assert_eq!(met, c.meet(&ceiling, &asked), "meet is not symmetric");
    let excess = c.excess(&asked, &ceiling);
    for s in asked.iter() {
        let implied = ceiling.iter().any(|h| c.implies(h, s));
        assert_eq!(excess.contains(&s.to_string()), !implied, "excess is wrong about {s}");
    }
});

/// One `scope` parameter, checked; `None` when it names an unknown scope.
fn parsed(raw: &str) -> Option<ScopeSet> {
    let c = catalog();
    let tokens: Vec<&str> = raw.split(' ').filter(|t| !t.is_empty()).collect();
    match c.parse_request(raw) {
        Ok(r) => {
            assert!(tokens.iter().all(|t| *t == OFFLINE_ACCESS || c.contains(t)), "accepted an unknown scope in {raw:?}");
            assert_eq!(r.offline_access, tokens.contains(&OFFLINE_ACCESS));
            assert!(r.scopes.iter().all(|s| c.contains(s) && s != OFFLINE_ACCESS));
            let param = r.scopes.to_param();
            assert!(!param.contains("  ") && !param.starts_with(' ') && !param.ends_with(' '), "{param:?}");
            let again = c.parse_request(&param).expect("to_param parses back");
            assert_eq!(again.scopes, r.scopes, "to_param does not round-trip");
            assert!(!again.offline_access);
            Some(r.scopes)
        }
        Err(message) => {
            let unknown: Vec<&&str> = tokens.iter().filter(|t| **t != OFFLINE_ACCESS && !c.contains(t)).collect();
            assert!(!unknown.is_empty(), "refused {raw:?} with nothing unknown: {message}");
            // Named as `quoted` shows them: hidden characters and line breaks written out.
            assert!(unknown.iter().all(|u| message.contains(&quoted(u))), "{message:?} does not name every unknown scope");
            None
        }
    }
}

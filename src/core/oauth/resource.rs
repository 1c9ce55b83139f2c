//! RFC 8707 resource indicators, normalised the way real clients send them (docs/protocol.md §5).
use crate::core::oauth::error::{ErrorCode, OAuthError};

/// The one protected resource this server is: `<origin>/mcp`.
pub fn mcp_resource(origin: &str) -> String {
    format!("{origin}/mcp")
}

/// Absent → `<origin>/mcp`. `<origin>`, `<origin>/`, `<origin>/mcp` and `<origin>/mcp/` are the same
/// resource. Anything else (another origin or path, a fragment) → `invalid_target`.
pub fn normalize(raw: Option<&str>, origin: &str) -> Result<String, OAuthError> {
    let canonical = mcp_resource(origin);
    let Some(raw) = raw.filter(|r| !r.is_empty()) else {
        return Ok(canonical);
    };
    let bad = || {
        OAuthError::new(
            ErrorCode::InvalidTarget,
            format!("resource `{}` is not served by this server; use {canonical}", crate::core::text::quoted(raw)),
        )
    };
    let url = url::Url::parse(raw).map_err(|_| bad())?;
    if url.fragment().is_some() || url.query().is_some() || url.origin().ascii_serialization() != origin {
        return Err(bad());
    }
    match url.path() {
        "" | "/" | "/mcp" | "/mcp/" => Ok(canonical),
        _ => Err(bad()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    const O: &str = "https://mcp.example.com";

    #[test]
    fn equivalent_forms_normalise() {
        for raw in [
            None,
            Some(""),
            Some(O),
            Some("https://mcp.example.com/"),
            Some("https://mcp.example.com/mcp"),
            Some("https://mcp.example.com/mcp/"),
        ] {
            assert_eq!(normalize(raw, O).unwrap(), "https://mcp.example.com/mcp");
        }
    }

    #[test]
    fn other_targets_are_invalid_target() {
        for raw in [
            "https://other.example/mcp",
            "https://mcp.example.com/api",
            "http://mcp.example.com/mcp",
            "not a url",
            "https://mcp.example.com/mcp#x",
        ] {
            assert_eq!(normalize(Some(raw), O).unwrap_err().code, ErrorCode::InvalidTarget, "{raw}");
        }
    }
}

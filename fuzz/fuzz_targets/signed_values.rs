//! What the server signed or sealed and later reads back from a client: access tokens
//! (`access_token::verify`, EdDSA JWTs), the session cookie (`cookies::decode_session`,
//! HMAC) and refresh tokens (`RefreshToken::parse`, XChaCha20-Poly1305), under fixed keys.
//! Input: one string, tried as each. The seeds are values these keys issued
//! (`cargo run --example seeds` writes them).
//!
//! Properties: nothing panics; whatever is accepted is byte for byte what the server would
//! issue for the value it decoded to (no forgery, no second spelling of a token; for an access
//! token, its signed part, and a signature in its one encoding), an access
//! token only for this issuer and audience and before its expiry, a session only before it
//! expires; verifying ignoring expiry agrees with verifying.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mcp_edge::core::oauth::access_token::{self, BearerError};
use mcp_edge::core::oauth::refresh::RefreshToken;
use mcp_edge::core::{b64, cookies};
use mcp_edge_fuzz::{keys, text, ISSUED_AT, NOW, ORIGIN};

fuzz_target!(|data: &[u8]| {
    let Some(value) = text(data) else { return };
    let keys = keys();
    let audience = format!("{ORIGIN}/mcp");

    let verified = access_token::verify(keys, value, ORIGIN, &audience, NOW);
    let ignoring_expiry = access_token::verify_ignoring_expiry(keys, value, ORIGIN, &audience);
    match &verified {
        Ok(v) => {
            assert_eq!(ignoring_expiry.as_ref(), Ok(v));
            assert!(v.expires_at > NOW);
            assert_eq!((v.claims.iss.as_str(), v.claims.aud.as_str()), (ORIGIN, audience.as_str()));
            // Ed25519 signatures here are randomized (hedged): the signed part must be the one
            // we would sign, and the signature the one encoding of its 64 bytes.
            let ours = access_token::sign(keys, &v.claims, ISSUED_AT, v.expires_at);
            let (signed, signature) = value.rsplit_once('.').expect("a JWT has three parts");
            assert_eq!(Some(signed), ours.rsplit_once('.').map(|(s, _)| s), "a second spelling of a token verifies");
            let bytes =
                b64::decode(signature).unwrap_or_else(|| panic!("a signature that is not canonical base64url verifies: {signature}"));
            assert_eq!((bytes.len(), b64::encode(&bytes).as_str()), (64, signature));
        }
        Err(BearerError::Expired) => assert!(ignoring_expiry.is_ok()),
        Err(e) => assert_eq!(ignoring_expiry.as_ref().err(), Some(e)),
    }

    if let Some(session) = cookies::decode_session(keys, value, NOW) {
        assert!(session.expires_at > NOW);
        assert_eq!(cookies::encode_session(keys, &session), value, "a second spelling of a session verifies");
    }

    if let Some(token) = RefreshToken::parse(keys, value) {
        assert_eq!(token.as_str(), value);
        assert_eq!(
            RefreshToken::mint(keys, &token.connection, token.generation).as_str(),
            value,
            "a second spelling of a refresh token opens"
        );
    }
});

//! Secrets kept at rest (per-workspace upstream API keys): XChaCha20-Poly1305 under a key
//! derived from `SIGNING_KEY`, bound to the workspace as associated data, with a random 192-bit
//! nonce. Stored as `v1.<base64url(nonce ‖ ciphertext)>`; never returned by any API. During a
//! rotation what was sealed under `SIGNING_KEY_PREVIOUS`'s key still opens.
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};

use crate::core::b64;
use crate::core::oauth::keys::Keys;

pub const NONCE_BYTES: usize = 24;

pub fn seal(keys: &Keys, plaintext: &[u8], nonce: &[u8; NONCE_BYTES], workspace: &str) -> String {
    let cipher = XChaCha20Poly1305::new(keys.secrets_key().into());
    // Encryption with a valid key and nonce only fails for inputs over 256 GiB.
    let sealed = cipher
        .encrypt(XNonce::from_slice(nonce), Payload { msg: plaintext, aad: workspace.as_bytes() })
        .expect("encryption of a small secret cannot fail");
    let mut out = nonce.to_vec();
    out.extend_from_slice(&sealed);
    format!("v1.{}", b64::encode(&out))
}

/// The plaintext of what `seal` made under the current key or, during a rotation, the previous one.
pub fn open(keys: &Keys, stored: &str, workspace: &str) -> Option<Vec<u8>> {
    open_noting_key(keys, stored, workspace).map(|(plain, _)| plain)
}

/// Which key a sealed secret opened under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SealedUnder {
    Current,
    /// `SIGNING_KEY_PREVIOUS`'s: seal it again under the current key before that one is withdrawn.
    Previous,
}

/// `open`, and under which key.
pub fn open_noting_key(keys: &Keys, stored: &str, workspace: &str) -> Option<(Vec<u8>, SealedUnder)> {
    let bytes = b64::decode(stored.strip_prefix("v1.")?)?;
    if bytes.len() < NONCE_BYTES + 16 {
        return None;
    }
    let (nonce, sealed) = bytes.split_at(NONCE_BYTES);
    let payload = || Payload { msg: sealed, aad: workspace.as_bytes() };
    keys.opening_keys().enumerate().find_map(|(i, key)| {
        let plain = XChaCha20Poly1305::new(key.into()).decrypt(XNonce::from_slice(nonce), payload()).ok()?;
        Some((plain, if i == 0 { SealedUnder::Current } else { SealedUnder::Previous }))
    })
}

/// `WorkspaceStore::reseal_upstream_secret`'s decision: the stored value is replaced only while
/// it is still the one that was read and re-sealed, so a re-seal never undoes a newer `PUT` or
/// `DELETE`.
pub fn reseal_applies(stored: Option<&str>, was: &str) -> bool {
    stored == Some(was)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::oauth::keys::{rotated_keys, test_keys};

    #[test]
    fn round_trips_only_for_its_workspace_and_key() {
        let k = test_keys();
        let sealed = seal(&k, b"sk_live_123", &[4u8; 24], "acme");
        assert!(!sealed.contains("sk_live"));
        assert_eq!(open(&k, &sealed, "acme").unwrap(), b"sk_live_123");
        assert!(open(&k, &sealed, "other").is_none(), "bound to the workspace");
        let other = rotated_keys(9, None);
        assert!(open(&other, &sealed, "acme").is_none());
        let mut tampered = sealed.clone();
        tampered.pop();
        tampered.push('A');
        assert!(open(&k, &tampered, "acme").is_none() || tampered == sealed);
        assert!(open(&k, "garbage", "acme").is_none());
    }

    #[test]
    fn a_secret_sealed_under_the_previous_key_opens_while_it_is_configured() {
        let sealed = seal(&rotated_keys(1, None), b"sk_live_123", &[4u8; 24], "acme");
        assert_eq!(open(&rotated_keys(2, Some(1)), &sealed, "acme").unwrap(), b"sk_live_123");
        assert_eq!(open_noting_key(&rotated_keys(2, Some(1)), &sealed, "acme").unwrap().1, SealedUnder::Previous);
        assert_eq!(open_noting_key(&rotated_keys(1, None), &sealed, "acme").unwrap().1, SealedUnder::Current);
        assert!(open(&rotated_keys(2, Some(1)), &sealed, "other").is_none());
        assert!(open(&rotated_keys(2, None), &sealed, "acme").is_none());
        let resealed = seal(&rotated_keys(2, Some(1)), b"sk_live_123", &[4u8; 24], "acme");
        assert_eq!(open(&rotated_keys(2, None), &resealed, "acme").unwrap(), b"sk_live_123", "sealing uses the current key");
    }
}

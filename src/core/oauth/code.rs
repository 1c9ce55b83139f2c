//! Authorization codes: ≥128 random bits, carrying the shard of the Durable Object that holds them.
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::core::b64;
use crate::core::connection::ConnectionKey;
use crate::core::ids::{ConnectionId, Email, WorkspaceId};
use crate::core::oauth::pkce::{CodeChallenge, CodeVerifier};
use crate::core::oauth::types::{ClientId, RedirectUri};

/// Codes are spread over this many Durable Objects; the shard is part of the code.
pub const CODE_SHARDS: u8 = 16;
const SECRET_BYTES: usize = 32;

/// An authorization code: `c<shard as 2 hex digits>_<base64url of 32 random bytes>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthCode {
    shard: u8,
    text: String,
}

impl AuthCode {
    /// Builds a code from 33 random bytes (the first picks the shard).
    pub fn from_random(random: &[u8; SECRET_BYTES + 1]) -> AuthCode {
        let shard = random[0] % CODE_SHARDS;
        AuthCode { shard, text: format!("c{shard:02x}_{}", b64::encode(&random[1..])) }
    }

    pub fn parse(raw: &str) -> Option<AuthCode> {
        let rest = raw.strip_prefix('c')?;
        let (shard, secret) = rest.split_once('_')?;
        // Exactly as `from_random` writes it: two lowercase hex digits (`from_str_radix` alone
        // would also take `0A` and `+3`, spellings of a code never issued).
        let lower_hex = shard.len() == 2 && shard.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        let shard = u8::from_str_radix(shard, 16).ok().filter(|s| lower_hex && *s < CODE_SHARDS)?;
        (secret.len() == 43 && b64::is_alphabet(secret)).then(|| AuthCode { shard, text: raw.to_string() })
    }

    pub fn shard(&self) -> u8 {
        self.shard
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// What storage keeps instead of the code itself.
    pub fn storage_key(&self) -> String {
        b64::encode(&Sha256::digest(self.text.as_bytes()))
    }
}

/// Everything a code was bound to at approval (stored with it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CodeGrant {
    pub client_id: ClientId,
    pub redirect_uri: RedirectUri,
    /// The authorization request named `redirect_uri`, so the token request must too.
    #[serde(default)]
    pub redirect_uri_sent: bool,
    pub code_challenge: String,
    pub resource: String,
    pub scopes: Vec<String>,
    pub user: Email,
    pub workspace: WorkspaceId,
    /// The connection the first redemption creates; a replay revokes it.
    pub connection_id: ConnectionId,
}

impl CodeGrant {
    /// The connection the first redemption creates.
    pub fn connection(&self) -> ConnectionKey {
        ConnectionKey { workspace: self.workspace.clone(), user: self.user.clone(), id: self.connection_id.clone() }
    }
}

/// What a token request presents with a code (RFC 6749 §4.1.3, RFC 7636 §4.6). It is checked
/// inside the redemption's atomic step, before anything is written: whoever merely saw the code
/// (a log, a referrer, another registered client) can neither burn it nor, after the real
/// redemption, revoke the connection it made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Presentation {
    pub client_id: ClientId,
    pub redirect_uri: Option<String>,
    pub verifier: CodeVerifier,
    /// Normalised (`resource::normalize`).
    pub resource: String,
}

/// Why a presentation does not match the code's grant (the message is `Display`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Refusal {
    OtherClient,
    RedirectUriRequired,
    RedirectUriMismatch,
    Verifier,
    Resource,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Refusal::OtherClient => "The authorization code was issued to another client",
            Refusal::RedirectUriRequired => "redirect_uri is required: the authorization request included it",
            Refusal::RedirectUriMismatch => "redirect_uri does not match the one used in the authorization request",
            Refusal::Verifier => "PKCE verification failed: code_verifier does not match code_challenge",
            Refusal::Resource => "resource does not match the one used in the authorization request",
        })
    }
}

impl Presentation {
    /// The code must have been issued to this client, for this redirect URI and resource, and
    /// the verifier must match the challenge.
    pub fn check(&self, grant: &CodeGrant) -> Result<(), Refusal> {
        if self.client_id != grant.client_id {
            return Err(Refusal::OtherClient);
        }
        // RFC 6749 §4.1.3: redirect_uri is REQUIRED if the authorization request included it,
        // and then must be identical.
        match self.redirect_uri.as_deref() {
            None if grant.redirect_uri_sent => return Err(Refusal::RedirectUriRequired),
            Some(sent) if sent != grant.redirect_uri.as_str() => return Err(Refusal::RedirectUriMismatch),
            _ => {}
        }
        if !CodeChallenge::from_stored(grant.code_challenge.clone()).verify(&self.verifier) {
            return Err(Refusal::Verifier);
        }
        if self.resource != grant.resource {
            return Err(Refusal::Resource);
        }
        Ok(())
    }
}

/// The outcome of `CodeStore::redeem`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Redemption {
    /// First use: the code is now consumed.
    Redeemed {
        grant: CodeGrant,
    },
    /// Used before, presented again correctly: whatever the first redemption issued must be
    /// revoked (RFC 6749 §4.1.2).
    Replayed {
        grant: CodeGrant,
    },
    /// The presentation does not match the grant: nothing changed.
    Refused(Refusal),
    Expired,
    Unknown,
}

/// Consumed codes are kept this long past their expiry (then the `AuthCodes` alarm deletes
/// them), so a late replay is still recognised.
pub const KEEP_AFTER_EXPIRY: i64 = 3600;

/// What storage keeps for one code, under `AuthCode::storage_key` (never the code itself).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CodeRow {
    pub grant: CodeGrant,
    /// Unix seconds; the code cannot be redeemed from then on.
    pub expires_at: i64,
    /// Set by the one redemption that wins; kept so that every later one is a replay.
    pub consumed_at: Option<i64>,
}

/// `insert` found a row under the key: codes are random, so this is a storage fault, never
/// a reason to overwrite (that could make a consumed code redeemable again).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CodeExists;

impl std::fmt::Display for CodeExists {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("an authorization code with this key is already stored")
    }
}

/// The contract of `CodeStore::insert`: given the row stored under the code's key (if any),
/// the row to write — a fresh, unconsumed code. An existing row is never replaced.
pub fn insert(existing: Option<&CodeRow>, grant: &CodeGrant, expires_at: i64) -> Result<CodeRow, CodeExists> {
    match existing {
        Some(_) => Err(CodeExists),
        None => Ok(CodeRow { grant: grant.clone(), expires_at, consumed_at: None }),
    }
}

/// The contract of `CodeStore::redeem`: given the row stored under the code's key (if any),
/// the row to write back (`None`: leave storage as it is) and the outcome.
///
/// - no row: `Unknown`;
/// - a presentation that does not match the grant (`Presentation::check`): `Refused`, row
///   unchanged — consumed or not, expired or not;
/// - consumed before (whenever, even past expiry): `Replayed` with the grant, row unchanged —
///   the caller revokes the connection the first redemption created;
/// - unconsumed and `now >= expires_at`: `Expired`, row unchanged;
/// - otherwise: `Redeemed` with the grant, and the row is written back consumed at `now`.
///
/// Applied to a row loaded and saved in one atomic step, exactly one of any number of correct
/// redemptions of a code is `Redeemed`.
pub fn redeem(row: Option<CodeRow>, now: i64, presented: &Presentation) -> (Option<CodeRow>, Redemption) {
    let Some(row) = row else { return (None, Redemption::Unknown) };
    if let Err(why) = presented.check(&row.grant) {
        return (None, Redemption::Refused(why));
    }
    match row {
        row if row.consumed_at.is_some() => (None, Redemption::Replayed { grant: row.grant }),
        row if now >= row.expires_at => (None, Redemption::Expired),
        row => {
            let grant = row.grant.clone();
            (Some(CodeRow { consumed_at: Some(now), ..row }), Redemption::Redeemed { grant })
        }
    }
}

/// The contract of `CodeStore::release`: the row to write back (`None`: leave storage as it
/// is). A redemption whose tokens could not be made (a store failed after the code was
/// consumed) gives the code back, so the client's retry can still succeed: the row is
/// unconsumed again — only if it is still consumed by that very redemption (`consumed_at`).
pub fn release(row: Option<CodeRow>, consumed_at: i64) -> Option<CodeRow> {
    row.filter(|r| r.consumed_at == Some(consumed_at)).map(|r| CodeRow { consumed_at: None, ..r })
}

#[cfg(test)]
mod tests {
    use super::*;

    // RFC 7636 Appendix B.
    const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

    fn presented() -> Presentation {
        Presentation {
            client_id: "cl".into(),
            redirect_uri: Some("http://localhost/cb".into()),
            verifier: CodeVerifier::parse(Some(VERIFIER)).unwrap(),
            resource: "https://mcp.example/mcp".into(),
        }
    }

    fn grant() -> CodeGrant {
        CodeGrant {
            client_id: "cl".into(),
            redirect_uri: "http://localhost/cb".into(),
            redirect_uri_sent: true,
            code_challenge: CHALLENGE.into(),
            resource: "https://mcp.example/mcp".into(),
            scopes: vec!["CONTACTS_READ".into()],
            user: "ada@example.com".into(),
            workspace: "acme".into(),
            connection_id: "conn".into(),
        }
    }

    #[test]
    fn insert_stores_an_unconsumed_code_and_never_replaces_one() {
        let row = insert(None, &grant(), 100).unwrap();
        assert_eq!(row, CodeRow { grant: grant(), expires_at: 100, consumed_at: None });
        let consumed = CodeRow { consumed_at: Some(50), ..row };
        assert_eq!(insert(Some(&consumed), &grant(), 200), Err(CodeExists));
    }

    #[test]
    fn the_first_redemption_consumes_and_every_later_one_is_a_replay() {
        let row = insert(None, &grant(), 100).unwrap();
        let (written, outcome) = redeem(Some(row.clone()), 99, &presented());
        assert_eq!(outcome, Redemption::Redeemed { grant: grant() });
        let consumed = written.unwrap();
        assert_eq!(consumed, CodeRow { consumed_at: Some(99), ..row });
        assert_eq!(redeem(Some(consumed.clone()), 99, &presented()), (None, Redemption::Replayed { grant: grant() }));
        assert_eq!(
            redeem(Some(consumed), 5000, &presented()),
            (None, Redemption::Replayed { grant: grant() }),
            "a replay after expiry is still one"
        );
    }

    #[test]
    fn a_mismatched_presentation_writes_nothing_and_is_never_a_replay() {
        let row = insert(None, &grant(), 100).unwrap();
        let consumed = CodeRow { consumed_at: Some(50), ..row.clone() };
        let cases = [
            (Presentation { client_id: "other".into(), ..presented() }, Refusal::OtherClient),
            (Presentation { redirect_uri: None, ..presented() }, Refusal::RedirectUriRequired),
            (Presentation { redirect_uri: Some("http://localhost/cb/".into()), ..presented() }, Refusal::RedirectUriMismatch),
            (Presentation { verifier: CodeVerifier::parse(Some(&"A".repeat(43))).unwrap(), ..presented() }, Refusal::Verifier),
            (Presentation { resource: "https://mcp.example/".into(), ..presented() }, Refusal::Resource),
        ];
        for (p, why) in cases {
            assert_eq!(redeem(Some(row.clone()), 99, &p), (None, Redemption::Refused(why)), "unconsumed: {p:?}");
            assert_eq!(redeem(Some(consumed.clone()), 99, &p), (None, Redemption::Refused(why)), "consumed: {p:?}");
            assert_eq!(redeem(Some(row.clone()), 500, &p), (None, Redemption::Refused(why)), "expired: {p:?}");
        }
        let unsent = CodeRow { grant: CodeGrant { redirect_uri_sent: false, ..grant() }, ..row };
        let omitted = Presentation { redirect_uri: None, ..presented() };
        assert!(matches!(redeem(Some(unsent), 99, &omitted).1, Redemption::Redeemed { .. }), "redirect_uri may be left out if it was");
    }

    #[test]
    fn a_release_unconsumes_only_the_redemption_it_names() {
        let row = insert(None, &grant(), 100).unwrap();
        let (consumed, _) = redeem(Some(row.clone()), 50, &presented());
        assert_eq!(release(consumed.clone(), 50), Some(row.clone()), "redeemable again");
        assert_eq!(release(consumed, 49), None, "another redemption's time: untouched");
        assert_eq!(release(Some(row), 50), None, "not consumed: nothing to write");
        assert_eq!(release(None, 50), None);
    }

    #[test]
    fn unknown_and_expired_codes_write_nothing() {
        assert_eq!(redeem(None, 0, &presented()), (None, Redemption::Unknown));
        let row = insert(None, &grant(), 100).unwrap();
        assert_eq!(redeem(Some(row), 100, &presented()), (None, Redemption::Expired), "expires_at itself is too late");
    }

    #[test]
    fn codes_round_trip_and_carry_their_shard() {
        let mut random = [0u8; 33];
        random[0] = 35;
        random[1] = 0xff;
        let code = AuthCode::from_random(&random);
        assert_eq!(code.shard(), 35 % CODE_SHARDS);
        assert_eq!(AuthCode::parse(code.as_str()), Some(code.clone()));
        assert!(code.as_str().starts_with("c03_"));
        assert_ne!(code.storage_key(), code.as_str());
    }

    #[test]
    fn malformed_codes_are_rejected() {
        for bad in [
            "",
            "c03",
            "c03_short",
            "cff_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            "x03_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            "c3_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            "c0A_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            "c+3_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        ] {
            assert!(AuthCode::parse(bad).is_none(), "{bad}");
        }
        assert!(AuthCode::parse("c03_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA").is_some());
        assert_eq!(AuthCode::parse("c0a_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA").map(|c| c.shard()), Some(10));
    }
}

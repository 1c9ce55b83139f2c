//! The provider's signing keys (RFC 7517), and the per-isolate cache of its metadata and keys:
//! both are fetched at most once an hour, and the keys once more when an ID token names a key
//! the cache does not have (the provider rotated).
use serde::Deserialize;

use super::discovery::ProviderMetadata;
use super::JwsAlg;

/// One public key, as the provider publishes it (only what verification needs).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Jwk {
    pub kty: String,
    #[serde(default)]
    pub kid: Option<String>,
    #[serde(default)]
    pub alg: Option<String>,
    #[serde(default, rename = "use")]
    pub usage: Option<String>,
    #[serde(default)]
    pub n: Option<String>,
    #[serde(default)]
    pub e: Option<String>,
    #[serde(default)]
    pub crv: Option<String>,
    #[serde(default)]
    pub x: Option<String>,
    #[serde(default)]
    pub y: Option<String>,
}

impl Jwk {
    /// Whether this key can verify `alg` (RFC 7518 §3.3, §3.4): RSA for RS256, P-256 for ES256,
    /// a signing key, and the key's own `alg` when it names one.
    fn fits(&self, alg: JwsAlg) -> bool {
        let kind = match alg {
            JwsAlg::Rs256 => self.kty == "RSA" && self.n.is_some() && self.e.is_some(),
            JwsAlg::Es256 => self.kty == "EC" && self.crv.as_deref() == Some("P-256") && self.x.is_some() && self.y.is_some(),
        };
        kind && self.usage.as_deref().is_none_or(|u| u == "sig") && self.alg.as_deref().is_none_or(|a| a == alg.as_str())
    }

    /// The key as WebCrypto's `importKey("jwk", …)` takes it.
    pub fn public_jwk_json(&self) -> serde_json::Value {
        match (&self.n, &self.e, &self.crv, &self.x, &self.y) {
            (Some(n), Some(e), _, _, _) if self.kty == "RSA" => serde_json::json!({ "kty": "RSA", "n": n, "e": e }),
            (_, _, Some(crv), Some(x), Some(y)) => serde_json::json!({ "kty": "EC", "crv": crv, "x": x, "y": y }),
            _ => serde_json::json!({ "kty": self.kty }),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Jwks {
    pub keys: Vec<Jwk>,
}

impl Jwks {
    pub fn parse(json: &str) -> Result<Jwks, String> {
        serde_json::from_str(json).map_err(|e| format!("the provider's key set (jwks_uri) is not a JWK Set: {e}"))
    }

    /// The key for a token signed with `alg` under `kid`. Without a `kid`, the one key that
    /// fits, if there is exactly one (OIDC Core §10.1).
    pub fn select(&self, kid: Option<&str>, alg: JwsAlg) -> Option<&Jwk> {
        let mut fitting = self.keys.iter().filter(|k| k.fits(alg));
        match kid {
            Some(kid) => fitting.find(|k| k.kid.as_deref() == Some(kid)),
            None => {
                let first = fitting.next()?;
                fitting.next().is_none().then_some(first)
            }
        }
    }
}

/// How long fetched metadata and keys are used before they are fetched again.
pub const PROVIDER_CACHE_SECONDS: i64 = 3600;

/// The provider's documents, cached per isolate.
#[derive(Debug, Clone, Default)]
pub struct ProviderCache {
    metadata: Option<(ProviderMetadata, i64)>,
    keys: Option<(Jwks, i64)>,
}

impl ProviderCache {
    pub fn metadata(&self, now: i64) -> Option<ProviderMetadata> {
        self.metadata.as_ref().filter(|(_, at)| now - at < PROVIDER_CACHE_SECONDS).map(|(m, _)| m.clone())
    }

    pub fn store_metadata(&mut self, metadata: ProviderMetadata, now: i64) {
        self.metadata = Some((metadata, now));
    }

    /// The cached key for (`kid`, `alg`), if the cached set is fresh and has it.
    pub fn key(&self, kid: Option<&str>, alg: JwsAlg, now: i64) -> Option<Jwk> {
        let (jwks, at) = self.keys.as_ref()?;
        if now - at >= PROVIDER_CACHE_SECONDS {
            return None;
        }
        jwks.select(kid, alg).cloned()
    }

    pub fn store_keys(&mut self, jwks: Jwks, now: i64) {
        self.keys = Some((jwks, now));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SET: &str = r#"{"keys":[
        {"kty":"RSA","kid":"r1","use":"sig","alg":"RS256","n":"AQAB","e":"AQAB"},
        {"kty":"RSA","kid":"enc","use":"enc","n":"AQAB","e":"AQAB"},
        {"kty":"EC","kid":"e1","crv":"P-256","x":"eA","y":"eQ"},
        {"kty":"EC","kid":"e384","crv":"P-384","x":"eA","y":"eQ"},
        {"kty":"oct","kid":"h1","k":"c2VjcmV0"}
    ]}"#;

    #[test]
    fn keys_are_chosen_by_kid_and_what_they_can_verify() {
        let set = Jwks::parse(SET).unwrap();
        assert_eq!(set.select(Some("r1"), JwsAlg::Rs256).unwrap().kid.as_deref(), Some("r1"));
        assert!(set.select(Some("r1"), JwsAlg::Es256).is_none(), "an RSA key does not verify ES256");
        assert!(set.select(Some("enc"), JwsAlg::Rs256).is_none(), "an encryption key signs nothing");
        assert!(set.select(Some("e384"), JwsAlg::Es256).is_none(), "ES256 is P-256");
        assert!(set.select(Some("h1"), JwsAlg::Rs256).is_none(), "never a symmetric key");
        assert_eq!(set.select(None, JwsAlg::Es256).unwrap().kid.as_deref(), Some("e1"), "the only fitting key");
        assert!(set.select(Some("nope"), JwsAlg::Rs256).is_none());
        assert_eq!(
            set.select(Some("e1"), JwsAlg::Es256).unwrap().public_jwk_json(),
            serde_json::json!({"kty":"EC","crv":"P-256","x":"eA","y":"eQ"})
        );
        assert!(Jwks::parse("[]").is_err());
    }

    #[test]
    fn the_cache_serves_for_an_hour() {
        let mut cache = ProviderCache::default();
        cache.store_keys(Jwks::parse(SET).unwrap(), 1000);
        assert!(cache.key(Some("r1"), JwsAlg::Rs256, 1000 + PROVIDER_CACHE_SECONDS - 1).is_some());
        assert!(cache.key(Some("r1"), JwsAlg::Rs256, 1000 + PROVIDER_CACHE_SECONDS).is_none());
        assert!(cache.key(Some("rotated"), JwsAlg::Rs256, 1001).is_none());
    }
}

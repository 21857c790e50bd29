//! Part of the second stage of the data flow (`snapshot`), for step 5 of the request path: the
//! signing keys of JWT authorizers (a JWKS), by `kid`. A key set is read from its file or
//! fetched from its URI when a snapshot is compiled, refreshed in the background every
//! `REFRESH_EVERY` and, for a token whose `kid` it does not know (a key rotation), at most once
//! per `ON_DEMAND_EVERY` on the request path; a failed refresh keeps the last good set. Sets are
//! state that outlives a snapshot: `Registry` (part of `Carried`) hands the next snapshot the
//! same set for the same source.

use arc_swap::ArcSwap;
use jsonwebtoken::jwk::{AlgorithmParameters, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey};
use std::collections::HashMap;
use std::io::Read as _;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::{Duration, Instant};

/// How often a fetched set is refreshed in the background.
pub const REFRESH_EVERY: Duration = Duration::from_secs(300);
/// At most one refresh for an unknown `kid` in this long, so tokens with made-up key ids cannot
/// turn the gateway into a client of the identity provider.
pub const ON_DEMAND_EVERY: Duration = Duration::from_secs(10);
/// AWS's JWKS timeout.
pub const FETCH_TIMEOUT: Duration = Duration::from_millis(1500);
/// A JWKS is a few keys; anything larger is not one.
const MAX_JWKS_BYTES: u64 = 1024 * 1024;

/// What an RSA key verifies; what an EC key verifies. Nothing else is accepted.
pub const RSA_ALGORITHMS: &[Algorithm] = &[Algorithm::RS256, Algorithm::RS384, Algorithm::RS512];
pub const EC_ALGORITHMS: &[Algorithm] = &[Algorithm::ES256, Algorithm::ES384];

/// Where a key set comes from.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Source {
    Uri(String),
    File(PathBuf),
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::Uri(u) => f.write_str(u),
            Source::File(p) => write!(f, "{}", p.display()),
        }
    }
}

/// A verification key and the algorithms it may verify: an RSA key never verifies an HMAC or
/// an EC signature, whatever a token's header claims.
pub struct Key {
    pub key: DecodingKey,
    pub algorithms: &'static [Algorithm],
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Key({:?})", self.algorithms)
    }
}

/// The usable keys of one JWKS, by `kid` (keys without a `kid`, or of a kind the gateway does
/// not verify, are left out).
#[derive(Debug, Default)]
pub struct KeySet {
    pub by_kid: HashMap<String, Arc<Key>>,
}

impl KeySet {
    pub fn parse(text: &[u8]) -> Result<KeySet, String> {
        let set: JwkSet = serde_json::from_slice(text).map_err(|e| format!("not a JWKS: {e}"))?;
        let mut by_kid = HashMap::new();
        for jwk in &set.keys {
            let Some(kid) = jwk.common.key_id.clone() else {
                continue;
            };
            let algorithms = match &jwk.algorithm {
                AlgorithmParameters::RSA(_) => RSA_ALGORITHMS,
                AlgorithmParameters::EllipticCurve(_) => EC_ALGORITHMS,
                // Symmetric and other keys: a public key set has no business with them.
                _ => continue,
            };
            let Ok(key) = DecodingKey::from_jwk(jwk) else {
                continue;
            };
            by_kid.insert(kid, Arc::new(Key { key, algorithms }));
        }
        Ok(KeySet { by_kid })
    }
}

/// One key set, shared by every authorizer (and snapshot) that names the same source.
pub struct Jwks {
    pub source: Source,
    tls: Option<Arc<rustls::ClientConfig>>,
    keys: ArcSwap<KeySet>,
    /// The last refresh asked for by an unknown `kid`.
    on_demand: tokio::sync::Mutex<Option<Instant>>,
}

impl std::fmt::Debug for Jwks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Jwks({})", self.source)
    }
}

impl Jwks {
    pub fn key(&self, kid: &str) -> Option<Arc<Key>> {
        self.keys.load().by_kid.get(kid).cloned()
    }

    /// Reads or fetches the set again; on success it replaces the current one, on failure the
    /// current one stays. Blocking: call it off the request path.
    pub fn refresh(&self) -> Result<usize, String> {
        let text = match &self.source {
            Source::File(p) => {
                std::fs::read(p).map_err(|e| format!("cannot read {}: {e}", p.display()))?
            }
            Source::Uri(u) => fetch(u, self.tls.clone())?,
        };
        let set = KeySet::parse(&text).map_err(|e| format!("{}: {e}", self.source))?;
        if set.by_kid.is_empty() {
            return Err(format!(
                "{}: no usable key (RSA or EC with a kid)",
                self.source
            ));
        }
        let n = set.by_kid.len();
        self.keys.store(Arc::new(set));
        Ok(n)
    }

    /// For a token whose `kid` is not in the set: refresh once, unless a refresh for that reason
    /// ran within `ON_DEMAND_EVERY`; concurrent askers wait for the one refresh. Whether the
    /// set now has the key.
    pub async fn refresh_for(self: &Arc<Self>, kid: &str) -> bool {
        let mut last = self.on_demand.lock().await;
        if self.key(kid).is_some() {
            return true;
        }
        if last.is_some_and(|t| t.elapsed() < ON_DEMAND_EVERY) {
            return false;
        }
        *last = Some(Instant::now());
        let me = self.clone();
        let refreshed = tokio::task::spawn_blocking(move || me.refresh()).await;
        if let Ok(Err(e)) = &refreshed {
            tracing::warn!("JWKS refresh for an unknown kid failed, keeping the last set: {e}");
        }
        self.key(kid).is_some()
    }
}

/// GET `uri` with a timeout; the body of a 200.
fn fetch(uri: &str, tls: Option<Arc<rustls::ClientConfig>>) -> Result<Vec<u8>, String> {
    let mut builder = ureq::AgentBuilder::new()
        .timeout(FETCH_TIMEOUT)
        .redirects(0);
    if let Some(config) = tls {
        builder = builder.tls_config(config);
    }
    let resp = builder
        .build()
        .get(uri)
        .call()
        .map_err(|e| format!("cannot fetch {uri}: {e}"))?;
    let mut out = Vec::new();
    resp.into_reader()
        .take(MAX_JWKS_BYTES + 1)
        .read_to_end(&mut out)
        .map_err(|e| format!("cannot read {uri}: {e}"))?;
    if out.len() as u64 > MAX_JWKS_BYTES {
        return Err(format!("{uri}: over {MAX_JWKS_BYTES} bytes, not a JWKS"));
    }
    Ok(out)
}

/// Live key sets by source: what the next snapshot reuses. Weak, so a set no snapshot holds is
/// dropped and its background refresh ends.
#[derive(Debug, Default)]
pub struct Registry(Mutex<HashMap<Source, Weak<Jwks>>>);

impl Registry {
    /// The set of `source`: the live one, or a new one read or fetched now. A live file is read
    /// again (a reload is how an edited key file is seen); a live URI is not fetched again, its
    /// background refresh keeps it current, so a reload costs no round trip to the provider. The
    /// message says why the set is empty or stale, for a warning.
    pub fn shared(
        &self,
        source: Source,
        tls: Option<Arc<rustls::ClientConfig>>,
    ) -> (Arc<Jwks>, Option<String>) {
        let live = {
            let reg = self.0.lock().unwrap_or_else(PoisonError::into_inner);
            reg.get(&source).and_then(Weak::upgrade)
        };
        if let Some(j) = live {
            let problem = match &j.source {
                Source::File(_) => j.refresh().err(),
                Source::Uri(_) if j.keys.load().by_kid.is_empty() => j.refresh().err(),
                Source::Uri(_) => None,
            };
            return (j, problem);
        }
        let jwks = Arc::new(Jwks {
            source: source.clone(),
            tls,
            keys: ArcSwap::from_pointee(KeySet::default()),
            on_demand: tokio::sync::Mutex::new(None),
        });
        let problem = jwks.refresh().err();
        if matches!(source, Source::Uri(_)) {
            background(Arc::downgrade(&jwks));
        }
        let mut reg = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        reg.retain(|_, w| w.strong_count() > 0);
        reg.insert(source, Arc::downgrade(&jwks));
        (jwks, problem)
    }
}

/// Refreshes a fetched set every `REFRESH_EVERY` until no snapshot holds it. A thread of its own:
/// the fetch blocks, and there are as many as there are identity providers.
fn background(jwks: Weak<Jwks>) {
    let spawned = std::thread::Builder::new()
        .name("jwks-refresh".into())
        .spawn(move || loop {
            std::thread::sleep(REFRESH_EVERY);
            let Some(j) = jwks.upgrade() else { return };
            if let Err(e) = j.refresh() {
                tracing::warn!("JWKS refresh failed, keeping the last set: {e}");
            }
        });
    if let Err(e) = spawned {
        tracing::warn!("cannot start the JWKS refresh thread: {e}");
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn only_asymmetric_keys_with_a_kid_are_kept() {
        let set = KeySet::parse(
            br#"{"keys": [
                {"kty": "oct", "kid": "h", "k": "c2VjcmV0"},
                {"kty": "EC", "kid": "e1", "crv": "P-256", "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU", "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"},
                {"kty": "EC", "crv": "P-256", "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU", "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}
            ]}"#,
        )
        .unwrap();
        assert_eq!(set.by_kid.len(), 1);
        assert_eq!(
            set.by_kid["e1"].algorithms,
            &[Algorithm::ES256, Algorithm::ES384]
        );
        assert!(KeySet::parse(b"{}").is_err());
    }
}

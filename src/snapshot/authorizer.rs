//! Part of the second stage of the data flow (`snapshot`), for step 5 of the request path: an
//! API's authorizers compiled for one stage (the function's URI with the stage's variables, the
//! identity sources, the validation expression as a compiled regex, the metric handles) and
//! their decision caches. A cache is state that outlives a snapshot: `Caches` (part of
//! `Carried`) hands the next snapshot the same cache while the stage's authorizer is unchanged,
//! so a reload forgets no decision; a changed authorizer starts empty.

use super::policy::Policy;
use super::ProxyIntegration;
use crate::config::authorizer::IdentityPart;
use crate::metrics::AuthorizerMetrics;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;

/// One authorizer of one stage's deployment.
#[derive(Debug)]
pub struct Authorizer {
    /// `API/NAME`: the metric label and what logs say.
    pub label: Arc<str>,
    /// What this stage's `methodArn`s start with (`policy::arn_prefix`).
    pub arn_prefix: Box<str>,
    pub kind: AuthorizerKind,
    /// Where the identity is read; all of it is the cache key.
    pub identity: Box<[IdentityPart]>,
    /// `token`: the whole token must match, else 401 without a call.
    pub validation: Option<regex::Regex>,
    /// `None` when `result_ttl_seconds` is 0.
    pub cache: Option<Arc<DecisionCache>>,
    pub metrics: AuthorizerMetrics,
}

#[derive(Debug)]
pub enum AuthorizerKind {
    Function(FunctionAuthorizer),
    /// `jwt` and `cognito_user_pools`: the token is checked here.
    Jwt(Box<JwtAuthorizer>),
    /// A function authorizer whose URI names an undefined stage variable in this stage: its
    /// routes answer AUTHORIZER_CONFIGURATION_ERROR (the compile warned).
    Misconfigured {
        reason: Box<str>,
    },
}

#[derive(Debug)]
pub struct FunctionAuthorizer {
    /// TOKEN (the token alone) or REQUEST (the request's parts) event.
    pub token: bool,
    pub target: ProxyIntegration,
    /// Whether the URI has a path of its own, which replaces every invocation path.
    pub uri_path: bool,
    pub invocation_paths: Box<[(Arc<str>, Arc<str>)]>,
}

#[derive(Debug)]
pub struct JwtAuthorizer {
    /// `iss` must be one of these (one for `jwt`, one per user pool for Cognito).
    pub issuers: Box<[String]>,
    /// `aud` or `client_id` must be one of these; empty: not checked (Cognito without
    /// `audience`).
    pub audience: Box<[Box<str>]>,
    /// Cognito's rules: `token_use` is `id` or `access`; a route with scopes needs an access
    /// token, a route without needs an ID token.
    pub cognito: bool,
    pub leeway_seconds: u64,
    /// The key sets to find a token's `kid` in.
    pub keys: Box<[Arc<super::jwks::Jwks>]>,
    /// The claim checks for RSA-signed and EC-signed tokens, built once: jsonwebtoken wants
    /// every algorithm of a `Validation` in the key's family.
    pub rsa: jsonwebtoken::Validation,
    pub ec: jsonwebtoken::Validation,
}

impl JwtAuthorizer {
    pub fn new(
        issuers: Box<[String]>,
        audience: Box<[Box<str>]>,
        cognito: bool,
        leeway_seconds: u64,
        keys: Box<[Arc<super::jwks::Jwks>]>,
    ) -> JwtAuthorizer {
        use jsonwebtoken::{Algorithm, Validation};
        let validation = |algorithms: &[Algorithm]| {
            let mut v = Validation::new(algorithms[0]);
            v.algorithms = algorithms.to_vec();
            v.leeway = leeway_seconds;
            v.validate_nbf = true;
            // `aud` or `client_id`: checked by the authorizer, which knows both.
            v.validate_aud = false;
            v.set_required_spec_claims(&["exp", "iss"]);
            v.set_issuer(&issuers);
            v
        };
        JwtAuthorizer {
            rsa: validation(super::jwks::RSA_ALGORITHMS),
            ec: validation(super::jwks::EC_ALGORITHMS),
            issuers,
            audience,
            cognito,
            leeway_seconds,
            keys,
        }
    }

    /// The checks for a token signed with `alg` (one of the algorithms a JWKS key allows).
    pub fn validation(&self, alg: jsonwebtoken::Algorithm) -> &jsonwebtoken::Validation {
        if super::jwks::EC_ALGORITHMS.contains(&alg) {
            &self.ec
        } else {
            &self.rsa
        }
    }
}

/// What an authorizer decided for one identity: reused for every request with that identity
/// while cached, its policy evaluated against each request's `methodArn`.
#[derive(Debug, Clone, Default)]
pub struct Decision {
    pub principal_id: Box<str>,
    pub policy: Policy,
    /// The function's `context`: strings, numbers and booleans, as it returned them.
    pub context: serde_json::Map<String, serde_json::Value>,
    /// For `api_key_source: authorizer`.
    pub usage_identifier_key: Option<Box<str>>,
    /// A verified JWT's claims (`$context.authorizer.claims.NAME`).
    pub claims: Option<serde_json::Map<String, serde_json::Value>>,
    /// A JWT's `exp` (Unix seconds, leeway included): a cached decision ends with its token.
    pub expires: Option<u64>,
}

/// Decisions by the SHA-256 of the identity values: the cache never holds a token itself.
pub type DecisionCache = moka::future::Cache<[u8; 32], Arc<Decision>>;

/// A route's authorizer and the scopes it requires.
#[derive(Debug)]
pub struct RouteAuthorizer {
    pub authorizer: Arc<Authorizer>,
    pub scopes: Box<[Box<str>]>,
}

/// Live decision caches by (stage, API, authorizer, what the cache depends on). Weak, so a
/// cache no snapshot holds any more is dropped.
#[derive(Debug, Default)]
pub struct Caches(Mutex<HashMap<String, Weak<DecisionCache>>>);

impl Caches {
    /// The cache of an authorizer with this key: the live one if a snapshot still holds it,
    /// else a new one with this TTL and size.
    pub fn shared(&self, key: String, ttl: Duration, entries: u64) -> Arc<DecisionCache> {
        let mut reg = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(c) = reg.get(&key).and_then(Weak::upgrade) {
            return c;
        }
        let cache = Arc::new(
            moka::future::Cache::builder()
                .max_capacity(entries)
                .time_to_live(ttl)
                .build(),
        );
        reg.retain(|_, w| w.strong_count() > 0);
        reg.insert(key, Arc::downgrade(&cache));
        cache
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cache_outlives_a_snapshot_while_its_key_is_the_same() {
        let caches = Caches::default();
        let ttl = Duration::from_secs(60);
        let a = caches.shared("prod shop tokens {..}".into(), ttl, 10);
        let b = caches.shared("prod shop tokens {..}".into(), ttl, 10);
        assert!(Arc::ptr_eq(&a, &b));
        let c = caches.shared("prod shop tokens {changed}".into(), ttl, 10);
        assert!(!Arc::ptr_eq(&a, &c));
        drop((a, b));
        let d = caches.shared("prod shop tokens {..}".into(), ttl, 10);
        assert_eq!(d.entry_count(), 0);
    }
}

//! Part of the proxy stage, step 5 of the pipeline: who may call (DESIGN.md 8.1). Runs only for
//! routes with an authorizer, after routing and before the throttle, validation and the
//! integration. Reads the identity (missing or empty, or a token failing the validation
//! expression: 401 without a call), takes the decision from the authorizer's cache or from one
//! call to its function (`function`; concurrent requests with the same identity wait for that
//! one call), then evaluates the decision's policy against this request's `methodArn`: allow,
//! or 403 ACCESS_DENIED. A decision, allow or deny, is cached; an error is not.

mod function;
mod jwt;

// For the fuzz target and benches: the two parsers of untrusted input this step has.
pub use function::decision as function_decision;
pub use jwt::verify as verify_jwt;

use super::context::RequestCtx;
use super::facts::{header_text, query_param, Facts};
use super::respond::{GatewayError, Refusal};
use super::route::Call;
use crate::config::authorizer::IdentityPart;
use crate::config::method::MethodParam;
use crate::metrics::AuthorizerResult;
use crate::snapshot::authorizer::{Authorizer, AuthorizerKind, Decision, RouteAuthorizer};
use crate::snapshot::policy::{self, Verdict};
use pingora::connectors::http::Connector;
use pingora::http::RequestHeader;
use sha2::{Digest, Sha256};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

/// Why an authorizer decided nothing.
#[derive(Debug, Clone)]
pub enum AuthError {
    /// The function answered with the error `Unauthorized`: 401.
    Unauthorized,
    /// The function failed with another error: AUTHORIZER_FAILURE (500).
    Failure(String),
    /// The function could not be called, timed out or answered something that is not a
    /// decision: AUTHORIZER_CONFIGURATION_ERROR (500).
    Configuration(String),
    /// A JWT that does not pass: 401 with a `WWW-Authenticate` header saying why (RFC 6750).
    InvalidToken {
        error: &'static str,
        description: String,
    },
}

impl AuthError {
    fn refusal(&self, label: &str) -> Refusal {
        match self {
            AuthError::Unauthorized => GatewayError::Unauthorized.into(),
            AuthError::Failure(why) => Refusal {
                log: Some(format!("authorizer {label}: {why}")),
                ..GatewayError::AuthorizerFailure.into()
            },
            AuthError::Configuration(why) => Refusal {
                log: Some(format!("authorizer {label}: {why}")),
                ..GatewayError::AuthorizerConfigurationError.into()
            },
            AuthError::InvalidToken { error, description } => Refusal::with_header(
                GatewayError::Unauthorized,
                http::header::WWW_AUTHENTICATE,
                format!("Bearer scope=\"\" error=\"{error}\" error_description=\"{description}\""),
            ),
        }
    }

    fn result(&self) -> AuthorizerResult {
        match self {
            AuthError::Unauthorized | AuthError::InvalidToken { .. } => {
                AuthorizerResult::Unauthorized
            }
            AuthError::Failure(_) | AuthError::Configuration(_) => AuthorizerResult::Error,
        }
    }
}

/// A request the authorizer step refused, and the decision that refused it (a deny): the access
/// log and gateway responses still show its `$context.authorizer.*`, as AWS's do.
pub struct Denied {
    pub refusal: Refusal,
    pub decision: Option<Arc<Decision>>,
}

impl From<Refusal> for Denied {
    fn from(refusal: Refusal) -> Self {
        Denied {
            refusal,
            decision: None,
        }
    }
}

impl From<GatewayError> for Denied {
    fn from(e: GatewayError) -> Self {
        Refusal::from(e).into()
    }
}

/// Step 5 for a route with an authorizer: the decision that lets the request on, or the
/// refusal.
pub async fn authorize(
    req: &RequestHeader,
    ctx: &RequestCtx,
    call: &Call,
    route: &RouteAuthorizer,
    connector: &Connector,
) -> Result<Arc<Decision>, Denied> {
    let a = &route.authorizer;
    let Some(identity) = identity(req, ctx, call, a) else {
        a.metrics.count(AuthorizerResult::Unauthorized);
        return Err(GatewayError::Unauthorized.into());
    };
    let jwt = match &a.kind {
        AuthorizerKind::Jwt(j) => Some(j),
        _ => None,
    };
    // A token authorizer's expression is matched against the token (Cognito's, against the
    // verified token's `aud`, below).
    if let (Some(re), Some(token), None) = (&a.validation, identity.first(), jwt) {
        if !re.is_match(token) {
            a.metrics.count(AuthorizerResult::Unauthorized);
            return Err(GatewayError::Unauthorized.into());
        }
    }
    let arn = policy::method_arn_under(&a.arn_prefix, req.method.as_str(), call.rest(req));
    let called = AtomicBool::new(false);
    let decide = async {
        called.store(true, Ordering::Relaxed);
        let started = Instant::now();
        let outcome = match &a.kind {
            AuthorizerKind::Function(f) => {
                function::call(f, &identity, &arn, req, ctx, call, connector).await
            }
            AuthorizerKind::Jwt(j) => {
                jwt::verify(j, identity.first().map_or("", |t| t.as_str())).await
            }
            AuthorizerKind::Misconfigured { reason } => {
                Err(AuthError::Configuration(reason.to_string()))
            }
        };
        a.metrics.observe(started.elapsed());
        outcome.map(Arc::new)
    };
    let decided = match &a.cache {
        Some(cache) => cache
            .try_get_with(cache_key(&identity), decide)
            .await
            .map_err(|e| (*e).clone()),
        None => decide.await,
    };
    let decision = match decided {
        Ok(d) => d,
        Err(e) => {
            // Requests that waited for another's call count that call's outcome as theirs.
            a.metrics.count(e.result());
            return Err(e.refusal(&a.label).into());
        }
    };
    if let Some(j) = jwt {
        let route_checks =
            expiry(&decision).and_then(|()| jwt::route_rules(j, &decision, &route.scopes));
        let aud_checks = match (&a.validation, &decision.claims) {
            (Some(re), Some(claims)) => match claims.get("aud").and_then(serde_json::Value::as_str)
            {
                Some(aud) if re.is_match(aud) => Ok(()),
                _ => Err(AuthError::InvalidToken {
                    error: "invalid_token",
                    description: "the token's audience does not match".into(),
                }),
            },
            _ => Ok(()),
        };
        if let Err(e) = route_checks.and(aud_checks) {
            a.metrics.count(e.result());
            return Err(e.refusal(&a.label).into());
        }
    }
    let verdict = decision.policy.evaluate(&arn);
    a.metrics
        .count(match (called.load(Ordering::Relaxed), verdict) {
            (false, _) => AuthorizerResult::Cached,
            (true, Verdict::Allow) => AuthorizerResult::Allow,
            (true, _) => AuthorizerResult::Deny,
        });
    let refusal = match verdict {
        Verdict::Allow => return Ok(decision),
        Verdict::ExplicitDeny => Refusal {
            message: Some(
                "User is not authorized to access this resource with an explicit deny".into(),
            ),
            ..GatewayError::AccessDenied.into()
        },
        Verdict::ImplicitDeny => GatewayError::AccessDenied.into(),
    };
    Err(Denied {
        refusal,
        decision: Some(decision),
    })
}

/// A cached decision lasts no longer than its token.
fn expiry(d: &Decision) -> Result<(), AuthError> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |t| t.as_secs());
    match d.expires {
        Some(e) if e < now => Err(AuthError::InvalidToken {
            error: "invalid_token",
            description: "the token is expired".into(),
        }),
        _ => Ok(()),
    }
}

/// The identity values, in `identity_source` order; `None` when one is missing or empty (401
/// without a call, as AWS answers when caching is on; stagecraft checks with the cache off too,
/// so a function never sees a request without its identity).
fn identity(
    req: &RequestHeader,
    ctx: &RequestCtx,
    call: &Call,
    a: &Authorizer,
) -> Option<Vec<String>> {
    let mut out = Vec::with_capacity(a.identity.len());
    for part in a.identity.iter() {
        let v = match part {
            IdentityPart::Param(MethodParam::Header(h)) => header_text(req, h),
            IdentityPart::Param(MethodParam::Query(q)) => query_param(req, q),
            IdentityPart::Param(MethodParam::Path(_)) => None,
            IdentityPart::StageVariable(n) => call.deployed.variables.get(&**n).cloned(),
            IdentityPart::Context(f) => Some(Facts::new(req, ctx).value(f)),
        };
        out.push(v.filter(|v| !v.trim().is_empty())?);
    }
    Some(out)
}

/// The SHA-256 of the identity values, each with its length so that no two lists collide.
pub fn cache_key(identity: &[String]) -> [u8; 32] {
    let mut h = Sha256::new();
    for v in identity {
        h.update((v.len() as u64).to_le_bytes());
        h.update(v.as_bytes());
    }
    h.finalize().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_keys_tell_lists_apart() {
        let k = |v: &[&str]| cache_key(&v.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert_ne!(k(&["ab", "c"]), k(&["a", "bc"]));
        assert_ne!(k(&["a"]), k(&["a", ""]));
        assert_eq!(k(&["tok"]), k(&["tok"]));
    }
}

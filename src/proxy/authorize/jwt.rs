//! Part of the proxy stage, step 5 for `jwt` and `cognito_user_pools` authorizers: the token's
//! signature against the provider's key with the token's `kid` (one rate-limited refresh of the
//! key set for an unknown `kid`, after a key rotation), then `iss`, `exp` and `nbf` with the
//! leeway, and `aud` or `client_id` (the HTTP API JWT authorizer's rules, which cover any OIDC
//! provider). Only RS256/384/512 and ES256/384 are accepted, and only with a key of their kind:
//! `alg: none` does not parse and an HMAC header never meets an RSA key. What depends on the
//! route (scopes, Cognito's id-versus-access rule) is checked per request in `route_rules`, so a
//! verified token's decision can be cached.

use super::AuthError;
use crate::snapshot::authorizer::{Decision, JwtAuthorizer};
use crate::snapshot::policy::Policy;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{decode, decode_header};
use serde_json::{Map, Value};

fn invalid(why: &str) -> AuthError {
    AuthError::InvalidToken {
        error: "invalid_token",
        description: why.into(),
    }
}

/// The token of an `Authorization` value: raw, or after `Bearer `.
pub fn token_of(value: &str) -> &str {
    let v = value.trim();
    match v.get(..7) {
        Some(p) if p.eq_ignore_ascii_case("bearer ") => v[7..].trim_start(),
        _ => v,
    }
}

/// Verifies a token: the decision every route of this authorizer shares while it is cached.
pub async fn verify(j: &JwtAuthorizer, value: &str) -> Result<Decision, AuthError> {
    let token = token_of(value);
    let header = decode_header(token).map_err(|_| invalid("the token is malformed"))?;
    let kid = header
        .kid
        .as_deref()
        .ok_or_else(|| invalid("the token has no kid"))?;
    let mut key = j.keys.iter().find_map(|k| k.key(kid));
    if key.is_none() {
        for set in j.keys.iter() {
            if set.refresh_for(kid).await {
                key = set.key(kid);
                break;
            }
        }
    }
    let key = key.ok_or_else(|| invalid("no signing key has the token's kid"))?;
    if !key.algorithms.contains(&header.alg) {
        return Err(invalid("the token's algorithm does not match its key"));
    }
    let data =
        decode::<Map<String, Value>>(token, &key.key, j.validation(header.alg)).map_err(|e| {
            invalid(match e.kind() {
                ErrorKind::ExpiredSignature => "the token is expired",
                ErrorKind::ImmatureSignature => "the token is not valid yet",
                ErrorKind::InvalidIssuer => "the token does not have a valid issuer",
                ErrorKind::InvalidSignature => "the token's signature is invalid",
                ErrorKind::MissingRequiredClaim(_) => "the token lacks exp or iss",
                _ => "the token is invalid",
            })
        })?;
    let claims = data.claims;
    if !j.audience.is_empty() {
        let named = |v: Option<&Value>| match v {
            Some(Value::String(s)) => j.audience.iter().any(|a| **a == **s),
            Some(Value::Array(list)) => list
                .iter()
                .filter_map(Value::as_str)
                .any(|s| j.audience.iter().any(|a| &**a == s)),
            _ => false,
        };
        if !named(claims.get("aud")) && !named(claims.get("client_id")) {
            return Err(invalid("the token does not have a valid audience"));
        }
    }
    if j.cognito
        && !matches!(
            claims.get("token_use").and_then(Value::as_str),
            Some("id" | "access")
        )
    {
        return Err(invalid("token_use is neither id nor access"));
    }
    let expires = claims
        .get("exp")
        .and_then(Value::as_u64)
        .map(|e| e.saturating_add(j.leeway_seconds));
    Ok(Decision {
        principal_id: claims
            .get("sub")
            .and_then(Value::as_str)
            .unwrap_or("")
            .into(),
        policy: Policy::allow_all(),
        claims: Some(claims),
        expires,
        ..Decision::default()
    })
}

/// The scopes a token holds: `scope` (space-separated) or `scp` (a list or a string).
fn scopes(claims: &Map<String, Value>) -> impl Iterator<Item = &str> {
    let scope = claims
        .get("scope")
        .and_then(Value::as_str)
        .into_iter()
        .flat_map(str::split_whitespace);
    let scp: Vec<&str> = match claims.get("scp") {
        Some(Value::String(s)) => s.split_whitespace().collect(),
        Some(Value::Array(list)) => list.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    scope.chain(scp)
}

/// What this route asks of a verified token: one of its scopes, and for Cognito an access
/// token on a route with scopes and an ID token on one without.
pub fn route_rules(
    j: &JwtAuthorizer,
    d: &Decision,
    required: &[Box<str>],
) -> Result<(), AuthError> {
    let Some(claims) = &d.claims else {
        return Ok(());
    };
    if j.cognito {
        let want = if required.is_empty() { "id" } else { "access" };
        if claims.get("token_use").and_then(Value::as_str) != Some(want) {
            return Err(invalid(if required.is_empty() {
                "this route needs an ID token"
            } else {
                "this route needs an access token"
            }));
        }
    }
    if !required.is_empty() && !scopes(claims).any(|s| required.iter().any(|r| &**r == s)) {
        return Err(AuthError::InvalidToken {
            error: "insufficient_scope",
            description: "the token does not have a required scope".into(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_prefix_is_optional() {
        assert_eq!(token_of("Bearer abc"), "abc");
        assert_eq!(token_of("bearer  abc "), "abc");
        assert_eq!(token_of("abc"), "abc");
        assert_eq!(token_of("Bear"), "Bear");
    }

    #[test]
    fn scopes_from_scope_and_scp() {
        let claims: Map<String, Value> =
            serde_json::from_str(r#"{"scope": "a b", "scp": ["c"]}"#).unwrap_or_default();
        assert_eq!(scopes(&claims).collect::<Vec<_>>(), ["a", "b", "c"]);
    }
}

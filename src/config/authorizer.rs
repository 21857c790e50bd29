//! Part of the first stage of the data flow (`config`): authorizers as `apis/NAME.yaml` writes
//! them (DESIGN.md 8.1), copied into each deployment: `token` and `request` functions, `jwt` and
//! `cognito_user_pools` token checks, the identity sources they read, and the checks `validate`
//! reports with a line (a regex that does not compile, a TTL over AWS's 3600 s, a JWT authorizer
//! without keys). The identity-source syntax is parsed here, once.

use super::mapping::ContextField;
use super::method::MethodParam;
use super::typed::{line_of as line, Syntax, Typed};
use super::uri::IntegrationUri;
use serde::Deserialize;

type Located<T> = serde_saphyr::Spanned<T>;

/// AWS's limit on `authorizerResultTtlInSeconds`.
pub const MAX_TTL_SECONDS: u64 = 3600;
/// AWS's default TTL of an authorizer's decisions.
pub const DEFAULT_TTL_SECONDS: u64 = 300;
/// AWS's Lambda authorizer timeout.
pub const DEFAULT_TIMEOUT_MS: u64 = 10_000;
/// Where a token is read when `identity_source` is not set (AWS's console default).
pub const DEFAULT_IDENTITY_SOURCE: &str = "method.request.header.Authorization";
/// How far `exp` and `nbf` may be off, for clocks that disagree a little.
pub const DEFAULT_LEEWAY_SECONDS: u64 = 60;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthorizerType {
    /// A function given the token (AWS's TOKEN authorizer).
    Token,
    /// A function given the request's headers, query, path and stage variables (REQUEST).
    Request,
    /// A JWT checked here against an OIDC provider's keys (the HTTP API's JWT authorizer).
    Jwt,
    /// A Cognito user pool's JWT, checked here (REST's COGNITO_USER_POOLS).
    CognitoUserPools,
}

impl AuthorizerType {
    /// Whether a function decides (and the decision cache applies).
    pub fn is_function(self) -> bool {
        matches!(self, AuthorizerType::Token | AuthorizerType::Request)
    }

    pub fn name(self) -> &'static str {
        match self {
            AuthorizerType::Token => "token",
            AuthorizerType::Request => "request",
            AuthorizerType::Jwt => "jwt",
            AuthorizerType::CognitoUserPools => "cognito_user_pools",
        }
    }
}

/// One `authorizers:` entry.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthorizerDef {
    #[serde(rename = "type")]
    pub kind: Located<AuthorizerType>,
    /// `token` / `request`: the function, as an `aws_proxy` integration names it.
    #[serde(default)]
    pub uri: Option<Typed<IntegrationUri>>,
    /// Where the identity is read; for `request`, all of them make the cache key.
    #[serde(default)]
    pub identity_source: Option<Typed<IdentitySources>>,
    /// `token`: a token that does not match is refused (401) without calling the function;
    /// `cognito_user_pools`: matched against the token's `aud`, as AWS does.
    #[serde(default)]
    pub identity_validation_expression: Option<Located<String>>,
    /// How long a decision is reused for the same identity (0: never).
    #[serde(default)]
    pub result_ttl_seconds: Option<Located<u64>>,
    /// How long the function may take before the request is answered 500.
    #[serde(default)]
    pub timeout_ms: Option<Located<u64>>,
    /// `jwt`: the `iss` every token must carry.
    #[serde(default)]
    pub issuer: Option<Located<String>>,
    /// `jwt` (and optionally `cognito_user_pools`): `aud` or `client_id` must be one of these.
    #[serde(default)]
    pub audience: Vec<Located<String>>,
    /// The provider's keys, fetched when the snapshot is compiled and refreshed in the background.
    #[serde(default)]
    pub jwks_uri: Option<Located<String>>,
    /// The keys from a file (relative to the configuration directory), for pinned or offline keys.
    #[serde(default)]
    pub jwks_file: Option<Located<String>>,
    /// `cognito_user_pools`: the user pools whose tokens are accepted.
    #[serde(default)]
    pub provider_arns: Vec<Located<String>>,
    /// `jwt` / `cognito_user_pools`: tolerance on `exp` and `nbf`.
    #[serde(default)]
    pub leeway_seconds: Option<Located<u64>>,
}

impl AuthorizerDef {
    pub fn ttl_seconds(&self) -> u64 {
        self.result_ttl_seconds
            .as_ref()
            .map_or(DEFAULT_TTL_SECONDS, |t| t.value)
    }

    /// What the decision cache of this authorizer depends on, line numbers aside: a reload
    /// that leaves all of it unchanged keeps the cache.
    pub fn fingerprint(&self) -> String {
        let text = |o: &Option<Located<String>>| o.as_ref().map(|l| l.value.clone());
        let list = |v: &[Located<String>]| v.iter().map(|l| l.value.clone()).collect::<Vec<_>>();
        serde_json::json!({
            "type": self.kind.value.name(),
            "uri": self.uri.as_ref().map(|u| u.text().to_string()),
            "identity": self.identity_source.as_ref().map(|i| i.text().to_string()),
            "expression": text(&self.identity_validation_expression),
            "ttl": self.ttl_seconds(),
            "timeout": self.timeout_ms.as_ref().map(|t| t.value),
            "issuer": text(&self.issuer),
            "audience": list(&self.audience),
            "jwks_uri": text(&self.jwks_uri),
            "jwks_file": text(&self.jwks_file),
            "pools": list(&self.provider_arns),
            "leeway": self.leeway_seconds.as_ref().map(|l| l.value),
        })
        .to_string()
    }
}

/// One place an identity is read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdentityPart {
    /// `method.request.header.NAME` or `method.request.querystring.NAME` (path parameters
    /// cannot be identity sources in AWS).
    Param(MethodParam),
    /// `stageVariables.NAME`
    StageVariable(Box<str>),
    /// `context.NAME`
    Context(ContextField),
}

/// `identity_source`: comma-separated, as AWS writes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentitySources(pub Vec<IdentityPart>);

impl Syntax for IdentitySources {
    fn parse(text: &str) -> Result<Self, String> {
        let mut parts = Vec::new();
        for raw in text.split(',') {
            let s = raw.trim();
            if s.is_empty() {
                return Err(format!("identity_source {text:?} has an empty entry"));
            }
            let part = if let Some(n) = s.strip_prefix("stageVariables.") {
                if n.is_empty() {
                    return Err(format!("{s:?} has no name"));
                }
                IdentityPart::StageVariable(n.into())
            } else if let Some(n) = s.strip_prefix("context.") {
                IdentityPart::Context(
                    ContextField::parse(n)
                        .ok_or_else(|| format!("unknown context variable {s:?}"))?,
                )
            } else {
                match MethodParam::parse(s) {
                    Ok(MethodParam::Path(_)) => {
                        return Err(format!(
                            "{s:?}: a path parameter cannot be an identity source (AWS's rule)"
                        ))
                    }
                    Ok(p) => IdentityPart::Param(p),
                    Err(_) => return Err(format!(
                        "invalid identity source {s:?}: expected method.request.header|querystring.NAME, stageVariables.NAME or context.NAME"
                    )),
                }
            };
            parts.push(part);
        }
        Ok(IdentitySources(parts))
    }
}

/// A Cognito user pool ARN's region and pool id: `arn:aws:cognito-idp:REGION:ACCOUNT:userpool/ID`.
pub fn user_pool(arn: &str) -> Result<(&str, &str), String> {
    let bad = || {
        format!("invalid user pool ARN {arn:?}: expected arn:aws:cognito-idp:REGION:ACCOUNT:userpool/POOL_ID")
    };
    let mut parts = arn.splitn(6, ':');
    let (
        Some("arn"),
        Some(_partition),
        Some("cognito-idp"),
        Some(region),
        Some(_account),
        Some(res),
    ) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    )
    else {
        return Err(bad());
    };
    let pool = res.strip_prefix("userpool/").ok_or_else(bad)?;
    if region.is_empty() || pool.is_empty() || pool.contains('/') {
        return Err(bad());
    }
    Ok((region, pool))
}

/// The issuer of a Cognito user pool's tokens.
pub fn user_pool_issuer(region: &str, pool: &str) -> String {
    format!("https://cognito-idp.{region}.amazonaws.com/{pool}")
}

/// Every problem of one authorizer that shows without other files: `(line, message)`.
pub fn check(name: &str, def: &AuthorizerDef) -> Vec<(Option<u64>, String)> {
    let mut out = Vec::new();
    let kind = def.kind.value;
    let kl = line(&def.kind);
    let say = |out: &mut Vec<(Option<u64>, String)>, l: Option<u64>, m: String| {
        out.push((l, format!("authorizer {name:?}: {m}")));
    };
    if !valid_name(name) || name == "none" {
        say(
            &mut out,
            kl,
            "a name is letters, digits, '-' and '_' (and not \"none\", which opts a route out)"
                .into(),
        );
    }
    match (&def.uri, kind.is_function()) {
        (None, true) => say(
            &mut out,
            kl,
            format!(
                "a {} authorizer needs uri: the function to call",
                kind.name()
            ),
        ),
        (Some(u), false) => say(
            &mut out,
            u.line(),
            format!(
                "a {} authorizer checks tokens itself and takes no uri",
                kind.name()
            ),
        ),
        (Some(u), true) => {
            if let Err(e) = u.get() {
                say(&mut out, u.line(), e.to_string());
            }
        }
        (None, false) => {}
    }
    if let Some(s) = &def.identity_source {
        match s.get() {
            Err(e) => say(&mut out, s.line(), e.to_string()),
            Ok(parts) => {
                let single_header =
                    matches!(&parts.0[..], [IdentityPart::Param(MethodParam::Header(_))]);
                if kind != AuthorizerType::Request && !single_header {
                    say(
                        &mut out,
                        s.line(),
                        format!(
                            "a {} authorizer reads its token from one header (method.request.header.NAME)",
                            kind.name()
                        ),
                    );
                }
            }
        }
    } else if kind == AuthorizerType::Request && def.ttl_seconds() > 0 {
        say(
            &mut out,
            kl,
            "a request authorizer caches by its identity_source: set one, or result_ttl_seconds: 0"
                .into(),
        );
    }
    if let Some(e) = &def.identity_validation_expression {
        if !matches!(
            kind,
            AuthorizerType::Token | AuthorizerType::CognitoUserPools
        ) {
            say(
                &mut out,
                line(e),
                "identity_validation_expression applies to token and cognito_user_pools authorizers only".into(),
            );
        } else if let Err(err) = regex::Regex::new(&anchored(&e.value)) {
            // The regex crate's message draws the pattern over lines; its last line says why.
            let err = err.to_string();
            let why = err.lines().last().unwrap_or_default().trim();
            say(
                &mut out,
                line(e),
                format!(
                    "identity_validation_expression {:?} is not a valid regular expression: {why}",
                    e.value
                ),
            );
        }
    }
    if let Some(t) = &def.result_ttl_seconds {
        if t.value > MAX_TTL_SECONDS {
            say(
                &mut out,
                line(t),
                format!(
                    "result_ttl_seconds {} is over {MAX_TTL_SECONDS} (AWS's limit)",
                    t.value
                ),
            );
        }
    }
    if let Some(t) = &def.timeout_ms {
        if t.value == 0 || !kind.is_function() {
            say(
                &mut out,
                line(t),
                "timeout_ms is a function authorizer's, and more than 0".into(),
            );
        }
    }
    let jwt_only = |out: &mut Vec<(Option<u64>, String)>, l: Option<u64>, key: &str| {
        if kind.is_function() {
            out.push((
                l,
                format!(
                    "authorizer {name:?}: {key} belongs to jwt and cognito_user_pools authorizers"
                ),
            ));
        }
    };
    if let Some(i) = &def.issuer {
        jwt_only(&mut out, line(i), "issuer");
        if kind == AuthorizerType::CognitoUserPools {
            say(
                &mut out,
                line(i),
                "a cognito_user_pools authorizer's issuer comes from provider_arns".into(),
            );
        }
    }
    if let Some(a) = def.audience.first() {
        jwt_only(&mut out, line(a), "audience");
    }
    if let Some(l) = &def.leeway_seconds {
        jwt_only(&mut out, line(l), "leeway_seconds");
    }
    for (key, v) in [("jwks_uri", &def.jwks_uri), ("jwks_file", &def.jwks_file)] {
        if let Some(v) = v {
            jwt_only(&mut out, line(v), key);
        }
    }
    if let Some(u) = &def.jwks_uri {
        if !(u.value.starts_with("http://") || u.value.starts_with("https://")) {
            say(
                &mut out,
                line(u),
                format!("jwks_uri {:?} is not an http:// or https:// URL", u.value),
            );
        }
    }
    if let Some(p) = def.provider_arns.first() {
        if kind != AuthorizerType::CognitoUserPools {
            say(
                &mut out,
                line(p),
                "provider_arns belongs to cognito_user_pools authorizers".into(),
            );
        }
    }
    match kind {
        AuthorizerType::Jwt => {
            if def.issuer.is_none() {
                say(&mut out, kl, "a jwt authorizer needs issuer".into());
            }
            if def.audience.is_empty() {
                say(
                    &mut out,
                    kl,
                    "a jwt authorizer needs audience: the `aud` or `client_id` values it accepts"
                        .into(),
                );
            }
            if def.jwks_uri.is_some() == def.jwks_file.is_some() {
                say(
                    &mut out,
                    kl,
                    "a jwt authorizer needs one of jwks_uri and jwks_file".into(),
                );
            }
        }
        AuthorizerType::CognitoUserPools => {
            if def.provider_arns.is_empty() {
                say(
                    &mut out,
                    kl,
                    "a cognito_user_pools authorizer needs provider_arns".into(),
                );
            }
            for p in &def.provider_arns {
                if let Err(e) = user_pool(&p.value) {
                    say(&mut out, line(p), e);
                }
            }
            if def.jwks_uri.is_some() && def.jwks_file.is_some() {
                say(
                    &mut out,
                    kl,
                    "jwks_uri and jwks_file are alternatives: set one".into(),
                );
            }
            if def.jwks_uri.is_none() && def.jwks_file.is_none() && def.provider_arns.len() > 1 {
                say(
                    &mut out,
                    kl,
                    "with more than one user pool, set no jwks_uri/jwks_file (each pool's keys are fetched) or one for all".into(),
                );
            }
        }
        AuthorizerType::Token | AuthorizerType::Request => {}
    }
    out
}

/// AWS matches `identity_validation_expression` against the whole token.
pub fn anchored(expr: &str) -> String {
    format!("^(?:{expr})$")
}

fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn def(yaml: &str) -> AuthorizerDef {
        serde_saphyr::from_str(yaml).unwrap()
    }

    #[test]
    fn identity_sources_parse() {
        let p = IdentitySources::parse(
            "method.request.header.X-User, method.request.querystring.tenant,stageVariables.env, context.stage",
        )
        .unwrap();
        assert_eq!(p.0.len(), 4);
        assert!(matches!(&p.0[2], IdentityPart::StageVariable(n) if &**n == "env"));
        for bad in [
            "",
            "method.request.path.id",
            "method.request.header.",
            "header.x",
            "context.nope",
            "a,,b",
        ] {
            assert!(IdentitySources::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn pools() {
        assert_eq!(
            user_pool("arn:aws:cognito-idp:eu-west-1:123456789012:userpool/eu-west-1_AbC").unwrap(),
            ("eu-west-1", "eu-west-1_AbC")
        );
        assert!(user_pool("arn:aws:cognito-idp:eu-west-1:1:pool/x").is_err());
        assert!(user_pool("arn:aws:s3:::bucket").is_err());
    }

    #[test]
    fn checks_say_what_is_wrong() {
        let msgs = |y: &str| {
            check("a", &def(y))
                .into_iter()
                .map(|(_, m)| m)
                .collect::<Vec<_>>()
                .join("\n")
        };
        assert_eq!(msgs("type: token\nuri: backend://auth:live"), "");
        assert!(msgs("type: token").contains("needs uri"));
        assert!(msgs("type: request\nuri: backend://a:b").contains("identity_source"));
        assert_eq!(
            msgs("type: request\nuri: backend://a:b\nresult_ttl_seconds: 0"),
            ""
        );
        assert!(msgs("type: token\nuri: backend://a:b\nresult_ttl_seconds: 4000").contains("3600"));
        assert!(
            msgs("type: token\nuri: backend://a:b\nidentity_validation_expression: '(['")
                .contains("not a valid regular expression")
        );
        assert!(msgs("type: token\nuri: backend://a:b\nidentity_source: 'method.request.header.a, method.request.header.b'")
            .contains("one header"));
        assert!(msgs("type: jwt\nissuer: x").contains("audience"));
        assert!(msgs("type: jwt\nissuer: x\naudience: [a]").contains("jwks_uri"));
        assert_eq!(
            msgs("type: jwt\nissuer: x\naudience: [a]\njwks_uri: https://idp/jwks"),
            ""
        );
        assert!(msgs("type: jwt\nissuer: x\naudience: [a]\njwks_uri: ftp://x").contains("http"));
        assert!(msgs("type: cognito_user_pools").contains("provider_arns"));
        assert!(msgs("type: cognito_user_pools\nprovider_arns: [nope]").contains("user pool ARN"));
        assert!(msgs("type: token\nuri: backend://a:b\nissuer: x").contains("belongs to jwt"));
    }

    #[test]
    fn fingerprints_ignore_lines() {
        let a = def("type: token\nuri: backend://a:b");
        let b = def("\n\ntype: token\n\nuri: backend://a:b");
        assert_eq!(a.fingerprint(), b.fingerprint());
        let c = def("type: token\nuri: backend://a:c");
        assert_ne!(a.fingerprint(), c.fingerprint());
    }
}

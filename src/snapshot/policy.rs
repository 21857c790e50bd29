//! Part of the second stage of the data flow (`snapshot`), for step 5 of the request path
//! (authorize): the IAM policy a `token` or `request` authorizer
//! returns, parsed once per decision and evaluated against each request's `methodArn` (a cached
//! decision is re-evaluated for every request, as AWS does: the same policy may allow one route
//! and not another). IAM's rules for `execute-api:Invoke`: `*` and `?` wildcards in actions and
//! resources, `Resource` and `Action` as a string or a list, an explicit Deny beats any Allow,
//! and no matching Allow is a deny. No regex: matching is a linear wildcard walk.

use serde_json::Value;

/// What a policy says about one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Allow,
    /// A statement denies this resource: AWS's "with an explicit deny".
    ExplicitDeny,
    /// No statement allows it.
    ImplicitDeny,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Effect {
    Allow,
    Deny,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Statement {
    effect: Effect,
    actions: Box<[Box<str>]>,
    resources: Box<[Box<str>]>,
}

/// A parsed `policyDocument`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Policy {
    statements: Box<[Statement]>,
}

/// The action every API Gateway authorizer policy governs.
const INVOKE: &str = "execute-api:Invoke";

/// A string, or a list of strings (IAM allows both for `Action` and `Resource`).
fn strings(v: Option<&Value>, what: &str) -> Result<Box<[Box<str>]>, String> {
    match v {
        Some(Value::String(s)) => Ok(Box::new([s.as_str().into()])),
        Some(Value::Array(items)) => items
            .iter()
            .map(|i| {
                i.as_str()
                    .map(Into::into)
                    .ok_or_else(|| format!("{what} must be strings, found {i}"))
            })
            .collect(),
        Some(other) => Err(format!("{what} must be a string or a list, found {other}")),
        None => Err(format!("a statement has no {what}")),
    }
}

impl Policy {
    /// What a verified JWT grants: the route itself (scopes are checked per route).
    pub fn allow_all() -> Policy {
        Policy {
            statements: Box::new([Statement {
                effect: Effect::Allow,
                actions: Box::new([INVOKE.into()]),
                resources: Box::new(["*".into()]),
            }]),
        }
    }

    /// Parses a `policyDocument`. Anything AWS would not accept is an error, which the authorizer
    /// step answers as a malformed authorizer response (500), never as an allow.
    pub fn parse(doc: &Value) -> Result<Policy, String> {
        let doc = doc.as_object().ok_or("policyDocument must be an object")?;
        let statements = match doc.get("Statement") {
            Some(Value::Array(items)) => items.iter().collect::<Vec<_>>(),
            Some(one @ Value::Object(_)) => vec![one],
            Some(other) => {
                return Err(format!(
                    "Statement must be a list or an object, found {other}"
                ))
            }
            None => return Err("policyDocument has no Statement".into()),
        };
        let statements = statements
            .into_iter()
            .map(|s| {
                let effect = match s.get("Effect").and_then(Value::as_str) {
                    Some(e) if e.eq_ignore_ascii_case("allow") => Effect::Allow,
                    Some(e) if e.eq_ignore_ascii_case("deny") => Effect::Deny,
                    other => {
                        return Err(format!(
                            "Effect must be \"Allow\" or \"Deny\", found {}",
                            other.unwrap_or("nothing")
                        ))
                    }
                };
                Ok(Statement {
                    effect,
                    actions: strings(s.get("Action"), "Action")?,
                    resources: strings(s.get("Resource"), "Resource")?,
                })
            })
            .collect::<Result<Vec<_>, String>>()?;
        Ok(Policy {
            statements: statements.into(),
        })
    }

    /// The verdict for a request to `method_arn`.
    pub fn evaluate(&self, method_arn: &str) -> Verdict {
        let mut allowed = false;
        for s in self.statements.iter() {
            // Action names are case-insensitive in IAM; resources are not.
            let action = s
                .actions
                .iter()
                .any(|a| matches(a, INVOKE, |x, y| x.eq_ignore_ascii_case(&y)));
            if !action || !s.resources.iter().any(|r| wildcard(r, method_arn)) {
                continue;
            }
            match s.effect {
                Effect::Deny => return Verdict::ExplicitDeny,
                Effect::Allow => allowed = true,
            }
        }
        if allowed {
            Verdict::Allow
        } else {
            Verdict::ImplicitDeny
        }
    }
}

/// IAM's wildcard match: `*` is any run of characters (`/` included), `?` any one. Linear in
/// practice: on a mismatch it backtracks only to the last `*`.
pub fn wildcard(pattern: &str, text: &str) -> bool {
    matches(pattern, text, |x, y| x == y)
}

/// `wildcard` with the byte comparison given (IAM compares action names case-insensitively),
/// so evaluating a policy allocates nothing.
fn matches(pattern: &str, text: &str, same: impl Fn(u8, u8) -> bool) -> bool {
    let (p, t) = (pattern.as_bytes(), text.as_bytes());
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        match p.get(pi) {
            Some(b'*') => {
                star = Some((pi, ti));
                pi += 1;
            }
            Some(&c) if c == b'?' || same(c, t[ti]) => {
                pi += 1;
                ti += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    pi = sp + 1;
                    ti = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    p[pi..].iter().all(|&c| c == b'*')
}

/// The region and account of the `methodArn` a function sees: stagecraft has neither, and
/// functions build their policy's resources from the ARN they are given, so any fixed values do.
pub const ARN_REGION: &str = "local";
pub const ARN_ACCOUNT: &str = "000000000000";

/// `arn:aws:execute-api:REGION:ACCOUNT:API/STAGE/`: what every `methodArn` of one stage starts
/// with, built once when the stage's authorizers are compiled.
pub fn arn_prefix(region: &str, account: &str, api: &str, stage: &str) -> String {
    format!("arn:aws:execute-api:{region}:{account}:{api}/{stage}/")
}

/// The `methodArn` of a request under its stage's prefix, as AWS builds it: the real path (a
/// `{proxy+}` match shows the concrete path), without its leading slash.
pub fn method_arn_under(prefix: &str, verb: &str, path: &str) -> String {
    let path = path.strip_prefix('/').unwrap_or(path);
    let mut arn = String::with_capacity(prefix.len() + verb.len() + 1 + path.len());
    arn.push_str(prefix);
    arn.push_str(verb);
    arn.push('/');
    arn.push_str(path);
    arn
}

/// The `methodArn` of a request, all parts given.
pub fn method_arn(
    region: &str,
    account: &str,
    api: &str,
    stage: &str,
    verb: &str,
    path: &str,
) -> String {
    method_arn_under(&arn_prefix(region, account, api, stage), verb, path)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    const ARN: &str = "arn:aws:execute-api:local:000000000000:shop/prod/GET/orders/42";

    fn policy(statements: Value) -> Policy {
        Policy::parse(&json!({"Version": "2012-10-17", "Statement": statements})).unwrap()
    }

    #[test]
    fn wildcards_match_as_iam_does() {
        assert!(wildcard("*", ""));
        assert!(wildcard("*", ARN));
        assert!(wildcard("arn:aws:execute-api:*:*:shop/prod/GET/*", ARN));
        assert!(wildcard("arn:aws:execute-api:*:*:shop/*/*/orders/*", ARN));
        assert!(wildcard(
            "arn:aws:execute-api:*:*:shop/prod/GET/orders/4?",
            ARN
        ));
        assert!(!wildcard("arn:aws:execute-api:*:*:shop/prod/POST/*", ARN));
        assert!(!wildcard(
            "arn:aws:execute-api:*:*:shop/prod/GET/orders",
            ARN
        ));
        assert!(wildcard("a*b*c", "aXXbYYbc"));
        assert!(!wildcard("a*b*c", "aXXbYYbd"));
        assert!(wildcard("**", "x"));
        // A long run of stars against a long non-match stays fast (no exponential backtracking).
        let p = "*a".repeat(30) + "b";
        assert!(!wildcard(&p, &"a".repeat(5000)));
    }

    #[test]
    fn explicit_deny_beats_allow_and_no_allow_is_a_deny() {
        let allow_all =
            json!([{"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": "*"}]);
        assert_eq!(policy(allow_all).evaluate(ARN), Verdict::Allow);
        let both = json!([
            {"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": "*"},
            {"Action": ["execute-api:*"], "Effect": "Deny", "Resource": ["arn:aws:execute-api:*:*:shop/prod/GET/orders/*"]}
        ]);
        assert_eq!(policy(both).evaluate(ARN), Verdict::ExplicitDeny);
        let elsewhere = json!({"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": "arn:aws:execute-api:*:*:shop/prod/POST/*"});
        assert_eq!(policy(elsewhere).evaluate(ARN), Verdict::ImplicitDeny);
        let other_action = json!([{"Action": "s3:GetObject", "Effect": "Allow", "Resource": "*"}]);
        assert_eq!(policy(other_action).evaluate(ARN), Verdict::ImplicitDeny);
        let case = json!([{"Action": "EXECUTE-API:invoke", "Effect": "allow", "Resource": "*"}]);
        assert_eq!(policy(case).evaluate(ARN), Verdict::Allow);
        assert_eq!(Policy::default().evaluate(ARN), Verdict::ImplicitDeny);
    }

    #[test]
    fn malformed_policies_are_errors_not_allows() {
        for bad in [
            json!(null),
            json!({"Statement": "Allow"}),
            json!({"Version": "2012-10-17"}),
            json!({"Statement": [{"Effect": "Permit", "Action": "*", "Resource": "*"}]}),
            json!({"Statement": [{"Effect": "Allow", "Resource": "*"}]}),
            json!({"Statement": [{"Effect": "Allow", "Action": "*", "Resource": 5}]}),
            json!({"Statement": [{"Effect": "Allow", "Action": [1], "Resource": "*"}]}),
        ] {
            assert!(Policy::parse(&bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn method_arns_carry_the_real_path() {
        assert_eq!(
            method_arn("local", "000000000000", "shop", "prod", "GET", "/orders/42"),
            ARN
        );
        assert_eq!(
            method_arn("local", "000000000000", "shop", "prod", "GET", ""),
            "arn:aws:execute-api:local:000000000000:shop/prod/GET/"
        );
    }
}

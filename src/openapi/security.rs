//! Part of `openapi` (beside the data flow): security schemes into the draft's authorizers and
//! API-key requirements, and each route's `security` into its `authorizer`,
//! `authorization_scopes` and `api_key_required`.
//!
//! The rule: **a route is never imported more open than AWS serves it.** A scheme with no local
//! form (IAM, an HTTP API JWT authorizer, a Cognito pool left as a deployment tool's
//! placeholder, a scheme that is referenced but not defined) becomes a `request` authorizer whose
//! function is an unset stage variable: the draft validates, and its routes answer 500 until the
//! authorizer is given a function.

use indexmap::IndexMap;

use super::doc::{sub_text, text as s, JsonPath, Node, Warning};
use super::map::Mapper;
use super::read::{Document, Version};

const AUTHORIZER: &str = "x-amazon-apigateway-authorizer";

/// What a security scheme is here.
#[derive(Debug, Clone)]
enum Scheme {
    /// An authorizer of the draft, by its (local) name; `scopes`: it reads `authorization_scopes`.
    Authorizer { name: String, scopes: bool },
    /// `api_key_required` on the routes that require it.
    ApiKey,
}

/// The document's schemes, and the draft's `authorizers` made from them.
pub struct Schemes {
    schemes: IndexMap<String, Scheme>,
    pub authorizers: IndexMap<String, Node>,
    closed: usize,
}

/// What a route's `security` asks.
#[derive(Debug, Default)]
pub struct RouteSecurity {
    pub authorizer: Option<String>,
    pub scopes: Vec<String>,
    pub api_key_required: bool,
}

/// An authorizer name: letters, digits, `_` and `-`, and not `none`.
fn local_name(name: &str) -> String {
    let n: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if n.is_empty() || n == "none" {
        format!("{n}_")
    } else {
        n
    }
}

impl Schemes {
    pub fn read(doc: &Document, mapper: &mut Mapper, warnings: &mut Vec<Warning>) -> Schemes {
        let mut out = Schemes {
            schemes: IndexMap::new(),
            authorizers: IndexMap::new(),
            closed: 0,
        };
        let (at, defs) = match doc.version {
            Version::Swagger2 => (
                JsonPath::root().key("securityDefinitions"),
                doc.root.get("securityDefinitions"),
            ),
            Version::OpenApi30 => (
                JsonPath::root().key("components").key("securitySchemes"),
                doc.root
                    .get("components")
                    .and_then(|c| c.get("securitySchemes")),
            ),
        };
        for (name, def) in defs.and_then(Node::as_map).into_iter().flatten() {
            let scheme = out.scheme(&at.key(name), name, def, mapper, warnings);
            out.schemes.insert(name.clone(), scheme);
        }
        out
    }

    fn scheme(
        &mut self,
        at: &JsonPath,
        name: &str,
        def: &Node,
        mapper: &mut Mapper,
        warnings: &mut Vec<Warning>,
    ) -> Scheme {
        let mut warn = |path: &JsonPath, message: String| {
            warnings.push(Warning {
                path: path.clone(),
                message,
            })
        };
        let header = def
            .get("name")
            .and_then(Node::as_str)
            .filter(|_| def.get("in").and_then(Node::as_str) == Some("header"));
        let Some(auth) = def.get(AUTHORIZER) else {
            if def.get("type").and_then(Node::as_str) == Some("apiKey") {
                return Scheme::ApiKey;
            }
            let kind = def
                .get("type")
                .and_then(Node::scalar_text)
                .unwrap_or_default();
            return self.closed(
                name,
                at,
                &format!("a {kind:?} scheme has no local form"),
                &mut warn,
            );
        };
        let at_auth = at.key(AUTHORIZER);
        let kind = auth
            .get("type")
            .and_then(Node::as_str)
            .unwrap_or_default()
            .to_ascii_lowercase();
        let identity = auth
            .get("identitySource")
            .and_then(Node::as_str)
            .map(str::trim)
            .filter(|i| !i.is_empty());
        // Text, or a CloudFormation reference (`Fn::GetAtt`, `Fn::Sub`) to a role.
        if auth
            .get("authorizerCredentials")
            .is_some_and(|c| !matches!(c, Node::Null) && c.as_str() != Some(""))
        {
            warn(
                &at_auth.key("authorizerCredentials"),
                "an IAM role has no meaning here: dropped".to_string(),
            );
        }
        let ttl = auth
            .get("authorizerResultTtlInSeconds")
            .and_then(Node::scalar_text)
            .and_then(|t| t.parse::<u64>().ok());
        let expression = auth
            .get("identityValidationExpression")
            .and_then(Node::as_str);
        let local = local_name(name);
        if local != name {
            warn(at, format!("authorizer {name:?} is named {local:?} here"));
        }
        let mut a = IndexMap::new();
        match kind.as_str() {
            "token" | "request" => {
                let uri = match auth.get("authorizerUri") {
                    None => return self.closed(name, at, "no authorizerUri", &mut warn),
                    Some(u) => match sub_text(u) {
                        Some(text) => text,
                        None => {
                            return self.closed(
                                name,
                                &at_auth.key("authorizerUri"),
                                &format!("authorizerUri is {}, not text or Fn::Sub", u.kind()),
                                &mut warn,
                            )
                        }
                    },
                };
                let mapped = mapper.uri(&uri);
                if let Some(note) = mapped.note {
                    warn(&at_auth.key("authorizerUri"), note);
                }
                a.insert("type".to_string(), s(kind.clone()));
                a.insert("uri".to_string(), s(mapped.value));
                if kind == "token" {
                    token_identity(&mut a, identity, header, expression);
                } else {
                    match identity {
                        Some(i) => {
                            a.insert("identity_source".to_string(), s(i));
                        }
                        // Without identity sources a decision has no cache key: never reused.
                        None => {
                            warn(
                                &at_auth,
                                "no identitySource: decisions are not cached".to_string(),
                            );
                        }
                    }
                    if expression.is_some() {
                        warn(
                            &at_auth.key("identityValidationExpression"),
                            "a request authorizer has none: dropped".to_string(),
                        );
                    }
                }
                let ttl = if kind == "request" && identity.is_none() {
                    Some(0)
                } else {
                    ttl
                };
                if let Some(ttl) = ttl {
                    a.insert(
                        "result_ttl_seconds".to_string(),
                        Node::Number(ttl.min(3600).into()),
                    );
                }
                self.authorizers.insert(local.clone(), Node::Map(a));
                Scheme::Authorizer {
                    name: local,
                    scopes: false,
                }
            }
            "cognito_user_pools" => {
                let listed = auth.items("providerARNs");
                let mut arns = Vec::with_capacity(listed.len());
                let mut problems = Vec::new();
                for (i, a) in listed.iter().enumerate() {
                    match sub_text(a).map(|a| mapper.rewrite(&a)) {
                        Some(arn) if is_user_pool_arn(&arn) => arns.push(arn),
                        Some(arn) => problems.push(format!(
                            "providerARNs[{i}] {arn:?} is not a user pool ARN (a deployment \
                             tool's placeholder?): import with --map '{arn}=arn:aws:cognito-idp:REGION:ACCOUNT:userpool/POOL_ID'"
                        )),
                        None => problems.push(format!(
                            "providerARNs[{i}] is a CloudFormation reference ({}), which no \
                             --map can match: set the pool's ARN in the draft's provider_arns",
                            reference_name(a)
                        )),
                    }
                }
                if listed.is_empty() {
                    problems.push("providerARNs lists no user pool".to_string());
                }
                if !problems.is_empty() {
                    return self.closed(
                        name,
                        &at_auth.key("providerARNs"),
                        &problems.join("; "),
                        &mut warn,
                    );
                }
                a.insert("type".to_string(), s("cognito_user_pools"));
                a.insert(
                    "provider_arns".to_string(),
                    Node::Seq(arns.into_iter().map(s).collect()),
                );
                token_identity(&mut a, identity, header, expression);
                self.authorizers.insert(local.clone(), Node::Map(a));
                Scheme::Authorizer {
                    name: local,
                    scopes: true,
                }
            }
            other => self.closed(
                name,
                &at_auth.key("type"),
                &format!("authorizer type {other:?} has no local form"),
                &mut warn,
            ),
        }
    }

    /// An authorizer that refuses everything until it is given a function (see the module doc).
    fn closed(
        &mut self,
        name: &str,
        at: &JsonPath,
        why: &str,
        warn: &mut impl FnMut(&JsonPath, String),
    ) -> Scheme {
        self.closed += 1;
        let local = local_name(name);
        let variable = format!("unmapped_auth_{}", self.closed);
        warn(
            at,
            format!(
                "SECURITY: {why}; authorizer {local} fails closed (its routes answer 500) until \
                 stage variable {variable} names its function or the draft is edited"
            ),
        );
        let mut a = IndexMap::new();
        a.insert("type".to_string(), s("request"));
        a.insert(
            "uri".to_string(),
            s(format!("${{stageVariables.{variable}}}")),
        );
        a.insert("result_ttl_seconds".to_string(), Node::Number(0.into()));
        self.authorizers.insert(local.clone(), Node::Map(a));
        Scheme::Authorizer {
            name: local,
            scopes: false,
        }
    }

    /// What the route requires: its own `security`, else the document's. Of several
    /// alternatives, the gateway requires them all (an authorizer and an API key), as AWS does
    /// when it imports them; a second authorizer among them is reported, the first used.
    pub fn route(
        &mut self,
        doc: &Document,
        at: &JsonPath,
        op: &Node,
        warnings: &mut Vec<Warning>,
    ) -> RouteSecurity {
        let mut out = RouteSecurity::default();
        let (at_sec, requirements) = match op.get("security") {
            Some(r) => (at.key("security"), r),
            None => match doc.root.get("security") {
                Some(r) => (JsonPath::root().key("security"), r),
                None => (JsonPath::root(), &Node::Null),
            },
        };
        let mut warn = |path: &JsonPath, message: String| {
            warnings.push(Warning {
                path: path.clone(),
                message,
            })
        };
        if let Some(auth) = op.get("x-amazon-apigateway-auth") {
            let kind = auth.get("type").and_then(Node::as_str).unwrap_or("NONE");
            if !kind.eq_ignore_ascii_case("none") {
                let at_auth = at.key("x-amazon-apigateway-auth");
                let why = format!("{kind} authorization has no local form");
                if let Scheme::Authorizer { name, .. } =
                    self.closed(&kind.to_ascii_lowercase(), &at_auth, &why, &mut warn)
                {
                    out.authorizer = Some(name);
                }
            }
        }
        for (i, requirement) in requirements.as_seq().unwrap_or(&[]).iter().enumerate() {
            for (name, scopes) in requirement.as_map().into_iter().flatten() {
                let at_req = at_sec.index(i).key(name);
                let scheme = match self.schemes.get(name) {
                    Some(s) => s.clone(),
                    None => {
                        let scheme =
                            self.closed(name, &at_req, "the scheme is not defined", &mut warn);
                        self.schemes.insert(name.clone(), scheme.clone());
                        scheme
                    }
                };
                match scheme {
                    Scheme::ApiKey => out.api_key_required = true,
                    Scheme::Authorizer {
                        name: local,
                        scopes: takes_scopes,
                    } => {
                        match &out.authorizer {
                            None => out.authorizer = Some(local),
                            Some(first) if *first != local => {
                                warn(
                                    &at_req,
                                    format!("a second authorizer: {first} is the route's"),
                                );
                                continue;
                            }
                            Some(_) => {}
                        }
                        let listed = scopes.as_seq().unwrap_or(&[]);
                        if takes_scopes {
                            out.scopes.extend(
                                listed.iter().filter_map(|s| s.as_str().map(str::to_string)),
                            );
                        } else if !listed.is_empty() {
                            warn(
                                &at_req,
                                "only a Cognito authorizer reads scopes: dropped".into(),
                            );
                        }
                    }
                }
            }
        }
        out
    }
}

/// Where a token authorizer reads its token: the extension's `identitySource`, else the
/// scheme's header, else `Authorization` (as AWS does); and the expression it must match.
fn token_identity(
    a: &mut IndexMap<String, Node>,
    identity: Option<&str>,
    header: Option<&str>,
    expression: Option<&str>,
) {
    let source = match (identity, header) {
        (Some(i), _) => i.to_string(),
        (None, Some(h)) => format!("method.request.header.{h}"),
        (None, None) => "method.request.header.Authorization".to_string(),
    };
    a.insert("identity_source".to_string(), s(source));
    if let Some(e) = expression {
        a.insert("identity_validation_expression".to_string(), s(e));
    }
}

/// `arn:PARTITION:cognito-idp:REGION:ACCOUNT:userpool/ID`.
/// `Fn::GetAtt MyUserPool.Arn`: how a CloudFormation reference reads in a warning.
fn reference_name(n: &Node) -> String {
    match n.as_map().and_then(|m| m.iter().next()) {
        Some((k, v)) => {
            let args: Vec<String> = match v {
                Node::Seq(items) => items.iter().filter_map(Node::scalar_text).collect(),
                other => other.scalar_text().into_iter().collect(),
            };
            format!("{k} {}", args.join("."))
        }
        None => n.kind().to_string(),
    }
}

fn is_user_pool_arn(arn: &str) -> bool {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    parts.len() == 6
        && parts[0] == "arn"
        && parts[2] == "cognito-idp"
        && parts[5]
            .strip_prefix("userpool/")
            .is_some_and(|id| !id.is_empty() && !id.contains('$'))
}

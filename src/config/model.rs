//! Part of the first stage of the data flow: the serde model of the configuration directory,
//! what the YAML files say, with source locations kept (`Spanned`, `Typed`) so that validation
//! can point at the line a user must fix. Strings with a syntax of their own are parsed as the
//! file is read (`Typed`); `config::validate` checks what refers to what and `snapshot`
//! compiles it.

use super::access_log::Format;
use super::addr::{AdminAddr, ListenAddr, Target};
use super::authorizer::AuthorizerDef;
use super::mapping::{parse_request_parameter, parse_response_header};
use super::mapping::{RequestParameter, ResponseHeader};
pub use super::method::{CorsDef, GatewayResponseDef, ModelDef, ValidatorDef};
use super::route::RouteSpec;
use super::sticky::StickyKey;
pub use super::throttle::ThrottleDef;
use super::typed::{line_of, Typed};
use super::uri::IntegrationUri;
use super::usage::{ApiKeyFile, ApiKeySource, UsageDef, UsagePlanFile};
use indexmap::IndexMap;
use serde::{Deserialize, Deserializer};
use serde_saphyr::Spanned;
use std::collections::BTreeMap;

/// A string value with the line and column it was read from.
pub type Located<T> = Spanned<T>;

/// `gateway.yaml`: listeners, admin endpoint, limits and backends.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GatewayFile {
    /// `"ip:port"` (plain HTTP) or `{addr: "ip:port", tls: {cert: PATH, key: PATH}}`.
    pub listen: Vec<Located<ListenDef>>,
    /// Trust for `https://` integrations and TLS backend versions (default: the system's roots).
    #[serde(default)]
    pub upstream_tls: Option<Located<UpstreamTlsDef>>,
    #[serde(default)]
    pub admin: Option<Typed<AdminAddr>>,
    /// Who may write through the admin API; without it the API is read-only.
    #[serde(default)]
    pub admin_auth: Option<Located<AdminAuthDef>>,
    #[serde(default)]
    pub threads: Option<Located<usize>>,
    /// SIGTERM: in-flight requests get at most this long to finish (default 30).
    #[serde(default)]
    pub shutdown_grace_seconds: Option<Located<u64>>,
    /// Where a new process (`run --upgrade`) takes over the listening sockets from this one.
    #[serde(default)]
    pub upgrade_sock: Option<Located<String>>,
    #[serde(default)]
    pub limits: LimitsDef,
    #[serde(default)]
    pub backends: BTreeMap<String, Located<BackendDef>>,
    /// The throttle of every stage that sets none (each stage its own bucket).
    #[serde(default)]
    pub throttle: Option<ThrottleDef>,
    /// Where API keys' quotas (and, shared, their plan throttles) are counted.
    #[serde(default)]
    pub usage: Option<UsageDef>,
}

/// `admin_auth:` in gateway.yaml.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminAuthDef {
    /// One SHA-256 (hex) of a bearer token per line; relative to the configuration directory.
    pub tokens_file: Located<String>,
}

/// `limits:` in gateway.yaml; defaults follow AWS API Gateway.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsDef {
    pub max_body_bytes: u64,
    pub integration_timeout_ms: u64,
    /// Path and query string; longer gets 414.
    pub max_url_bytes: usize,
    /// Names and values of all request headers together; more gets 431.
    pub max_header_bytes: usize,
    /// Number of request headers; more gets 431.
    pub max_headers: usize,
    /// A keep-alive connection waiting for its next request is closed after this long without a
    /// byte (also the bound on each read of that request's head).
    pub idle_timeout_seconds: u64,
    /// Decisions each authorizer keeps per stage (least recently used go first).
    pub authorizer_cache_entries: u64,
}

impl Default for LimitsDef {
    fn default() -> Self {
        LimitsDef {
            max_body_bytes: 10 * 1024 * 1024,
            integration_timeout_ms: 29_000,
            // AWS (regional): 10,240-byte URLs, 10,240 bytes of header values.
            max_url_bytes: 10_240,
            max_header_bytes: 10_240,
            max_headers: 100,
            idle_timeout_seconds: 60,
            authorizer_cache_entries: 10_000,
        }
    }
}

/// A named service with versions (sets of targets) and aliases (weights over versions).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackendDef {
    pub versions: BTreeMap<String, Located<VersionDef>>,
    #[serde(default)]
    pub aliases: BTreeMap<String, Located<BTreeMap<String, Located<i64>>>>,
    /// `header:NAME` or `cookie:NAME`: every alias of this backend picks the version by a hash of
    /// that value, so a client keeps talking to one version.
    #[serde(default)]
    pub sticky: Option<Typed<StickyKey>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VersionDef {
    pub targets: Vec<Typed<Target>>,
    /// `true` or `{verify: BOOL}`: the targets speak TLS (SNI and verification by target host).
    #[serde(default)]
    pub tls: Option<Located<VersionTlsDef>>,
    /// Active health checks: `GET path` on each target every `interval_ms`; a target that
    /// fails is taken out until it passes again.
    #[serde(default)]
    pub health_check: Option<HealthCheckDef>,
    /// Where `aws_proxy`/`aws` integrations POST events to this version's targets (default
    /// `/2015-03-31/functions/function/invocations`, the Lambda runtime interface emulator's).
    #[serde(default)]
    pub invocation_path: Option<Located<String>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HealthCheckDef {
    pub path: Located<String>,
    #[serde(default = "default_health_interval")]
    pub interval_ms: u64,
}

fn default_health_interval() -> u64 {
    5_000
}

/// The API-level method-request settings, shared by a draft and its deployments.
#[derive(Debug, Clone, Copy)]
pub struct ApiSettings<'a> {
    pub models: &'a IndexMap<String, Located<ModelDef>>,
    pub request_validators: &'a BTreeMap<String, Located<ValidatorDef>>,
    pub default_request_validator: Option<&'a Located<String>>,
    pub cors: Option<&'a Located<CorsDef>>,
    pub gateway_responses: &'a BTreeMap<String, Located<GatewayResponseDef>>,
    pub authorizers: &'a BTreeMap<String, Located<AuthorizerDef>>,
    pub default_authorizer: Option<&'a Located<String>>,
    pub api_key_source: Option<&'a Located<ApiKeySource>>,
    pub binary_media_types: &'a [Located<String>],
}

/// Declares a file model that holds an API: its routes and the API-level settings of the method
/// request (DESIGN.md 8), which a draft and its deployments share field for field. A macro
/// because serde's `flatten` would drop both `deny_unknown_fields` and the line numbers.
macro_rules! api_document {
    ($(#[$meta:meta])* pub struct $name:ident { $($(#[$fmeta:meta])* pub $field:ident: $ty:ty,)* }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Deserialize)]
        #[serde(deny_unknown_fields)]
        pub struct $name {
            $($(#[$fmeta])* pub $field: $ty,)*
            #[serde(default)]
            pub routes: Vec<RouteDef>,
            /// JSON Schema (draft 4) models by name, for `request_models`.
            #[serde(default)]
            pub models: IndexMap<String, Located<ModelDef>>,
            #[serde(default)]
            pub request_validators: BTreeMap<String, Located<ValidatorDef>>,
            /// The validator of every route that names none.
            #[serde(default)]
            pub default_request_validator: Option<Located<String>>,
            #[serde(default)]
            pub cors: Option<Located<CorsDef>>,
            /// By AWS's type name (`DEFAULT_4XX`, `UNAUTHORIZED`, ...).
            #[serde(default)]
            pub gateway_responses: BTreeMap<String, Located<GatewayResponseDef>>,
            /// By name, for `default_authorizer` and routes' `authorizer`.
            #[serde(default)]
            pub authorizers: BTreeMap<String, Located<AuthorizerDef>>,
            /// The authorizer of every route that names none (`none`: no authorizer).
            #[serde(default)]
            pub default_authorizer: Option<Located<String>>,
            /// Where keyed routes read the API key: `header` (`x-api-key`) or `authorizer`.
            #[serde(default)]
            pub api_key_source: Option<Located<ApiKeySource>>,
            /// Request media types a function receives base64-encoded (`image/png`, `image/*`,
            /// `*/*`), as AWS's binaryMediaTypes.
            #[serde(default)]
            pub binary_media_types: Vec<Located<String>>,
            /// What an OpenAPI definition said about the API (title, description, version):
            /// kept so that `stagecraft export` gives it back. Nothing serves it.
            #[serde(default)]
            pub info: Option<InfoDef>,
        }

        impl $name {
            pub fn settings(&self) -> ApiSettings<'_> {
                ApiSettings {
                    models: &self.models,
                    request_validators: &self.request_validators,
                    default_request_validator: self.default_request_validator.as_ref(),
                    cors: self.cors.as_ref(),
                    gateway_responses: &self.gateway_responses,
                    authorizers: &self.authorizers,
                    default_authorizer: self.default_authorizer.as_ref(),
                    api_key_source: self.api_key_source.as_ref(),
                    binary_media_types: &self.binary_media_types,
                }
            }
        }
    };
}

api_document! {
    /// `apis/NAME.yaml`: a draft, never served directly.
    pub struct ApiFile {}
}

api_document! {
    /// `deployments/ID.yaml`: an immutable snapshot of one API: its routes and settings.
    pub struct DeploymentFile {
        pub api: Located<String>,
        #[serde(default)]
        pub created: Option<String>,
        #[serde(default)]
        pub description: Option<String>,
        #[serde(default)]
        pub hash: Option<Located<String>>,
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteDef {
    pub route: Typed<RouteSpec>,
    pub integration: IntegrationDef,
    /// Overrides the stage's throttle for this route (its own bucket).
    #[serde(default)]
    pub throttle: Option<ThrottleDef>,
    /// Overrides the stage's fault injection for this route.
    #[serde(default)]
    pub fault: Option<FaultDef>,
    /// A name of `request_validators` (default: the API's `default_request_validator`).
    #[serde(default)]
    pub request_validator: Option<Located<String>>,
    /// The method request's parameters, `method.request.header|querystring|path.NAME: required`.
    #[serde(default)]
    pub request_parameters: IndexMap<String, Located<bool>>,
    /// Content type -> model name: the schema a body of that type must satisfy.
    #[serde(default)]
    pub request_models: BTreeMap<String, Located<String>>,
    /// A name of `authorizers`, or `none` (default: the API's `default_authorizer`).
    #[serde(default)]
    pub authorizer: Option<Located<String>>,
    /// `jwt` / `cognito_user_pools`: the token's `scope` must hold one of these.
    #[serde(default)]
    pub authorization_scopes: Vec<Located<String>>,
    /// Only callers with an enabled API key in a usage plan of this stage (403 otherwise).
    #[serde(default)]
    pub api_key_required: Option<Located<bool>>,
    /// AWS's `operationName` (OpenAPI's `operationId`): documentation, kept for export.
    #[serde(default)]
    pub operation_name: Option<Located<String>>,
    /// AWS's method responses: the statuses, headers and models the method documents. They
    /// change nothing that is served (the integration responses do); export gives them back.
    #[serde(default)]
    pub method_responses: Vec<MethodResponseDef>,
}

/// An API's descriptive fields, as an OpenAPI `info` object has them.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InfoDef {
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub version: Option<String>,
}

/// One documented method response.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MethodResponseDef {
    pub status: Located<u16>,
    /// The response headers the method declares.
    #[serde(default)]
    pub headers: Vec<Located<String>>,
    /// Content type -> model name.
    #[serde(default)]
    pub models: IndexMap<String, Located<String>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IntegrationType {
    HttpProxy,
    Http,
    Mock,
    /// A Lambda-style function called with the API Gateway proxy event (format 1.0).
    AwsProxy,
    /// A function called with the request template's output as its event (non-proxy).
    Aws,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PassthroughBehavior {
    #[default]
    WhenNoMatch,
    WhenNoTemplates,
    Never,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IntegrationDef {
    #[serde(rename = "type")]
    pub kind: Located<IntegrationType>,
    #[serde(default)]
    pub uri: Option<Typed<IntegrationUri>>,
    /// `target: source` entries, in target order.
    #[serde(default, deserialize_with = "request_parameters")]
    pub request_parameters: Vec<Typed<RequestParameter>>,
    /// In file order: with no Accept match, the first response template is used.
    #[serde(default)]
    pub request_templates: IndexMap<String, Located<String>>,
    #[serde(default)]
    pub passthrough_behavior: PassthroughBehavior,
    #[serde(default)]
    pub timeout_ms: Option<Located<u64>>,
    #[serde(default)]
    pub responses: Vec<IntegrationResponseDef>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IntegrationResponseDef {
    #[serde(default)]
    pub selection_pattern: Option<Located<String>>,
    pub status: Located<u16>,
    /// `name: source` entries, in name order.
    #[serde(default, deserialize_with = "response_headers")]
    pub headers: Vec<Typed<ResponseHeader>>,
    /// In file order: with no Accept match, the first is used (as AWS does).
    #[serde(default)]
    pub templates: IndexMap<String, Located<String>>,
}

/// `stages/NAME.yaml`: one addressable instance of an API.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StageFile {
    pub api: Located<String>,
    pub deployment: Located<String>,
    #[serde(default)]
    pub base_path: Option<Located<String>>,
    #[serde(default)]
    pub host: Option<Located<String>>,
    #[serde(default)]
    pub variables: BTreeMap<String, Located<String>>,
    #[serde(default)]
    pub canary: Option<CanaryDef>,
    #[serde(default)]
    pub throttle: Option<ThrottleDef>,
    #[serde(default)]
    pub fault: Option<FaultDef>,
    #[serde(default)]
    pub history: Vec<HistoryEntry>,
    #[serde(default)]
    pub access_log: Option<AccessLogDef>,
}

/// `access_log:` of a stage: a line per request, `$context` variables in `format` (default a
/// JSON object), to `path` (default stdout).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccessLogDef {
    #[serde(default)]
    pub format: Option<Typed<Format>>,
    #[serde(default)]
    pub path: Option<Located<String>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CanaryDef {
    pub deployment: Located<String>,
    #[serde(default)]
    pub percent: Option<Located<f64>>,
    #[serde(default)]
    pub variables: BTreeMap<String, Located<String>>,
    /// `header:NAME` or `cookie:NAME`: the split follows a hash of that value instead of chance,
    /// so one client stays on one side.
    #[serde(default)]
    pub sticky: Option<Typed<StickyKey>>,
}

/// Fault injection, as Envoy's fault filter: delay or abort a share of requests.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultDef {
    #[serde(default)]
    pub delay_ms: Option<Located<u64>>,
    /// Share of requests delayed, 0-100 (default 100 when `delay_ms` is set).
    #[serde(default)]
    pub delay_percent: Option<Located<f64>>,
    #[serde(default)]
    pub abort_status: Option<Located<u16>>,
    /// Share of requests aborted, 0-100 (default 100 when `abort_status` is set).
    #[serde(default)]
    pub abort_percent: Option<Located<f64>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HistoryEntry {
    pub deployment: String,
    pub at: String,
}

/// One `listen:` entry of gateway.yaml: a plain `"ip:port"` string (HTTP), or a mapping
/// `{addr: "ip:port", tls: {cert: PATH, key: PATH}}`. Deserialized by hand rather than as an
/// untagged enum: serde buffers untagged input, which loses the lines `Located` keeps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenDef {
    /// On the line of its entry (see `GatewayFile::explain`).
    pub addr: Typed<ListenAddr>,
    pub tls: Option<ListenTlsDef>,
}

/// PEM files of a TLS listener; relative paths are relative to the configuration directory.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListenTlsDef {
    /// Certificate chain, leaf first.
    pub cert: Located<String>,
    /// Private key (PKCS#8, PKCS#1 or SEC1).
    pub key: Located<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ListenMap {
    addr: String,
    #[serde(default)]
    tls: Option<ListenTlsDef>,
}

impl<'de> Deserialize<'de> for ListenDef {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = ListenDef;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("\"ip:port\" or {addr: \"ip:port\", tls: {cert: PATH, key: PATH}}")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<ListenDef, E> {
                Ok(ListenDef {
                    addr: Typed::new(v, None),
                    tls: None,
                })
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> Result<ListenDef, A::Error> {
                let m = ListenMap::deserialize(serde::de::value::MapAccessDeserializer::new(map))?;
                Ok(ListenDef {
                    addr: Typed::new(m.addr, None),
                    tls: m.tls,
                })
            }
        }
        d.deserialize_any(V)
    }
}

/// `upstream_tls:` of gateway.yaml: what TLS upstreams are verified against.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpstreamTlsDef {
    /// PEM file of CA certificates trusted besides (or, with `system_roots: false`, instead
    /// of) the system's roots; relative to the configuration directory.
    #[serde(default)]
    pub ca: Option<Located<String>>,
    #[serde(default)]
    pub system_roots: Option<Located<bool>>,
}

/// `tls:` of a backend version: `true` (verified TLS), `false` (plain), or `{verify: BOOL}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionTlsDef {
    pub enabled: bool,
    /// Certificate and host name verification; on unless explicitly off.
    pub verify: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct VersionTlsMap {
    #[serde(default = "yes")]
    verify: bool,
}

fn yes() -> bool {
    true
}

impl<'de> Deserialize<'de> for VersionTlsDef {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = VersionTlsDef;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("true, false or {verify: true|false}")
            }
            fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<VersionTlsDef, E> {
                Ok(VersionTlsDef {
                    enabled: v,
                    verify: true,
                })
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> Result<VersionTlsDef, A::Error> {
                let m =
                    VersionTlsMap::deserialize(serde::de::value::MapAccessDeserializer::new(map))?;
                Ok(VersionTlsDef {
                    enabled: true,
                    verify: m.verify,
                })
            }
        }
        d.deserialize_any(V)
    }
}

/// A mapping whose entries parse as key and value together, each kept with the value's line.
fn entries<'de, D: Deserializer<'de>, T>(
    d: D,
    parse: fn(&str, &str) -> Result<T, String>,
) -> Result<Vec<Typed<T>>, D::Error> {
    let map = BTreeMap::<String, Located<String>>::deserialize(d)?;
    Ok(map
        .into_iter()
        .map(|(key, value)| {
            let parsed = parse(&key, &value.value);
            let line = line_of(&value);
            Typed::from_parts(value.value, line, parsed)
        })
        .collect())
}

fn request_parameters<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Vec<Typed<RequestParameter>>, D::Error> {
    entries(d, parse_request_parameter)
}

fn response_headers<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Vec<Typed<ResponseHeader>>, D::Error> {
    entries(d, parse_response_header)
}

/// A file of the configuration directory as `parse_yaml` reads it.
pub trait FileModel: serde::de::DeserializeOwned {
    /// Says what each value that did not parse belongs to, in its error: only the file as a
    /// whole knows (a backend's name is its key). Runs once, right after the file is read.
    fn explain(&mut self) {}
}

impl FileModel for GatewayFile {
    fn explain(&mut self) {
        for l in &mut self.listen {
            let line = line_of(l);
            l.value.addr.place(line);
        }
        for (bname, b) in &mut self.backends {
            if let Some(s) = &mut b.value.sticky {
                s.explain(|e| format!("backend {bname:?}: {e}"));
            }
            for (vname, v) in &mut b.value.versions {
                for t in &mut v.value.targets {
                    t.explain(|e| {
                        format!(
                            "{e} in backend {bname:?} version {vname:?}: expected \"host:port\""
                        )
                    });
                }
            }
        }
    }
}

impl FileModel for StageFile {
    fn explain(&mut self) {
        if let Some(s) = self.canary.as_mut().and_then(|c| c.sticky.as_mut()) {
            s.explain(|e| format!("canary: {e}"));
        }
    }
}

impl FileModel for ApiFile {
    fn explain(&mut self) {
        self.routes.iter_mut().for_each(RouteDef::explain);
    }
}

impl FileModel for ApiKeyFile {
    fn explain(&mut self) {
        self.hash.explain(|e| format!("hash: {e}"));
    }
}

impl FileModel for UsagePlanFile {}

impl FileModel for DeploymentFile {
    fn explain(&mut self) {
        self.routes.iter_mut().for_each(RouteDef::explain);
    }
}

impl RouteDef {
    fn explain(&mut self) {
        let route = self.route.text();
        let i = &mut self.integration;
        for p in &mut i.request_parameters {
            p.explain(|e| format!("route {route:?}: {e}"));
        }
        for h in i.responses.iter_mut().flat_map(|r| r.headers.iter_mut()) {
            h.explain(|e| format!("route {route:?}: {e}"));
        }
    }
}

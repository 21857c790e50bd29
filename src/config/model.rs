//! The serde model of the configuration directory: exactly what the YAML files say, with source
//! locations kept (`Spanned`) so that validation can point at the line a user must fix.
//! Nothing here is interpreted; `config::validate` checks meaning and `snapshot` compiles it.

use indexmap::IndexMap;
use serde::Deserialize;
use serde_saphyr::Spanned;
use std::collections::BTreeMap;

/// A string value with the line and column it was read from.
pub type Located<T> = Spanned<T>;

/// `gateway.yaml`: listeners, admin endpoint, limits and backends.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GatewayFile {
    pub listen: Vec<Located<String>>,
    #[serde(default)]
    pub admin: Option<Located<String>>,
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
}

/// `limits:` in gateway.yaml; defaults follow AWS API Gateway.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsDef {
    pub max_body_bytes: u64,
    pub integration_timeout_ms: u64,
}

impl Default for LimitsDef {
    fn default() -> Self {
        LimitsDef {
            max_body_bytes: 10 * 1024 * 1024,
            integration_timeout_ms: 29_000,
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
    pub sticky: Option<Located<String>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VersionDef {
    pub targets: Vec<Located<String>>,
}

/// `apis/NAME.yaml`: a draft, never served directly.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiFile {
    #[serde(default)]
    pub routes: Vec<RouteDef>,
}

/// `deployments/ID.yaml`: an immutable snapshot of one API's routes.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeploymentFile {
    pub api: Located<String>,
    #[serde(default)]
    pub created: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub hash: Option<Located<String>>,
    #[serde(default)]
    pub routes: Vec<RouteDef>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteDef {
    pub route: Located<String>,
    pub integration: IntegrationDef,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IntegrationType {
    HttpProxy,
    Http,
    Mock,
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
    pub uri: Option<Located<String>>,
    #[serde(default)]
    pub request_parameters: BTreeMap<String, Located<String>>,
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
    #[serde(default)]
    pub headers: BTreeMap<String, Located<String>>,
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
    pub format: Option<Located<String>>,
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
    pub sticky: Option<Located<String>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ThrottleDef {
    pub rate: f64,
    pub burst: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HistoryEntry {
    pub deployment: String,
    pub at: String,
}

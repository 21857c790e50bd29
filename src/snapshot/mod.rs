//! Second stage of the data flow: a validated `RawConfig` compiled into an immutable `Snapshot`
//! (`compile`), by the one load pipeline (`load`). Per stage: the route table of its deployment
//! (and of its canary), URIs with the stage variables already substituted, prebuilt upstream
//! peers and weighted pickers. Requests only read it; a reload builds a new one, handing it what
//! must outlive a snapshot (`Carried`). Uses `config` (and `template`), never `store` or
//! `proxy`. No sockets and no pingora request types; compiling is the one step that reads the
//! files the configuration names and resolves DNS.

pub mod authorizer;
mod compile;
pub mod cors;
pub mod fault;
pub mod function;
pub mod health;
pub mod jwks;
pub mod load;
pub mod mapping;
pub mod picker;
pub mod policy;
pub mod quota;
pub mod responses;
pub mod router;
pub mod sticky;
pub mod templated;
pub mod throttle;
pub mod upstream;
pub mod usage;
pub mod validation;

pub use compile::compile;

use crate::config::route::Method;
use crate::config::Problem;
use router::{Lookup, Router};
use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use upstream::Selector;

/// Gateway-wide limits (gateway.yaml `limits`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub max_body_bytes: u64,
    pub integration_timeout: Duration,
    pub max_url_bytes: usize,
    pub max_header_bytes: usize,
    pub max_headers: usize,
    pub idle_timeout_seconds: u64,
    pub authorizer_cache_entries: u64,
}

/// Process-level settings that only take effect at start; a reload that changes them logs that a
/// restart is needed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerSettings {
    pub listen: Vec<Listener>,
    pub admin: Option<SocketAddr>,
    /// `admin_auth.tokens_file`, resolved against the configuration directory; read at each
    /// write through the admin API (none: the API is read-only).
    pub admin_tokens_file: Option<std::path::PathBuf>,
    /// As gateway.yaml sets it; unset means one per core, which the process reads when it
    /// starts (a snapshot holds the file's facts, not the machine's).
    pub threads: Option<usize>,
    pub shutdown_grace_seconds: u64,
    pub upgrade_sock: String,
    /// Where API keys' usage is counted (`usage:`).
    pub usage: usage::UsageSettings,
}

/// One proxy listener: plain HTTP, or TLS with HTTP/2 by ALPN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listener {
    pub addr: SocketAddr,
    pub tls: Option<ListenerTls>,
}

/// A TLS listener's PEM files, resolved against the configuration directory, and the
/// certificate read from them when the snapshot was compiled. The listener serves the one of the
/// first snapshot and re-reads the files while running (`crate::tls::CertWatchService`).
#[derive(Debug, Clone)]
pub struct ListenerTls {
    pub cert: std::path::PathBuf,
    pub key: std::path::PathBuf,
    pub loaded: Arc<crate::tls::ListenerCert>,
}

/// The same files: a certificate whose contents changed needs no restart.
impl PartialEq for ListenerTls {
    fn eq(&self, other: &Self) -> bool {
        self.cert == other.cert && self.key == other.key
    }
}

impl Eq for ListenerTls {}

/// What one snapshot hands to the next, so that a reload changes what the files changed and
/// nothing else: throttle buckets (a reload must not hand out a fresh burst) and target health
/// (nor forget that a target is down). The reloader owns one for the life of the process and
/// passes it to every compile; a one-off compile (`validate`, `deploy`) uses a fresh one.
/// Not kept here, and process-global on purpose: metrics registries (Prometheus counters must
/// outlive snapshots) and the access-log writer thread (one per process, see `accesslog`).
#[derive(Debug, Default)]
pub struct Carried {
    pub buckets: throttle::Buckets,
    pub health: health::Registry,
    pub authorizers: authorizer::Caches,
    pub jwks: jwks::Registry,
    /// Quota counters: shared with the `usage` module, which saves and restores them.
    pub usage: Arc<quota::Counters>,
}

pub const DEFAULT_SHUTDOWN_GRACE_SECONDS: u64 = 30;
pub const DEFAULT_UPGRADE_SOCK: &str = "/tmp/stagecraft_upgrade.sock";

#[derive(Debug)]
pub struct Snapshot {
    /// Increases by one with every published snapshot.
    pub generation: u64,
    pub loaded_at: SystemTime,
    /// Content hash of the files it was compiled from.
    pub hash: String,
    pub server: ServerSettings,
    pub limits: Limits,
    /// Bounds of every template render (output capped at `limits.max_body_bytes`).
    pub template_limits: crate::template::Limits,
    pub stages: Vec<Stage>,
    /// Every backend version (for the active health checker).
    pub versions: Vec<Arc<upstream::Version>>,
    /// Stage indexes to try for a known host, longest base path first (host-specific before
    /// any-host on a tie).
    by_host: HashMap<Box<str>, Box<[u32]>>,
    /// Stage indexes for any other host: the stages without `host`.
    any_host: Box<[u32]>,
    /// Counts keyed requests whose key is in no plan of the stage.
    pub unplanned: Arc<crate::metrics::PlanMetrics>,
    /// Warnings found while compiling (e.g. undefined stage variables in a URI).
    pub warnings: Vec<Problem>,
}

#[derive(Debug)]
pub struct Stage {
    pub name: Arc<str>,
    pub api: Arc<str>,
    pub base_path: Box<str>,
    pub host: Option<Box<str>>,
    pub primary: Arc<RouteTable>,
    pub canary: Option<Canary>,
    pub metrics: crate::metrics::StageMetrics,
    pub access_log: Option<Arc<crate::accesslog::AccessLog>>,
    /// The stage's bucket (its `throttle:`, else gateway.yaml's default).
    pub throttle: Option<Arc<throttle::Bucket>>,
    pub fault: Option<fault::Fault>,
    /// The keys of the usage plans that cover this stage (`None`: no plan covers it).
    pub keys: Option<Arc<usage::KeyTable>>,
}

#[derive(Debug)]
pub struct Canary {
    pub percent: f64,
    /// Decide by a hash of this request key instead of chance.
    pub sticky: Option<sticky::StickyKey>,
    pub deployed: Arc<RouteTable>,
}

/// A deployment's routes compiled with one set of stage variables.
#[derive(Debug)]
pub struct RouteTable {
    pub deployment_id: Arc<str>,
    pub variables: Arc<BTreeMap<String, String>>,
    router: Router,
    pub routes: Vec<Route>,
    /// The API's customized gateway responses; `None`: AWS's defaults for every type.
    pub responses: Option<Arc<responses::GatewayResponses>>,
    pub cors: Option<Arc<cors::Cors>>,
    /// Where the keyed routes of this deployment read their key.
    pub api_key_source: crate::config::usage::ApiKeySource,
    /// Request media types a function gets base64-encoded (empty: by content).
    pub binary_media_types: templated::BinaryMediaTypes,
}

#[derive(Debug)]
pub struct Route {
    /// `GET /orders/{id}`: the route template, used in logs and metric labels.
    pub template: Arc<str>,
    /// `/orders/{id}`: `$context.resourcePath`.
    pub resource_path: Arc<str>,
    pub method: Method,
    /// Names of the captured parameters, in path order (the order of the router's captures).
    pub param_names: Box<[Box<str>]>,
    pub integration: Integration,
    pub metrics: Arc<crate::metrics::RouteMetrics>,
    /// The route's own bucket (`throttle:` on the route), else the stage's applies.
    pub throttle: Option<Arc<throttle::Bucket>>,
    /// The route's own fault, else the stage's applies.
    pub fault: Option<fault::Fault>,
    /// Required parameters and body models; `None`: nothing to check.
    pub validation: Option<Box<validation::RequestValidation>>,
    /// Step 5: who may call (`None`: anyone).
    pub authorizer: Option<Box<authorizer::RouteAuthorizer>>,
    /// Step 6: only callers with a valid API key (AWS's `apiKeyRequired`).
    pub api_key_required: bool,
}

#[derive(Debug)]
pub enum Integration {
    HttpProxy(ProxyIntegration),
    /// Non-proxy: mapped parameters, request and response templates, integration responses.
    Http(Arc<templated::HttpIntegration>),
    /// No backend: the request template's `statusCode` selects the integration response.
    Mock(Arc<templated::MockIntegration>),
    /// A Lambda-style function (`aws_proxy` or `aws`), called with an event over HTTP.
    Function(Arc<function::FunctionIntegration>),
    /// An integration that can only answer 500, as AWS does, e.g. because its URI uses a stage
    /// variable the stage does not define. The reason goes to the log, not to the client.
    Misconfigured {
        reason: Arc<str>,
    },
}

#[derive(Debug)]
pub struct ProxyIntegration {
    pub upstream: Arc<Selector>,
    /// `Some` for `http://` endpoints: the URI's authority. `None` for backends: each target's own.
    pub host_header: Option<Arc<str>>,
    pub path: Box<[PathPart]>,
    /// The URI's own query string, sent before the client's.
    pub query: Option<Box<str>>,
    pub timeout: Duration,
    /// `request_parameters` applied on top of what is forwarded.
    pub params: Box<[mapping::ParamMapping]>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathPart {
    Text(Box<str>),
    /// Index into the route's captures.
    Capture(usize),
    /// A placeholder that is no capture: only `integration.request.path.NAME` fills it (empty
    /// when its source is missing from the request).
    Mapped(Box<str>),
}

impl RouteTable {
    pub fn lookup(&self, method: Option<Method>, path: &str) -> Lookup {
        self.router.lookup(method, path)
    }
}

impl Snapshot {
    /// Whether any stage is bound to a host, so routing needs the request's host at all.
    pub fn routes_by_host(&self) -> bool {
        !self.by_host.is_empty()
    }

    /// The stage serving `host` (lowercase, without port) and `path`, and the rest of the path
    /// after its base path ("" or "/...").
    pub fn select_stage<'a, 'p>(
        &'a self,
        host: Option<&str>,
        path: &'p str,
    ) -> Option<(&'a Stage, &'p str)> {
        let candidates = host
            .and_then(|h| self.by_host.get(h))
            .unwrap_or(&self.any_host);
        candidates.iter().find_map(|i| {
            let stage = self.stages.get(*i as usize)?;
            strip_base(&stage.base_path, path).map(|rest| (stage, rest))
        })
    }
}

/// `path` without `base` when it lies under it: `/prod/x` under `/prod` is `/x`; `/production` is not.
fn strip_base<'p>(base: &str, path: &'p str) -> Option<&'p str> {
    if base == "/" {
        return Some(path);
    }
    let rest = path.strip_prefix(base)?;
    (rest.is_empty() || rest.starts_with('/')).then_some(rest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_path_stripping() {
        assert_eq!(strip_base("/prod", "/prod/x"), Some("/x"));
        assert_eq!(strip_base("/prod", "/prod"), Some(""));
        assert_eq!(strip_base("/prod", "/production"), None);
        assert_eq!(strip_base("/", "/anything"), Some("/anything"));
    }
}

//! Second stage of the data flow: a `RawConfig`, its strings already parsed into typed values
//! by `config`, compiled into an immutable `Snapshot`. Resolves every name once (backends,
//! versions, aliases, the DNS names of targets), reads the files the configuration names
//! (listener certificates, the upstream CA file), substitutes stage variables into URIs and
//! mappings, compiles templates and builds the route tables, so that no request ever parses
//! configuration. It never parses a string of the files again and drops nothing silently: a
//! value that did not parse or a reference that does not resolve is reported as a located
//! `Problem`, in the words of the `config::validate` check it shares (the load pipeline then
//! says it once), and so is what only shows once a stage's variables meet a deployment's URIs.

use super::authorizer::{
    Authorizer, AuthorizerKind, FunctionAuthorizer, JwtAuthorizer, RouteAuthorizer,
};
use super::mapping::{self, ParamMapping, ParamSource};
use super::templated::{
    compile_pattern, HttpIntegration, IntegrationResponse, Mapping, Responses, TemplateSet,
};
use super::throttle::Bucket;
use super::upstream::{build_peer, Selector, Version};
use super::*;
use crate::config::model::{
    AccessLogDef, IntegrationDef, IntegrationType, ListenTlsDef, Located, RouteDef, StageFile,
    ThrottleDef,
};
use crate::config::route::{self, RouteSpec};
use crate::config::typed::{line_of, Typed};
use crate::config::uri::{Endpoint, PathPiece, Unresolved};
use crate::config::validate;
use crate::config::ApiSettings;
use crate::config::{Problem, Problems, RawConfig, DEPLOYMENTS_DIR, GATEWAY_FILE, STAGES_DIR};
use crate::template::{Limits as TemplateLimits, Template};
use std::net::ToSocketAddrs;

struct CompiledBackend {
    versions: BTreeMap<String, Arc<Version>>,
    aliases: BTreeMap<String, Arc<Selector>>,
}

struct Compiler<'a> {
    raw: &'a RawConfig,
    carried: &'a Carried,
    problems: Problems,
    backends: BTreeMap<String, CompiledBackend>,
    /// `http://` endpoints shared by every route and stage that names them.
    endpoints: HashMap<(String, u16, bool), Arc<Selector>>,
    limits: Limits,
    template_cache: HashMap<String, Arc<Template>>,
    /// Each deployment's models, compiled once however many stages serve it.
    models: HashMap<String, Arc<crate::config::models::Models>>,
    all_versions: Vec<Arc<Version>>,
    template_limits: TemplateLimits,
    log_destinations: HashMap<crate::accesslog::Destination, Arc<crate::accesslog::Destination>>,
    /// What TLS upstreams are verified against (gateway.yaml `upstream_tls`).
    upstream_trust: crate::tls::UpstreamTrust,
    /// Every stage's API keys and plans.
    keys: super::usage::Compiled,
}

/// A route's authorizer: its own `authorizer`, else the API's `default_authorizer`; `none`
/// (or an authorizer that did not compile) is none.
fn route_authorizer(
    api: &ApiSettings<'_>,
    compiled: &HashMap<String, Arc<Authorizer>>,
    def: &RouteDef,
) -> Option<Box<RouteAuthorizer>> {
    let name = def.authorizer.as_ref().or(api.default_authorizer)?;
    let authorizer = compiled.get(&name.value)?.clone();
    Some(Box::new(RouteAuthorizer {
        authorizer,
        scopes: def
            .authorization_scopes
            .iter()
            .map(|s| s.value.as_str().into())
            .collect(),
    }))
}

/// Where an integration or authorizer is compiled: its deployment, the stage, its variables.
#[derive(Clone, Copy)]
struct Site<'a> {
    dep_file: &'a str,
    stage_file: &'a str,
    stage: &'a str,
    vars: &'a BTreeMap<String, String>,
}

/// An integration's upstream, and the backend it belongs to (none for `http://` URIs).
struct Upstream {
    target: ProxyIntegration,
    backend: Option<String>,
}

/// Compiles a configuration. `generation` is the number the snapshot will carry; `carried` is
/// the state it shares with the snapshot before it (buckets, target health). Errors replace the
/// snapshot; warnings come inside it.
pub fn compile(raw: &RawConfig, carried: &Carried, generation: u64) -> Result<Snapshot, Problems> {
    let g = &raw.gateway;
    let limits = Limits {
        max_body_bytes: g.limits.max_body_bytes,
        integration_timeout: Duration::from_millis(g.limits.integration_timeout_ms),
        max_url_bytes: g.limits.max_url_bytes,
        max_header_bytes: g.limits.max_header_bytes,
        max_headers: g.limits.max_headers,
        idle_timeout_seconds: g.limits.idle_timeout_seconds.max(1),
        authorizer_cache_entries: g.limits.authorizer_cache_entries.max(1),
    };
    let mut c = Compiler {
        raw,
        carried,
        problems: Problems::default(),
        backends: BTreeMap::new(),
        endpoints: HashMap::new(),
        limits,
        template_cache: HashMap::new(),
        models: HashMap::new(),
        all_versions: Vec::new(),
        template_limits: TemplateLimits::default(),
        log_destinations: HashMap::new(),
        upstream_trust: crate::tls::UpstreamTrust::default(),
        keys: super::usage::compile(raw, &carried.buckets, &carried.usage),
    };
    c.upstream_trust();
    c.backends();
    let stages: Vec<Stage> = raw
        .stages
        .iter()
        .filter_map(|(name, s)| c.stage(name, s))
        .collect();
    let server = c.server();
    if c.problems.has_errors() {
        return Err(c.problems);
    }
    let (by_host, any_host) = stage_index(&stages);
    Ok(Snapshot {
        generation,
        loaded_at: SystemTime::now(),
        hash: raw.hash.clone(),
        server,
        limits,
        template_limits: crate::template::Limits {
            max_output_bytes: usize::try_from(limits.max_body_bytes).unwrap_or(usize::MAX),
            ..crate::template::Limits::default()
        },
        stages,
        versions: c.all_versions,
        by_host,
        any_host,
        unplanned: c.keys.unplanned,
        warnings: c.problems.0,
    })
}

type HostIndex = HashMap<Box<str>, Box<[u32]>>;

/// Per host, the stages to try in order: longest base path first; on equal length a stage
/// bound to the host beats an any-host stage.
fn stage_index(stages: &[Stage]) -> (HostIndex, Box<[u32]>) {
    let order = |ids: &mut Vec<u32>| {
        ids.sort_by_key(|i| {
            let s = &stages[*i as usize];
            (std::cmp::Reverse(s.base_path.len()), s.host.is_none())
        })
    };
    let mut any: Vec<u32> = (0..stages.len() as u32)
        .filter(|i| stages[*i as usize].host.is_none())
        .collect();
    order(&mut any);
    let mut by_host: HashMap<Box<str>, Vec<u32>> = HashMap::new();
    for (i, s) in stages.iter().enumerate() {
        if let Some(h) = &s.host {
            by_host.entry(h.clone()).or_default().push(i as u32);
        }
    }
    let by_host = by_host
        .into_iter()
        .map(|(h, mut ids)| {
            ids.extend_from_slice(&any);
            order(&mut ids);
            (h, ids.into_boxed_slice())
        })
        .collect();
    (by_host, any.into_boxed_slice())
}

/// `host` and `port` as a socket address: an IP address is itself; a DNS name is resolved here,
/// when a snapshot is compiled on the reload thread, never per request. `shown` is how the
/// configuration wrote it.
fn resolve(host: &str, port: u16, shown: &str) -> Result<SocketAddr, String> {
    (host, port)
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {shown:?}: {e}"))?
        .next()
        .ok_or_else(|| format!("{shown:?} resolves to no address"))
}

impl Compiler<'_> {
    /// Every problem once: several stages compiling one deployment find the same ones.
    fn report(&mut self, p: Problem) {
        if !self.problems.0.contains(&p) {
            self.problems.push(p);
        }
    }

    fn report_all(&mut self, problems: Problems) {
        for p in problems.0 {
            self.report(p);
        }
    }

    /// The parsed value, or (reported) nothing when it did not parse.
    fn typed<'t, T>(&mut self, file: &str, t: &'t Typed<T>) -> Option<&'t T> {
        if let Some(p) = t.problem(file) {
            self.report(p);
        }
        t.ok()
    }

    /// Loads the CA file of `upstream_tls`, if any, and builds what TLS upstreams are verified
    /// against.
    fn upstream_trust(&mut self) {
        let Some(u) = &self.raw.gateway.upstream_tls else {
            return;
        };
        let ca = match &u.value.ca {
            None => None,
            Some(c) => {
                match crate::tls::load_ca_file(&crate::tls::config_path(&self.raw.dir, &c.value)) {
                    Ok(certs) => Some(certs),
                    Err(e) => {
                        self.report(Problem::error(
                            GATEWAY_FILE,
                            line_of(c),
                            format!("upstream_tls.ca: {e}"),
                        ));
                        return;
                    }
                }
            }
        };
        let system_roots = u.value.system_roots.as_ref().is_none_or(|s| s.value);
        match crate::tls::UpstreamTrust::build(ca, system_roots) {
            Ok(t) => self.upstream_trust = t,
            Err(e) => self.report(Problem::error(
                GATEWAY_FILE,
                line_of(u),
                format!("upstream_tls: {e}"),
            )),
        }
    }

    /// Listeners (with their certificates read and checked), admin address, threads and the
    /// other settings that only take effect at start.
    fn server(&mut self) -> ServerSettings {
        let g = &self.raw.gateway;
        let mut listen = Vec::with_capacity(g.listen.len());
        for l in &g.listen {
            let Some(addr) = self.typed(GATEWAY_FILE, &l.value.addr) else {
                continue;
            };
            let tls = match &l.value.tls {
                None => None,
                Some(t) => match self.listener_tls(l.value.addr.text(), t) {
                    Some(tls) => Some(tls),
                    None => continue,
                },
            };
            listen.push(Listener { addr: addr.0, tls });
        }
        let admin = g.admin.as_ref().and_then(|a| self.typed(GATEWAY_FILE, a));
        let admin_tokens_file = g.admin_auth.as_ref().map(|a| {
            let path = crate::tls::config_path(&self.raw.dir, &a.value.tokens_file.value);
            if !path.is_file() {
                self.report(Problem::warning(
                    GATEWAY_FILE,
                    line_of(&a.value.tokens_file),
                    format!(
                        "admin_auth.tokens_file {}: no such file: every write through the admin API is refused until it exists",
                        path.display()
                    ),
                ));
            }
            path
        });
        ServerSettings {
            listen,
            admin: admin.map(|a| a.0),
            admin_tokens_file,
            threads: g.threads.as_ref().map(|t| t.value.max(1)),
            shutdown_grace_seconds: g
                .shutdown_grace_seconds
                .as_ref()
                .map(|s| s.value)
                .unwrap_or(DEFAULT_SHUTDOWN_GRACE_SECONDS),
            upgrade_sock: g
                .upgrade_sock
                .as_ref()
                .map(|s| s.value.clone())
                .unwrap_or_else(|| DEFAULT_UPGRADE_SOCK.to_string()),
            usage: super::usage::UsageSettings::new(self.raw),
        }
    }

    /// Reads a TLS listener's certificate chain and key; a problem on the line of the file that
    /// is wrong (a missing or unreadable key is the key's line) when they do not make a pair.
    fn listener_tls(&mut self, addr: &str, t: &ListenTlsDef) -> Option<ListenerTls> {
        let cert = crate::tls::config_path(&self.raw.dir, &t.cert.value);
        let key = crate::tls::config_path(&self.raw.dir, &t.key.value);
        let key_line = line_of(&t.key);
        let cert_line = line_of(&t.cert);
        match crate::tls::ListenerCert::load(cert.clone(), key.clone()) {
            Ok(loaded) => Some(ListenerTls {
                cert,
                key,
                loaded: Arc::new(loaded),
            }),
            Err(e) => {
                let at = if e.starts_with(&key.display().to_string())
                    || (cert.is_file() && !key.is_file())
                {
                    key_line
                } else {
                    cert_line
                };
                self.report(Problem::error(
                    GATEWAY_FILE,
                    at,
                    format!("TLS listener {addr}: {e}"),
                ));
                None
            }
        }
    }

    /// Every version of every backend (targets resolved, peers built, health carried over) and
    /// every alias (a weighted, possibly sticky, choice of versions).
    fn backends(&mut self) {
        for (bname, b) in &self.raw.gateway.backends {
            let mut versions = BTreeMap::new();
            for (vname, v) in &b.value.versions {
                let mut targets = Vec::new();
                let tls = v.value.tls.as_ref().filter(|t| t.value.enabled);
                let tls = tls.map(|t| crate::tls::PeerTls {
                    verify: t.value.verify,
                    trust: self.upstream_trust.clone(),
                });
                for t in &v.value.targets {
                    let Some(target) = self.typed(GATEWAY_FILE, t) else {
                        continue;
                    };
                    let addr = match target.ip {
                        Some(ip) => Ok(ip),
                        None => resolve(&target.host, target.port, t.text()),
                    };
                    match addr {
                        // SNI and the name verified: the target's host.
                        Ok(addr) => targets.push((
                            build_peer(addr, tls.as_ref(), &target.host),
                            Arc::from(t.text()),
                        )),
                        Err(e) => self.report(Problem::error(
                            GATEWAY_FILE,
                            t.line(),
                            format!("backend {bname:?} version {vname:?}: {e}"),
                        )),
                    }
                }
                let check = v
                    .value
                    .health_check
                    .as_ref()
                    .map(|h| super::health::HealthCheck {
                        path: h.path.value.clone(),
                        interval: Duration::from_millis(h.interval_ms),
                    });
                let version = Arc::new(
                    Version::new(vname, targets, &self.carried.health).with_health_check(check),
                );
                self.all_versions.push(version.clone());
                versions.insert(vname.clone(), version);
            }
            let sticky = match &b.value.sticky {
                Some(s) => self.typed(GATEWAY_FILE, s).cloned(),
                None => None,
            };
            let mut aliases = BTreeMap::new();
            for (aname, weights) in &b.value.aliases {
                // Built from the weights that are right even when some are not (the problems
                // say which), so that the routes using it are still compiled and checked.
                let (weights, problems) = validate::alias_weights(bname, b, aname, weights);
                self.report_all(problems);
                // The weights name only versions of this backend.
                let entries = weights
                    .iter()
                    .filter_map(|(v, w)| Some((versions.get(*v)?.clone(), *w)))
                    .collect();
                let Some(mut sel) = Selector::weighted(entries) else {
                    continue; // all zero: one of the problems above
                };
                if let Some(key) = &sticky {
                    sel = sel.with_sticky(key.clone(), &format!("{bname}:{aname}"));
                }
                aliases.insert(aname.clone(), Arc::new(sel));
            }
            self.backends
                .insert(bname.clone(), CompiledBackend { versions, aliases });
        }
    }

    /// The bucket of a `throttle:` (the one a snapshot before this one used, if its settings
    /// are the same).
    fn bucket(&mut self, file: &str, owner: &str, t: &ThrottleDef) -> Option<Arc<Bucket>> {
        let bucket = self
            .carried
            .buckets
            .shared(owner, t.rate.value, t.burst.value);
        if bucket.is_none() {
            self.report_all(validate::throttle(file, t));
        }
        bucket
    }

    fn stage(&mut self, name: &str, s: &StageFile) -> Option<Stage> {
        let file = format!("{STAGES_DIR}/{name}.yaml");
        let api = s.api.value.as_str();
        let vars: BTreeMap<String, String> = s
            .variables
            .iter()
            .map(|(k, v)| (k.clone(), v.value.clone()))
            .collect();
        let primary = self.deployed(&file, name, api, &s.deployment, "deployment", vars.clone())?;
        let canary = match &s.canary {
            Some(c) => {
                let mut merged = vars;
                merged.extend(
                    c.variables
                        .iter()
                        .map(|(k, v)| (k.clone(), v.value.clone())),
                );
                let deployed =
                    self.deployed(&file, name, api, &c.deployment, "canary deployment", merged)?;
                let sticky = match &c.sticky {
                    Some(s) => self.typed(&file, s).cloned(),
                    None => None,
                };
                Some(Canary {
                    percent: c.percent.as_ref().map(|p| p.value).unwrap_or(0.0),
                    sticky,
                    deployed,
                })
            }
            None => None,
        };
        let access_log = match &s.access_log {
            Some(a) => self.access_log(&file, a),
            None => None,
        };
        let throttle = match (&s.throttle, &self.raw.gateway.throttle) {
            (Some(t), _) => self.bucket(&file, &format!("stage {name}"), t),
            (None, Some(t)) => self.bucket(GATEWAY_FILE, &format!("stage {name}"), t),
            (None, None) => None,
        };
        Some(Stage {
            name: name.into(),
            api: api.into(),
            base_path: s
                .base_path
                .as_ref()
                .map(|b| b.value.clone())
                .unwrap_or_else(|| format!("/{name}"))
                .into(),
            host: s.host.as_ref().map(|h| h.value.to_ascii_lowercase().into()),
            primary,
            canary,
            metrics: crate::metrics::StageMetrics::new(name, s.canary.is_some()),
            access_log,
            throttle,
            fault: s.fault.as_ref().and_then(super::fault::Fault::from_def),
            keys: self
                .keys
                .tables
                .get(&(api.to_string(), name.to_string()))
                .cloned(),
        })
    }

    /// The routes of deployment `id` (which a stage names as `what`) with one set of stage
    /// variables.
    fn deployed(
        &mut self,
        stage_file: &str,
        stage: &str,
        api: &str,
        id: &Located<String>,
        what: &str,
        vars: BTreeMap<String, String>,
    ) -> Option<Arc<RouteTable>> {
        // A deployment of another api compiles all the same (validation refuses it); one that
        // does not exist has nothing to compile.
        let Some(dep) = self.raw.deployments.get(&id.value) else {
            if let Err(p) = validate::deployment_ref(self.raw, stage_file, api, id, what) {
                self.report(p);
            }
            return None;
        };
        let id = id.value.as_str();
        let dep_file = format!("{DEPLOYMENTS_DIR}/{id}.yaml");
        let api = dep.settings();
        // Validation reported the models' problems; a model that did not compile is left out.
        let models = self
            .models
            .entry(id.to_string())
            .or_insert_with(|| Arc::new(crate::config::models::compile(&dep.models).0))
            .clone();
        let at = Site {
            dep_file: &dep_file,
            stage_file,
            stage,
            vars: &vars,
        };
        let authorizers = self.authorizers(&at, &dep.api.value, &api);
        let mut router = Router::default();
        let mut routes = Vec::with_capacity(dep.routes.len());
        // The line of each route in `routes`, to name the first of two that clash.
        let mut lines = Vec::with_capacity(dep.routes.len());
        for def in &dep.routes {
            let Some(spec) = self.typed(&dep_file, &def.route) else {
                continue;
            };
            let integration = self.integration(&dep_file, stage_file, stage, def, spec, &vars)?;
            let idx = routes.len() as u32;
            if let Err(first) = router.try_insert(spec, idx) {
                let first_line = lines.get(first as usize).copied().flatten().unwrap_or(0);
                self.report(Problem::error(
                    &dep_file,
                    def.route.line(),
                    route::duplicate(def.route.text(), first_line),
                ));
                continue;
            }
            lines.push(def.route.line());
            let throttle = match &def.throttle {
                Some(t) => self.bucket(
                    &dep_file,
                    &format!("stage {stage} deployment {id} route {spec}"),
                    t,
                ),
                None => None,
            };
            routes.push(Route {
                template: spec.to_string().into(),
                resource_path: spec.resource_path().into(),
                method: spec.method,
                param_names: spec.param_names().map(Into::into).collect(),
                metrics: crate::metrics::RouteMetrics::new(stage, &spec.to_string()),
                throttle,
                fault: def.fault.as_ref().and_then(super::fault::Fault::from_def),
                validation: super::validation::compile(&api, &models, def).map(Box::new),
                authorizer: route_authorizer(&api, &authorizers, def),
                api_key_required: def.api_key_required.as_ref().is_some_and(|b| b.value),
                integration,
            });
        }
        let mut missing = Vec::new();
        let responses = super::responses::GatewayResponses::compile(
            &dep.gateway_responses,
            &vars,
            &mut missing,
        );
        if !missing.is_empty() {
            self.report(Problem::warning(
                stage_file,
                None,
                format!(
                    "gateway_responses of deployment {id} use undefined stage variable(s) {} in stage {stage:?}: they are \"\"",
                    missing.join(", ")
                ),
            ));
        }
        Some(Arc::new(RouteTable {
            deployment_id: id.into(),
            variables: Arc::new(vars),
            router,
            routes,
            responses: responses.map(Arc::new),
            api_key_source: super::usage::key_source(api.api_key_source),
            binary_media_types: super::templated::BinaryMediaTypes::new(
                api.binary_media_types.iter().map(|m| m.value.as_str()),
            ),
            cors: dep
                .cors
                .as_ref()
                .map(|c| Arc::new(super::cors::Cors::compile(&c.value))),
        }))
    }

    /// The API's authorizers for one stage, by name. One that cannot be compiled is left out
    /// (validation reported why), so its routes refuse every request.
    fn authorizers(
        &mut self,
        at: &Site<'_>,
        api: &str,
        settings: &ApiSettings<'_>,
    ) -> HashMap<String, Arc<Authorizer>> {
        use crate::config::authorizer::{self as def, IdentityPart, IdentitySources};
        // Fail closed: a route whose authorizer did not compile is refused, never open.
        let misconfigured = |why: &str| AuthorizerKind::Misconfigured { reason: why.into() };
        let mut out = HashMap::new();
        for (name, located) in settings.authorizers {
            let d = &located.value;
            let label: Arc<str> = format!("{api}/{name}").into();
            let kind = match (&d.uri, d.kind.value.is_function()) {
                (Some(uri), true) => {
                    let timeout = Duration::from_millis(
                        d.timeout_ms
                            .as_ref()
                            .map_or(def::DEFAULT_TIMEOUT_MS, |t| t.value),
                    );
                    let owner = format!("authorizer {name:?}");
                    match self.upstream_of(at, uri, &owner, (&[], &[]), timeout) {
                        None => misconfigured("its uri does not compile"),
                        Some(Err(reason)) => AuthorizerKind::Misconfigured { reason },
                        Some(Ok(Upstream { target, backend })) => {
                            AuthorizerKind::Function(FunctionAuthorizer {
                                token: d.kind.value == def::AuthorizerType::Token,
                                uri_path: super::function::has_own_path(&target.path),
                                invocation_paths: backend
                                    .and_then(|b| self.raw.gateway.backends.get(&b))
                                    .map(|b| super::function::invocation_paths(&b.value))
                                    .unwrap_or_default(),
                                target,
                            })
                        }
                    }
                }
                (None, false) => self.jwt(at, name, d),
                // Validation refuses what is left: a function without a uri, a JWT with one.
                _ => misconfigured("it is not valid"),
            };
            let identity = match &d.identity_source {
                // Validation reported one that does not parse, in the authorizer's words.
                Some(s) => match s.ok() {
                    Some(IdentitySources(parts)) => parts.clone(),
                    None => Vec::new(),
                },
                None if d.kind.value == def::AuthorizerType::Request => Vec::new(),
                None => vec![IdentityPart::Param(
                    crate::config::method::MethodParam::Header(http::header::AUTHORIZATION),
                )],
            };
            // Validation reported an expression that does not compile; the authorizer then
            // refuses everything rather than skipping the check.
            let (kind, validation) = match &d.identity_validation_expression {
                Some(e) => match regex::Regex::new(&def::anchored(&e.value)) {
                    Ok(r) => (kind, Some(r)),
                    Err(_) => (
                        misconfigured("identity_validation_expression does not compile"),
                        None,
                    ),
                },
                None => (kind, None),
            };
            let ttl = d.ttl_seconds().min(def::MAX_TTL_SECONDS);
            let cache = (ttl > 0).then(|| {
                // The URI as this stage resolves it: a changed alias variable is another
                // function, so another cache; other variables leave it alone.
                let target = d
                    .uri
                    .as_ref()
                    .and_then(|u| u.ok())
                    .and_then(|u| u.resolve(at.vars).ok())
                    .map(|r| r.uri);
                let key = format!("{} {api} {name} {} {target:?}", at.stage, d.fingerprint());
                self.carried.authorizers.shared(
                    key,
                    Duration::from_secs(ttl),
                    self.limits.authorizer_cache_entries,
                )
            });
            out.insert(
                name.clone(),
                Arc::new(Authorizer {
                    metrics: crate::metrics::AuthorizerMetrics::new(&label),
                    label,
                    arn_prefix: super::policy::arn_prefix(
                        super::policy::ARN_REGION,
                        super::policy::ARN_ACCOUNT,
                        api,
                        at.stage,
                    )
                    .into(),
                    kind,
                    identity: identity.into(),
                    validation,
                    cache,
                }),
            );
        }
        out
    }

    /// A `jwt` or `cognito_user_pools` authorizer: its issuers, audience and key sets (read or
    /// fetched now; one that cannot be loaded is a warning, and its tokens are refused until a
    /// refresh loads it).
    fn jwt(
        &mut self,
        at: &Site<'_>,
        name: &str,
        d: &crate::config::authorizer::AuthorizerDef,
    ) -> AuthorizerKind {
        use crate::config::authorizer::{self as def, AuthorizerType};
        use crate::snapshot::jwks::Source;
        let cognito = d.kind.value == AuthorizerType::CognitoUserPools;
        let pools: Vec<(&str, &str)> = d
            .provider_arns
            .iter()
            .filter_map(|a| def::user_pool(&a.value).ok())
            .collect();
        let issuers: Box<[String]> = if cognito {
            pools
                .iter()
                .map(|(region, pool)| def::user_pool_issuer(region, pool))
                .collect()
        } else {
            d.issuer.iter().map(|i| i.value.clone()).collect()
        };
        let configured = match (&d.jwks_uri, &d.jwks_file) {
            (Some(u), _) => Some(Source::Uri(u.value.clone())),
            (None, Some(f)) => Some(Source::File(crate::tls::config_path(
                &self.raw.dir,
                &f.value,
            ))),
            (None, None) => None,
        };
        let sources: Vec<Source> = match configured {
            Some(s) => vec![s],
            // Each user pool publishes its keys at a well-known address.
            None if cognito => issuers
                .iter()
                .map(|i| Source::Uri(format!("{i}/.well-known/jwks.json")))
                .collect(),
            // A jwt authorizer without keys: validation says so; it refuses every token.
            None => Vec::new(),
        };
        let tls = crate::tls::PeerTls {
            verify: true,
            trust: self.upstream_trust.clone(),
        };
        let mut keys = Vec::with_capacity(sources.len());
        for source in sources {
            let config = match &source {
                Source::Uri(u) if u.starts_with("https://") => match tls.client_config() {
                    Ok(c) => Some(c),
                    Err(e) => {
                        self.report(Problem::warning(
                            at.dep_file,
                            line_of(&d.kind),
                            format!("authorizer {name:?}: no TLS for {u}: {e}"),
                        ));
                        None
                    }
                },
                _ => None,
            };
            let (jwks, problem) = self.carried.jwks.shared(source, config);
            if let Some(p) = problem {
                self.report(Problem::warning(
                    at.dep_file,
                    line_of(&d.kind),
                    format!("authorizer {name:?} (stage {:?}): {p}; its tokens are refused until the keys load (the last good keys are kept)", at.stage),
                ));
            }
            keys.push(jwks);
        }
        AuthorizerKind::Jwt(Box::new(JwtAuthorizer::new(
            issuers,
            d.audience.iter().map(|a| a.value.as_str().into()).collect(),
            cognito,
            d.leeway_seconds
                .as_ref()
                .map_or(def::DEFAULT_LEEWAY_SECONDS, |l| l.value),
            keys.into(),
        )))
    }

    fn integration(
        &mut self,
        dep_file: &str,
        stage_file: &str,
        stage: &str,
        def: &RouteDef,
        spec: &RouteSpec,
        vars: &BTreeMap<String, String>,
    ) -> Option<Integration> {
        let i = &def.integration;
        let route = def.route.text();
        let mut missing = Vec::new();
        let integration = match i.kind.value {
            IntegrationType::HttpProxy => {
                let mut target = match self.target(dep_file, stage_file, stage, def, spec, vars)? {
                    Ok(t) => t.target,
                    Err(misconfigured) => return Some(misconfigured),
                };
                target.params = self.params(dep_file, i, vars, &mut missing)?;
                // The proxy path streams the body, so nothing can be read from it.
                if target
                    .params
                    .iter()
                    .any(|m| matches!(m.source, ParamSource::Body | ParamSource::BodyPath(_)))
                {
                    self.report(Problem::error(
                        dep_file,
                        line_of(&i.kind),
                        format!("route {route:?}: http_proxy streams the body, so request_parameters cannot read method.request.body (use type: http)"),
                    ));
                    return None;
                }
                Integration::HttpProxy(target)
            }
            IntegrationType::Http => {
                let target = match self.target(dep_file, stage_file, stage, def, spec, vars)? {
                    Ok(t) => t.target,
                    Err(misconfigured) => return Some(misconfigured),
                };
                let params = self.params(dep_file, i, vars, &mut missing)?;
                Integration::Http(Arc::new(HttpIntegration {
                    target,
                    params,
                    mapping: self.mapping(dep_file, route, i, vars, &mut missing)?,
                }))
            }
            IntegrationType::AwsProxy | IntegrationType::Aws => {
                let Upstream { target, backend } =
                    match self.target(dep_file, stage_file, stage, def, spec, vars)? {
                        Ok(t) => t,
                        Err(misconfigured) => return Some(misconfigured),
                    };
                let kind = if i.kind.value == IntegrationType::Aws {
                    super::function::FunctionKind::Custom(self.mapping(
                        dep_file,
                        route,
                        i,
                        vars,
                        &mut missing,
                    )?)
                } else {
                    super::function::FunctionKind::Proxy
                };
                let invocation_paths = backend
                    .and_then(|name| self.raw.gateway.backends.get(&name))
                    .map(|b| super::function::invocation_paths(&b.value))
                    .unwrap_or_default();
                Integration::Function(Arc::new(super::function::FunctionIntegration {
                    uri_path: super::function::has_own_path(&target.path),
                    target,
                    invocation_paths,
                    kind,
                }))
            }
            IntegrationType::Mock => Integration::Mock(Arc::new(self.mapping(
                dep_file,
                route,
                i,
                vars,
                &mut missing,
            )?)),
        };
        if !missing.is_empty() {
            self.report(Problem::warning(
                stage_file,
                None,
                format!(
                    "route {route:?} maps undefined stage variable(s) {} in stage {stage:?}: they map to \"\" (deployment {dep_file})",
                    missing.join(", ")
                ),
            ));
        }
        Some(integration)
    }

    /// The upstream of an integration with a URI, or (as `Err`) an integration that can only
    /// answer 500 because the URI uses an undefined stage variable.
    fn target(
        &mut self,
        dep_file: &str,
        stage_file: &str,
        stage: &str,
        def: &RouteDef,
        spec: &RouteSpec,
        vars: &BTreeMap<String, String>,
    ) -> Option<Result<Upstream, Integration>> {
        let i = &def.integration;
        let Some(uri) = &i.uri else {
            // Only a mock has no URI: validation says why this one needs one.
            self.report_all(validate::integration(dep_file, spec, i));
            return None;
        };
        let params: Vec<&str> = spec.param_names().collect();
        let mapped: Vec<&str> = validate::mapped_path_names(i).collect();
        let timeout = i
            .timeout_ms
            .as_ref()
            .map(|t| Duration::from_millis(t.value))
            .unwrap_or(self.limits.integration_timeout);
        let owner = format!("route {:?}", def.route.text());
        let at = Site {
            dep_file,
            stage_file,
            stage,
            vars,
        };
        self.upstream_of(&at, uri, &owner, (&params, &mapped), timeout)
            .map(|r| {
                r.map_err(|reason| Integration::Misconfigured {
                    reason: reason.into(),
                })
            })
    }

    /// The upstream a URI names, with one stage's variables, for `owner` (`route "GET /x"`,
    /// `authorizer "tokens"`), whose captures are `params.0` and whose `request_parameters` set
    /// the path placeholders `params.1`; or (as `Err`) why requests to it can only be answered
    /// 500: the URI uses an undefined stage variable.
    fn upstream_of(
        &mut self,
        at: &Site<'_>,
        uri: &Typed<crate::config::uri::IntegrationUri>,
        owner: &str,
        (params, mapped): (&[&str], &[&str]),
        timeout: Duration,
    ) -> Option<Result<Upstream, Box<str>>> {
        let Site {
            dep_file,
            stage_file,
            stage,
            vars,
        } = *at;
        let uri_line = uri.line();
        let resolved = match self.typed(dep_file, uri)?.resolve(vars) {
            Ok(r) => r,
            Err(Unresolved::Missing(missing)) => {
                let reason = format!(
                    "uri of {owner} uses undefined stage variable(s) {} in stage {stage:?}",
                    missing.join(", ")
                );
                self.report(Problem::warning(
                    stage_file,
                    None,
                    format!("{reason}: requests to it get 500 (deployment {dep_file})"),
                ));
                return Some(Err(reason.into()));
            }
            Err(Unresolved::Invalid { error, .. }) => {
                self.report(Problem::error(
                    dep_file,
                    uri_line,
                    format!("{error} (with the variables of stage {stage:?})"),
                ));
                return None;
            }
        };
        let target = resolved.target;
        let mut path = Vec::with_capacity(target.path.len());
        for piece in &target.path {
            match piece {
                PathPiece::Text(t) => path.push(PathPart::Text(t.as_str().into())),
                PathPiece::Param(p) => match params.iter().position(|n| n == p) {
                    Some(ix) => path.push(PathPart::Capture(ix)),
                    None if mapped.contains(&p.as_str()) => {
                        path.push(PathPart::Mapped(p.as_str().into()))
                    }
                    None => {
                        self.report(Problem::error(
                            dep_file,
                            uri_line,
                            format!("uri uses {{{p}}}, which {owner} does not capture and no integration.request.path.{p} in request_parameters sets"),
                        ));
                        return None;
                    }
                },
            }
        }
        let resolved_uri = resolved.uri;
        let (upstream, host_header, backend) = match &target.endpoint {
            Endpoint::Backend { name, selector } => {
                let Some(b) = self.backends.get(name) else {
                    self.report(Problem::error(dep_file, uri_line, format!("unknown backend {name:?} in uri {resolved_uri:?} (define it under backends: in gateway.yaml)")));
                    return None;
                };
                let sel = if let Some(a) = b.aliases.get(selector) {
                    a.clone()
                } else if let Some(v) = b.versions.get(selector) {
                    Arc::new(Selector::single(v.clone()))
                } else {
                    self.report(Problem::error(
                        dep_file,
                        uri_line,
                        format!("backend {name:?} has no alias or version {selector:?} (uri {resolved_uri:?}, stage {stage:?})"),
                    ));
                    return None;
                };
                (sel, None, Some(name.clone()))
            }
            Endpoint::Http { host, port, tls } => {
                let default_port = if *tls { 443 } else { 80 };
                let authority = if *port == default_port {
                    host.clone()
                } else {
                    format!("{host}:{port}")
                };
                let key = (host.clone(), *port, *tls);
                let sel = match self.endpoints.get(&key) {
                    Some(s) => s.clone(),
                    None => {
                        let shown = if host.contains(':') {
                            format!("[{host}]:{port}")
                        } else {
                            format!("{host}:{port}")
                        };
                        let addr = match resolve(host, *port, &shown) {
                            Ok(a) => a,
                            Err(e) => {
                                self.report(Problem::error(
                                    dep_file,
                                    uri_line,
                                    format!("invalid uri {resolved_uri:?}: {e}"),
                                ));
                                return None;
                            }
                        };
                        // https://: verified against `upstream_tls`, SNI = the URI's host.
                        let peer_tls = tls.then(|| crate::tls::PeerTls {
                            verify: true,
                            trust: self.upstream_trust.clone(),
                        });
                        let peer = build_peer(addr, peer_tls.as_ref(), host);
                        let sel = Arc::new(Selector::single(Arc::new(Version::new(
                            "-",
                            vec![(peer, authority.as_str().into())],
                            &self.carried.health,
                        ))));
                        self.endpoints.insert(key, sel.clone());
                        sel
                    }
                };
                (sel, Some(authority.into()), None)
            }
        };
        Some(Ok(Upstream {
            target: ProxyIntegration {
                upstream,
                host_header,
                path: path.into(),
                query: target.query.as_deref().map(Into::into),
                timeout,
                params: Box::new([]),
            },
            backend,
        }))
    }

    /// A stage's access log: its format (the default one unless it sets its own) and where its
    /// lines go (shared by the stages that write to the same place).
    fn access_log(
        &mut self,
        file: &str,
        a: &AccessLogDef,
    ) -> Option<Arc<crate::accesslog::AccessLog>> {
        use crate::accesslog::{AccessLog, Destination, Format};
        let format = match &a.format {
            Some(f) => self.typed(file, f)?.clone(),
            None => Format::default(),
        };
        let destination = match &a.path {
            None => Destination::Stdout,
            Some(p) if p.value == "-" || p.value == "stdout" => Destination::Stdout,
            Some(p) => Destination::File(p.value.clone().into()),
        };
        let destination = self
            .log_destinations
            .entry(destination.clone())
            .or_insert_with(|| Arc::new(destination))
            .clone();
        Some(Arc::new(AccessLog {
            format,
            destination,
        }))
    }

    /// `request_parameters` with the stage's variables.
    fn params(
        &mut self,
        dep_file: &str,
        i: &IntegrationDef,
        vars: &BTreeMap<String, String>,
        missing: &mut Vec<String>,
    ) -> Option<Box<[ParamMapping]>> {
        let mut out = Vec::with_capacity(i.request_parameters.len());
        let mut ok = true;
        for p in &i.request_parameters {
            match self.typed(dep_file, p) {
                Some(p) => out.push(mapping::request_parameter(p, vars, missing)),
                None => ok = false,
            }
        }
        ok.then(|| out.into())
    }

    /// Compiles templates once per snapshot: the same text in several stages or routes is
    /// shared.
    fn templates(
        &mut self,
        dep_file: &str,
        route: &str,
        what: &str,
        defs: &indexmap::IndexMap<String, Located<String>>,
    ) -> Option<TemplateSet> {
        let mut out = Vec::with_capacity(defs.len());
        let mut ok = true;
        for (media, src) in defs {
            if let Some(t) = self.template_cache.get(&src.value) {
                out.push((media.clone(), t.clone()));
                continue;
            }
            match Template::compile_with_limits(&src.value, &self.template_limits) {
                Ok(t) => {
                    let t = Arc::new(t);
                    self.template_cache.insert(src.value.clone(), t.clone());
                    out.push((media.clone(), t));
                }
                Err(e) => {
                    ok = false;
                    self.report(Problem::error(
                        dep_file,
                        line_of(src),
                        format!("route {route:?}: {what} {media:?}: template line {e}"),
                    ));
                }
            }
        }
        ok.then(|| TemplateSet::new(out))
    }

    /// Request templates, passthrough behaviour and integration responses of a non-proxy
    /// integration.
    fn mapping(
        &mut self,
        dep_file: &str,
        route: &str,
        i: &IntegrationDef,
        vars: &BTreeMap<String, String>,
        missing: &mut Vec<String>,
    ) -> Option<Mapping> {
        Some(Mapping {
            request_templates: self.templates(
                dep_file,
                route,
                "request template",
                &i.request_templates,
            )?,
            passthrough: i.passthrough_behavior,
            responses: self.responses(dep_file, route, i, vars, missing)?,
        })
    }

    fn responses(
        &mut self,
        dep_file: &str,
        route: &str,
        i: &IntegrationDef,
        vars: &BTreeMap<String, String>,
        missing: &mut Vec<String>,
    ) -> Option<Responses> {
        let mut out = Vec::with_capacity(i.responses.len());
        let mut ok = true;
        for r in &i.responses {
            let pattern = match &r.selection_pattern {
                Some(p) if !p.value.is_empty() => match compile_pattern(&p.value) {
                    Ok(re) => Some(re),
                    Err(e) => {
                        ok = false;
                        self.report(Problem::error(
                            dep_file,
                            line_of(p),
                            format!("route {route:?}: {e}"),
                        ));
                        None
                    }
                },
                _ => None,
            };
            if !(100..=599).contains(&r.status.value) {
                ok = false;
                self.report(Problem::error(
                    dep_file,
                    line_of(&r.status),
                    format!(
                        "route {route:?}: integration response status {} is not an HTTP status",
                        r.status.value
                    ),
                ));
            }
            let mut headers = Vec::with_capacity(r.headers.len());
            for h in &r.headers {
                match self.typed(dep_file, h) {
                    Some(h) => headers.push(mapping::response_header(h, vars, missing)),
                    None => ok = false,
                }
            }
            let templates = self.templates(dep_file, route, "response template", &r.templates);
            ok &= templates.is_some();
            out.push(IntegrationResponse {
                pattern,
                status: r.status.value,
                headers: headers.into(),
                templates: templates.unwrap_or_default(),
            });
        }
        ok.then(|| Responses(out.into()))
    }
}

#[cfg(test)]
mod tests;

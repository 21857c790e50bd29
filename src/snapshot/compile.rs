//! `RawConfig` -> `Snapshot`. Resolves every name once (backends, versions, aliases, target
//! addresses), substitutes stage variables into URIs and builds the route tables, so that no
//! request ever parses configuration. Reports what only shows once a stage's variables meet a
//! deployment's URIs, through the same located `Problem`s as validation.

use super::mapping::{parse_header_source, parse_request_parameter, ParamMapping, ParamSource};
use super::sticky::StickyKey;
use super::templated::{
    compile_pattern, HttpIntegration, IntegrationResponse, Mapping, Responses, TemplateSet,
};
use super::upstream::{build_peer, Selector, Version};
use super::*;
use crate::config::model::IntegrationDef;
use crate::config::model::{IntegrationType, RouteDef};
use crate::config::route::parse_route;
use crate::config::uri::{parse_target, Endpoint, PathPiece, UriTemplate};
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
    all_versions: Vec<Arc<Version>>,
    template_limits: TemplateLimits,
    log_destinations: HashMap<crate::accesslog::Destination, Arc<crate::accesslog::Destination>>,
    /// What TLS upstreams are verified against (gateway.yaml `upstream_tls`).
    upstream_trust: crate::tls::UpstreamTrust,
}

/// Compiles a validated configuration. `generation` is the number the snapshot will carry;
/// `carried` is the state it shares with the snapshot before it (buckets, target health).
/// Errors replace the snapshot; warnings come inside it.
pub fn compile(raw: &RawConfig, carried: &Carried, generation: u64) -> Result<Snapshot, Problems> {
    let g = &raw.gateway;
    let limits = Limits {
        max_body_bytes: g.limits.max_body_bytes,
        integration_timeout: Duration::from_millis(g.limits.integration_timeout_ms),
        max_url_bytes: g.limits.max_url_bytes,
        max_header_bytes: g.limits.max_header_bytes,
        max_headers: g.limits.max_headers,
        idle_timeout_seconds: g.limits.idle_timeout_seconds.max(1),
    };
    let mut c = Compiler {
        raw,
        carried,
        problems: Problems::default(),
        backends: BTreeMap::new(),
        endpoints: HashMap::new(),
        limits,
        template_cache: HashMap::new(),
        all_versions: Vec::new(),
        template_limits: TemplateLimits::default(),
        log_destinations: HashMap::new(),
        upstream_trust: crate::tls::UpstreamTrust::default(),
    };
    c.upstream_trust();
    c.backends();
    let stages: Vec<Stage> = raw.stages.keys().filter_map(|name| c.stage(name)).collect();
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

fn resolve(target: &str) -> Result<SocketAddr, String> {
    if let Ok(a) = target.parse::<SocketAddr>() {
        return Ok(a);
    }
    // DNS happens here, when a snapshot is compiled on the reload thread, never per request.
    target
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {target:?}: {e}"))?
        .next()
        .ok_or_else(|| format!("{target:?} resolves to no address"))
}

impl Compiler<'_> {
    /// Loads the CA file of `upstream_tls`, if any, and builds what TLS upstreams are verified
    /// against.
    fn upstream_trust(&mut self) {
        let Some(u) = &self.raw.gateway.upstream_tls else {
            return;
        };
        let ca = match &u.value.ca {
            None => None,
            Some(c) => match crate::tls::load_ca_file(&crate::tls::config_path(
                &self.raw.dir,
                &c.value,
            )) {
                Ok(certs) => Some(certs),
                Err(e) => {
                    self.problems.push(Problem::error(
                        GATEWAY_FILE,
                        Some(c.referenced.line()),
                        format!("upstream_tls.ca: {e}"),
                    ));
                    return;
                }
            },
        };
        let system_roots = u.value.system_roots.as_ref().is_none_or(|s| s.value);
        match crate::tls::UpstreamTrust::build(ca, system_roots) {
            Ok(t) => self.upstream_trust = t,
            Err(e) => self.problems.push(Problem::error(
                GATEWAY_FILE,
                Some(u.referenced.line()),
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
            let Ok(addr) = l.value.addr.parse() else {
                continue;
            };
            let tls = match &l.value.tls {
                None => None,
                Some(t) => match self.listener_tls(&l.value.addr, t) {
                    Some(tls) => Some(tls),
                    None => continue,
                },
            };
            listen.push(Listener { addr, tls });
        }
        ServerSettings {
            listen,
            admin: g.admin.as_ref().and_then(|a| a.value.parse().ok()),
            threads: g.threads.as_ref().map(|t| t.value).unwrap_or(2).max(1),
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
        }
    }

    /// Reads a TLS listener's certificate chain and key; a problem on the line of the file that
    /// is wrong (a missing or unreadable key is the key's line) when they do not make a pair.
    fn listener_tls(
        &mut self,
        addr: &str,
        t: &crate::config::model::ListenTlsDef,
    ) -> Option<ListenerTls> {
        let cert = crate::tls::config_path(&self.raw.dir, &t.cert.value);
        let key = crate::tls::config_path(&self.raw.dir, &t.key.value);
        let key_line = Some(t.key.referenced.line());
        let cert_line = Some(t.cert.referenced.line());
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
                self.problems.push(Problem::error(
                    GATEWAY_FILE,
                    at,
                    format!("TLS listener {addr}: {e}"),
                ));
                None
            }
        }
    }

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
                    match resolve(&t.value) {
                        Ok(addr) => {
                            let host = t.value.rsplit_once(':').map(|(h, _)| h).unwrap_or(&t.value);
                            // SNI and the name verified: the target's host ("[::1]" -> "::1").
                            let host = host.trim_start_matches('[').trim_end_matches(']');
                            targets.push((
                                build_peer(addr, tls.as_ref(), host),
                                Arc::from(t.value.as_str()),
                            ));
                        }
                        Err(e) => self.problems.push(Problem::error(
                            GATEWAY_FILE,
                            Some(t.referenced.line()),
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
            let mut aliases = BTreeMap::new();
            for (aname, weights) in &b.value.aliases {
                let entries: Vec<(Arc<Version>, u32)> = weights
                    .value
                    .iter()
                    .filter_map(|(v, w)| {
                        Some((versions.get(v)?.clone(), u32::try_from(w.value).ok()?))
                    })
                    .collect();
                // Validation already reported unknown versions and zero sums.
                if let Some(mut sel) = Selector::weighted(entries) {
                    if let Some(key) = b
                        .value
                        .sticky
                        .as_ref()
                        .and_then(|s| StickyKey::parse(&s.value).ok())
                    {
                        sel = sel.with_sticky(key, &format!("{bname}:{aname}"));
                    }
                    aliases.insert(aname.clone(), Arc::new(sel));
                }
            }
            self.backends
                .insert(bname.clone(), CompiledBackend { versions, aliases });
        }
    }

    fn stage(&mut self, name: &str) -> Option<Stage> {
        let s = self.raw.stages.get(name)?;
        let file = format!("{STAGES_DIR}/{name}.yaml");
        let vars: BTreeMap<String, String> = s
            .variables
            .iter()
            .map(|(k, v)| (k.clone(), v.value.clone()))
            .collect();
        let primary = self.deployed(&file, name, &s.deployment.value, vars.clone())?;
        let canary = match &s.canary {
            Some(c) => {
                let mut merged = vars;
                merged.extend(
                    c.variables
                        .iter()
                        .map(|(k, v)| (k.clone(), v.value.clone())),
                );
                let deployed = self.deployed(&file, name, &c.deployment.value, merged)?;
                Some(Canary {
                    percent: c.percent.as_ref().map(|p| p.value).unwrap_or(0.0),
                    sticky: c
                        .sticky
                        .as_ref()
                        .and_then(|s| StickyKey::parse(&s.value).ok()),
                    deployed,
                })
            }
            None => None,
        };
        Some(Stage {
            name: name.into(),
            api: s.api.value.as_str().into(),
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
            access_log: s.access_log.as_ref().and_then(|a| self.access_log(a)),
            throttle: s
                .throttle
                .as_ref()
                .or(self.raw.gateway.throttle.as_ref())
                .and_then(|t| {
                    self.carried.buckets.shared(
                        &format!("stage {name}"),
                        t.rate.value,
                        t.burst.value,
                    )
                }),
            fault: s.fault.as_ref().and_then(super::fault::Fault::from_def),
        })
    }

    fn deployed(
        &mut self,
        stage_file: &str,
        stage: &str,
        id: &str,
        vars: BTreeMap<String, String>,
    ) -> Option<Arc<Deployed>> {
        let dep = self.raw.deployments.get(id)?;
        let dep_file = format!("{DEPLOYMENTS_DIR}/{id}.yaml");
        let mut router = Router::default();
        let mut routes = Vec::with_capacity(dep.routes.len());
        for def in &dep.routes {
            let Ok(spec) = parse_route(&def.route.value) else {
                continue; // reported by validation
            };
            let integration = self.integration(&dep_file, stage_file, stage, def, &spec, &vars)?;
            let idx = routes.len() as u32;
            if !router.insert(&spec, idx) {
                continue; // duplicate: reported by validation
            }
            routes.push(Route {
                template: spec.to_string().into(),
                resource_path: spec.resource_path().into(),
                method: spec.method,
                param_names: spec.param_names().map(Into::into).collect(),
                metrics: crate::metrics::RouteMetrics::new(stage, &spec.to_string()),
                throttle: def.throttle.as_ref().and_then(|t| {
                    self.carried.buckets.shared(
                        &format!("stage {stage} deployment {id} route {spec}"),
                        t.rate.value,
                        t.burst.value,
                    )
                }),
                fault: def.fault.as_ref().and_then(super::fault::Fault::from_def),
                integration,
            });
        }
        Some(Arc::new(Deployed {
            deployment_id: id.into(),
            variables: Arc::new(vars),
            router,
            routes,
        }))
    }

    fn integration(
        &mut self,
        dep_file: &str,
        stage_file: &str,
        stage: &str,
        def: &RouteDef,
        spec: &crate::config::route::RouteSpec,
        vars: &BTreeMap<String, String>,
    ) -> Option<Integration> {
        let i = &def.integration;
        let route = def.route.value.as_str();
        let mut missing = Vec::new();
        let integration = match i.kind.value {
            IntegrationType::HttpProxy => {
                let mut target = match self.target(dep_file, stage_file, stage, def, spec, vars)? {
                    Ok(t) => t,
                    Err(misconfigured) => return Some(misconfigured),
                };
                target.params = self.params(dep_file, route, i, vars, &mut missing)?;
                // The proxy path streams the body, so nothing can be read from it.
                if target
                    .params
                    .iter()
                    .any(|m| matches!(m.source, ParamSource::Body | ParamSource::BodyPath(_)))
                {
                    self.problems.push(Problem::error(
                        dep_file,
                        Some(i.kind.referenced.line()),
                        format!("route {route:?}: http_proxy streams the body, so request_parameters cannot read method.request.body (use type: http)"),
                    ));
                    return None;
                }
                Integration::HttpProxy(target)
            }
            IntegrationType::Http => {
                let mut target = match self.target(dep_file, stage_file, stage, def, spec, vars)? {
                    Ok(t) => t,
                    Err(misconfigured) => return Some(misconfigured),
                };
                let params = self.params(dep_file, route, i, vars, &mut missing)?;
                target.params = Box::new([]);
                Integration::Http(Arc::new(HttpIntegration {
                    target,
                    params,
                    mapping: self.mapping(dep_file, route, i, vars, &mut missing)?,
                }))
            }
            IntegrationType::AwsProxy | IntegrationType::Aws => {
                let target = match self.target(dep_file, stage_file, stage, def, spec, vars)? {
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
                let invocation_paths = i
                    .uri
                    .as_ref()
                    .map(|u| {
                        super::function::invocation_paths(
                            &u.value,
                            vars,
                            &self.raw.gateway.backends,
                        )
                    })
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
            self.problems.push(Problem::warning(
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

    /// The upstream of an `http_proxy` or `http` integration, or (as `Err`) an integration that
    /// can only answer 500 because the URI uses an undefined stage variable.
    fn target(
        &mut self,
        dep_file: &str,
        stage_file: &str,
        stage: &str,
        def: &RouteDef,
        spec: &crate::config::route::RouteSpec,
        vars: &BTreeMap<String, String>,
    ) -> Option<Result<ProxyIntegration, Integration>> {
        let i = &def.integration;
        let uri = i.uri.as_ref()?;
        let uri_line = Some(uri.referenced.line());
        let template = UriTemplate::parse(&uri.value).ok()?;
        let resolved = match template.substitute(vars) {
            Ok(s) => s,
            Err(missing) => {
                let reason = format!(
                    "uri of route {:?} uses undefined stage variable(s) {} in stage {stage:?}",
                    def.route.value,
                    missing.join(", ")
                );
                self.problems.push(Problem::warning(
                    stage_file,
                    None,
                    format!("{reason}: requests to it get 500 (deployment {dep_file})"),
                ));
                return Some(Err(Integration::Misconfigured {
                    reason: reason.into(),
                }));
            }
        };
        let target = match parse_target(&resolved) {
            Ok(t) => t,
            // Without stage variables the URI is the deployment's alone: validation reported it.
            Err(_) if !template.uses_stage_variables() => return None,
            Err(e) => {
                self.problems.push(Problem::error(
                    dep_file,
                    uri_line,
                    format!("{e} (with the variables of stage {stage:?})"),
                ));
                return None;
            }
        };
        let params: Vec<&str> = spec.param_names().collect();
        let mut path = Vec::with_capacity(target.path.len());
        for piece in &target.path {
            match piece {
                PathPiece::Text(t) => path.push(PathPart::Text(t.as_str().into())),
                PathPiece::Param(p) => match params.iter().position(|n| n == p) {
                    Some(ix) => path.push(PathPart::Capture(ix)),
                    None => {
                        self.problems.push(Problem::error(
                            dep_file,
                            uri_line,
                            format!(
                                "uri uses {{{p}}}, which route {:?} does not capture",
                                def.route.value
                            ),
                        ));
                        return None;
                    }
                },
            }
        }
        let (upstream, host_header) = match &target.endpoint {
            Endpoint::Backend { name, selector } => {
                let Some(b) = self.backends.get(name) else {
                    self.problems.push(Problem::error(dep_file, uri_line, format!("unknown backend {name:?} in uri {resolved:?} (define it under backends: in gateway.yaml)")));
                    return None;
                };
                let sel = if let Some(a) = b.aliases.get(selector) {
                    a.clone()
                } else if let Some(v) = b.versions.get(selector) {
                    Arc::new(Selector::single(v.clone()))
                } else {
                    self.problems.push(Problem::error(
                        dep_file,
                        uri_line,
                        format!("backend {name:?} has no alias or version {selector:?} (uri {resolved:?}, stage {stage:?})"),
                    ));
                    return None;
                };
                (sel, None)
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
                        let addr_text = if host.contains(':') {
                            format!("[{host}]:{port}")
                        } else {
                            format!("{host}:{port}")
                        };
                        let addr = match resolve(&addr_text) {
                            Ok(a) => a,
                            Err(e) => {
                                self.problems.push(Problem::error(
                                    dep_file,
                                    uri_line,
                                    format!("invalid uri {resolved:?}: {e}"),
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
                (sel, Some(authority.into()))
            }
        };
        let timeout = i
            .timeout_ms
            .as_ref()
            .map(|t| Duration::from_millis(t.value))
            .unwrap_or(self.limits.integration_timeout);
        Some(Ok(ProxyIntegration {
            upstream,
            host_header,
            path: path.into(),
            query: target.query.map(Into::into),
            timeout,
            params: Box::new([]),
        }))
    }

    fn access_log(
        &mut self,
        a: &crate::config::model::AccessLogDef,
    ) -> Option<Arc<crate::accesslog::AccessLog>> {
        use crate::accesslog::{AccessLog, Destination, Format, DEFAULT_FORMAT};
        let format = Format::parse(
            a.format
                .as_ref()
                .map(|f| f.value.as_str())
                .unwrap_or(DEFAULT_FORMAT),
        )
        .ok()?;
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

    fn params(
        &mut self,
        dep_file: &str,
        route: &str,
        i: &IntegrationDef,
        vars: &BTreeMap<String, String>,
        missing: &mut Vec<String>,
    ) -> Option<Box<[ParamMapping]>> {
        let mut out = Vec::with_capacity(i.request_parameters.len());
        let mut ok = true;
        for (target, source) in &i.request_parameters {
            match parse_request_parameter(target, &source.value, vars, missing) {
                Ok(m) => out.push(m),
                Err(e) => {
                    ok = false;
                    self.problems.push(Problem::error(
                        dep_file,
                        Some(source.referenced.line()),
                        format!("route {route:?}: {e}"),
                    ));
                }
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
        defs: &indexmap::IndexMap<String, crate::config::model::Located<String>>,
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
                    self.problems.push(Problem::error(
                        dep_file,
                        Some(src.referenced.line()),
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
                        self.problems.push(Problem::error(
                            dep_file,
                            Some(p.referenced.line()),
                            format!("route {route:?}: {e}"),
                        ));
                        None
                    }
                },
                _ => None,
            };
            if !(100..=599).contains(&r.status.value) {
                ok = false;
                self.problems.push(Problem::error(
                    dep_file,
                    Some(r.status.referenced.line()),
                    format!(
                        "route {route:?}: integration response status {} is not an HTTP status",
                        r.status.value
                    ),
                ));
            }
            let mut headers = Vec::with_capacity(r.headers.len());
            for (name, source) in &r.headers {
                let parsed = http::HeaderName::from_bytes(name.as_bytes())
                    .map_err(|_| format!("invalid header name {name:?}"))
                    .and_then(|n| {
                        parse_header_source(&source.value, vars, missing).map(|s| (n, s))
                    });
                match parsed {
                    Ok(h) => headers.push(h),
                    Err(e) => {
                        ok = false;
                        self.problems.push(Problem::error(
                            dep_file,
                            Some(source.referenced.line()),
                            format!("route {route:?}: {e}"),
                        ));
                    }
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

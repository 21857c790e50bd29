//! Part of the first stage of the data flow: checks over a parsed `RawConfig`, the values that
//! did not parse (`typed`), references between files, names and values under the AWS rules,
//! weights and route clashes. Every problem is collected (not just the first) with the file and
//! line to fix. Nothing here reads a file or resolves a name: checks that need the outside, or a
//! stage's variables substituted into a URI, happen in `snapshot::compile`, which reports through
//! the same `Problem` type (and uses the checks here that it shares, in the same words).

use super::model::*;
use super::names::{
    valid_stage_name, valid_variable_name, valid_variable_value, MAX_VARIABLES, MAX_VARIABLE_NAME,
    MAX_VARIABLE_VALUE,
};
use super::route::{self, RouteSpec, Segment};
use super::typed::{line_of as line, Typed};
use super::{Problem, Problems, RawConfig, APIS_DIR, DEPLOYMENTS_DIR, GATEWAY_FILE, STAGES_DIR};
use serde_saphyr::Spanned;
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// A media type as `request_models` keys are written: `type/subtype`.
fn media_type(s: &str) -> bool {
    let token = |t: &str| {
        !t.is_empty()
            && t.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$&-^_.+*".contains(&b))
    };
    s.split_once('/').is_some_and(|(a, b)| token(a) && token(b))
}

/// Backend, version and alias names.
fn valid_backend_name(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
}

/// Every problem of a parsed configuration, errors and warnings, in file order.
pub fn validate(raw: &RawConfig) -> Problems {
    let mut v = Validator::default();
    v.gateway(&raw.gateway);
    v.tls(raw);
    for (name, api) in &raw.apis {
        let file = format!("{APIS_DIR}/{name}.yaml");
        v.routes(&file, &api.routes);
        v.method_request(&file, &api.settings(), &api.routes);
    }
    for (id, dep) in &raw.deployments {
        let file = format!("{DEPLOYMENTS_DIR}/{id}.yaml");
        if !valid_stage_name(id) {
            v.err(
                &file,
                None,
                format!("deployment id {id:?} must use only letters, digits, '-' and '_'"),
            );
        }
        if !valid_stage_name(&dep.api.value) {
            v.err(
                &file,
                line(&dep.api),
                format!(
                    "api name {:?} must use only letters, digits, '-' and '_'",
                    dep.api.value
                ),
            );
        }
        // A hash that no longer matches means the file was edited after `stagecraft deploy`
        // sealed it (see `config::integrity`); the model has no text, so RawConfig keeps it.
        if let (Some(h), Some(text)) = (&dep.hash, raw.deployment_texts.get(id)) {
            if super::integrity::check(text).is_err() {
                v.err(
                    &file,
                    line(h),
                    format!("deployment {id:?} was modified after it was deployed (hash mismatch)"),
                );
            }
        }
        v.routes(&file, &dep.routes);
        v.method_request(&file, &dep.settings(), &dep.routes);
    }
    v.stages(raw);
    v.problems.extend(super::plans::check(raw));
    v.problems
}

#[derive(Default)]
struct Validator {
    problems: Problems,
}

impl Validator {
    fn err(&mut self, file: &str, line: Option<u64>, msg: String) {
        self.problems.push(Problem::error(file, line, msg));
    }

    /// A value that did not parse when its file was read.
    fn typed<T>(&mut self, file: &str, t: &Typed<T>) {
        if let Some(p) = t.problem(file) {
            self.problems.push(p);
        }
    }

    fn gateway(&mut self, g: &GatewayFile) {
        let f = GATEWAY_FILE;
        if g.listen.is_empty() {
            self.err(
                f,
                None,
                "listen must name at least one \"host:port\" address".into(),
            );
        }
        for l in &g.listen {
            self.typed(f, &l.value.addr);
        }
        if let Some(a) = &g.admin {
            self.typed(f, a);
        }
        if let Some(t) = &g.threads {
            if t.value == 0 {
                self.err(f, line(t), "threads must be at least 1".into());
            }
        }
        self.throttle(f, g.throttle.as_ref());
        if g.limits.max_body_bytes == 0 {
            self.err(f, None, "limits.max_body_bytes must be above 0".into());
        }
        if g.limits.integration_timeout_ms == 0 {
            self.err(
                f,
                None,
                "limits.integration_timeout_ms must be above 0".into(),
            );
        }
        for (bname, b) in &g.backends {
            let bl = line(b);
            if !valid_backend_name(bname) {
                self.err(
                    f,
                    bl,
                    format!(
                        "backend name {bname:?} must use only letters, digits, '-', '_' and '.'"
                    ),
                );
            }
            if b.value.versions.is_empty() {
                self.err(f, bl, format!("backend {bname:?} has no versions"));
            }
            for (vname, ver) in &b.value.versions {
                if !valid_backend_name(vname) {
                    self.err(f, line(ver), format!("version name {vname:?} of backend {bname:?} must use only letters, digits, '-', '_' and '.'"));
                }
                if ver.value.targets.is_empty() {
                    self.err(
                        f,
                        line(ver),
                        format!("version {vname:?} of backend {bname:?} has no targets"),
                    );
                }
                if let (Some(h), Some(_)) = (&ver.value.health_check, &ver.value.tls) {
                    // The probe speaks plain HTTP; it would mark every TLS target down.
                    self.err(f, line(&h.path), format!("health_check is not supported yet on TLS version {vname:?} of backend {bname:?} (passive ejection still applies)"));
                }
                if let Some(h) = &ver.value.health_check {
                    if !h.path.value.starts_with('/') || h.path.value.contains(char::is_whitespace)
                    {
                        self.err(f, line(&h.path), format!("health_check path {:?} of backend {bname:?} version {vname:?} must start with '/' and have no spaces", h.path.value));
                    }
                    if h.interval_ms < 50 {
                        self.err(
                            f,
                            line(&h.path),
                            format!("health_check interval_ms {} is below 50", h.interval_ms),
                        );
                    }
                }
                if let Some(p) = &ver.value.invocation_path {
                    if !p.value.starts_with('/')
                        || p.value
                            .contains(|c: char| c.is_whitespace() || c == '?' || c == '#')
                    {
                        self.err(f, line(p), format!("invocation_path {:?} of backend {bname:?} version {vname:?} must start with '/' and have no spaces, '?' or '#'", p.value));
                    }
                }
                for t in &ver.value.targets {
                    self.typed(f, t);
                }
            }
            if let Some(s) = &b.value.sticky {
                self.typed(f, s);
            }
            for (aname, weights) in &b.value.aliases {
                let (_, problems) = alias_weights(bname, b, aname, weights);
                self.problems.extend(problems);
            }
        }
    }

    /// Route syntax, integration shape and duplicates within one API draft or deployment.
    fn routes(&mut self, file: &str, routes: &[RouteDef]) {
        let mut seen: HashMap<(route::Method, Vec<Segment>), u64> = HashMap::new();
        for r in routes {
            let rl = r.route.line();
            match r.route.get() {
                Ok(spec) => {
                    let key = (spec.method, shape(spec));
                    if let Some(first) = seen.get(&key) {
                        self.err(file, rl, route::duplicate(r.route.text(), *first));
                    } else {
                        seen.insert(key, rl.unwrap_or(0));
                    }
                    self.integration(file, spec, &r.integration);
                    self.throttle(file, r.throttle.as_ref());
                    self.fault(file, r.fault.as_ref());
                }
                Err(_) => self.typed(file, &r.route),
            }
        }
    }

    /// Models, validators, CORS and gateway responses of one API, and what its routes name.
    fn method_request(&mut self, file: &str, api: &ApiSettings<'_>, routes: &[RouteDef]) {
        let (models, problems) = super::models::compile(api.models);
        for (line, msg) in problems {
            self.err(file, line, msg);
        }
        for m in api.binary_media_types {
            if !media_type(&m.value) {
                self.err(
                    file,
                    line(m),
                    format!(
                        "binary_media_types: {:?} is not a media type (type/subtype; `*` for any)",
                        m.value
                    ),
                );
            }
        }
        let has_validator = |name: &str| api.request_validators.contains_key(name);
        if let Some(d) = api.default_request_validator {
            if !has_validator(&d.value) {
                self.err(
                    file,
                    line(d),
                    format!(
                        "default_request_validator {:?} is not one of request_validators",
                        d.value
                    ),
                );
            }
        }
        for r in routes {
            let route = r.route.text();
            if let Some(v) = &r.request_validator {
                if v.value != "none" && !has_validator(&v.value) {
                    self.err(
                        file,
                        line(v),
                        format!(
                            "route {route:?}: request_validator {:?} is not one of request_validators",
                            v.value
                        ),
                    );
                }
            }
            for (content_type, model) in &r.request_models {
                // A model that is defined but did not compile was reported with its own line.
                let defined = api.models.contains_key(&model.value);
                if !models.contains(&model.value) && !defined {
                    self.err(
                        file,
                        line(model),
                        format!(
                            "route {route:?}: request_models {content_type:?} names model {:?}, which this API does not define",
                            model.value
                        ),
                    );
                }
                if content_type != "$default" && !media_type(content_type) {
                    self.err(
                        file,
                        line(model),
                        format!("route {route:?}: {content_type:?} is not a media type (type/subtype) or $default"),
                    );
                }
            }
            for mr in &r.method_responses {
                if !(100..=599).contains(&mr.status.value) {
                    self.err(
                        file,
                        line(&mr.status),
                        format!(
                            "route {route:?}: method_responses status {} is not an HTTP status (100-599)",
                            mr.status.value
                        ),
                    );
                }
                for (content_type, model) in &mr.models {
                    if !models.contains(&model.value) && !api.models.contains_key(&model.value) {
                        self.err(
                            file,
                            line(model),
                            format!(
                                "route {route:?}: method_responses {} {content_type:?} names model {:?}, which this API does not define",
                                mr.status.value, model.value
                            ),
                        );
                    }
                }
            }
            for (name, required) in &r.request_parameters {
                if let Err(e) = super::method::MethodParam::parse(name) {
                    self.err(file, line(required), format!("route {route:?}: {e}"));
                }
            }
        }
        if let Some(c) = api.cors {
            for (l, msg) in super::method::check_cors(&c.value) {
                self.err(file, l.or(line(c)), msg);
            }
        }
        for (l, msg) in super::method::check_gateway_responses(api.gateway_responses) {
            self.err(file, l, msg);
        }
        self.authorizers(file, api, routes);
    }

    /// The API's authorizers, and what `default_authorizer` and the routes name.
    fn authorizers(&mut self, file: &str, api: &ApiSettings<'_>, routes: &[RouteDef]) {
        for (name, def) in api.authorizers {
            for (l, msg) in super::authorizer::check(name, &def.value) {
                self.err(file, l.or(line(def)), msg);
            }
        }
        let known = |name: &str| name == "none" || api.authorizers.contains_key(name);
        if let Some(d) = api.default_authorizer {
            if !known(&d.value) {
                self.err(
                    file,
                    line(d),
                    format!("default_authorizer {:?} is not one of authorizers", d.value),
                );
            }
        }
        for r in routes {
            let route = r.route.text();
            if let Some(a) = &r.authorizer {
                if !known(&a.value) {
                    self.err(
                        file,
                        line(a),
                        format!(
                            "route {route:?}: authorizer {:?} is not one of authorizers (or none)",
                            a.value
                        ),
                    );
                }
            }
            let Some(first) = r.authorization_scopes.first() else {
                continue;
            };
            let chosen = r.authorizer.as_ref().or(api.default_authorizer);
            let kind = chosen
                .and_then(|a| api.authorizers.get(&a.value))
                .map(|a| a.value.kind.value);
            if kind.is_none_or(|k| k.is_function()) {
                self.err(
                    file,
                    line(first),
                    format!("route {route:?}: authorization_scopes need a jwt or cognito_user_pools authorizer"),
                );
            }
        }
    }

    fn integration(&mut self, file: &str, spec: &RouteSpec, i: &IntegrationDef) {
        let kl = line(&i.kind);
        match (i.kind.value, &i.uri) {
            (IntegrationType::Mock, Some(u)) => {
                self.err(file, u.line(), "a mock integration has no uri".into())
            }
            (
                IntegrationType::HttpProxy
                | IntegrationType::Http
                | IntegrationType::AwsProxy
                | IntegrationType::Aws,
                None,
            ) => self.err(
                file,
                kl,
                format!("route \"{spec}\": integration needs a uri"),
            ),
            (_, Some(u)) => {
                match u.get() {
                    Err(_) => self.typed(file, u),
                    // A URI that uses stage variables can only be parsed whole per stage, once they
                    // are substituted: snapshot::compile checks those.
                    Ok(uri) => {
                        if let Some(t) = uri.fixed() {
                            let mut params: BTreeSet<&str> = spec.param_names().collect();
                            params.extend(mapped_path_names(i));
                            for p in t.param_names() {
                                if !params.contains(p) {
                                    self.err(file, u.line(), format!("uri uses {{{p}}}, which route \"{spec}\" does not capture and no integration.request.path.{p} in request_parameters sets"));
                                }
                            }
                        }
                    }
                }
            }
            (IntegrationType::Mock, None) => {}
        }
        if matches!(
            i.kind.value,
            IntegrationType::AwsProxy | IntegrationType::Aws
        ) {
            self.function(file, spec, i);
        }
        if let Some(t) = &i.timeout_ms {
            if t.value == 0 {
                self.err(file, line(t), "timeout_ms must be above 0".into());
            }
        }
        for p in &i.request_parameters {
            self.typed(file, p);
        }
        for h in i.responses.iter().flat_map(|r| &r.headers) {
            self.typed(file, h);
        }
    }

    /// What a function integration cannot have: request parameters (the event carries the
    /// request), and for `aws_proxy` templates and integration responses (the function answers).
    fn function(&mut self, file: &str, spec: &RouteSpec, i: &IntegrationDef) {
        let kind = if i.kind.value == IntegrationType::AwsProxy {
            "aws_proxy"
        } else {
            "aws"
        };
        if let Some(p) = i.request_parameters.first() {
            self.err(file, p.line(), format!("route \"{spec}\": {kind} integrations take no request_parameters (the event carries the request)"));
        }
        if i.kind.value == IntegrationType::AwsProxy {
            if let Some(t) = i.request_templates.values().next() {
                self.err(file, line(t), format!("route \"{spec}\": aws_proxy sends the proxy event, so it takes no request_templates (use type: aws)"));
            }
            if let Some(r) = i.responses.first() {
                self.err(file, line(&r.status), format!("route \"{spec}\": aws_proxy answers with the function's response, so it takes no responses (use type: aws)"));
            }
        }
    }

    fn throttle(&mut self, file: &str, t: Option<&ThrottleDef>) {
        if let Some(t) = t {
            self.problems.extend(throttle(file, t));
        }
    }

    fn fault(&mut self, file: &str, f: Option<&FaultDef>) {
        let Some(f) = f else { return };
        for p in [&f.delay_percent, &f.abort_percent].into_iter().flatten() {
            if !(0.0..=100.0).contains(&p.value) {
                self.err(
                    file,
                    line(p),
                    format!("fault percent {} must be between 0 and 100", p.value),
                );
            }
        }
        if let Some(s) = &f.abort_status {
            if !(200..=599).contains(&s.value) {
                self.err(
                    file,
                    line(s),
                    format!(
                        "fault abort_status {} must be an HTTP status from 200 to 599",
                        s.value
                    ),
                );
            }
        }
        if let (Some(p), None) = (&f.delay_percent, &f.delay_ms) {
            self.err(file, line(p), "fault delay_percent needs delay_ms".into());
        }
        if let (Some(p), None) = (&f.abort_percent, &f.abort_status) {
            self.err(
                file,
                line(p),
                "fault abort_percent needs abort_status".into(),
            );
        }
    }

    fn variables(&mut self, file: &str, vars: &BTreeMap<String, Spanned<String>>) {
        if vars.len() > MAX_VARIABLES {
            self.err(
                file,
                None,
                format!(
                    "{} stage variables: at most {MAX_VARIABLES} are allowed",
                    vars.len()
                ),
            );
        }
        for (k, v) in vars {
            if !valid_variable_name(k) {
                self.err(file, line(v), format!("invalid variable name {k:?}: letters, digits and '_' only, at most {MAX_VARIABLE_NAME} characters"));
            }
            if !valid_variable_value(&v.value) {
                self.err(file, line(v), format!("invalid variable value {:?} for {k:?}: must match [A-Za-z0-9-._~:/?#&=,]+, at most {MAX_VARIABLE_VALUE} characters", v.value));
            }
        }
    }

    fn stages(&mut self, raw: &RawConfig) {
        let known_apis: BTreeSet<&str> = raw
            .apis
            .keys()
            .map(String::as_str)
            .chain(raw.deployments.values().map(|d| d.api.value.as_str()))
            .collect();
        let mut claimed: HashMap<(String, String), String> = HashMap::new();
        for (name, s) in &raw.stages {
            let file = format!("{STAGES_DIR}/{name}.yaml");
            if !valid_stage_name(name) {
                self.err(&file, None, format!("invalid stage name {name:?} (from the file name): letters, digits, '-' and '_' only, at most 128 characters"));
            }
            let api = &s.api.value;
            if !known_apis.contains(api.as_str()) {
                self.err(
                    &file,
                    line(&s.api),
                    format!("unknown api {api:?}: no apis/{api}.yaml and no deployment of it"),
                );
            }
            self.deployment_ref(raw, &file, api, &s.deployment, "deployment");
            let base = s
                .base_path
                .as_ref()
                .map(|b| b.value.clone())
                .unwrap_or_else(|| format!("/{name}"));
            if let Some(b) = &s.base_path {
                if let Err(e) = check_base_path(&b.value) {
                    self.err(&file, line(b), e);
                }
            }
            let host = s
                .host
                .as_ref()
                .map(|h| h.value.to_ascii_lowercase())
                .unwrap_or_default();
            if let Some(h) = &s.host {
                if h.value.is_empty()
                    || !h
                        .value
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
                {
                    self.err(
                        &file,
                        line(h),
                        format!("invalid host {:?}: a DNS name without port", h.value),
                    );
                }
            }
            let key = (host.clone(), base.clone());
            if let Some(other) = claimed.get(&key) {
                let shown = if host.is_empty() {
                    "any host".to_string()
                } else {
                    format!("host {host:?}")
                };
                // Without base_path: the default comes from the file name; point at the top.
                let at = s.base_path.as_ref().and_then(line).or_else(|| line(&s.api));
                self.err(&file, at, format!("stage {name:?} and stage {other:?} claim the same host and base path ({shown}, {base:?})"));
            } else {
                claimed.insert(key, name.clone());
            }
            self.variables(&file, &s.variables);
            if let Some(c) = &s.canary {
                self.deployment_ref(raw, &file, api, &c.deployment, "canary deployment");
                if let Some(p) = &c.percent {
                    if !(0.0..=100.0).contains(&p.value) {
                        self.err(
                            &file,
                            line(p),
                            format!("canary percent {} must be between 0.0 and 100.0", p.value),
                        );
                    }
                }
                self.variables(&file, &c.variables);
                if let Some(s) = &c.sticky {
                    self.typed(&file, s);
                }
            }
            if let Some(a) = &s.access_log {
                if let Some(f) = &a.format {
                    self.typed(&file, f);
                }
                if let Some(p) = &a.path {
                    if p.value.is_empty() {
                        self.err(&file, line(p), "access_log.path is empty".into());
                    }
                }
            }
            self.throttle(&file, s.throttle.as_ref());
            self.fault(&file, s.fault.as_ref());
        }
    }

    fn deployment_ref(
        &mut self,
        raw: &RawConfig,
        file: &str,
        api: &str,
        id: &Spanned<String>,
        what: &str,
    ) {
        if let Err(p) = deployment_ref(raw, file, api, id, what) {
            self.problems.push(p);
        }
    }
}

/// The deployment a stage (`what`: "deployment") or its canary ("canary deployment") names,
/// which must exist and belong to the stage's api.
pub fn deployment_ref<'r>(
    raw: &'r RawConfig,
    file: &str,
    api: &str,
    id: &Spanned<String>,
    what: &str,
) -> Result<&'r DeploymentFile, Problem> {
    match raw.deployments.get(&id.value) {
        None => Err(Problem::error(
            file,
            line(id),
            format!(
                "{what} {:?} does not exist (no {DEPLOYMENTS_DIR}/{}.yaml)",
                id.value, id.value
            ),
        )),
        Some(d) if d.api.value != api => Err(Problem::error(
            file,
            line(id),
            format!(
                "{what} {:?} belongs to api {:?}, not {api:?}",
                id.value, d.api.value
            ),
        )),
        Some(d) => Ok(d),
    }
}

/// An integration's shape: a URI unless it is a mock, one that parses, what a function
/// integration cannot have, its timeout and mappings.
pub fn integration(file: &str, spec: &RouteSpec, i: &IntegrationDef) -> Problems {
    let mut v = Validator::default();
    v.integration(file, spec, i);
    v.problems
}

/// A token bucket's settings: a rate above 0, a burst of at least 1.
pub fn throttle(file: &str, t: &ThrottleDef) -> Problems {
    t.problems(file)
}

/// The versions an alias of backend `bname` weighs and their weights, with what is wrong with
/// it (names, unknown versions, weights out of range, a zero sum). Compiling builds the alias's
/// picker from the weights.
pub fn alias_weights<'b>(
    bname: &str,
    b: &'b Located<BackendDef>,
    aname: &str,
    weights: &'b Located<BTreeMap<String, Located<i64>>>,
) -> (Vec<(&'b str, u32)>, Problems) {
    let f = GATEWAY_FILE;
    let mut problems = Problems::default();
    let mut err = |line: Option<u64>, msg: String| problems.push(Problem::error(f, line, msg));
    let al = line(weights);
    if !valid_backend_name(aname) {
        err(al, format!("alias name {aname:?} of backend {bname:?} must use only letters, digits, '-', '_' and '.'"));
    }
    if b.value.versions.contains_key(aname) {
        err(al, format!("alias {aname:?} of backend {bname:?} has the name of a version: backend:// URIs could not tell them apart"));
    }
    let mut entries = Vec::with_capacity(weights.value.len());
    let mut sum: u64 = 0;
    for (ver, w) in &weights.value {
        let known = b.value.versions.contains_key(ver);
        if !known {
            err(
                line(w),
                format!("alias {aname:?} of backend {bname:?} names unknown version {ver:?}"),
            );
        }
        match u32::try_from(w.value) {
            Ok(weight) => {
                sum += u64::from(weight);
                if known {
                    entries.push((ver.as_str(), weight));
                }
            }
            Err(_) if w.value < 0 => err(line(w), format!("alias {aname:?} of backend {bname:?} gives version {ver:?} a negative weight ({})", w.value)),
            Err(_) => err(
                line(w),
                format!(
                    "alias {aname:?} of backend {bname:?}: weight {} is too large",
                    w.value
                ),
            ),
        }
    }
    if sum == 0 {
        err(al, format!("weights of alias {aname:?} of backend {bname:?} sum to zero: no version could ever be picked"));
    }
    (entries, problems)
}

/// Two routes clash when they differ only in parameter names: `/a/{x}` and `/a/{y}`.
fn shape(spec: &RouteSpec) -> Vec<Segment> {
    spec.segments
        .iter()
        .map(|s| match s {
            Segment::Literal(l) => Segment::Literal(l.clone()),
            Segment::Param(_) => Segment::Param(String::new()),
            Segment::Greedy(_) => Segment::Greedy(String::new()),
        })
        .collect()
}

/// `/` or `/seg[/seg...]`: no trailing slash, no empty, dot or parameter segments.
pub fn check_base_path(b: &str) -> Result<(), String> {
    if b == "/" {
        return Ok(());
    }
    let ok = b.starts_with('/')
        && !b.ends_with('/')
        && b[1..].split('/').all(|seg| {
            !seg.is_empty()
                && seg != "."
                && seg != ".."
                && seg
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-._~".contains(c))
        });
    if ok {
        Ok(())
    } else {
        Err(format!("invalid base_path {b:?}: \"/\" or \"/segment[/segment]\" with letters, digits, '-', '.', '_', '~'"))
    }
}

/// TLS settings: listener addresses, `upstream_tls`, backend versions with `tls`. The files
/// they name are read when the snapshot is compiled, never here.
impl Validator {
    fn tls(&mut self, raw: &RawConfig) {
        let f = GATEWAY_FILE;
        let g = &raw.gateway;
        let mut seen: HashMap<&str, u64> = HashMap::new();
        for l in &g.listen {
            let addr = l.value.addr.text();
            if let Some(first) = seen.get(addr) {
                self.err(
                    f,
                    line(l),
                    format!("listen address {addr:?} is already on line {first}"),
                );
            } else {
                seen.insert(addr, line(l).unwrap_or(0));
            }
        }
        if let Some(u) = &g.upstream_tls {
            if u.value.ca.is_none() && u.value.system_roots.as_ref().is_some_and(|s| !s.value) {
                self.err(
                    f,
                    line(u),
                    "upstream_tls: system_roots: false needs a ca file to trust".into(),
                );
            }
        }
        for (bname, b) in &g.backends {
            for (vname, v) in &b.value.versions {
                let Some(t) = &v.value.tls else { continue };
                if t.value.enabled && !t.value.verify {
                    self.problems.push(Problem::warning(
                        f,
                        line(t),
                        format!("backend {bname:?} version {vname:?}: TLS certificates are not verified (verify: false)"),
                    ));
                }
            }
        }
    }
}

/// The uri placeholders an integration's `request_parameters` set (`integration.request.path.NAME`):
/// as in AWS, such a `{NAME}` need not be a capture of the route.
pub fn mapped_path_names(i: &IntegrationDef) -> impl Iterator<Item = &str> {
    i.request_parameters.iter().filter_map(|p| match p.get() {
        Ok(super::mapping::RequestParameter {
            target: super::mapping::ParamTarget::Path(n),
            ..
        }) => Some(&**n),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_paths() {
        assert!(check_base_path("/").is_ok());
        assert!(check_base_path("/v1/orders").is_ok());
        for bad in ["", "v1", "/v1/", "//", "/a/../b", "/{x}"] {
            assert!(check_base_path(bad).is_err(), "{bad}");
        }
    }
}

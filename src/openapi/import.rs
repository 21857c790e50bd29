//! Part of `openapi` (beside the data flow): a [`Document`] into the tree of a draft
//! `apis/NAME.yaml`, with a warning for everything that has no local meaning or is not carried
//! over. The draft is written in the configuration's own keys (README, "Configuration
//! reference"), so `config` reads it like any hand-written draft.

use indexmap::IndexMap;

use super::doc::{map, sub_text, text as s, JsonPath, Node, Warning, EXT};
use super::map::{apigateway_target, Mapper};
use super::read::{Document, Version};
use super::security::{RouteSecurity, Schemes};

/// What `--base-path` does with the definition's base path (AWS's `basepath` import option).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BasePath {
    /// Routes are the paths as written.
    #[default]
    Ignore,
    /// The whole base path goes in front of every path.
    Prepend,
    /// The base path without its first segment goes in front of every path.
    Split,
}

/// A converted definition: the draft's tree, what to tell the user, and the base path the
/// definition declares (a hint for the stage's `base_path`; no stage is written).
#[derive(Debug, Clone)]
pub struct Imported {
    pub draft: Node,
    pub warnings: Vec<Warning>,
    pub base_path: Option<String>,
}

const METHODS: [&str; 7] = ["get", "put", "post", "delete", "options", "head", "patch"];
const ANY_METHOD: &str = "x-amazon-apigateway-any-method";
const INTEGRATION: &str = "x-amazon-apigateway-integration";

/// Converts `doc`. Never fails: what cannot be converted is left out with a warning.
pub fn convert(doc: &Document, base_path: BasePath, mapper: &mut Mapper) -> Imported {
    let mut warnings = Vec::new();
    let schemes = Schemes::read(doc, mapper, &mut warnings);
    let mut cx = Cx {
        doc,
        mapper,
        schemes,
        warnings,
    };
    let declared_base = cx.usable_base_path();
    let prefix = match (base_path, declared_base.as_deref()) {
        (BasePath::Ignore, _) | (_, None) => String::new(),
        (BasePath::Prepend, Some(b)) => b.to_string(),
        (BasePath::Split, Some(b)) => match b.trim_start_matches('/').split_once('/') {
            Some((_, rest)) => format!("/{rest}"),
            None => String::new(),
        },
    };
    let routes = cx.routes(&prefix);

    // API-wide settings first, routes last: the order a reader of the draft wants.
    let mut draft = IndexMap::new();
    if let Some(info) = cx.info() {
        draft.insert("info".to_string(), info);
    }
    cx.root_extensions(&JsonPath::root(), &mut draft);
    if !cx.schemes.authorizers.is_empty() {
        let authorizers = std::mem::take(&mut cx.schemes.authorizers);
        draft.insert("authorizers".to_string(), Node::Map(authorizers));
    }
    if let Some(models) = cx.models() {
        draft.insert("models".to_string(), models);
    }
    if !routes.is_empty() {
        draft.insert("routes".to_string(), Node::Seq(routes));
    }
    Imported {
        draft: Node::Map(draft),
        warnings: cx.warnings,
        // The routes carry the base path already when it was prepended or split.
        base_path: declared_base.filter(|_| base_path == BasePath::Ignore),
    }
}

struct Cx<'a> {
    doc: &'a Document,
    mapper: &'a mut Mapper,
    schemes: Schemes,
    warnings: Vec<Warning>,
}

/// A status code written as a string or a number, as an integer.
fn status(node: &Node) -> Option<Node> {
    let code: u16 = node.scalar_text()?.trim().parse().ok()?;
    Some(Node::Number(code.into()))
}

impl Cx<'_> {
    fn warn(&mut self, path: &JsonPath, message: impl Into<String>) {
        self.warnings.push(Warning {
            path: path.clone(),
            message: message.into(),
        });
    }

    /// Swagger's `basePath`; OpenAPI 3's `basePath` server variable, else the path of the first
    /// server's URL.
    fn base_path(&self) -> Option<String> {
        let root = &self.doc.root;
        let raw = match self.doc.version {
            Version::Swagger2 => root.get("basePath")?.as_str()?.to_string(),
            Version::OpenApi30 => {
                let servers = root.get("servers")?.as_seq()?;
                let from_variable = servers.iter().find_map(|srv| {
                    srv.get("variables")?
                        .get("basePath")?
                        .get("default")?
                        .as_str()
                        .map(str::to_string)
                });
                match from_variable {
                    Some(b) => b,
                    None => {
                        let url = servers.first()?.get("url")?.as_str()?;
                        let after_scheme = url.split_once("://").map_or(url, |(_, r)| r);
                        match after_scheme.find('/') {
                            Some(i) if url.contains("://") => after_scheme[i..].to_string(),
                            _ if url.starts_with('/') => url.to_string(),
                            _ => return None,
                        }
                    }
                }
            }
        };
        let trimmed = raw.trim_matches('/');
        (!trimmed.is_empty()).then(|| format!("/{trimmed}"))
    }

    /// The declared base path, unless it holds a deployment tool's placeholder (`/${env}`),
    /// which no route can be made of: then none, with a warning.
    fn usable_base_path(&mut self) -> Option<String> {
        let b = self.base_path()?;
        if b.contains('{') || b.contains('$') {
            let at = match self.doc.version {
                Version::Swagger2 => JsonPath::root().key("basePath"),
                Version::OpenApi30 => JsonPath::root().key("servers"),
            };
            self.warn(
                &at,
                format!(
                    "the base path {b:?} holds a placeholder: ignored (no route is prefixed \
                     with it; give the stage its base_path)"
                ),
            );
            return None;
        }
        Some(b)
    }

    /// The definition's title, description and version, which export gives back.
    fn info(&mut self) -> Option<Node> {
        let info = self.doc.root.get("info")?;
        let mut fields = Vec::new();
        for k in ["title", "description", "version"] {
            let Some(v) = info.get(k) else { continue };
            match v.scalar_text().or_else(|| sub_text(v)) {
                Some(text) => fields.push((k, s(text))),
                None => self.warn(
                    &JsonPath::root().key("info").key(k),
                    format!(
                        "{} (a CloudFormation reference?), not text: dropped",
                        v.kind()
                    ),
                ),
            }
        }
        (!fields.is_empty()).then(|| map(fields))
    }

    fn routes(&mut self, prefix: &str) -> Vec<Node> {
        let mut routes = Vec::new();
        let Some(paths) = self.doc.root.get("paths").and_then(Node::as_map) else {
            return routes;
        };
        let at_paths = JsonPath::root().key("paths");
        for (path, item) in paths {
            let at = at_paths.key(path);
            let Some(item_map) = item.as_map() else {
                self.warn(
                    &at,
                    format!("a path item must be a mapping, not {}", item.kind()),
                );
                continue;
            };
            if item_map.contains_key("$ref") {
                self.warn(&at, "a path item by $ref is not supported: left out");
                continue;
            }
            let shared = item.items("parameters");
            let route_path = route_path(prefix, path);
            for (key, op) in item_map {
                let method = if key == ANY_METHOD {
                    "ANY".to_string()
                } else if METHODS.contains(&key.as_str()) {
                    key.to_ascii_uppercase()
                } else {
                    match key.as_str() {
                        "parameters" | "summary" | "description" | "servers" => {}
                        "trace" => self.warn(&at.key(key), "TRACE is not supported: left out"),
                        k if k.starts_with(EXT) => {
                            self.warn(&at.key(key), "not supported on a path item: dropped")
                        }
                        _ => {}
                    }
                    continue;
                };
                let shared = (&at, shared);
                if let Some(route) = self.route(&at.key(key), &method, &route_path, op, shared) {
                    routes.push(route);
                }
            }
        }
        routes
    }

    fn route(
        &mut self,
        at: &JsonPath,
        method: &str,
        path: &str,
        op: &Node,
        shared: (&JsonPath, &[Node]),
    ) -> Option<Node> {
        let Some(integration) = op.get(INTEGRATION) else {
            self.warn(
                at,
                "no x-amazon-apigateway-integration: left out (AWS creates a method that \
                 cannot be called)",
            );
            return None;
        };
        let mut route = IndexMap::new();
        route.insert("route".to_string(), s(format!("{method} {path}")));
        if let Some(id) = op.get("operationId").and_then(Node::scalar_text) {
            route.insert("operation_name".to_string(), s(id));
        }
        let params = self.method_parameters(at, op, shared);
        let integration = self.integration(&at.key(INTEGRATION), method, integration)?;
        if !params.request_parameters.is_empty() {
            route.insert(
                "request_parameters".to_string(),
                Node::Map(params.request_parameters),
            );
        }
        if !params.request_models.is_empty() {
            route.insert(
                "request_models".to_string(),
                Node::Map(params.request_models),
            );
        }
        if let Some(v) = op.get(&format!("{EXT}request-validator")) {
            match v.as_str() {
                Some(name) => {
                    route.insert("request_validator".to_string(), s(name));
                }
                None => self.warn(
                    &at.key(&format!("{EXT}request-validator")),
                    "must be a validator's name: dropped",
                ),
            }
        }
        let security = self.schemes.route(self.doc, at, op, &mut self.warnings);
        apply_security(&mut route, security);
        route.insert("integration".to_string(), integration);
        let documented = self.method_responses(&at.key("responses"), op);
        if !documented.is_empty() {
            route.insert("method_responses".to_string(), Node::Seq(documented));
        }
        for key in op.as_map().into_iter().flat_map(|m| m.keys()) {
            if key.starts_with(EXT)
                && key != INTEGRATION
                && key != &format!("{EXT}request-validator")
                && key != &format!("{EXT}auth")
            {
                self.warn(&at.key(key), "not supported: dropped");
            }
        }
        Some(Node::Map(route))
    }

    /// The query and header parameters a route declares, and its body's models by media type.
    fn method_parameters(
        &mut self,
        at: &JsonPath,
        op: &Node,
        (at_item, shared): (&JsonPath, &[Node]),
    ) -> Params {
        let mut out = Params::default();
        let own = op.items("parameters");
        // The operation's own parameter wins over the path item's of the same name and place.
        let mut merged: Vec<(JsonPath, &Node)> = Vec::new();
        for (i, p) in own.iter().enumerate() {
            merged.push((at.key("parameters").index(i), p));
        }
        for (i, p) in shared.iter().enumerate() {
            let same = |q: &&Node| q.get("name") == p.get("name") && q.get("in") == p.get("in");
            if !own.iter().any(|q| same(&q)) {
                merged.push((at_item.key("parameters").index(i), p));
            }
        }
        for (where_, p) in merged {
            let p = resolve(&self.doc.root, p);
            let name = p.get("name").and_then(Node::as_str).unwrap_or_default();
            let required = p.get("required").and_then(Node::as_bool).unwrap_or(false);
            match p.get("in").and_then(Node::as_str) {
                Some("query") => {
                    out.request_parameters.insert(
                        format!("method.request.querystring.{name}"),
                        Node::Bool(required),
                    );
                }
                Some("header") => {
                    out.request_parameters.insert(
                        format!("method.request.header.{name}"),
                        Node::Bool(required),
                    );
                }
                // Every path parameter is a capture of the route already.
                Some("path") => {}
                Some("body") => {
                    if let Some(model) = self.schema_model(&where_.key("schema"), p.get("schema")) {
                        for media in self.media_list(op, "consumes") {
                            out.request_models.insert(media, s(model.clone()));
                        }
                    }
                }
                Some(other) => self.warn(
                    &where_,
                    format!("a parameter in {other} is not supported: dropped"),
                ),
                None => self.warn(&where_, "a parameter without `in`: dropped"),
            }
        }
        if let Some(body) = op.get("requestBody") {
            let body = resolve(&self.doc.root, body);
            let at_body = at.key("requestBody").key("content");
            for (media, content) in body.entries("content") {
                let at_media = at_body.key(media);
                if let Some(model) =
                    self.schema_model(&at_media.key("schema"), content.get("schema"))
                {
                    out.request_models.insert(media.clone(), s(model));
                }
            }
        }
        out
    }

    /// The method responses an operation documents: status, headers and models. AWS keeps
    /// them on the method and gives them back in its export; a `default` response has no
    /// method-response form and is left out, as AWS leaves it out.
    fn method_responses(&mut self, at: &JsonPath, op: &Node) -> Vec<Node> {
        let mut out = Vec::new();
        for (code, response) in op.entries("responses") {
            let at = at.key(code);
            let Some(status) = code.parse::<u16>().ok().filter(|c| (100..=599).contains(c)) else {
                if code != "default" {
                    self.warn(&at, "not an HTTP status: this method response is left out");
                }
                continue;
            };
            let response = resolve(&self.doc.root, response);
            let mut entry = vec![("status", Node::Number(status.into()))];
            let headers: Vec<Node> = response
                .entries("headers")
                .map(|(h, _)| s(h.clone()))
                .collect();
            if !headers.is_empty() {
                entry.push(("headers", Node::Seq(headers)));
            }
            let mut models = IndexMap::new();
            if self.doc.version == Version::Swagger2 {
                if let Some(schema) = response.get("schema") {
                    if let Some(model) = self.response_model(&at.key("schema"), schema) {
                        for media in self.media_list(op, "produces") {
                            models.insert(media, s(model.clone()));
                        }
                    }
                }
            } else {
                for (media, content) in response.entries("content") {
                    if let Some(schema) = content.get("schema") {
                        let at = at.key("content").key(media).key("schema");
                        if let Some(model) = self.response_model(&at, schema) {
                            models.insert(media.clone(), s(model));
                        }
                    }
                }
            }
            if !models.is_empty() {
                entry.push(("models", Node::Map(models)));
            }
            out.push(map(entry));
        }
        out
    }

    /// The model a documented response names; an inline schema documents nothing we keep.
    fn response_model(&mut self, at: &JsonPath, schema: &Node) -> Option<String> {
        match schema.get("$ref").and_then(Node::as_str) {
            Some(r) => definition_name(r).map(|n| model_name(&n)),
            None => {
                self.warn(
                    at,
                    "an inline response schema is documentation only: not kept for export",
                );
                None
            }
        }
    }

    /// Swagger's `consumes` or `produces` of the operation, else of the document, else JSON.
    fn media_list(&self, op: &Node, key: &str) -> Vec<String> {
        let list: Vec<String> = op
            .get(key)
            .or_else(|| self.doc.root.get(key))
            .and_then(Node::as_seq)
            .map(|l| {
                l.iter()
                    .filter_map(|m| m.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        if list.is_empty() {
            vec!["application/json".to_string()]
        } else {
            list
        }
    }

    /// The model a body schema names (`$ref` to a definition); an inline schema is not a model.
    fn schema_model(&mut self, at: &JsonPath, schema: Option<&Node>) -> Option<String> {
        let schema = schema?;
        match schema.get("$ref").and_then(Node::as_str) {
            Some(r) => match definition_name(r) {
                Some(name) => Some(model_name(&name)),
                None => {
                    self.warn(at, format!("$ref {r:?} is not a definition: no body model"));
                    None
                }
            },
            None => {
                self.warn(
                    at,
                    "an inline body schema is not carried over: give it a definition and a $ref",
                );
                None
            }
        }
    }

    fn integration(&mut self, at: &JsonPath, method: &str, node: &Node) -> Option<Node> {
        let mut out = IndexMap::new();
        let Some(kind) = node.get("type").and_then(Node::as_str) else {
            self.warn(at, "an integration without `type`: route left out");
            return None;
        };
        let kind = kind.to_ascii_lowercase();
        if !matches!(
            kind.as_str(),
            "http" | "http_proxy" | "mock" | "aws" | "aws_proxy"
        ) {
            self.warn(
                &at.key("type"),
                format!("integration type {kind:?} is not supported: route left out"),
            );
            return None;
        }
        out.insert("type".to_string(), s(kind.clone()));

        let mut uri = None;
        if kind != "mock" {
            match node.get("uri").map(|u| (u, sub_text(u))) {
                Some((_, Some(text))) => {
                    let mapped = self.mapper.uri(&text);
                    if let Some(note) = mapped.note {
                        self.warn(&at.key("uri"), note);
                    }
                    uri = Some(mapped.value);
                }
                Some((u, None)) => {
                    self.warn(
                        &at.key("uri"),
                        format!(
                            "a uri must be text or Fn::Sub, not {}: route left out",
                            u.kind()
                        ),
                    );
                    return None;
                }
                None => {
                    self.warn(at, "an integration without `uri`: route left out");
                    return None;
                }
            }
        }

        let mut request_parameters = IndexMap::new();
        if let Some(params) = node.get("requestParameters").and_then(Node::as_map) {
            if kind.starts_with("aws") && !params.is_empty() {
                let uri = node.get("uri").and_then(sub_text);
                let why = match uri.as_deref().and_then(apigateway_target).map(|(s, _)| s) {
                    Some(s) if s != "lambda" => format!(
                        "an AWS service integration ({s}) has no local form: dropped with it"
                    ),
                    _ => "a function integration takes no request parameters here: dropped"
                        .to_string(),
                };
                self.warn(&at.key("requestParameters"), why);
            } else {
                for (target, source) in params {
                    let Some(source) = source.as_str() else {
                        self.warn(
                            &at.key("requestParameters").key(target),
                            "not text: dropped",
                        );
                        continue;
                    };
                    request_parameters.insert(target.clone(), s(source));
                }
            }
        }
        if let Some(u) = uri {
            out.insert("uri".to_string(), s(u));
        }
        if !request_parameters.is_empty() {
            out.insert(
                "request_parameters".to_string(),
                Node::Map(request_parameters),
            );
        }
        if let Some(templates) = node.get("requestTemplates").and_then(Node::as_map) {
            if kind == "aws_proxy" || kind == "http_proxy" {
                if !templates.is_empty() {
                    self.warn(
                        &at.key("requestTemplates"),
                        format!(
                            "{} {kind} integration uses no request template: dropped",
                            article(&kind)
                        ),
                    );
                }
            } else if !templates.is_empty() {
                let t = self.templates(&at.key("requestTemplates"), node.get("requestTemplates"));
                out.insert("request_templates".to_string(), Node::Map(t));
            }
        }
        if let Some(p) = node.get("passthroughBehavior").and_then(Node::as_str) {
            let p = p.to_ascii_lowercase();
            if matches!(p.as_str(), "when_no_match" | "when_no_templates" | "never") {
                out.insert("passthrough_behavior".to_string(), s(p));
            } else {
                self.warn(
                    &at.key("passthroughBehavior"),
                    format!("{p:?} is not a passthrough behavior: when_no_match used"),
                );
            }
        }
        if let Some(t) = node.get("timeoutInMillis") {
            match t.scalar_text().and_then(|t| t.parse::<u64>().ok()) {
                Some(ms) if ms > 0 => {
                    out.insert("timeout_ms".to_string(), Node::Number(ms.into()));
                }
                _ => self.warn(&at.key("timeoutInMillis"), "not a positive number: dropped"),
            }
        }
        if let Some(responses) = node.get("responses").and_then(Node::as_map) {
            if kind.ends_with("_proxy") {
                if !responses.is_empty() {
                    self.warn(
                        &at.key("responses"),
                        format!(
                            "{} {kind} integration passes the response through: dropped",
                            article(&kind)
                        ),
                    );
                }
            } else {
                let list = self.integration_responses(&at.key("responses"), responses);
                if !list.is_empty() {
                    out.insert("responses".to_string(), Node::Seq(list));
                }
            }
        }
        for (key, why) in [
            ("credentials", "an IAM role has no meaning here"),
            (
                "connectionType",
                "VPC links have no meaning here; the uri is used as it is",
            ),
            ("connectionId", "VPC links have no meaning here"),
            ("contentHandling", "not supported"),
            ("cacheNamespace", "caching is not supported"),
            ("tlsConfig", "not supported"),
            ("payloadFormatVersion", "an HTTP API setting"),
            ("integrationSubtype", "an HTTP API setting"),
        ] {
            if let Some(v) = node.get(key) {
                if !matches!(v, Node::Null) && v.as_str() != Some("INTERNET") {
                    self.warn(&at.key(key), format!("{why}: dropped"));
                }
            }
        }
        if let Some(keys) = node.get("cacheKeyParameters").and_then(Node::as_seq) {
            if !keys.is_empty() {
                self.warn(
                    &at.key("cacheKeyParameters"),
                    "caching is not supported: dropped",
                );
            }
        }
        if let Some(m) = node.get("httpMethod").and_then(Node::as_str) {
            if kind.starts_with("http") && method != "ANY" && !m.eq_ignore_ascii_case(method) {
                self.warn(
                    &at.key("httpMethod"),
                    format!(
                        "the backend is called with the client's method ({method}), not {}",
                        m.to_ascii_uppercase()
                    ),
                );
            }
        }
        Some(Node::Map(out))
    }

    /// A response's `responseParameters` (the header targets `header_of` names) and
    /// `responseTemplates` as the draft's `headers` and `templates`.
    fn headers_and_templates(
        &mut self,
        at: &JsonPath,
        r: &Node,
        out: &mut IndexMap<String, Node>,
        header_of: fn(&str) -> Option<&str>,
    ) {
        let mut headers = IndexMap::new();
        let at_params = at.key("responseParameters");
        for (target, source) in r.entries("responseParameters") {
            match (header_of(target), source.as_str()) {
                (Some(name), Some(source)) => {
                    if target.starts_with("gatewayresponse.header.method.response.header.") {
                        self.warn(&at_params.key(target), format!("read as header {name}"));
                    }
                    headers.insert(name.to_string(), s(source));
                }
                _ => self.warn(
                    &at_params.key(target),
                    "only a response header set from text is supported: dropped",
                ),
            }
        }
        if !headers.is_empty() {
            out.insert("headers".to_string(), Node::Map(headers));
        }
        let templates = self.templates(&at.key("responseTemplates"), r.get("responseTemplates"));
        if !templates.is_empty() {
            out.insert("templates".to_string(), Node::Map(templates));
        }
    }

    /// Mapping templates by media type, in file order.
    fn templates(&mut self, at: &JsonPath, node: Option<&Node>) -> IndexMap<String, Node> {
        let mut out = IndexMap::new();
        for (media, text) in node.and_then(Node::as_map).into_iter().flatten() {
            match text.as_str() {
                Some(t) => {
                    out.insert(media.clone(), s(t));
                }
                None => self.warn(&at.key(media), "a template must be text: dropped"),
            }
        }
        out
    }

    /// `responses` keyed by selection pattern (`default`: none) into the ordered list, the
    /// default last.
    fn integration_responses(
        &mut self,
        at: &JsonPath,
        responses: &IndexMap<String, Node>,
    ) -> Vec<Node> {
        let mut list = Vec::new();
        let mut default = None;
        for (pattern, r) in responses {
            let at_r = at.key(pattern);
            let Some(code) = r.get("statusCode").and_then(status) else {
                self.warn(&at_r, "no statusCode a number can be read from: dropped");
                continue;
            };
            let mut out = IndexMap::new();
            if pattern != "default" {
                out.insert("selection_pattern".to_string(), s(pattern.clone()));
            }
            out.insert("status".to_string(), code);
            self.headers_and_templates(&at_r, r, &mut out, |t| {
                t.strip_prefix("method.response.header.")
            });
            if r.get("contentHandling").is_some() {
                self.warn(&at_r.key("contentHandling"), "not supported: dropped");
            }
            if pattern == "default" {
                default = Some(Node::Map(out));
            } else {
                list.push(Node::Map(out));
            }
        }
        list.extend(default);
        list
    }

    /// `definitions` (2.0) or `components.schemas` (3.0) as models, their `$ref`s rewritten to
    /// the draft's `#/models/NAME`.
    fn models(&mut self) -> Option<Node> {
        let (at, defs) = match self.doc.version {
            Version::Swagger2 => (
                JsonPath::root().key("definitions"),
                self.doc.root.get("definitions")?,
            ),
            Version::OpenApi30 => (
                JsonPath::root().key("components").key("schemas"),
                self.doc.root.get("components")?.get("schemas")?,
            ),
        };
        let defs = defs.as_map()?;
        let mut models = IndexMap::new();
        for (name, schema) in defs {
            let local = model_name(name);
            if &local != name {
                self.warn(
                    &at.key(name),
                    format!("model {name:?} is named {local:?} (letters, digits, '_', '-', '.')"),
                );
            }
            let mut schema = schema.clone();
            rewrite_refs(&mut schema);
            models.insert(local, map([("schema".to_string(), schema)]));
        }
        (!models.is_empty()).then_some(Node::Map(models))
    }

    fn root_extensions(&mut self, root: &JsonPath, draft: &mut IndexMap<String, Node>) {
        let Some(root_map) = self.doc.root.as_map() else {
            return;
        };
        for (key, value) in root_map {
            let Some(ext) = key.strip_prefix(EXT) else {
                continue;
            };
            let at = root.key(key);
            match ext {
                "request-validators" => {
                    let mut validators = IndexMap::new();
                    for (name, v) in value.as_map().into_iter().flatten() {
                        let flag =
                            |k: &str| Node::Bool(v.get(k).and_then(Node::as_bool) == Some(true));
                        validators.insert(
                            name.clone(),
                            map([
                                ("body".to_string(), flag("validateRequestBody")),
                                ("parameters".to_string(), flag("validateRequestParameters")),
                            ]),
                        );
                    }
                    draft.insert("request_validators".to_string(), Node::Map(validators));
                }
                "request-validator" => match value.as_str() {
                    Some(name) => {
                        draft.insert("default_request_validator".to_string(), s(name));
                    }
                    None => self.warn(&at, "must be a validator's name: dropped"),
                },
                "api-key-source" => match value.as_str().map(str::to_ascii_lowercase) {
                    Some(v) if v == "header" || v == "authorizer" => {
                        draft.insert("api_key_source".to_string(), s(v));
                    }
                    _ => self.warn(&at, "expected HEADER or AUTHORIZER: dropped"),
                },
                "gateway-responses" => {
                    let responses = self.gateway_responses(&at, value);
                    if !responses.is_empty() {
                        draft.insert("gateway_responses".to_string(), Node::Map(responses));
                    }
                }
                "binary-media-types" => {
                    let mut types = Vec::new();
                    for (i, t) in value.as_seq().unwrap_or(&[]).iter().enumerate() {
                        match t.as_str() {
                            Some(t) => types.push(s(t)),
                            None => self.warn(&at.index(i), "not a media type: dropped"),
                        }
                    }
                    if !types.is_empty() {
                        draft.insert("binary_media_types".to_string(), Node::Seq(types));
                    }
                }
                "policy" => self.warn(
                    &at,
                    "SECURITY: a resource policy is not enforced here (callers it denies in AWS \
                     are let through): dropped",
                ),
                "documentation" => self.warn(&at, "documentation parts are not kept: dropped"),
                _ => self.warn(&at, "not supported: dropped"),
            }
        }
    }

    fn gateway_responses(&mut self, at: &JsonPath, value: &Node) -> IndexMap<String, Node> {
        let mut out = IndexMap::new();
        for (kind, r) in value.as_map().into_iter().flatten() {
            let at_r = at.key(kind);
            let mut g = IndexMap::new();
            if let Some(code) = r.get("statusCode") {
                match status(code) {
                    Some(c) => {
                        g.insert("status".to_string(), c);
                    }
                    None => self.warn(&at_r.key("statusCode"), "not a status code: dropped"),
                }
            }
            self.headers_and_templates(&at_r, r, &mut g, |t| {
                // Seen in real files: the method response's prefix pasted after AWS's own.
                t.strip_prefix("gatewayresponse.header.")
                    .map(|n| n.strip_prefix("method.response.header.").unwrap_or(n))
            });
            out.insert(kind.clone(), Node::Map(g));
        }
        out
    }
}

/// `a` or `an` before an integration type.
fn article(kind: &str) -> &'static str {
    if kind.starts_with(['a', 'e', 'i', 'o', 'u']) {
        "an"
    } else {
        "a"
    }
}

fn apply_security(route: &mut IndexMap<String, Node>, security: RouteSecurity) {
    if let Some(name) = security.authorizer {
        route.insert("authorizer".to_string(), s(name));
    }
    if !security.scopes.is_empty() {
        route.insert(
            "authorization_scopes".to_string(),
            Node::Seq(security.scopes.into_iter().map(s).collect()),
        );
    }
    if security.api_key_required {
        route.insert("api_key_required".to_string(), Node::Bool(true));
    }
}

#[derive(Default)]
struct Params {
    request_parameters: IndexMap<String, Node>,
    request_models: IndexMap<String, Node>,
}

/// A `$ref` to a parameter or request body inside the document (`#/parameters/X`,
/// `#/components/requestBodies/X`), followed; anything else as it is.
fn resolve<'n>(root: &'n Node, node: &'n Node) -> &'n Node {
    let Some(pointer) = node
        .get("$ref")
        .and_then(Node::as_str)
        .and_then(|r| r.strip_prefix("#/"))
    else {
        return node;
    };
    let mut at = root;
    for step in pointer.split('/') {
        let step = step.replace("~1", "/").replace("~0", "~");
        match at.get(&step) {
            Some(next) => at = next,
            None => return node,
        }
    }
    at
}

/// `prefix` + `path`, without a trailing `/` (a route has no empty segment).
fn route_path(prefix: &str, path: &str) -> String {
    let joined = format!("{prefix}{path}");
    let trimmed = joined.trim_end_matches('/');
    if trimmed.is_empty() {
        "/".to_string()
    } else {
        trimmed.to_string()
    }
}

/// The definition a `$ref` names: `#/definitions/X` or `#/components/schemas/X`, decoded.
fn definition_name(r: &str) -> Option<String> {
    let rest = r
        .strip_prefix("#/definitions/")
        .or_else(|| r.strip_prefix("#/components/schemas/"))?;
    if rest.contains('/') {
        return None;
    }
    Some(rest.replace("~1", "/").replace("~0", "~"))
}

/// A definition's name as a model name: letters, digits, `_`, `-` and `.`.
fn model_name(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Every `$ref` to a definition, in place: `#/models/NAME`, or AWS's model URL with the
/// fragment for a reference into a definition (`#/definitions/X/properties/y`).
fn rewrite_refs(node: &mut Node) {
    match node {
        Node::Map(m) => {
            for (k, v) in m.iter_mut() {
                if k == "$ref" {
                    if let Node::String(r) = v {
                        if let Some(name) = definition_name(r) {
                            *r = format!("#/models/{}", model_name(&name));
                        } else if let Some(rest) = r
                            .strip_prefix("#/definitions/")
                            .or_else(|| r.strip_prefix("#/components/schemas/"))
                        {
                            if let Some((name, inner)) = rest.split_once('/') {
                                *r = format!(
                                    "https://apigateway.amazonaws.com/restapis/stagecraft/models/{}#/{inner}",
                                    model_name(name)
                                );
                            }
                        }
                        continue;
                    }
                }
                rewrite_refs(v);
            }
        }
        Node::Seq(items) => items.iter_mut().for_each(rewrite_refs),
        _ => {}
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::config::{self, Scope};

    /// AWS's PetStore sample (tests/data/openapi/README.md says where it comes from).
    const PETSTORE: &str = include_str!("../../tests/data/openapi/petstore-swagger.json");

    fn import(text: &str, base: BasePath, maps: &[&str]) -> Imported {
        let doc = super::super::read::parse(text).unwrap();
        let maps = maps
            .iter()
            .map(|m| super::super::map::parse_map_arg(m).unwrap())
            .collect();
        convert(&doc, base, &mut Mapper::new(maps))
    }

    fn routes(imported: &Imported) -> Vec<String> {
        imported
            .draft
            .get("routes")
            .and_then(Node::as_seq)
            .unwrap_or(&[])
            .iter()
            .map(|r| r.get("route").unwrap().as_str().unwrap().to_string())
            .collect()
    }

    fn route<'n>(imported: &'n Imported, name: &str) -> &'n Node {
        imported
            .draft
            .get("routes")
            .unwrap()
            .as_seq()
            .unwrap()
            .iter()
            .find(|r| r.get("route").unwrap().as_str() == Some(name))
            .unwrap()
    }

    /// The draft as YAML, read back by `config` and validated beside the example gateway.yaml.
    fn validates(imported: &Imported) -> String {
        let yaml = serde_saphyr::to_string(&imported.draft).unwrap();
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("apis")).unwrap();
        std::fs::write(
            dir.path().join("gateway.yaml"),
            include_str!("../../config/gateway.yaml"),
        )
        .unwrap();
        std::fs::write(dir.path().join("apis/imported.yaml"), &yaml).unwrap();
        let sources = config::read_sources(dir.path(), Scope::All).unwrap();
        let raw = config::parse_sources(&sources).unwrap_or_else(|p| panic!("{p:?}\n{yaml}"));
        let problems = config::validate::validate(&raw);
        assert!(!problems.has_errors(), "{problems:?}\n{yaml}");
        yaml
    }

    #[test]
    fn the_petstore_sample_imports_into_a_draft_that_validates() {
        let got = import(
            PETSTORE,
            BasePath::Ignore,
            &["${uri}=http://127.0.0.1:9/petstore/pets"],
        );
        assert_eq!(
            routes(&got),
            [
                "GET /",
                "GET /pets",
                "POST /pets",
                "OPTIONS /pets",
                "GET /pets/{petId}",
                "OPTIONS /pets/{petId}"
            ]
        );
        let pet = route(&got, "GET /pets/{petId}").get("integration").unwrap();
        assert_eq!(pet.get("type").unwrap().as_str(), Some("http"));
        assert_eq!(
            pet.get("uri").unwrap().as_str(),
            Some("http://127.0.0.1:9/petstore/pets/{petId}")
        );
        let list = route(&got, "GET /pets");
        assert_eq!(
            list.get("request_parameters")
                .unwrap()
                .as_map()
                .unwrap()
                .keys()
                .collect::<Vec<_>>(),
            [
                "method.request.querystring.type",
                "method.request.querystring.page"
            ]
        );
        assert_eq!(
            route(&got, "POST /pets").get("request_models"),
            Some(&map([("application/json".to_string(), s("NewPet"))]))
        );
        let home = route(&got, "GET /").get("integration").unwrap();
        let response = &home.get("responses").unwrap().as_seq().unwrap()[0];
        assert_eq!(response.get("status"), Some(&Node::Number(200.into())));
        assert!(response
            .get("templates")
            .unwrap()
            .get("text/html")
            .unwrap()
            .as_str()
            .unwrap()
            .contains("$context.stage"));
        let models = got.draft.get("models").unwrap().as_map().unwrap();
        assert_eq!(models.len(), 6);
        assert_eq!(
            models["Pets"]
                .get("schema")
                .unwrap()
                .get("items")
                .unwrap()
                .get("$ref"),
            Some(&s("#/models/Pet"))
        );
        // The documentation parts are the one thing dropped.
        let warned: Vec<String> = got.warnings.iter().map(|w| w.path.to_string()).collect();
        assert_eq!(
            warned,
            ["$['x-amazon-apigateway-documentation']"],
            "{:?}",
            got.warnings
        );
        let yaml = validates(&got);
        if std::env::var_os("SHOW_DRAFT").is_some() {
            println!("{yaml}");
        }
    }

    #[test]
    fn unmapped_uris_are_stage_variables_with_a_warning_each() {
        let got = import(PETSTORE, BasePath::Ignore, &[]);
        let uri_warnings: Vec<String> = got
            .warnings
            .iter()
            .filter(|w| w.path.to_string().ends_with(".uri"))
            .map(|w| w.path.to_string())
            .collect();
        assert_eq!(
            uri_warnings,
            [
                "$.paths['/pets'].get['x-amazon-apigateway-integration'].uri",
                "$.paths['/pets'].post['x-amazon-apigateway-integration'].uri",
                "$.paths['/pets/{petId}'].get['x-amazon-apigateway-integration'].uri",
            ]
        );
        let pet = route(&got, "GET /pets/{petId}").get("integration").unwrap();
        assert_eq!(
            pet.get("uri").unwrap().as_str(),
            Some("${stageVariables.uri}/{petId}")
        );
        validates(&got);
    }

    #[test]
    fn base_path_modes_and_uri_placeholders_kept_as_aws_writes_them() {
        let text = r#"{"swagger": "2.0", "basePath": "/v1/shop",
          "paths": {"/items/{itemId}": {"get": {"x-amazon-apigateway-integration": {
            "type": "HTTP_PROXY", "httpMethod": "GET", "uri": "http://127.0.0.1:9/items/{id}",
            "requestParameters": {"integration.request.path.id": "method.request.path.itemId"}}}},
            "/": {"x-amazon-apigateway-any-method": {"x-amazon-apigateway-integration": {
            "type": "mock", "requestTemplates": {"application/json": "{\"statusCode\": 200}"},
            "responses": {"4\\d{2}": {"statusCode": "404"}, "default": {"statusCode": 200}}}}}}}"#;
        for (mode, want) in [
            (BasePath::Ignore, ["GET /items/{itemId}", "ANY /"]),
            (
                BasePath::Prepend,
                ["GET /v1/shop/items/{itemId}", "ANY /v1/shop"],
            ),
            (BasePath::Split, ["GET /shop/items/{itemId}", "ANY /shop"]),
        ] {
            let got = import(text, mode, &[]);
            assert_eq!(routes(&got), want, "{mode:?}");
            // A hint for the stage only when the routes do not carry the base path already.
            let hint = (mode == BasePath::Ignore).then_some("/v1/shop");
            assert_eq!(got.base_path.as_deref(), hint);
            validates(&got);
        }
        let got = import(text, BasePath::Ignore, &[]);
        let i = route(&got, "GET /items/{itemId}")
            .get("integration")
            .unwrap();
        assert_eq!(i.get("type").unwrap().as_str(), Some("http_proxy"));
        // `{id}` is no capture: the request parameter fills it, as in AWS.
        assert_eq!(
            i.get("uri").unwrap().as_str(),
            Some("http://127.0.0.1:9/items/{id}")
        );
        assert_eq!(
            i.get("request_parameters")
                .unwrap()
                .get("integration.request.path.id"),
            Some(&s("method.request.path.itemId"))
        );
        let mock = route(&got, "ANY /").get("integration").unwrap();
        let statuses: Vec<_> = mock
            .get("responses")
            .unwrap()
            .as_seq()
            .unwrap()
            .iter()
            .map(|r| {
                (
                    r.get("selection_pattern").cloned(),
                    r.get("status").cloned(),
                )
            })
            .collect();
        assert_eq!(
            statuses,
            [
                (Some(s("4\\d{2}")), Some(Node::Number(404.into()))),
                (None, Some(Node::Number(200.into())))
            ],
            "the default response goes last"
        );
    }

    #[test]
    fn root_extensions_validators_and_gateway_responses() {
        let text = r##"{"openapi": "3.0.1", "servers": [{"url": "https://x.example/{basePath}",
          "variables": {"basePath": {"default": "/prod"}}}],
          "x-amazon-apigateway-request-validators": {"all": {"validateRequestBody": true,
            "validateRequestParameters": true}, "params": {"validateRequestParameters": true}},
          "x-amazon-apigateway-request-validator": "all",
          "x-amazon-apigateway-api-key-source": "HEADER",
          "x-amazon-apigateway-binary-media-types": ["image/png", "*/*"],
          "x-amazon-apigateway-policy": {"Version": "2012-10-17"},
          "x-amazon-apigateway-gateway-responses": {"UNAUTHORIZED": {"statusCode": 401,
            "responseParameters": {
              "gatewayresponse.header.method.response.header.Access-Control-Allow-Origin": "'*'"},
            "responseTemplates": {"application/json": "{\"message\": $context.error.messageString}"}}},
          "components": {"schemas": {"Order": {"type": "object", "required": ["item"],
            "properties": {"item": {"type": "string"}, "next": {"$ref": "#/components/schemas/Order"}}}}},
          "paths": {"/orders": {"parameters": [{"name": "X-Tenant", "in": "header", "required": true}],
            "post": {"x-amazon-apigateway-request-validator": "params",
              "parameters": [{"name": "dry", "in": "query"}],
              "requestBody": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Order"}}}},
              "x-amazon-apigateway-integration": {"type": "mock", "credentials": "arn:aws:iam::1:role/x",
                "requestTemplates": {"application/json": "{\"statusCode\": 200}"},
                "responses": {"default": {"statusCode": "201"}}}}}}}"##;
        let got = import(text, BasePath::Ignore, &[]);
        assert_eq!(got.base_path.as_deref(), Some("/prod"));
        let d = &got.draft;
        assert_eq!(d.get("default_request_validator"), Some(&s("all")));
        assert_eq!(d.get("api_key_source"), Some(&s("header")));
        assert_eq!(
            d.get("binary_media_types"),
            Some(&Node::Seq(vec![s("image/png"), s("*/*")]))
        );
        let params = d.get("request_validators").unwrap().get("params").unwrap();
        assert_eq!(params.get("body"), Some(&Node::Bool(false)));
        let unauthorized = d
            .get("gateway_responses")
            .unwrap()
            .get("UNAUTHORIZED")
            .unwrap();
        assert_eq!(unauthorized.get("status"), Some(&Node::Number(401.into())));
        assert_eq!(
            unauthorized
                .get("headers")
                .unwrap()
                .get("Access-Control-Allow-Origin"),
            Some(&s("'*'"))
        );
        let order = d
            .get("models")
            .unwrap()
            .get("Order")
            .unwrap()
            .get("schema")
            .unwrap();
        assert_eq!(
            order
                .get("properties")
                .unwrap()
                .get("next")
                .unwrap()
                .get("$ref"),
            Some(&s("#/models/Order"))
        );
        let r = route(&got, "POST /orders");
        assert_eq!(r.get("request_validator"), Some(&s("params")));
        assert_eq!(
            r.get("request_parameters")
                .unwrap()
                .as_map()
                .unwrap()
                .keys()
                .collect::<Vec<_>>(),
            [
                "method.request.querystring.dry",
                "method.request.header.X-Tenant"
            ]
        );
        assert_eq!(
            r.get("request_models").unwrap().get("application/json"),
            Some(&s("Order"))
        );
        let warned: Vec<String> = got
            .warnings
            .iter()
            .map(|w| format!("{}: {}", w.path, w.message))
            .collect();
        for want in [
            "$['x-amazon-apigateway-policy']: SECURITY",
            "$['x-amazon-apigateway-gateway-responses'].UNAUTHORIZED.responseParameters['gatewayresponse.header.method.response.header.Access-Control-Allow-Origin']: read as header",
            "$.paths['/orders'].post['x-amazon-apigateway-integration'].credentials: an IAM role",
        ] {
            assert!(warned.iter().any(|w| w.starts_with(want)), "{want}\n{warned:#?}");
        }
        validates(&got);
    }

    #[test]
    fn security_schemes_become_authorizers_and_never_open_a_route() {
        let text = r##"{"swagger": "2.0",
          "securityDefinitions": {
            "Auth0": {"type": "apiKey", "name": "Authorization", "in": "header",
              "x-amazon-apigateway-authtype": "custom",
              "x-amazon-apigateway-authorizer": {"type": "TOKEN", "identitySource": "",
                "authorizerUri": "arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/arn:aws:lambda:us-east-1:1:function:auth/invocations",
                "authorizerResultTtlInSeconds": 60}},
            "by-query": {"type": "apiKey", "name": "Unused", "in": "header",
              "x-amazon-apigateway-authorizer": {"type": "request",
                "identitySource": "method.request.querystring.auth",
                "authorizerUri": "${authorizer_uri}"}},
            "pool": {"type": "apiKey", "name": "TestHeaderAuth", "in": "header",
              "x-amazon-apigateway-authorizer": {"type": "cognito_user_pools",
                "providerARNs": ["${cognito_pool_arn}"]}},
            "api_key": {"type": "apiKey", "name": "x-api-key", "in": "header"}},
          "security": [{"Auth0": []}, {"api_key": []}],
          "paths": {
            "/a": {"get": {"x-amazon-apigateway-integration": {"type": "mock"}},
                   "post": {"security": [], "x-amazon-apigateway-integration": {"type": "mock"}},
                   "put": {"security": [{"by-query": []}], "x-amazon-apigateway-integration": {"type": "mock"}},
                   "patch": {"security": [{"pool": ["email"]}], "x-amazon-apigateway-integration": {"type": "mock"}},
                   "delete": {"security": [{"nowhere": []}], "x-amazon-apigateway-integration": {"type": "mock"}},
                   "head": {"security": [], "x-amazon-apigateway-auth": {"type": "AWS_IAM"},
                     "x-amazon-apigateway-integration": {"type": "mock"}}}}}"##;
        let got = import(
            text,
            BasePath::Ignore,
            &["arn:aws:lambda:us-east-1:1:function:auth=backend://auth:live"],
        );
        let authorizers = got.draft.get("authorizers").unwrap();
        let auth0 = authorizers.get("Auth0").unwrap();
        assert_eq!(auth0.get("type"), Some(&s("token")));
        assert_eq!(auth0.get("uri"), Some(&s("backend://auth:live")));
        assert_eq!(
            auth0.get("identity_source"),
            Some(&s("method.request.header.Authorization"))
        );
        assert_eq!(
            auth0.get("result_ttl_seconds"),
            Some(&Node::Number(60.into()))
        );
        let by_query = authorizers.get("by-query").unwrap();
        assert_eq!(
            by_query.get("uri"),
            Some(&s("${stageVariables.authorizer_uri}"))
        );

        let get = route(&got, "GET /a");
        assert_eq!(get.get("authorizer"), Some(&s("Auth0")));
        assert_eq!(get.get("api_key_required"), Some(&Node::Bool(true)));
        let post = route(&got, "POST /a");
        assert_eq!(post.get("authorizer"), None);
        assert_eq!(post.get("api_key_required"), None);
        assert_eq!(
            route(&got, "PUT /a").get("authorizer"),
            Some(&s("by-query"))
        );

        // Unrepresentable: closed, not open.
        for (r, name) in [
            ("PATCH /a", "pool"),
            ("DELETE /a", "nowhere"),
            ("HEAD /a", "aws_iam"),
        ] {
            assert_eq!(route(&got, r).get("authorizer"), Some(&s(name)), "{r}");
            let a = authorizers.get(name).unwrap();
            assert_eq!(a.get("type"), Some(&s("request")), "{name}");
            assert!(
                a.get("uri")
                    .unwrap()
                    .as_str()
                    .unwrap()
                    .starts_with("${stageVariables.unmapped_auth_"),
                "{name}"
            );
        }
        let security: Vec<&Warning> = got
            .warnings
            .iter()
            .filter(|w| w.message.starts_with("SECURITY"))
            .collect();
        assert_eq!(security.len(), 3, "{security:#?}");
        validates(&got);

        // With its pool mapped, the Cognito authorizer is one, with the route's scopes.
        let got = import(
            text,
            BasePath::Ignore,
            &["${cognito_pool_arn}=arn:aws:cognito-idp:us-east-1:1:userpool/us-east-1_abc"],
        );
        let pool = got.draft.get("authorizers").unwrap().get("pool").unwrap();
        assert_eq!(pool.get("type"), Some(&s("cognito_user_pools")));
        assert_eq!(
            pool.get("identity_source"),
            Some(&s("method.request.header.TestHeaderAuth"))
        );
        assert_eq!(
            route(&got, "PATCH /a").get("authorization_scopes"),
            Some(&Node::Seq(vec![s("email")]))
        );
        validates(&got);
    }

    /// LocalStack's swagger.json with `basePath: /base`, recorded against AWS with
    /// `basepath=prepend`: `GET` and `OPTIONS` on `/base/test`, both behind the request
    /// authorizer, whose Lambda and IAM role have no local meaning.
    /// What SAM and Terraform generate: `Fn::Sub` authorizer URIs, a Cognito pool by
    /// `Fn::GetAtt`, a title by `Ref`, a templated base path, a Step Functions integration.
    #[test]
    fn deployment_tools_references_are_read_or_named() {
        let text = r##"{"openapi": "3.0.1", "info": {"title": {"Ref": "AWS::StackName"}, "version": "1.0"},
          "servers": [{"url": "https://x.execute-api.us-east-1.amazonaws.com/${env}"}],
          "paths": {"/a": {"get": {"security": [{"tok": []}, {"pool": []}],
            "x-amazon-apigateway-integration": {"type": "aws", "httpMethod": "POST",
              "uri": "arn:aws:apigateway:${AWS::Region}:states:action/StartExecution",
              "requestParameters": {"integration.request.header.X": "'1'"}}}}},
          "components": {"securitySchemes": {
            "tok": {"type": "apiKey", "name": "Authorization", "in": "header",
              "x-amazon-apigateway-authorizer": {"type": "token", "authorizerResultTtlInSeconds": 300,
                "authorizerUri": {"Fn::Sub": "arn:aws:apigateway:${AWS::Region}:lambda:path/2015-03-31/functions/${Auth.Arn}/invocations"},
                "authorizerCredentials": {"Fn::GetAtt": ["Role", "Arn"]}}},
            "pool": {"type": "apiKey", "name": "Authorization", "in": "header",
              "x-amazon-apigateway-authorizer": {"type": "cognito_user_pools",
                "providerARNs": [{"Fn::GetAtt": ["MyUserPool", "Arn"]}]}}}}}"##;
        let got = import(
            text,
            BasePath::Prepend,
            &["${Auth.Arn}=http://127.0.0.1:9/auth"],
        );
        let warned: Vec<String> = got
            .warnings
            .iter()
            .map(|w| format!("{}: {}", w.path, w.message))
            .collect();
        let has = |s: &str| warned.iter().any(|w| w.contains(s));
        // The token authorizer keeps its type, cache and header; its role is named, not lost.
        let tok = got.draft.get("authorizers").unwrap().get("tok").unwrap();
        assert_eq!(tok.get("type"), Some(&s("token")));
        assert_eq!(tok.get("uri"), Some(&s("http://127.0.0.1:9/auth")));
        assert_eq!(
            tok.get("result_ttl_seconds"),
            Some(&Node::Number(300.into()))
        );
        assert!(has("authorizerCredentials: an IAM role"), "{warned:#?}");
        assert!(
            has("providerARNs[0] is a CloudFormation reference (Fn::GetAtt MyUserPool.Arn)"),
            "{warned:#?}"
        );
        assert!(has("$.info.title: a mapping"), "{warned:#?}");
        assert!(
            has(r#"the base path "/${env}" holds a placeholder"#),
            "{warned:#?}"
        );
        assert!(has("an AWS service integration (states)"), "{warned:#?}");
        assert_eq!(
            routes(&got),
            ["GET /a"],
            "no route is prefixed with a placeholder"
        );
        assert_eq!(got.base_path, None);
        validates(&got);
    }

    #[test]
    fn the_base_path_sample_imports_as_aws_imported_it() {
        let text = include_str!("../../tests/data/openapi/swagger-basepath.json");
        for (mode, path) in [
            (BasePath::Prepend, "/base/test"),
            (BasePath::Ignore, "/test"),
            (BasePath::Split, "/test"),
        ] {
            let got = import(text, mode, &[]);
            assert_eq!(
                routes(&got),
                [format!("GET {path}"), format!("OPTIONS {path}")]
            );
            for r in ["GET", "OPTIONS"] {
                let route = route(&got, &format!("{r} {path}"));
                assert_eq!(route.get("authorizer"), Some(&s("myapi-authorizer-0")));
            }
            let a = got
                .draft
                .get("authorizers")
                .unwrap()
                .get("myapi-authorizer-0")
                .unwrap();
            assert_eq!(a.get("type"), Some(&s("request")));
            assert_eq!(
                a.get("identity_source"),
                Some(&s("method.request.querystring.auth"))
            );
            let warned: Vec<String> = got.warnings.iter().map(|w| w.path.to_string()).collect();
            let at =
                "$.securityDefinitions['myapi-authorizer-0']['x-amazon-apigateway-authorizer']";
            assert_eq!(
                warned,
                [
                    format!("{at}.authorizerCredentials"),
                    format!("{at}.authorizerUri")
                ],
                "{:#?}",
                got.warnings
            );
            assert!(got.draft.get("models").unwrap().get("Empty").is_some());
            validates(&got);
        }
    }

    /// The definition Pulumi generated (LocalStack's test_import_rest_api): what AWS kept of
    /// it (the API key source, binary media types), and the rest as the draft holds it.
    #[test]
    fn the_pulumi_sample_imports_with_its_security_and_gateway_responses() {
        let text = include_str!("../../tests/data/openapi/pulumi.json");
        let got = import(
            text,
            BasePath::Ignore,
            &[
                "arn:aws:lambda:us-west-2:000000000000:function:s3OnObjectCreatedLambda-60c92b6=backend://jobs:live",
                "arn:aws:lambda:us-west-2:000000000000:function:apiGwAuthorizerLambda-2152989=backend://auth:live",
            ],
        );
        let d = &got.draft;
        assert_eq!(d.get("api_key_source"), Some(&s("header")));
        assert_eq!(
            d.get("binary_media_types"),
            Some(&Node::Seq(vec![s("*/*")]))
        );
        let options = route(&got, "OPTIONS /{proxy+}");
        assert_eq!(options.get("api_key_required"), Some(&Node::Bool(true)));
        assert_eq!(options.get("authorizer"), None);
        let job = route(&got, "GET /just_do_it");
        assert_eq!(job.get("authorizer"), Some(&s("Auth0")));
        assert_eq!(job.get("api_key_required"), Some(&Node::Bool(true)));
        let i = job.get("integration").unwrap();
        assert_eq!(i.get("type"), Some(&s("aws_proxy")));
        assert_eq!(i.get("uri"), Some(&s("backend://jobs:live")));
        let auth0 = d.get("authorizers").unwrap().get("Auth0").unwrap();
        assert_eq!(auth0.get("uri"), Some(&s("backend://auth:live")));
        assert_eq!(
            auth0.get("identity_source"),
            Some(&s("method.request.header.Authorization"))
        );
        let responses = d.get("gateway_responses").unwrap().as_map().unwrap();
        assert_eq!(
            responses.keys().collect::<Vec<_>>(),
            [
                "UNAUTHORIZED",
                "ACCESS_DENIED",
                "MISSING_AUTHENTICATION_TOKEN",
                "EXPIRED_TOKEN"
            ]
        );
        let expired = &responses["EXPIRED_TOKEN"];
        assert_eq!(expired.get("status"), Some(&Node::Number(403.into())));
        assert_eq!(
            expired
                .get("headers")
                .unwrap()
                .get("Access-Control-Allow-Origin"),
            Some(&s("'*'"))
        );
        // The de-quirked header names, one note each, and the inline response schemas that
        // document a method; nothing that is served is lost.
        assert!(
            got.warnings
                .iter()
                .all(|w| w.message.starts_with("read as header")
                    || w.message.starts_with("an inline response schema")),
            "{:#?}",
            got.warnings
        );
        let headers = got
            .warnings
            .iter()
            .filter(|w| w.message.starts_with("read as header"))
            .count();
        assert_eq!(headers, 12);
        validates(&got);
    }
}

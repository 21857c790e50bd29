//! Part of `openapi` (beside the data flow): what a stage serves (its deployment, as written)
//! as an OpenAPI 3.0 or Swagger 2.0 document in the shape of AWS's `get-export`, API Gateway's
//! extensions included on request. `import` of an export gives back the same routes.
//!
//! The deployment is read as its own ordered tree (the draft's keys), so templates, responses and
//! parameters come out in the order they were written. What has no OpenAPI form (a route's
//! throttle or fault, a `jwt` authorizer, stage variables, CORS) is left out with a note.

use indexmap::IndexMap;

use super::doc::{map, text as s, Node, EXT};

/// The document's dialect (`--format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Oas30,
    Swagger,
}

/// What is exported and where the stage is reached.
pub struct Source<'a> {
    pub api: &'a str,
    pub deployment_id: &'a str,
    /// The deployment file as a tree.
    pub deployment: &'a Node,
    /// The stage's base path, `/local` (`/` for none).
    pub base_path: &'a str,
    /// The stage's host, when it has one.
    pub host: Option<&'a str>,
}

/// The document, and what it leaves out.
pub struct Exported {
    pub document: Node,
    pub notes: Vec<String>,
}

pub fn export(src: &Source<'_>, format: Format, extensions: bool) -> Exported {
    let mut notes = Vec::new();
    let dep = src.deployment;
    let swagger = format == Format::Swagger;
    let models_at = if swagger {
        "#/definitions/"
    } else {
        "#/components/schemas/"
    };
    let mut doc: IndexMap<String, Node> = IndexMap::new();
    let host = src.host.unwrap_or("localhost");
    let base = src.base_path.trim_matches('/');
    // What the imported definition said, else the API's name and the deployment's id.
    let info = dep.get("info");
    let info_text = |k: &str| info.and_then(|i| i.get(k)).and_then(Node::scalar_text);
    let title = s(info_text("title").unwrap_or_else(|| src.api.to_string()));
    let version = s(info_text("version").unwrap_or_else(|| src.deployment_id.to_string()));
    let description = info_text("description").map(|d| ("description", s(d)));
    if swagger {
        doc.insert("swagger".into(), s("2.0"));
        doc.insert(
            "info".into(),
            map([
                Some(("version", version)),
                Some(("title", title)),
                description,
            ]
            .into_iter()
            .flatten()),
        );
        doc.insert("host".into(), s(host));
        doc.insert("basePath".into(), s(format!("/{base}")));
        doc.insert("schemes".into(), Node::Seq(vec![s("https")]));
    } else {
        doc.insert("openapi".into(), s("3.0.1"));
        doc.insert(
            "info".into(),
            map([
                Some(("title", title)),
                description,
                Some(("version", version)),
            ]
            .into_iter()
            .flatten()),
        );
        doc.insert(
            "servers".into(),
            Node::Seq(vec![map(vec![
                ("url", s(format!("https://{host}/{{basePath}}"))),
                (
                    "variables",
                    map(vec![("basePath", map(vec![("default", s(base))]))]),
                ),
            ])]),
        );
    }

    let default_validator = dep.get("default_request_validator").and_then(Node::as_str);
    let mut paths: IndexMap<String, Node> = IndexMap::new();
    let mut uses_api_key = false;
    for route in dep.items("routes") {
        let Some((method, path)) = route
            .get("route")
            .and_then(Node::as_str)
            .and_then(|r| r.split_once(' '))
        else {
            continue;
        };
        for key in ["throttle", "fault"] {
            if route.get(key).is_some() {
                notes.push(format!(
                    "{method} {path}: `{key}` has no OpenAPI form: left out"
                ));
            }
        }
        let key = if method == "ANY" {
            if !extensions {
                notes.push(format!(
                    "ANY {path}: only x-amazon-apigateway-any-method can say ANY: left out without \
                     --extensions apigateway"
                ));
                continue;
            }
            format!("{EXT}any-method")
        } else {
            method.to_ascii_lowercase()
        };
        let mut op: IndexMap<String, Node> = IndexMap::new();
        if let Some(id) = route.get("operation_name").and_then(Node::scalar_text) {
            op.insert("operationId".into(), s(id));
        }
        let mut params = Vec::new();
        for capture in path
            .split('/')
            .filter_map(|seg| seg.strip_prefix('{')?.strip_suffix('}'))
        {
            let name = capture.trim_end_matches('+');
            params.push(parameter(swagger, name, "path", true));
        }
        for (k, required) in route.entries("request_parameters") {
            let required = required.as_bool() == Some(true);
            if let Some(q) = k.strip_prefix("method.request.querystring.") {
                params.push(parameter(swagger, q, "query", required));
            } else if let Some(h) = k.strip_prefix("method.request.header.") {
                params.push(parameter(swagger, h, "header", required));
            }
        }
        let models: Vec<(&String, &str)> = route
            .entries("request_models")
            .filter_map(|(mime, m)| Some((mime, m.as_str()?)))
            .collect();
        if swagger {
            if let Some((_, model)) = models.first() {
                params.push(map(vec![
                    ("in", s("body")),
                    ("name", s(*model)),
                    ("required", Node::Bool(true)),
                    (
                        "schema",
                        map(vec![("$ref", s(format!("{models_at}{model}")))]),
                    ),
                ]));
                op.insert(
                    "consumes".into(),
                    Node::Seq(models.iter().map(|(m, _)| s(m.as_str())).collect()),
                );
            }
        }
        if !params.is_empty() {
            op.insert("parameters".into(), Node::Seq(params));
        }
        if !swagger && !models.is_empty() {
            let content = models
                .iter()
                .map(|(mime, model)| {
                    (
                        mime.to_string(),
                        map(vec![(
                            "schema",
                            map(vec![("$ref", s(format!("{models_at}{model}")))]),
                        )]),
                    )
                })
                .collect();
            op.insert(
                "requestBody".into(),
                map(vec![
                    ("content", Node::Map(content)),
                    ("required", Node::Bool(true)),
                ]),
            );
        }
        let integration = route.get("integration").unwrap_or(&Node::Null);
        let documented = route.items("method_responses");
        let responses = if documented.is_empty() {
            responses(swagger, integration)
        } else {
            method_responses(swagger, documented, models_at, &mut op)
        };
        op.insert("responses".into(), responses);
        let mut security = Vec::new();
        if let Some(a) = route
            .get("authorizer")
            .and_then(Node::as_str)
            .filter(|a| *a != "none")
        {
            let scopes = route
                .get("authorization_scopes")
                .cloned()
                .unwrap_or(Node::Seq(Vec::new()));
            security.push(map(vec![(a, scopes)]));
        }
        if route.get("api_key_required").and_then(Node::as_bool) == Some(true) {
            uses_api_key = true;
            security.push(map(vec![("api_key", Node::Seq(Vec::new()))]));
        }
        if !security.is_empty() {
            op.insert("security".into(), Node::Seq(security));
        }
        if extensions {
            if let Some(v) = route.get("request_validator").and_then(Node::as_str) {
                if Some(v) != default_validator {
                    op.insert(format!("{EXT}request-validator"), s(v));
                }
            }
            op.insert(
                format!("{EXT}integration"),
                integration_ext(method, integration),
            );
        }
        let item = paths
            .entry(path.to_string())
            .or_insert_with(|| Node::Map(IndexMap::new()));
        if let Node::Map(m) = item {
            m.insert(key, Node::Map(op));
        }
    }
    doc.insert("paths".into(), Node::Map(paths));

    let mut schemas: IndexMap<String, Node> = IndexMap::new();
    for (name, model) in dep.entries("models") {
        let mut schema = model.get("schema").cloned().unwrap_or(Node::Null);
        export_refs(&mut schema, models_at);
        schemas.insert(name.clone(), schema);
    }
    let schemes = security_schemes(dep, uses_api_key, extensions, &mut notes);
    if swagger {
        if !schemas.is_empty() {
            doc.insert("definitions".into(), Node::Map(schemas));
        }
        if !schemes.is_empty() {
            doc.insert("securityDefinitions".into(), Node::Map(schemes));
        }
    } else {
        let mut components = IndexMap::new();
        if !schemas.is_empty() {
            components.insert("schemas".to_string(), Node::Map(schemas));
        }
        if !schemes.is_empty() {
            components.insert("securitySchemes".to_string(), Node::Map(schemes));
        }
        doc.insert("components".into(), Node::Map(components));
    }
    if extensions {
        root_extensions(dep, &mut doc);
    }
    if dep.get("cors").is_some() {
        notes.push("`cors` has no OpenAPI form in a REST API: left out".into());
    }
    Exported {
        document: Node::Map(doc),
        notes,
    }
}

fn parameter(swagger: bool, name: &str, place: &str, required: bool) -> Node {
    let mut p = vec![("name", s(name)), ("in", s(place))];
    if required {
        p.push(("required", Node::Bool(true)));
    }
    if swagger {
        p.push(("type", s("string")));
    } else {
        p.push(("schema", map(vec![("type", s("string"))])));
    }
    map(p)
}

/// The method responses a route documents, as AWS exports them. Swagger has one schema per
/// response: the first model's, with every model's media type in the operation's `produces`.
fn method_responses(
    swagger: bool,
    documented: &[Node],
    models_at: &str,
    op: &mut IndexMap<String, Node>,
) -> Node {
    let mut out: IndexMap<String, Node> = IndexMap::new();
    let mut produces: Vec<Node> = Vec::new();
    for r in documented {
        let Some(status) = r.get("status").and_then(Node::scalar_text) else {
            continue;
        };
        let mut resp = vec![("description", s(format!("{status} response")))];
        let models: Vec<(&String, String)> = r
            .entries("models")
            .filter_map(|(mime, m)| Some((mime, m.scalar_text()?)))
            .collect();
        let schema = |model: &str| map(vec![("$ref", s(format!("{models_at}{model}")))]);
        if swagger {
            if let Some((_, model)) = models.first() {
                resp.push(("schema", schema(model)));
            }
            for (mime, _) in &models {
                if !produces.iter().any(|p| p.as_str() == Some(mime.as_str())) {
                    produces.push(s(mime.as_str()));
                }
            }
        }
        let headers: IndexMap<String, Node> = r
            .items("headers")
            .iter()
            .filter_map(Node::scalar_text)
            .map(|h| (h, string_schema(swagger)))
            .collect();
        if !headers.is_empty() {
            resp.push(("headers", Node::Map(headers)));
        }
        if !swagger {
            let content = models
                .iter()
                .map(|(mime, model)| (mime.to_string(), map(vec![("schema", schema(model))])))
                .collect();
            resp.push(("content", Node::Map(content)));
        }
        out.insert(status, map(resp));
    }
    if !produces.is_empty() {
        op.insert("produces".into(), Node::Seq(produces));
    }
    Node::Map(out)
}

fn string_schema(swagger: bool) -> Node {
    if swagger {
        map(vec![("type", s("string"))])
    } else {
        map(vec![("schema", map(vec![("type", s("string"))]))])
    }
}

/// One method response per integration response status (a proxy integration: 200).
fn responses(swagger: bool, integration: &Node) -> Node {
    let mut out: IndexMap<String, Node> = IndexMap::new();
    for r in integration.items("responses") {
        let Some(status) = r.get("status").and_then(Node::scalar_text) else {
            continue;
        };
        let mut resp = vec![("description", s(format!("{status} response")))];
        let headers: IndexMap<String, Node> = r
            .entries("headers")
            .map(|(h, _)| (h.clone(), string_schema(swagger)))
            .collect();
        if !headers.is_empty() {
            resp.push(("headers", Node::Map(headers)));
        }
        if !swagger {
            resp.push(("content", Node::Map(IndexMap::new())));
        }
        out.entry(status).or_insert_with(|| map(resp));
    }
    if out.is_empty() {
        let mut resp = vec![("description", s("200 response"))];
        if !swagger {
            resp.push(("content", Node::Map(IndexMap::new())));
        }
        out.insert("200".into(), map(resp));
    }
    Node::Map(out)
}

fn integration_ext(method: &str, i: &Node) -> Node {
    let kind = i.get("type").and_then(Node::as_str).unwrap_or("mock");
    let mut out: IndexMap<String, Node> = IndexMap::new();
    out.insert("type".into(), s(kind));
    if kind != "mock" {
        let http_method = if kind.starts_with("aws") {
            "POST"
        } else {
            method
        };
        out.insert("httpMethod".into(), s(http_method));
        if let Some(u) = i.get("uri") {
            out.insert("uri".into(), u.clone());
        }
    }
    let mut responses: IndexMap<String, Node> = IndexMap::new();
    for r in i.items("responses") {
        let key = r
            .get("selection_pattern")
            .and_then(Node::as_str)
            .unwrap_or("default")
            .to_string();
        let mut e = vec![(
            "statusCode",
            s(r.get("status")
                .and_then(Node::scalar_text)
                .unwrap_or_default()),
        )];
        parameters_and_templates(r, "method.response.header.", &mut e);
        responses.insert(key, map(e));
    }
    if !responses.is_empty() {
        out.insert("responses".into(), Node::Map(responses));
    }
    if let Some(p) = i.get("request_parameters") {
        out.insert("requestParameters".into(), p.clone());
    }
    if let Some(t) = i.get("request_templates") {
        out.insert("requestTemplates".into(), t.clone());
    }
    out.insert(
        "passthroughBehavior".into(),
        i.get("passthrough_behavior")
            .cloned()
            .unwrap_or_else(|| s("when_no_match")),
    );
    if let Some(t) = i.get("timeout_ms") {
        out.insert("timeoutInMillis".into(), t.clone());
    }
    Node::Map(out)
}

/// A response's `headers` as AWS's `responseParameters` (each name after `prefix`) and its
/// `templates` as `responseTemplates`.
fn parameters_and_templates(r: &Node, prefix: &str, e: &mut Vec<(&str, Node)>) {
    let params: IndexMap<String, Node> = r
        .entries("headers")
        .map(|(h, v)| (format!("{prefix}{h}"), v.clone()))
        .collect();
    if !params.is_empty() {
        e.push(("responseParameters", Node::Map(params)));
    }
    if let Some(t) = r.get("templates") {
        e.push(("responseTemplates", t.clone()));
    }
}

fn security_schemes(
    dep: &Node,
    uses_api_key: bool,
    extensions: bool,
    notes: &mut Vec<String>,
) -> IndexMap<String, Node> {
    let mut out: IndexMap<String, Node> = IndexMap::new();
    if uses_api_key {
        out.insert(
            "api_key".into(),
            map(vec![
                ("type", s("apiKey")),
                ("name", s("x-api-key")),
                ("in", s("header")),
            ]),
        );
    }
    for (name, a) in dep.entries("authorizers") {
        let kind = a.get("type").and_then(Node::as_str).unwrap_or_default();
        let identity = a.get("identity_source").and_then(Node::as_str);
        let header = identity
            .and_then(|i| i.split(',').next())
            .and_then(|i| i.trim().strip_prefix("method.request.header."))
            .unwrap_or("Unused");
        let (authtype, mut auth) = match kind {
            "token" | "request" => {
                let mut auth = vec![("type", s(kind))];
                if let Some(u) = a.get("uri") {
                    auth.push(("authorizerUri", u.clone()));
                }
                ("custom", auth)
            }
            "cognito_user_pools" => (
                "cognito_user_pools",
                vec![
                    ("type", s(kind)),
                    (
                        "providerARNs",
                        a.get("provider_arns")
                            .cloned()
                            .unwrap_or(Node::Seq(Vec::new())),
                    ),
                ],
            ),
            other => {
                notes.push(format!(
                    "authorizer {name}: a {other} authorizer has no form in AWS's extensions: left out"
                ));
                continue;
            }
        };
        if let Some(i) = identity {
            auth.push(("identitySource", s(i)));
        }
        if let Some(e) = a.get("identity_validation_expression") {
            auth.push(("identityValidationExpression", e.clone()));
        }
        if let Some(t) = a.get("result_ttl_seconds") {
            auth.push(("authorizerResultTtlInSeconds", t.clone()));
        }
        let mut scheme = vec![
            ("type", s("apiKey")),
            ("name", s(header)),
            ("in", s("header")),
        ];
        if extensions {
            scheme.push(("x-amazon-apigateway-authtype", s(authtype)));
            scheme.push(("x-amazon-apigateway-authorizer", map(auth)));
        }
        out.insert(name.clone(), map(scheme));
    }
    out
}

fn root_extensions(dep: &Node, doc: &mut IndexMap<String, Node>) {
    if let Some(b) = dep.get("binary_media_types") {
        doc.insert(format!("{EXT}binary-media-types"), b.clone());
    }
    if let Some(k) = dep.get("api_key_source").and_then(Node::as_str) {
        doc.insert(format!("{EXT}api-key-source"), s(k.to_ascii_uppercase()));
    }
    let validators: IndexMap<String, Node> = dep
        .entries("request_validators")
        .map(|(name, v)| {
            let flag = |k| Node::Bool(v.get(k).and_then(Node::as_bool) == Some(true));
            (
                name.clone(),
                map(vec![
                    ("validateRequestBody", flag("body")),
                    ("validateRequestParameters", flag("parameters")),
                ]),
            )
        })
        .collect();
    if !validators.is_empty() {
        doc.insert(format!("{EXT}request-validators"), Node::Map(validators));
    }
    if let Some(v) = dep.get("default_request_validator") {
        doc.insert(format!("{EXT}request-validator"), v.clone());
    }
    let responses: IndexMap<String, Node> = dep
        .entries("gateway_responses")
        .map(|(kind, g)| {
            let mut e = Vec::new();
            if let Some(st) = g.get("status").and_then(Node::scalar_text) {
                e.push(("statusCode", s(st)));
            }
            parameters_and_templates(g, "gatewayresponse.header.", &mut e);
            (kind.clone(), map(e))
        })
        .collect();
    if !responses.is_empty() {
        doc.insert(format!("{EXT}gateway-responses"), Node::Map(responses));
    }
}

/// `#/models/X[...]` and AWS's model URLs back to the document's own schemas.
fn export_refs(node: &mut Node, models_at: &str) {
    match node {
        Node::Map(m) => {
            for (k, v) in m.iter_mut() {
                if k == "$ref" {
                    if let Node::String(r) = v {
                        if let Some(name) = r.strip_prefix("#/models/") {
                            *r = format!("{models_at}{name}");
                        } else if let Some((_, rest)) = r.split_once("/models/") {
                            let (name, fragment) = rest.split_once("#/").unwrap_or((rest, ""));
                            *r = if fragment.is_empty() {
                                format!("{models_at}{name}")
                            } else {
                                format!("{models_at}{name}/{fragment}")
                            };
                        }
                        continue;
                    }
                }
                export_refs(v, models_at);
            }
        }
        Node::Seq(items) => items.iter_mut().for_each(|i| export_refs(i, models_at)),
        _ => {}
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::openapi::import::{convert, BasePath};
    use crate::openapi::map::{parse_map_arg, Mapper};
    use crate::openapi::read::parse;

    const PETSTORE: &str = include_str!("../../tests/data/openapi/petstore-swagger.json");

    fn source<'a>(tree: &'a Node) -> Source<'a> {
        Source {
            api: "petstore",
            deployment_id: "petstore-1",
            deployment: tree,
            base_path: "/local",
            host: None,
        }
    }

    fn import_text(text: &str, maps: &[&str]) -> Node {
        let maps = maps.iter().map(|m| parse_map_arg(m).unwrap()).collect();
        convert(
            &parse(text).unwrap(),
            BasePath::Ignore,
            &mut Mapper::new(maps),
        )
        .draft
    }

    /// `route` and `integration` of every route, and the models: what a round trip must keep.
    fn served(draft: &Node) -> (Vec<(String, Node)>, Option<Node>) {
        let routes = draft
            .get("routes")
            .and_then(Node::as_seq)
            .unwrap_or(&[])
            .iter()
            .map(|r| {
                let name = r.get("route").unwrap().as_str().unwrap().to_string();
                let mut i = r.get("integration").unwrap().clone();
                // Written out by export either way: the default.
                if let Node::Map(m) = &mut i {
                    m.entry("passthrough_behavior".into())
                        .or_insert_with(|| s("when_no_match"));
                }
                (name, i)
            })
            .collect();
        (routes, draft.get("models").cloned())
    }

    fn round_trip(draft: &Node, format: Format) -> Node {
        let exported = export(&source(draft), format, true);
        let json = serde_json::to_string(&exported.document).unwrap();
        import_text(&json, &[])
    }

    #[test]
    fn the_petstore_sample_survives_export_and_import_in_both_formats() {
        let draft = import_text(PETSTORE, &["${uri}=http://127.0.0.1:9/petstore/pets"]);
        for format in [Format::Oas30, Format::Swagger] {
            let again = round_trip(&draft, format);
            assert_eq!(served(&again), served(&draft), "{format:?}");
        }
    }

    #[test]
    fn the_example_api_survives_export_and_import() {
        let shop: Node =
            serde_saphyr::from_str(include_str!("../../config/apis/shop.yaml")).unwrap();
        let again = round_trip(&shop, Format::Oas30);
        let (routes, _) = served(&again);
        let (want, _) = served(&shop);
        // ANY routes come back through x-amazon-apigateway-any-method; order is by path.
        let sorted = |mut v: Vec<(String, Node)>| {
            v.sort_by(|a, b| a.0.cmp(&b.0));
            v
        };
        assert_eq!(sorted(routes), sorted(want));
    }

    #[test]
    fn the_oas30_shape_follows_awss_export() {
        let draft = import_text(PETSTORE, &["${uri}=http://127.0.0.1:9/petstore/pets"]);
        let doc = export(&source(&draft), Format::Oas30, true).document;
        assert_eq!(doc.get("openapi"), Some(&s("3.0.1")));
        let server = &doc.get("servers").unwrap().as_seq().unwrap()[0];
        assert_eq!(
            server
                .get("variables")
                .unwrap()
                .get("basePath")
                .unwrap()
                .get("default"),
            Some(&s("local"))
        );
        let get = doc
            .get("paths")
            .unwrap()
            .get("/pets/{petId}")
            .unwrap()
            .get("get")
            .unwrap();
        let p = &get.get("parameters").unwrap().as_seq().unwrap()[0];
        assert_eq!(p.get("in"), Some(&s("path")));
        assert_eq!(p.get("required"), Some(&Node::Bool(true)));
        let i = get.get("x-amazon-apigateway-integration").unwrap();
        assert_eq!(i.get("httpMethod"), Some(&s("GET")));
        let default = i.get("responses").unwrap().get("default").unwrap();
        assert_eq!(default.get("statusCode"), Some(&s("200")));
        assert!(doc
            .get("components")
            .unwrap()
            .get("schemas")
            .unwrap()
            .get("Pet")
            .is_some());
        // Without the extensions, none of AWS's keys anywhere.
        let plain = export(&source(&draft), Format::Oas30, false).document;
        let text = serde_json::to_string(&plain).unwrap();
        assert!(!text.contains("x-amazon-apigateway"), "{text}");
    }

    /// A document as compared with AWS's recorded export: everything but what differs by
    /// nature: the API's id and region in the server URL or host, and the date AWS recorded
    /// as a version (`"date"` in the recording).
    fn comparable(doc: &Node, aws_version: Option<&Node>) -> Node {
        let Node::Map(m) = doc else {
            return doc.clone();
        };
        let mut m = m.clone();
        if m.contains_key("host") {
            m.insert("host".into(), s("HOST"));
        }
        if let Some(Node::Seq(servers)) = m.get_mut("servers") {
            if let Some(Node::Map(first)) = servers.first_mut() {
                first.insert("url".into(), s("https://HOST/{basePath}"));
            }
        }
        if aws_version == Some(&s("date")) {
            if let Some(Node::Map(info)) = m.get_mut("info") {
                info.insert("version".into(), s("date"));
            }
        }
        Node::Map(m)
    }

    /// AWS's recorded export `file` against ours of `definition` imported with `maps` and
    /// deployed as stage `local`: equal on every field but ids, hosts and dates.
    fn matches_aws(file: &str, definition: &str, maps: &[&str], format: Format, ext: bool) {
        let path = format!("{}/tests/data/openapi/{file}", env!("CARGO_MANIFEST_DIR"));
        let aws: Node = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let aws = replace_region(&aws);
        let draft = import_text(definition, maps);
        let ours = export(&source(&draft), format, ext).document;
        let version = aws.get("info").and_then(|i| i.get("version"));
        let (aws, ours) = (comparable(&aws, version), comparable(&ours, version));
        let a = serde_json::to_string_pretty(&aws).unwrap();
        let o = serde_json::to_string_pretty(&ours).unwrap();
        if a != o {
            let _ = std::fs::write(std::env::temp_dir().join("export-aws.json"), &a);
            let _ = std::fs::write(std::env::temp_dir().join("export-ours.json"), &o);
        }
        assert_eq!(
            aws, ours,
            "{file}: diff $TMPDIR/export-aws.json $TMPDIR/export-ours.json"
        );
    }

    /// AWS's `<region>` placeholder in the recording, as the region our `--map` named.
    fn replace_region(n: &Node) -> Node {
        match n {
            Node::Map(m) => Node::Map(
                m.iter()
                    .map(|(k, v)| (k.clone(), replace_region(v)))
                    .collect(),
            ),
            Node::Seq(items) => Node::Seq(items.iter().map(replace_region).collect()),
            Node::String(t) if !t.starts_with("https://<api-id") && !t.starts_with("<api-id") => {
                Node::String(t.replace("<region>", "us-east-1"))
            }
            other => other.clone(),
        }
    }

    #[test]
    fn the_petstore_export_matches_awss_recorded_one() {
        matches_aws(
            "petstore-export-oas30.json",
            PETSTORE,
            &["${uri}=http://petstore.execute-api.us-east-1.amazonaws.com/petstore/pets"],
            Format::Oas30,
            true,
        );
    }

    /// LocalStack's recordings against AWS of the `pets.json` definition exported four ways.
    #[test]
    fn the_pets_exports_match_awss_recorded_ones() {
        let pets = include_str!("../../tests/data/openapi/pets.json");
        for (file, format, ext) in [
            ("pets-export-oas30.json", Format::Oas30, true),
            ("pets-export-oas30-plain.json", Format::Oas30, false),
            ("pets-export-swagger.json", Format::Swagger, true),
            ("pets-export-swagger-plain.json", Format::Swagger, false),
        ] {
            matches_aws(file, pets, &[], format, ext);
        }
    }
}

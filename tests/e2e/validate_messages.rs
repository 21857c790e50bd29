//! What `stagecraft validate` reports for every kind of invalid configuration, checked through
//! the library on temporary directories: one table, a row per case, each row the exact
//! `error: FILE:LINE: message` lines the command prints for it. `validate.rs` starts the command
//! itself, on a good directory and a bad one.

use std::path::Path;

use stagecraft::config::{Problems, Scope};
use stagecraft::snapshot::load::load;
use stagecraft::snapshot::Carried;

use crate::common::ConfigDir;

pub const GATEWAY: &str = r#"listen: ["127.0.0.1:18080"]
admin: "127.0.0.1:19901"
backends:
  orders:
    versions:
      v1: { targets: ["127.0.0.1:9001"] }
      v2: { targets: ["127.0.0.1:9002", "127.0.0.1:9003"] }
    aliases:
      live: { v1: 95, v2: 5 }
      next: { v2: 100 }
"#;

const ROUTES: &str = r#"routes:
  - route: "GET /orders/{id}"
    integration:
      type: http_proxy
      uri: "backend://orders:${stageVariables.alias}/orders/{id}"
  - route: "ANY /legacy/{proxy+}"
    integration:
      type: http_proxy
      uri: "http://127.0.0.1:9009/api/{proxy}"
"#;

const STAGE: &str = "api: shop
deployment: shop-1
variables:
  alias: live
  env: production
";

pub fn deployment() -> String {
    format!("api: shop\ndescription: \"first\"\n{ROUTES}")
}

/// A valid directory: gateway.yaml, apis/shop.yaml, deployments/shop-1.yaml, stages/prod.yaml.
pub fn valid_dir() -> ConfigDir {
    let dir = ConfigDir::new();
    dir.write("gateway.yaml", GATEWAY);
    dir.write("apis/shop.yaml", ROUTES);
    dir.write("deployments/shop-1.yaml", &deployment());
    dir.write("stages/prod.yaml", STAGE);
    dir
}

/// `text` with `from` replaced by `to`; panics if `from` is absent (a broken test, not a
/// broken gateway).
pub fn edit(text: &str, from: &str, to: &str) -> String {
    assert!(text.contains(from), "test bug: {from:?} not in {text:?}");
    text.replacen(from, to, 1)
}

/// What `stagecraft validate --config DIR` checks, through the library: the one load pipeline
/// over every file (the drafts in `apis/` too), which compiles even when validation failed, so
/// that the problems only compilation finds (URIs, backends) come in the same run. Errors and
/// warnings, in the order the command prints them; `validate.rs` checks that the command prints
/// exactly what this returns.
pub fn check(dir: &Path) -> Problems {
    match load(dir, Scope::All, &Carried::default(), 0) {
        Ok(loaded) => Problems(loaded.snapshot.warnings),
        Err(rejected) => Problems::from(rejected),
    }
}

/// The lines `stagecraft validate` prints for `problems`, one per problem.
pub fn lines(problems: &Problems) -> Vec<String> {
    problems.0.iter().map(ToString::to_string).collect()
}

/// One problem line `validate` prints: `KIND: FILE:LINE` (or `KIND: FILE` for a problem of the
/// file as a whole), then `: ` and a message that contains the second string. The message is
/// matched by its telling part, not whole: its tail names the alternatives (fields, methods)
/// that change as features are added, or comes from the YAML parser.
type Want = (&'static str, &'static str);

/// One case: files written over [`valid_dir`], and every problem `validate` reports for them, in
/// order; none: the directory is valid.
struct Case {
    name: &'static str,
    files: Vec<(&'static str, String)>,
    want: Vec<Want>,
}

fn case(name: &'static str, files: Vec<(&'static str, String)>, want: Vec<Want>) -> Case {
    Case { name, files, want }
}

/// Whether `line` is the problem `want` describes.
fn matches(line: &str, (place, fragment): Want) -> bool {
    line.strip_prefix(place)
        .and_then(|rest| rest.strip_prefix(": "))
        .is_some_and(|message| message.contains(fragment))
}

/// A usage plan with a problem on every line: a bad stage, one that does not exist, a zero rate,
/// an offset out of range, a method throttle on a stage it does not cover, one on no route.
const BROKEN_PLAN: &str = concat!(
    "stages: [\"shop/prod\", \"shop\", \"shop/nowhere\"]\n",
    "throttle: { rate: 0, burst: 1 }\n",
    "quota: { limit: 10, period: week, offset: 9 }\n",
    "methods:\n",
    "  \"shop/beta GET /orders/{id}\": { rate: 1, burst: 1 }\n",
    "  \"shop/prod GET /nope\": { rate: 1, burst: 1 }\n",
);

/// `stages/prod.yaml` with `from` replaced by `to`.
fn stage(from: &str, to: &str) -> Vec<(&'static str, String)> {
    vec![("stages/prod.yaml", edit(STAGE, from, to))]
}

/// `gateway.yaml` with `from` replaced by `to`.
fn gateway(from: &str, to: &str) -> Vec<(&'static str, String)> {
    vec![("gateway.yaml", edit(GATEWAY, from, to))]
}

/// `deployments/shop-1.yaml` with `from` replaced by `to`.
fn deployed(from: &str, to: &str) -> Vec<(&'static str, String)> {
    vec![("deployments/shop-1.yaml", edit(&deployment(), from, to))]
}

/// `deployments/shop-1.yaml` with API-level settings after its routes (from line 12).
fn with_api_settings(settings: &str) -> Vec<(&'static str, String)> {
    vec![(
        "deployments/shop-1.yaml",
        format!("{}{settings}", deployment()),
    )]
}

fn cases() -> Vec<Case> {
    let two_hosts = "api: shop\ndeployment: shop-1\nbase_path: /x\nhost: a.example.test\nvariables: {alias: live}\n";
    let long_value = format!("  env: {}", "a".repeat(513));
    let longest_value = format!("  env: {}", "a".repeat(512));
    vec![
        case("a valid directory", vec![], vec![]),
        case(
            "the same base path on different hosts",
            vec![
                ("stages/a.yaml", two_hosts.to_string()),
                ("stages/b.yaml", two_hosts.replace("a.example", "b.example")),
            ],
            vec![],
        ),
        case("a stage of an unknown api", stage("api: shop", "api: nope"), vec![
                ("error: stages/prod.yaml:1", "unknown api \"nope\""),
                (
                    "error: stages/prod.yaml:2",
                    "deployment \"shop-1\" belongs to api \"shop\", not \"nope\"",
                ),
            ]),
        case(
            "a stage on a missing deployment",
            stage("deployment: shop-1", "deployment: shop-9"),
            vec![(
                "error: stages/prod.yaml:2",
                "deployment \"shop-9\" does not exist",
            )],
        ),
        case("an alias with an unknown version", gateway("v2: 5", "v9: 5"), vec![("error: gateway.yaml:9", "names unknown version \"v9\"")]),
        case("an alias with a negative weight", gateway("v2: 5", "v2: -5"), vec![(
                "error: gateway.yaml:9",
                "gives version \"v2\" a negative weight (-5)",
            )]),
        case(
            "alias weights that sum to zero",
            gateway("{ v1: 95, v2: 5 }", "{ v1: 0, v2: 0 }"),
            vec![
                (
                    "error: gateway.yaml:9",
                    "weights of alias \"live\" of backend \"orders\" sum to zero",
                ),
                // The route that uses the alias cannot be compiled either.
                (
                    "error: deployments/shop-1.yaml:7",
                    "backend \"orders\" has no alias or version \"live\"",
                ),
            ],
        ),
        case(
            "a bad stage file name",
            vec![("stages/bad name!.yaml", format!("{STAGE}base_path: /bad\n"))],
            // The file name is the problem: there is no line to point at.
            vec![("error: stages/bad name!.yaml", "invalid stage name \"bad name!\"")],
        ),
        case(
            "a bad variable name",
            stage("  env: production", "  bad-name: production"),
            vec![("error: stages/prod.yaml:5", "invalid variable name \"bad-name\"")],
        ),
        case(
            "a variable value with a space",
            stage("  env: production", "  env: \"prod env\""),
            vec![(
                "error: stages/prod.yaml:5",
                "invalid variable value \"prod env\" for \"env\"",
            )],
        ),
        case(
            "a variable value with a quote",
            stage("  env: production", "  env: 'say\"hi'"),
            vec![(
                "error: stages/prod.yaml:5",
                "invalid variable value \"say\\\"hi\" for \"env\"",
            )],
        ),
        case(
            "a variable value with braces",
            stage("  env: production", "  env: \"x{y}\""),
            vec![(
                "error: stages/prod.yaml:5",
                "invalid variable value \"x{y}\" for \"env\"",
            )],
        ),
        case(
            "a variable value of 513 characters",
            stage("  env: production", &long_value),
            vec![("error: stages/prod.yaml:5", "invalid variable value \"aaaa")],
        ),
        case(
            "a variable value of 512 characters",
            stage("  env: production", &longest_value),
            vec![],
        ),
        case(
            "a duplicate route",
            vec![(
                "deployments/shop-1.yaml",
                format!(
                    "{}  - route: \"GET /orders/{{id}}\"\n    integration:\n      type: http_proxy\n      uri: \"http://127.0.0.1:9009/x\"\n",
                    deployment()
                ),
            )],
            vec![(
                "error: deployments/shop-1.yaml:12",
                "duplicate route \"GET /orders/{id}\": the same method and path as the route on line 4",
            )],
        ),
        case(
            "a route without a slash",
            deployed("\"GET /orders/{id}\"", "\"GET orders\""),
            vec![(
                "error: deployments/shop-1.yaml:4",
                "invalid route \"GET orders\": the path must start with '/'",
            )],
        ),
        case(
            "a route with an unknown method",
            deployed("\"GET /orders/{id}\"", "\"FETCH /x\""),
            vec![(
                "error: deployments/shop-1.yaml:4",
                "invalid route \"FETCH /x\": unknown method \"FETCH\"",
            )],
        ),
        case(
            "a greedy parameter before the end of a route",
            deployed("\"GET /orders/{id}\"", "\"GET /a/{p+}/b\""),
            vec![(
                "error: deployments/shop-1.yaml:4",
                "invalid route \"GET /a/{p+}/b\": greedy parameter {p+} must be the last segment",
            )],
        ),
        case(
            "two stages with the same base path",
            vec![("stages/other.yaml", format!("{STAGE}base_path: /prod\n"))],
            // prod has no base_path: its default, /prod, is claimed at its first line.
            vec![(
                "error: stages/prod.yaml:1",
                "stage \"prod\" and stage \"other\" claim the same host and base path",
            )],
        ),
        case(
            "two stages with the same host and base path",
            vec![
                ("stages/a.yaml", two_hosts.to_string()),
                ("stages/b.yaml", two_hosts.to_string()),
            ],
            vec![(
                "error: stages/b.yaml:3",
                "stage \"b\" and stage \"a\" claim the same host and base path",
            )],
        ),
        case(
            "an integration uri without a valid scheme",
            deployed("http://127.0.0.1:9009/api/{proxy}", "htp:/x"),
            vec![(
                "error: deployments/shop-1.yaml:11",
                "invalid uri \"htp:/x\": expected http://, https:// or backend://",
            )],
        ),
        case(
            "an integration uri with a bad port",
            deployed("http://127.0.0.1:9009/api/{proxy}", "http://host:notaport/"),
            vec![(
                "error: deployments/shop-1.yaml:11",
                "invalid uri \"http://host:notaport/\": bad port \"notaport\"",
            )],
        ),
        case(
            "an unknown backend in a uri",
            deployed(
                "http://127.0.0.1:9009/api/{proxy}",
                "backend://nope:live/{proxy}",
            ),
            vec![(
                "error: deployments/shop-1.yaml:11",
                "unknown backend \"nope\" in uri \"backend://nope:live/{proxy}\"",
            )],
        ),
        case(
            "an unknown field in a stage",
            vec![("stages/prod.yaml", format!("{STAGE}bogus: 1\n"))],
            vec![("error: stages/prod.yaml:6", "unknown field `bogus`")],
        ),
        case(
            "an unknown field nested in gateway.yaml",
            gateway("v1: { targets:", "v1: { tragets:"),
            vec![("error: gateway.yaml:6", "unknown field `tragets`")],
        ),
        case(
            "an unknown field in an integration",
            deployed(
                "      type: http_proxy\n",
                "      type: http_proxy\n      urii: x\n",
            ),
            vec![("error: deployments/shop-1.yaml:7", "unknown field `urii`")],
        ),
        case(
            "a YAML syntax error in a stage",
            // Line 3: a plain scalar containing ": " is "mapping values are not allowed here".
            vec![(
                "stages/prod.yaml",
                "api: shop\ndeployment: shop-1\nbase_path: /prod: x\nvariables: {alias: live}\n"
                    .to_string(),
            )],
            vec![("error: stages/prod.yaml:3", "")],
        ),
        case(
            "a YAML syntax error in a deployment",
            // Line 4 has a tab in its indentation, which YAML forbids.
            deployed(
                "  - route: \"GET /orders/{id}\"",
                "\t- route: \"GET /orders/{id}\"",
            ),
            vec![("error: deployments/shop-1.yaml:4", "")],
        ),
        case(
            "problems in two files",
            [
                gateway("v2: 5", "v2: -5"),
                deployed(
                    "http://127.0.0.1:9009/api/{proxy}",
                    "backend://nope:live/{proxy}",
                ),
            ]
            .concat(),
            vec![
                (
                    "error: gateway.yaml:9",
                    "gives version \"v2\" a negative weight (-5)",
                ),
                (
                    "error: deployments/shop-1.yaml:11",
                    "unknown backend \"nope\" in uri \"backend://nope:live/{proxy}\"",
                ),
            ],
        ),
        case(
            "a binary media type that is not one",
            with_api_settings("binary_media_types: [\"image/png\", \"*/*\", \"png\"]\n"),
            vec![(
                "error: deployments/shop-1.yaml:12",
                "binary_media_types: \"png\" is not a media type (type/subtype; `*` for any)",
            )],
        ),
        case(
            "a schema that does not compile and a reference to a missing model",
            with_api_settings(
                "models:\n  Order:\n    schema: { type: 12 }\n  Ref:\n    schema: { $ref: \"#/models/Nope\" }\n",
            ),
            vec![
                (
                    "error: deployments/shop-1.yaml:14",
                    "model Order: not a valid JSON Schema (draft 4)",
                ),
                (
                    "error: deployments/shop-1.yaml:16",
                    "model Ref: $ref to model \"Nope\", which this API does not define",
                ),
            ],
        ),
        case(
            "validators, CORS and gateway responses that do not hold",
            with_api_settings(concat!(
                "request_validators:\n",
                "  all: { body: true, parameters: true }\n",
                "default_request_validator: everything\n",
                "cors:\n",
                "  allow_origins: [\"*\"]\n",
                "  allow_credentials: true\n",
                "gateway_responses:\n",
                "  NOT_A_TYPE: { status: 400 }\n",
                "  DEFAULT_4XX:\n",
                "    templates: { application/json: '{\"m\": \"$context.nope\"}' }\n",
            )),
            vec![
                (
                    "error: deployments/shop-1.yaml:14",
                    "default_request_validator \"everything\" is not one of request_validators",
                ),
                (
                    "error: deployments/shop-1.yaml:16",
                    "cors: allow_origins \"*\" cannot be used with allow_credentials: true",
                ),
                (
                    "error: deployments/shop-1.yaml:19",
                    "unknown gateway response type \"NOT_A_TYPE\"",
                ),
                (
                    "error: deployments/shop-1.yaml:21",
                    "gateway response DEFAULT_4XX template application/json: unknown context variable \"$context.nope\"",
                ),
            ],
        ),
        case(
            "authorizers that cannot work, and references to none",
            with_api_settings(concat!(
                "authorizers:\n",
                "  tokens:\n",
                "    type: token\n",
                "    identity_validation_expression: \"([\"\n",
                "    result_ttl_seconds: 9000\n",
                "  oidc:\n",
                "    type: jwt\n",
                "    issuer: \"https://idp.example.test/\"\n",
                "  tenants:\n",
                "    type: request\n",
                "    uri: \"backend://orders:live\"\n",
                "    identity_source: method.request.path.id\n",
                "default_authorizer: nobody\n",
            )),
            // By authorizer name, then the API's references.
            vec![
                (
                    "error: deployments/shop-1.yaml:18",
                    "authorizer \"oidc\": a jwt authorizer needs audience",
                ),
                (
                    "error: deployments/shop-1.yaml:18",
                    "a jwt authorizer needs one of jwks_uri and jwks_file",
                ),
                (
                    "error: deployments/shop-1.yaml:23",
                    "authorizer \"tenants\": \"method.request.path.id\": a path parameter cannot be an identity source",
                ),
                (
                    "error: deployments/shop-1.yaml:14",
                    "authorizer \"tokens\": a token authorizer needs uri: the function to call",
                ),
                (
                    "error: deployments/shop-1.yaml:15",
                    "identity_validation_expression \"([\" is not a valid regular expression: error: unclosed character class",
                ),
                (
                    "error: deployments/shop-1.yaml:16",
                    "result_ttl_seconds 9000 is over 3600 (AWS's limit)",
                ),
                (
                    "error: deployments/shop-1.yaml:24",
                    "default_authorizer \"nobody\" is not one of authorizers",
                ),
            ],
        ),
        case(
            "a route naming a validator and a model the api does not have",
            deployed(
                "    integration:\n      type: http_proxy\n      uri: \"backend",
                "    request_validator: nope\n    request_models: { application/json: Missing }\n    request_parameters: { method.request.cookie.x: true }\n    integration:\n      type: http_proxy\n      uri: \"backend",
            ),
            vec![
                (
                    "error: deployments/shop-1.yaml:5",
                    "route \"GET /orders/{id}\": request_validator \"nope\" is not one of request_validators",
                ),
                (
                    "error: deployments/shop-1.yaml:6",
                    "request_models \"application/json\" names model \"Missing\", which this API does not define",
                ),
                (
                    "error: deployments/shop-1.yaml:7",
                    "invalid method request parameter \"method.request.cookie.x\"",
                ),
            ],
        ),
        case(
            "usage plans and API keys that cannot work",
            vec![
                (
                    "usage-plans/gold.yaml",
                    BROKEN_PLAN.to_string(),
                ),
                (
                    "usage-plans/silver.yaml",
                    "stages: [\"shop/prod\"]\nquota: { limit: 5, period: fortnight }\n".to_string(),
                ),
                (
                    "api-keys/acme.yaml",
                    "hash: \"sha256:abc\"\nplans: [gold, bronze]\n".to_string(),
                ),
            ],
            vec![
                (
                    "error: usage-plans/silver.yaml:2",
                    "unknown variant `fortnight`",
                ),
            ],
        ),
        case(
            "a usage store that is not one",
            gateway(
                "admin: \"127.0.0.1:19901\"\n",
                "admin: \"127.0.0.1:19901\"\nusage: { store: \"memcached://u:secret@x\", timeout_ms: 0 }\n",
            ),
            vec![
                (
                    "error: gateway.yaml:3",
                    "usage store \"memcached://***@x\" must be \"local\" or a redis:// URL",
                ),
                ("error: gateway.yaml:3", "usage timeout_ms 0 must be from 1 to 10000"),
            ],
        ),
        case(
            "a plan's stages, throttles and quota, and a key's hash and plans",
            vec![
                (
                    "usage-plans/gold.yaml",
                    BROKEN_PLAN.to_string(),
                ),
                (
                    "usage-plans/silver.yaml",
                    "stages: [\"shop/prod\"]\n".to_string(),
                ),
                (
                    "api-keys/acme.yaml",
                    "hash: \"sha256:abc\"\nplans: [gold, silver, bronze]\n".to_string(),
                ),
            ],
            vec![
                ("error: usage-plans/gold.yaml:1", "plan stage \"shop\" must be \"API/STAGE\""),
                (
                    "warning: usage-plans/gold.yaml:1",
                    "stage \"nowhere\" does not exist (no stages/nowhere.yaml)",
                ),
                ("error: usage-plans/gold.yaml:2", "throttle rate 0 must be above 0"),
                (
                    "error: usage-plans/gold.yaml:3",
                    "quota offset 9 is out of range for a week period (0 to 6: the weekday a week starts on, 0 = Sunday)",
                ),
                (
                    "error: usage-plans/gold.yaml:5",
                    "method throttle for shop/beta GET /orders/{id}: the plan does not cover stage shop/beta",
                ),
                (
                    "warning: usage-plans/gold.yaml:6",
                    "method throttle \"GET /nope\": stage shop/prod has no route \"GET /nope\"",
                ),
                (
                    "error: api-keys/acme.yaml:1",
                    "hash: key hash must be \"sha256:\" and 64 hex digits",
                ),
                (
                    "error: api-keys/acme.yaml:2",
                    "usage plans \"gold\" and \"silver\" both cover stage shop/prod: a key may be in one plan per stage",
                ),
                (
                    "warning: api-keys/acme.yaml:2",
                    "usage plan \"bronze\" does not exist",
                ),
            ],
        ),
        case(
            "keyed routes no key can call, only warnings",
            deployed(
                "routes:\n  - route: \"GET /orders/{id}\"\n",
                "api_key_source: authorizer\nroutes:\n  - route: \"GET /orders/{id}\"\n    api_key_required: true\n",
            ),
            vec![
                (
                    "warning: deployments/shop-1.yaml:5",
                    "route \"GET /orders/{id}\" requires an API key from its authorizer (api_key_source: authorizer), but has no token or request authorizer",
                ),
                (
                    "warning: stages/prod.yaml",
                    "route \"GET /orders/{id}\" of deployment shop-1 requires an API key, but no usage plan covers stage shop/prod",
                ),
            ],
        ),
        case(
            "a uri placeholder that neither a capture nor a request parameter sets",
            deployed(
                "http://127.0.0.1:9009/api/{proxy}",
                "http://127.0.0.1:9009/api/{proxy}/{item}",
            ),
            vec![(
                "error: deployments/shop-1.yaml:11",
                "uri uses {item}, which route \"ANY /legacy/{proxy+}\" does not capture and no integration.request.path.item in request_parameters sets",
            )],
        ),
        case(
            "a documented method response naming a model the API does not define",
            deployed(
                "  - route: \"GET /orders/{id}\"\n",
                "  - route: \"GET /orders/{id}\"\n    operation_name: GetOrder\n    method_responses:\n      - status: 200\n        models: { application/json: Order }\n",
            ),
            vec![(
                "error: deployments/shop-1.yaml:8",
                "route \"GET /orders/{id}\": method_responses 200 \"application/json\" names model \"Order\", which this API does not define",
            )],
        ),
        case(
            "an undefined stage variable, only a warning",
            deployed(
                "http://127.0.0.1:9009/api/{proxy}",
                "http://${stageVariables.legacyHost}/api/{proxy}",
            ),
            vec![(
                "warning: stages/prod.yaml",
                "undefined stage variable(s) legacyHost in stage \"prod\"",
            )],
        ),
    ]
}

#[test]
fn every_problem_is_named_with_its_file_line_and_message() {
    let mut failures = Vec::new();
    for case in cases() {
        let dir = valid_dir();
        for (rel, text) in &case.files {
            dir.write(rel, text);
        }
        let got = lines(&check(dir.path()));
        let ok = got.len() == case.want.len()
            && got
                .iter()
                .zip(&case.want)
                .all(|(line, want)| matches(line, *want));
        if !ok {
            failures.push(format!(
                "{}: want {:#?}\ngot {:#?}",
                case.name, case.want, got
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

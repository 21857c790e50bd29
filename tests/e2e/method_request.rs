//! The method request through the real gateway: request validators and JSON Schema models,
//! gateway responses (AWS's whole-answer rule and its templates), and CORS.
//!
//! The AWS observations are in `tests/data/aws-method-request-vectors.json` (copied, with a note
//! on where they come from, from the reference notes: LocalStack's AWS-validated snapshot tests
//! and one AWS documentation page); the tests read each vector's request and expected answer
//! from there, and refer to a vector by its position in that file's `vectors` (0-based).
//!
//! Which test covers which vector:
//!
//! | vectors | what | test |
//! |---|---|---|
//! | 0-4 | validator on params + body, model `testSchema`, echo Lambda | `vector_00_*` .. `vector_04_*` |
//! | 5 | model list whose items `$ref` another model by AWS's URL | `vector_05_*` |
//! | 6-7 | `oneOf` with `null` and a `$ref`; the empty body is validated | `vector_06_*`, `vector_07_*` |
//! | 8-9 | recursive models (Person/House) | `vector_08_*`, `vector_09_*` (and `recursive_models_*`) |
//! | 15-16 | a route that exists; the wrong method (AWS: 403 Missing Authentication Token) | `vector_15_*`, `vector_16_*` |
//! | 17 | an integration URI with an undefined stage variable: 500 | `vector_17_*` |
//! | 19 | the console's "Enable CORS" OPTIONS mock | `vector_19_*` |
//!
//! Control-plane vectors (AWS management API calls, not requests to a stage: 10, 11, 12, 13, 14
//! and 18), tested for what they mean on the data plane where they have a meaning there:
//!
//! - 10 (GetGatewayResponses after a put of MISSING_AUTHENTICATION_TOKEN): every type not set
//!   keeps its built-in answer, the one set answers with its status, headers and template
//!   (`vector_10_*`; stagecraft's unknown path is RESOURCE_NOT_FOUND, so the customization is
//!   applied to that type).
//! - 11 (GetGatewayResponses after DEFAULT_5XX and a partial AUTHORIZER_FAILURE): `vector_11_*`.
//! - 12 (PutGatewayResponse with response parameters only): `vector_12_*`.
//! - 13 (UpdateGatewayResponse: DEFAULT_4XX status 444 only): `vector_13_*`.
//! - 18 (GetMethod of an imported OPTIONS mock with static Access-Control-* headers): `vector_18_*`.
//!
//! No data-plane behaviour, so no test: vector 14 (UpdateGatewayResponse with a null template,
//! refused by the management API with a BadRequestException; nothing changes for requests).

use crate::common::{
    channel_body, dead_addr, full, read_reply, sha256_hex, within, Backend, Client, ConfigDir,
    Gateway, Reply, Stage,
};

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use http::Method;
use http_body_util::BodyExt as _;
use serde_json::{json, Value};

// ---------------------------------------------------------------------------------------------
// The vectors.

const VECTORS: &str = include_str!("../data/aws-method-request-vectors.json");

fn vectors() -> &'static [Value] {
    static V: OnceLock<Vec<Value>> = OnceLock::new();
    V.get_or_init(|| {
        let doc: Value = serde_json::from_str(VECTORS).expect("the vectors file is JSON");
        let note = doc["source"].as_str().unwrap_or_default();
        assert!(
            note.contains("localstack/localstack"),
            "the vectors file says where they come from: {note:?}"
        );
        let v = doc["vectors"]
            .as_array()
            .expect("`vectors` is a list")
            .clone();
        assert_eq!(
            v.len(),
            20,
            "the copied vectors: request_validation, gateway_responses, cors"
        );
        v
    })
}

fn vector(i: usize) -> &'static Value {
    &vectors()[i]
}

/// `vector N (LocalStack test)`, for assertion messages.
fn label(i: usize) -> String {
    let v = vector(i);
    let from = v["source"]["test"]
        .as_str()
        .or(v["source"]["file"].as_str())
        .unwrap_or("?");
    format!("vector {i} ({from})")
}

/// The JSON value written after `marker` in a vector's `setup` text (a model's schema).
fn json_in_setup(i: usize, marker: &str) -> Value {
    let setup = vector(i)["setup"].as_str().expect("setup text");
    let at = setup
        .find(marker)
        .unwrap_or_else(|| panic!("{marker:?} not in the setup of vector {i}"))
        + marker.len();
    serde_json::Deserializer::from_str(&setup[at..])
        .into_iter::<Value>()
        .next()
        .expect("a JSON value after the marker")
        .expect("valid JSON after the marker")
}

/// The item of `responseType` in a GetGatewayResponses vector (`items`, or
/// `items_sorted_by_responseType`).
fn gateway_response_item(i: usize, kind: &str) -> &'static Value {
    let e = &vector(i)["expected"];
    e.get("items_sorted_by_responseType")
        .or(e.get("items"))
        .and_then(Value::as_array)
        .expect("items")
        .iter()
        .find(|it| it["responseType"] == kind)
        .unwrap_or_else(|| panic!("no {kind} in vector {i}"))
}

/// A vector's request: method, target (path and query), headers, body.
struct VectorRequest {
    method: Method,
    target: String,
    headers: Vec<(String, String)>,
    body: String,
}

fn request_of(i: usize) -> VectorRequest {
    let r = &vector(i)["request"];
    let method = r["method"]
        .as_str()
        .expect("a data-plane vector has a method");
    let mut target = r["path"]
        .as_str()
        .expect("a path")
        .replace("{stage_name}", "dev");
    if let Some(q) = r["query"].as_object().filter(|q| !q.is_empty()) {
        let mut s = form_urlencoded::Serializer::new(String::new());
        for (k, v) in q {
            s.append_pair(k, v.as_str().expect("query values are strings"));
        }
        target = format!("{target}?{}", s.finish());
    }
    let headers = r["headers"]
        .as_object()
        .map(|h| {
            h.iter()
                .map(|(k, v)| (k.clone(), v.as_str().expect("header value").to_string()))
                .collect()
        })
        .unwrap_or_default();
    let body = match &r["body"] {
        Value::Null => String::new(),
        b => b.to_string(),
    };
    VectorRequest {
        method: Method::from_bytes(method.as_bytes()).expect("method"),
        target,
        headers,
        body,
    }
}

/// Sends vector `i`'s request.
async fn send_vector(addr: SocketAddr, i: usize) -> Reply {
    let r = request_of(i);
    let headers: Vec<(&str, &str)> = r
        .headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    call(addr, r.method, &r.target, &headers, r.body).await
}

/// Asserts vector `i`'s expected status, body, headers and `body_assert`.
fn check_vector(i: usize, r: &Reply) {
    let e = &vector(i)["expected"];
    let what = label(i);
    let status = e["status"].as_u64().expect("expected status");
    assert_eq!(
        u64::from(r.status.as_u16()),
        status,
        "{what}: status; body {}",
        r.text()
    );
    if let Some(body) = e.get("body") {
        assert_eq!(r.json(), *body, "{what}: body");
    }
    if let Some(headers) = e["headers"].as_object() {
        for (name, want) in headers {
            assert_eq!(
                r.header(name),
                want.as_str(),
                "{what}: header {name}; headers {:?}",
                r.headers
            );
        }
    }
    if let Some(expr) = e["body_assert"].as_str() {
        body_assert(&what, expr, r);
    }
}

/// LocalStack's `json.loads(response.json()['body']) == {...}` (or `response['body']`): the body
/// the echo Lambda returns is the request body, as text. Our echo backend (`/echo-body`) puts it
/// in `body` of its JSON too.
fn body_assert(what: &str, expr: &str, r: &Reply) {
    let (lhs, rhs) = expr
        .split_once(" == ")
        .unwrap_or_else(|| panic!("{what}: unknown body_assert {expr:?}"));
    assert!(
        lhs.starts_with("json.loads(response") && lhs.ends_with("['body'])"),
        "{what}: unknown body_assert form {expr:?}"
    );
    let want: Value = serde_json::from_str(&rhs.replace('\'', "\""))
        .unwrap_or_else(|e| panic!("{what}: body_assert value {rhs:?}: {e}"));
    let echoed = r.json()["body"]
        .as_str()
        .unwrap_or_else(|| panic!("{what}: no echoed body in {}", r.text()))
        .to_string();
    let got: Value = serde_json::from_str(&echoed)
        .unwrap_or_else(|e| panic!("{what}: echoed body {echoed:?}: {e}"));
    assert_eq!(got, want, "{what}: the body the backend received");
}

// ---------------------------------------------------------------------------------------------
// Configuration and requests.

/// A YAML double-quoted scalar (a JSON string is one).
fn q(s: &str) -> String {
    serde_json::to_string(s).unwrap()
}

/// A JSON value as YAML flow (JSON is YAML).
fn j(v: &Value) -> String {
    v.to_string()
}

/// A mock integration: `{"statusCode": 200}`, answered 200 with `template` (none: empty body).
fn mock(template: Option<&str>) -> String {
    match template {
        Some(t) => format!(
            "{{type: mock, request_templates: {{application/json: '{{\"statusCode\": 200}}'}}, responses: [{{status: 200, templates: {{application/json: {}}}}}]}}",
            q(t)
        ),
        None => "{type: mock, request_templates: {application/json: '{\"statusCode\": 200}'}, responses: [{status: 200}]}".to_string(),
    }
}

/// `{type: http_proxy, uri: URI}`.
fn proxy(uri: &str) -> String {
    format!("{{type: http_proxy, uri: {}}}", q(uri))
}

/// Writes `deployments/ID.yaml`.
fn deploy(dir: &ConfigDir, id: &str, yaml: &str) {
    dir.write(&ConfigDir::deployment_file(id), yaml);
}

/// One API (`yaml`, deployment `api-1`) on stage `stage` (base path `/STAGE`), variable a=va.
async fn serve(stage: &str, yaml: &str) -> (ConfigDir, Gateway) {
    let dir = ConfigDir::new();
    deploy(&dir, "api-1", yaml);
    let api = yaml
        .lines()
        .find_map(|l| l.strip_prefix("api: "))
        .expect("the yaml names its api")
        .trim_matches('"');
    dir.put_stage(stage, &Stage::new(api, "api-1").var("a", "va"));
    let gw = Gateway::start(&dir).await;
    (dir, gw)
}

/// One request on a new connection; panics on transport errors.
async fn call(
    addr: SocketAddr,
    method: Method,
    target: &str,
    headers: &[(&str, &str)],
    body: impl Into<Bytes>,
) -> Reply {
    let mut c = Client::connect(addr).await;
    c.request(method.clone(), target, headers, body)
        .await
        .unwrap_or_else(|e| panic!("{method} {target}: {e}"))
}

async fn get(addr: SocketAddr, target: &str, headers: &[(&str, &str)]) -> Reply {
    call(addr, Method::GET, target, headers, Bytes::new()).await
}

async fn post_json(addr: SocketAddr, target: &str, headers: &[(&str, &str)], body: &str) -> Reply {
    let mut h = vec![("content-type", "application/json")];
    h.extend_from_slice(headers);
    call(addr, Method::POST, target, &h, body.to_string()).await
}

/// A gateway answer: status, `{"message": MESSAGE}` as application/json.
fn assert_message(r: &Reply, status: u16, message: &str) {
    assert_eq!(r.status, status, "status; body {}", r.text());
    assert!(
        r.header("content-type")
            .is_some_and(|c| c.starts_with("application/json")),
        "content-type of a gateway answer: {:?}",
        r.headers
    );
    assert_eq!(r.json(), json!({ "message": message }), "body");
}

/// The body as JSON, after checking the status.
fn json_with_status(r: &Reply, status: u16) -> Value {
    assert_eq!(r.status, status, "status; body {}", r.text());
    r.json()
}

fn assert_no_header(r: &Reply, name: &str) {
    assert!(
        r.header(name).is_none(),
        "unexpected header {name}: {:?}",
        r.headers
    );
}

/// `stagecraft_gateway_responses_total{stage, type}` from the admin `/metrics` (0 when absent).
async fn gateway_responses_total(gw: &Gateway, stage: &str, kind: &str) -> u64 {
    let r = gw
        .admin_get("/metrics")
        .await
        .expect("GET /metrics answers");
    assert_eq!(r.status, 200, "GET /metrics: {}", r.text());
    let text = r.text();
    let mut total = 0.0;
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("stagecraft_gateway_responses_total{") else {
            continue;
        };
        let (labels, value) = rest.rsplit_once("} ").expect("labels then value");
        let labels: BTreeMap<&str, &str> = labels
            .split(',')
            .filter_map(|kv| kv.split_once('='))
            .map(|(k, v)| (k, v.trim_matches('"')))
            .collect();
        if labels.get("stage") == Some(&stage) && labels.get("type") == Some(&kind) {
            total += value.trim().parse::<f64>().expect("a number");
        }
    }
    total as u64
}

// ---------------------------------------------------------------------------------------------
// a. The vectors, one test each.

/// Vectors 0-4: resource `/nested/{test}`, GET and POST to the echo Lambda (here: the echo
/// backend's `/echo-body`, which returns the body it got as `body`), validator
/// `test-validator`, model `testSchema` as the setup writes it.
fn validator_api(be: SocketAddr, body: bool, parameters: bool, post_path_param: &str) -> String {
    let schema = json_in_setup(0, "model testSchema (application/json) = ");
    let route = |method: &str, path_param: &str| {
        format!(
            "  - route: \"{method} /nested/{{test}}\"
    request_validator: test-validator
    request_parameters: {{method.request.path.{path_param}: true, method.request.querystring.qs1: true, method.request.header.x-header-param: true}}
    request_models: {{application/json: testSchema}}
    integration: {}
",
            proxy(&format!("http://{be}/echo-body"))
        )
    };
    format!(
        "api: \"rv\"
models:
  testSchema: {{schema: {}}}
request_validators:
  test-validator: {{body: {body}, parameters: {parameters}}}
routes:
{}{}",
        j(&schema),
        route("GET", "test"),
        route("POST", post_path_param)
    )
}

#[tokio::test]
async fn vector_00_a_valid_request_reaches_the_backend_with_its_body() {
    let be = Backend::start("echo").await;
    let (_dir, gw) = serve("local", &validator_api(be.addr(), true, true, "test")).await;
    let r = send_vector(gw.addr(), 0).await;
    check_vector(0, &r);
    assert_eq!(be.requests(), 1);
    assert_eq!(r.seen("method"), "POST");
}

#[tokio::test]
async fn vector_01_missing_parameters_are_listed_headers_path_query() {
    let be = Backend::start("echo").await;
    // POST requires method.request.path.issuer, which the resource path does not have.
    let (_dir, gw) = serve("local", &validator_api(be.addr(), true, true, "issuer")).await;
    let r = send_vector(gw.addr(), 1).await;
    check_vector(1, &r);
    assert_eq!(r.header("x-amzn-errortype"), Some("BadRequestException"));
    assert_eq!(
        be.requests(),
        0,
        "a refused request never reaches the backend"
    );
}

#[tokio::test]
async fn vector_02_a_missing_query_string_parameter() {
    let be = Backend::start("echo").await;
    let (_dir, gw) = serve("local", &validator_api(be.addr(), true, true, "issuer")).await;
    check_vector(2, &send_vector(gw.addr(), 2).await);
    assert_eq!(be.requests(), 0);
}

#[tokio::test]
async fn vector_03_a_get_without_body_is_validated_as_an_empty_object() {
    let be = Backend::start("echo").await;
    let (_dir, gw) = serve("local", &validator_api(be.addr(), true, true, "test")).await;
    check_vector(3, &send_vector(gw.addr(), 3).await);
    assert_eq!(be.requests(), 0);
}

#[tokio::test]
async fn vector_04_a_validator_that_checks_nothing_lets_everything_through() {
    let be = Backend::start("echo").await;
    let (_dir, gw) = serve("local", &validator_api(be.addr(), false, false, "test")).await;
    check_vector(4, &send_vector(gw.addr(), 4).await);
    assert_eq!(be.requests(), 1);
}

/// Vectors 5-7: a MOCK route answering `{"data": "ok"}` behind a body validator.
fn mock_validated_api(models: &[(&str, Value)], request_model: &str) -> String {
    let mut yaml = String::from("api: \"refs\"\nmodels:\n");
    for (name, schema) in models {
        yaml.push_str(&format!("  {name}: {{schema: {}}}\n", j(schema)));
    }
    yaml.push_str(&format!(
        "request_validators:
  all: {{body: true, parameters: true}}
routes:
  - route: \"POST /path\"
    request_validator: all
    request_models: {{application/json: {request_model}}}
    integration: {}
",
        mock(Some(r#"{"data": "ok"}"#))
    ));
    yaml
}

/// AWS's model reference form (LocalStack's test puts the real API id in it).
fn aws_ref(model: &str) -> String {
    format!("https://apigateway.amazonaws.com/restapis/a1b2c3d4e5/models/{model}")
}

#[tokio::test]
async fn vector_05_a_list_model_refers_to_another_model_by_aws_url() {
    let test_schema = json_in_setup(0, "model testSchema (application/json) = ");
    let list = json!({"type": "array", "items": {"$ref": aws_ref("testSchema")}});
    let (_dir, gw) = serve(
        "local",
        &mock_validated_api(
            &[("testSchema", test_schema), ("testSchemaList", list)],
            "testSchemaList",
        ),
    )
    .await;
    check_vector(5, &send_vector(gw.addr(), 5).await);
    // The referenced model is applied to the items, not just the list shape.
    let r = post_json(
        gw.addr(),
        "/local/path",
        &[],
        r#"[{"a": 1, "b": 2}, {"a": 1}]"#,
    )
    .await;
    assert_message(&r, 400, "Invalid request body");
}

fn one_of_models() -> Vec<(&'static str, Value)> {
    vec![
        (
            "StatusModel",
            json!({"type": "object", "properties": {"Status": {"type": "string"}, "Order": {"type": "integer"}}, "required": ["Status", "Order"]}),
        ),
        (
            "TestModel",
            json!({"type": "object", "properties": {"status": {"oneOf": [{"type": "null"}, {"$ref": aws_ref("StatusModel")}]}}, "required": ["status"]}),
        ),
    ]
}

#[tokio::test]
async fn vector_06_one_of_null_or_a_referenced_model() {
    let (_dir, gw) = serve("local", &mock_validated_api(&one_of_models(), "TestModel")).await;
    check_vector(6, &send_vector(gw.addr(), 6).await);
    // The other branch of the oneOf, and neither.
    let ok = post_json(
        gw.addr(),
        "/local/path",
        &[],
        r#"{"status": {"Status": "x", "Order": 1}}"#,
    )
    .await;
    assert_eq!(json_with_status(&ok, 200), json!({"data": "ok"}));
    let bad = post_json(
        gw.addr(),
        "/local/path",
        &[],
        r#"{"status": {"Status": "x"}}"#,
    )
    .await;
    assert_message(&bad, 400, "Invalid request body");
}

#[tokio::test]
async fn vector_07_no_body_and_no_content_type_is_validated_as_json() {
    let (_dir, gw) = serve("local", &mock_validated_api(&one_of_models(), "TestModel")).await;
    let r = send_vector(gw.addr(), 7).await;
    check_vector(7, &r);
    assert_eq!(r.header("x-amzn-errortype"), Some("BadRequestException"));
}

/// Vectors 8-9: `openapi.spec.circular-ref-with-request-body.json` (LocalStack's
/// `tests/aws/files/`): Person and House refer to each other; API-level default validator
/// `basic`; a MOCK integration.
fn person_models() -> String {
    let person = json!({
        "type": "object",
        "description": "Random person schema.",
        "properties": {
            "name": {"type": "string", "description": "Random property"},
            "b": {"type": "number"},
            "house": {"$ref": "#/models/House"}
        },
        "required": ["name", "b"]
    });
    let house = json!({
        "type": "object",
        "description": "Where a Person can live",
        "properties": {
            "randomProperty": {"type": "string", "description": "Random property", "format": "byte"},
            "contains": {
                "type": "array",
                "items": {"$ref": "#/models/Person"},
                "minItems": 1,
                "description": "The information of who is living in the house"
            }
        }
    });
    format!(
        "models:\n  Person: {{schema: {}}}\n  House: {{schema: {}}}\n  Empty: {{schema: {{title: \"Empty Schema\", type: object}}}}\n",
        j(&person),
        j(&house)
    )
}

fn person_api() -> String {
    format!(
        "api: \"circular\"
{}request_validators:
  basic: {{body: true, parameters: true}}
default_request_validator: basic
routes:
  - route: \"POST /person\"
    request_models: {{application/json: Person}}
    integration: {{type: mock, passthrough_behavior: when_no_templates, request_templates: {{application/json: '{{\"statusCode\": 200}}'}}, responses: [{{status: 200, templates: {{application/json: {}}}}}]}}
",
        person_models(),
        q(r#"{"echo": $input.json('$'), "response": "mocked"}"#)
    )
}

#[tokio::test]
async fn vector_08_a_body_valid_against_recursive_models() {
    let (_dir, gw) = serve("dev", &person_api()).await;
    check_vector(8, &send_vector(gw.addr(), 8).await);
}

#[tokio::test]
async fn vector_09_a_nested_recursive_reference_is_validated() {
    let (_dir, gw) = serve("dev", &person_api()).await;
    check_vector(9, &send_vector(gw.addr(), 9).await);
}

/// Vectors 15-16: `/existing` with a GET MOCK. Stage `dev` customizes METHOD_NOT_ALLOWED and
/// RESOURCE_NOT_FOUND into AWS's answer (403 Missing Authentication Token); stage `plain` serves
/// the same routes with stagecraft's defaults.
fn existing_api(api: &str, aws_answer: bool) -> String {
    let mut yaml = format!("api: \"{api}\"\n");
    if aws_answer {
        let missing_token = "{status: 403, headers: {x-amzn-ErrorType: \"'MissingAuthenticationTokenException'\"}, templates: {application/json: '{\"message\":\"Missing Authentication Token\"}'}}";
        yaml.push_str(&format!(
            "gateway_responses:\n  METHOD_NOT_ALLOWED: {missing_token}\n  RESOURCE_NOT_FOUND: {missing_token}\n"
        ));
    }
    yaml.push_str(&format!(
        "routes:\n  - route: \"GET /existing\"\n    integration: {}\n",
        mock(Some(r#"{"statusCode": 200, "message": "exists"}"#))
    ));
    yaml
}

async fn existing_gateway() -> (ConfigDir, Gateway) {
    let dir = ConfigDir::new();
    deploy(&dir, "aws-1", &existing_api("aws", true));
    deploy(&dir, "plain-1", &existing_api("plain", false));
    dir.put_stage("dev", &Stage::new("aws", "aws-1"));
    dir.put_stage("plain", &Stage::new("plain", "plain-1"));
    let gw = Gateway::start(&dir).await;
    (dir, gw)
}

#[tokio::test]
async fn vector_15_an_existing_route_answers() {
    let (_dir, gw) = existing_gateway().await;
    check_vector(15, &send_vector(gw.addr(), 15).await);
}

#[tokio::test]
async fn vector_16_wrong_method_is_405_by_default_and_aws_403_when_customized() {
    let (_dir, gw) = existing_gateway().await;
    let a = gw.addr();
    // Customized to AWS's answer: exactly what the vector recorded.
    check_vector(16, &send_vector(a, 16).await);
    // The same customization for an unknown path (AWS answers both alike).
    let r = get(a, "/dev/missing", &[]).await;
    assert_message(&r, 403, "Missing Authentication Token");
    assert_eq!(
        r.header("x-amzn-errortype"),
        Some("MissingAuthenticationTokenException")
    );

    // stagecraft's default: 405 with Allow, and 404 for the unknown path.
    let r = call(a, Method::POST, "/plain/existing", &[], Bytes::new()).await;
    assert_message(&r, 405, "Method Not Allowed");
    let allow = r.header("allow").unwrap_or_default();
    assert!(allow.contains("GET"), "Allow: {allow:?}");
    assert!(!allow.contains("POST"), "Allow: {allow:?}");
    assert_no_header(&r, "x-amzn-errortype");
    assert_message(&get(a, "/plain/missing", &[]).await, 404, "Not Found");
}

#[tokio::test]
async fn vector_17_an_undefined_stage_variable_in_the_uri_is_500() {
    let be = Backend::start("svc").await;
    let dir = ConfigDir::new();
    deploy(
        &dir,
        "sv-1",
        &format!(
            "api: \"sv\"\nroutes:\n  - route: \"GET /path1\"\n    integration: {}\n",
            proxy("http://${stageVariables.host}/echo-body")
        ),
    );
    // v2 is created without the variables; v1 has them.
    dir.put_stage("v2", &Stage::new("sv", "sv-1"));
    dir.put_stage(
        "v1",
        &Stage::new("sv", "sv-1").var("host", &be.addr().to_string()),
    );
    let gw = Gateway::start(&dir).await;

    let r = send_vector(gw.addr(), 17).await;
    check_vector(17, &r);
    assert_eq!(be.requests(), 0);
    let ok = get(gw.addr(), "/v1/path1", &[]).await;
    assert_eq!(ok.status, 200, "{}", ok.text());
    assert_eq!(ok.backend(), Some("svc"));
}

#[tokio::test]
async fn vector_19_the_consoles_enable_cors_options_mock() {
    // What the console's "Enable CORS" creates: an OPTIONS MOCK whose integration response maps
    // the Access-Control-* headers, and no `cors:`.
    let yaml = "api: \"console\"
routes:
  - route: \"OPTIONS /\"
    integration:
      type: mock
      request_templates: {application/json: '{\"statusCode\": 200}'}
      responses:
        - status: 200
          headers:
            Access-Control-Allow-Headers: \"'Content-Type,Authorization,X-Amz-Date,X-Api-Key,X-Amz-Security-Token'\"
            Access-Control-Allow-Methods: \"'DELETE,GET,HEAD,OPTIONS,PATCH,POST,PUT'\"
            Access-Control-Allow-Origin: \"'*'\"
";
    let (_dir, gw) = serve("dev", yaml).await;
    let r = send_vector(gw.addr(), 19).await;
    check_vector(19, &r);
    assert!(r.body.is_empty(), "body {:?}", r.text());
}

// Control-plane vectors, by what they mean for requests.

/// A GatewayResponse item's `gatewayresponse.header.*` parameters as `headers:` entries.
fn headers_of(item: &Value) -> String {
    item["responseParameters"]
        .as_object()
        .expect("responseParameters")
        .iter()
        .map(|(k, v)| {
            let name = k
                .strip_prefix("gatewayresponse.header.")
                .expect("a gateway response header");
            format!("{}: {}", q(name), q(v.as_str().expect("a source")))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// A GatewayResponse item of the management API as a `gateway_responses:` entry: its status,
/// its headers, its templates.
fn entry_of(item: &Value) -> String {
    let mut parts = Vec::new();
    if let Some(s) = item["statusCode"].as_str() {
        parts.push(format!("status: {s}"));
    }
    let headers = headers_of(item);
    if !headers.is_empty() {
        parts.push(format!("headers: {{{headers}}}"));
    }
    let templates: Vec<String> = item["responseTemplates"]
        .as_object()
        .expect("responseTemplates")
        .iter()
        .map(|(k, v)| format!("{}: {}", q(k), q(v.as_str().expect("a template"))))
        .collect();
    if !templates.is_empty() {
        parts.push(format!("templates: {{{}}}", templates.join(", ")));
    }
    format!("{{{}}}", parts.join(", "))
}

/// Vector 10: MISSING_AUTHENTICATION_TOKEN put with status 404, four headers and a JSON
/// template; every other type keeps AWS's built-in answer. stagecraft answers an unknown path as
/// RESOURCE_NOT_FOUND, so the same entry is set on that type (and on
/// MISSING_AUTHENTICATION_TOKEN itself, which loads).
#[tokio::test]
async fn vector_10_one_customized_type_and_built_in_defaults_for_the_rest() {
    let custom = gateway_response_item(10, "MISSING_AUTHENTICATION_TOKEN");
    assert_eq!(custom["defaultResponse"], false);
    let entry = entry_of(custom);
    let yaml = format!(
        "api: \"pets\"
request_validators:
  all: {{body: true, parameters: true}}
models:
  Pet: {{schema: {{type: object, required: [name]}}}}
gateway_responses:
  MISSING_AUTHENTICATION_TOKEN: {entry}
  RESOURCE_NOT_FOUND: {entry}
routes:
  - route: \"POST /pets/{{petId}}\"
    request_validator: all
    request_parameters: {{method.request.header.x-tenant: true}}
    request_models: {{application/json: Pet}}
    integration: {}
  - route: \"GET /limited\"
    throttle: {{rate: 0.001, burst: 1}}
    integration: {}
",
        mock(Some(r#"{"ok": true}"#)),
        mock(Some(r#"{"ok": true}"#))
    );
    let (_dir, gw) = serve("s", &yaml).await;
    let a = gw.addr();

    // The customized answer: status, the headers the request has values for, the template.
    let r = get(
        a,
        "/s/pets/7/nowhere?q=abc",
        &[("accept", "application/json")],
    )
    .await;
    let want_status: u16 = custom["statusCode"].as_str().unwrap().parse().unwrap();
    let body = json_with_status(&r, want_status);
    assert_eq!(r.header("access-control-allow-origin"), Some("a.b.c"));
    assert_eq!(r.header("x-request-header"), Some("application/json"));
    assert_eq!(r.header("x-request-query"), Some("abc"));
    // No route matched, so there is no path parameter: a header without a value is not sent.
    assert_no_header(&r, "x-request-path");
    assert_eq!(body["message"], "Not Found");
    assert_eq!(body["type"], "RESOURCE_NOT_FOUND");
    assert_eq!(body["stage"], "s");
    assert_eq!(body["stageVariables.a"], "va");
    assert_eq!(body["statusCode"], "'404'");
    assert!(body["resourcePath"].is_string(), "{body}");
    // Without Accept or q, those headers are not sent.
    let r = get(a, "/s/nowhere", &[]).await;
    assert_eq!(r.status, want_status);
    assert_no_header(&r, "x-request-header");
    assert_no_header(&r, "x-request-query");
    assert_eq!(r.header("access-control-allow-origin"), Some("a.b.c"));

    // Every type not set keeps its built-in answer (the vector's defaultResponse items:
    // `{"message":$context.error.messageString}`, the type's status, no headers).
    let default_template =
        &gateway_response_item(10, "BAD_REQUEST_BODY")["responseTemplates"]["application/json"];
    assert_eq!(
        default_template,
        "{\"message\":$context.error.messageString}"
    );
    let status_of = |kind: &str| -> u16 {
        let item = gateway_response_item(10, kind);
        assert_eq!(item["defaultResponse"], true, "{kind}");
        item["statusCode"].as_str().unwrap().parse().unwrap()
    };
    let r = post_json(a, "/s/pets/7", &[("accept", "application/json")], "{}").await;
    assert_message(
        &r,
        status_of("BAD_REQUEST_PARAMETERS"),
        "Missing required request parameters: [x-tenant]",
    );
    assert_no_header(&r, "x-request-header");
    assert_no_header(&r, "access-control-allow-origin");
    let r = post_json(a, "/s/pets/7", &[("x-tenant", "t1")], "{}").await;
    assert_message(&r, status_of("BAD_REQUEST_BODY"), "Invalid request body");
    let ok = get(a, "/s/limited", &[]).await;
    assert_eq!(ok.status, 200, "{}", ok.text());
    let r = get(a, "/s/limited", &[("accept", "application/json")]).await;
    assert_message(&r, status_of("THROTTLED"), "Too Many Requests");
    assert_no_header(&r, "x-request-header");
    // stagecraft's own type for the wrong method keeps its default too.
    let r = get(a, "/s/pets/7", &[]).await;
    assert_message(&r, 405, "Method Not Allowed");
    assert_no_header(&r, "access-control-allow-origin");
}

/// Vector 11: DEFAULT_5XX {599, x-request-header from Accept, a JSON template} rewrites every
/// 5XX type that is not set itself; AUTHORIZER_FAILURE, set with only a header, keeps its status
/// and built-in template. stagecraft has no authorizers: INTEGRATION_FAILURE plays the
/// partially customized type, API_CONFIGURATION_ERROR (an undefined stage variable in the URI),
/// INTEGRATION_TIMEOUT and FAULT_INJECTED the ones that take DEFAULT_5XX.
#[tokio::test]
async fn vector_11_default_5xx_rewrites_the_5xx_types_not_set_and_only_those() {
    let default_5xx = gateway_response_item(11, "DEFAULT_5XX");
    let partial = gateway_response_item(11, "AUTHORIZER_FAILURE");
    assert_eq!(partial["defaultResponse"], false);
    // AUTHORIZER_FAILURE was put with response parameters only; the rest shows its defaults.
    let partial_entry = format!("{{headers: {{{}}}}}", headers_of(partial));
    let slow = Backend::start("slow").await;
    let yaml = format!(
        "api: \"five\"
gateway_responses:
  DEFAULT_5XX: {}
  INTEGRATION_FAILURE: {partial_entry}
routes:
  - route: \"GET /config\"
    integration: {}
  - route: \"GET /down\"
    integration: {}
  - route: \"GET /slow\"
    integration: {{type: http_proxy, uri: \"http://{}/slow\", timeout_ms: 300}}
  - route: \"GET /fault\"
    fault: {{abort_status: 503}}
    integration: {}
",
        entry_of(default_5xx),
        proxy("http://127.0.0.1:1/${stageVariables.missing}"),
        proxy(&format!("http://{}/down", dead_addr())),
        slow.addr(),
        mock(Some(r#"{"ok": true}"#)),
    );
    let (_dir, gw) = serve("s", &yaml).await;
    let a = gw.addr();
    let accept = [("accept", "application/json")];
    let status: u16 = default_5xx["statusCode"].as_str().unwrap().parse().unwrap();
    assert_eq!(status, 599);

    // What GetGatewayResponses showed for the 5XX types not set (FAULT_INJECTED is
    // stagecraft's own: DEFAULT_5XX's).
    let status_of = |kind: &str| -> u16 {
        if kind == "FAULT_INJECTED" {
            return status;
        }
        let item = gateway_response_item(11, kind);
        assert_eq!(item["defaultResponse"], true, "{kind}");
        assert_eq!(
            item["responseTemplates"], default_5xx["responseTemplates"],
            "{kind}"
        );
        item["statusCode"].as_str().unwrap().parse().unwrap()
    };
    let rewritten = |r: &Reply, kind: &str, message: &str| {
        let body = json_with_status(r, status_of(kind));
        assert_eq!(
            r.header("x-request-header"),
            Some("application/json"),
            "{kind}"
        );
        assert_eq!(body["message"], message, "{kind}");
        assert_eq!(body["type"], kind);
        assert_eq!(body["stage"], "s");
        assert_eq!(body["stageVariables.a"], "va");
        assert_eq!(body["statusCode"], "'404'");
    };
    let r = get(a, "/s/config", &accept).await;
    rewritten(&r, "API_CONFIGURATION_ERROR", "Internal server error");
    assert_eq!(body_field(&r, "resourcePath"), "/config");
    rewritten(
        &get(a, "/s/slow", &accept).await,
        "INTEGRATION_TIMEOUT",
        "Endpoint request timed out",
    );
    rewritten(
        &get(a, "/s/fault", &accept).await,
        "FAULT_INJECTED",
        "Fault injected",
    );
    // Without Accept the header has no value and is not sent.
    let r = get(a, "/s/config", &[]).await;
    assert_eq!(r.status, status);
    assert_no_header(&r, "x-request-header");

    // The partially customized type: its own status and built-in body, its header, nothing from
    // DEFAULT_5XX.
    let r = get(a, "/s/down", &accept).await;
    assert_message(&r, 502, "Bad Gateway");
    assert_eq!(r.header("foo"), Some("bar"));
    assert_no_header(&r, "x-request-header");

    // 4XX answers are not DEFAULT_5XX's business.
    let r = get(a, "/s/nowhere", &accept).await;
    assert_message(&r, 404, "Not Found");
    assert_no_header(&r, "x-request-header");
    slow.release();
}

fn body_field(r: &Reply, name: &str) -> String {
    r.json()[name].as_str().unwrap_or_default().to_string()
}

/// Vector 12: a type put with response parameters only keeps its default status and template.
/// stagecraft's unknown path is RESOURCE_NOT_FOUND (404), where AWS's is
/// MISSING_AUTHENTICATION_TOKEN (403). DEFAULT_4XX being set changes nothing for it.
#[tokio::test]
async fn vector_12_a_type_set_with_headers_only_keeps_its_status_and_body() {
    let put = &vector(12)["expected"]["body"];
    assert_eq!(put["defaultResponse"], false);
    assert_eq!(
        put["responseTemplates"]["application/json"], "{\"message\":$context.error.messageString}",
        "the template AWS filled in is the built-in one"
    );
    let headers_only = format!("{{headers: {{{}}}}}", headers_of(put));
    let yaml = format!(
        "api: \"hdr\"
gateway_responses:
  RESOURCE_NOT_FOUND: {headers_only}
  DEFAULT_4XX: {{status: 444, templates: {{application/json: '{{\"from\": \"DEFAULT_4XX\"}}'}}}}
routes:
  - route: \"GET /items\"
    integration: {}
",
        mock(Some(r#"{"ok": true}"#))
    );
    let (_dir, gw) = serve("s", &yaml).await;
    let a = gw.addr();
    let r = get(a, "/s/nowhere", &[("accept", "text/html")]).await;
    assert_message(&r, 404, "Not Found");
    assert_eq!(r.header("x-request-header"), Some("text/html"));
    let r = get(a, "/s/nowhere", &[]).await;
    assert_message(&r, 404, "Not Found");
    assert_no_header(&r, "x-request-header");
    // A 4XX type not set takes DEFAULT_4XX whole.
    let r = call(
        a,
        Method::DELETE,
        "/s/items",
        &[("accept", "text/html")],
        Bytes::new(),
    )
    .await;
    assert_eq!(json_with_status(&r, 444), json!({"from": "DEFAULT_4XX"}));
    assert_no_header(&r, "x-request-header");
}

/// Vector 13: DEFAULT_4XX with only a status (444): every 4XX type not set answers 444 with its
/// own message; 5XX answers are unchanged.
#[tokio::test]
async fn vector_13_default_4xx_status_only() {
    let updated = &vector(13)["expected"]["body"];
    assert_eq!(updated["responseType"], "DEFAULT_4XX");
    assert_eq!(updated["responseParameters"], json!({}));
    let status: u16 = updated["statusCode"].as_str().unwrap().parse().unwrap();
    let yaml = format!(
        "api: \"f444\"
models:
  Thing: {{schema: {{type: object, required: [id]}}}}
request_validators:
  all: {{body: true, parameters: true}}
gateway_responses:
  DEFAULT_4XX: {{status: {status}}}
routes:
  - route: \"POST /items\"
    request_validator: all
    request_models: {{application/json: Thing}}
    integration: {}
  - route: \"GET /down\"
    integration: {}
",
        mock(Some(r#"{"ok": true}"#)),
        proxy(&format!("http://{}/down", dead_addr()))
    );
    let (_dir, gw) = serve("s", &yaml).await;
    let a = gw.addr();
    assert_message(&get(a, "/s/nowhere", &[]).await, status, "Not Found");
    let r = get(a, "/s/items", &[]).await;
    assert_message(&r, status, "Method Not Allowed");
    assert!(
        r.header("allow").is_some_and(|v| v.contains("POST")),
        "{:?}",
        r.headers
    );
    let r = post_json(a, "/s/items", &[], "{}").await;
    assert_message(&r, status, "Invalid request body");
    assert_eq!(r.header("x-amzn-errortype"), Some("BadRequestException"));
    let ok = post_json(a, "/s/items", &[], r#"{"id": 1}"#).await;
    assert_eq!(json_with_status(&ok, 200), json!({"ok": true}));
    assert_message(&get(a, "/s/down", &[]).await, 502, "Bad Gateway");
}

/// Vector 18: the imported OPTIONS MOCK of `swagger-mock-cors.json` (LocalStack's
/// `tests/aws/files/`): its integration response maps three static Access-Control-* headers and
/// renders `{}`. Without `cors:`, a preflight is routed to it like any request.
#[tokio::test]
async fn vector_18_an_options_mock_with_static_cors_headers() {
    let ir = &vector(18)["expected"]["integration_response"];
    let params = ir["responseParameters"].as_object().unwrap();
    let headers: Vec<String> = params
        .iter()
        .map(|(k, v)| {
            format!(
                "{}: {}",
                q(k.strip_prefix("method.response.header.").unwrap()),
                q(v.as_str().unwrap())
            )
        })
        .collect();
    let status = ir["statusCode"].as_str().unwrap();
    let yaml = format!(
        "api: \"product\"
routes:
  - route: \"OPTIONS /product\"
    integration:
      type: mock
      request_templates: {{application/json: {}}}
      responses:
        - status: {status}
          headers: {{{}}}
          templates: {{application/json: {}}}
",
        q("{\n  \"statusCode\" : 200\n}\n"),
        headers.join(", "),
        q("{}\n")
    );
    let (_dir, gw) = serve("dev", &yaml).await;
    let r = call(
        gw.addr(),
        Method::OPTIONS,
        "/dev/product",
        &[
            ("origin", "http://localhost:8080"),
            ("access-control-request-method", "POST"),
        ],
        Bytes::new(),
    )
    .await;
    assert_eq!(r.status.as_str(), status, "{}", r.text());
    for (k, v) in params {
        let name = k.strip_prefix("method.response.header.").unwrap();
        let want = v.as_str().unwrap().trim_matches('\'');
        assert_eq!(r.header(name), Some(want), "{name}");
    }
    assert_eq!(r.json(), json!({}));
    assert_no_header(&r, "vary");
}

// ---------------------------------------------------------------------------------------------
// b-d. Gateway responses.

/// DEFAULT_4XX (headers and templates, no status) reaches every 4XX the gateway makes: each
/// keeps its own status; the template is chosen by Accept, else the first.
#[tokio::test]
async fn default_4xx_reaches_404_405_413_415_and_429() {
    let tpl = r#"{"t": "$context.error.responseType", "m": $context.error.messageString}"#;
    let yaml = format!(
        "api: \"four\"
gateway_responses:
  DEFAULT_4XX:
    headers: {{x-gr: \"'default-4xx'\", x-acc: method.request.header.Accept}}
    templates:
      application/json: {}
      text/plain: {}
routes:
  - route: \"GET /items\"
    integration: {}
  - route: \"POST /items\"
    integration: {}
  - route: \"POST /strict\"
    integration: {{type: mock, passthrough_behavior: never, request_templates: {{application/json: '{{\"statusCode\": 200}}'}}, responses: [{{status: 200}}]}}
  - route: \"GET /limited\"
    throttle: {{rate: 0.001, burst: 1}}
    integration: {}
",
        q(tpl),
        q("plain $context.error.responseType"),
        mock(Some(r#"{"ok": true}"#)),
        mock(Some(r#"{"ok": true}"#)),
        mock(Some(r#"{"ok": true}"#)),
    );
    let dir = ConfigDir::new();
    dir.set_limit("max_body_bytes", 1024);
    deploy(&dir, "four-1", &yaml);
    dir.put_stage("f", &Stage::new("four", "four-1"));
    let gw = Gateway::start(&dir).await;
    let a = gw.addr();

    let check = |r: &Reply, status: u16, kind: &str, message: &str| {
        assert_eq!(
            json_with_status(r, status),
            json!({"t": kind, "m": message}),
            "{kind}"
        );
        assert_eq!(r.header("x-gr"), Some("default-4xx"), "{kind}");
        assert!(
            r.header("content-type")
                .is_some_and(|c| c.starts_with("application/json")),
            "{kind}: {:?}",
            r.headers
        );
    };

    let r = get(a, "/f/nowhere", &[("accept", "application/json")]).await;
    check(&r, 404, "RESOURCE_NOT_FOUND", "Not Found");
    assert_eq!(r.header("x-acc"), Some("application/json"));

    let r = call(a, Method::DELETE, "/f/items", &[], Bytes::new()).await;
    check(&r, 405, "METHOD_NOT_ALLOWED", "Method Not Allowed");
    assert!(
        r.header("allow")
            .is_some_and(|v| v.contains("GET") && v.contains("POST")),
        "{:?}",
        r.headers
    );
    assert_no_header(&r, "x-acc");

    let big = vec![b'x'; 4096];
    let r = call(
        a,
        Method::POST,
        "/f/items",
        &[("content-type", "application/json")],
        big,
    )
    .await;
    check(&r, 413, "REQUEST_TOO_LARGE", "Request Too Large");

    let r = call(
        a,
        Method::POST,
        "/f/strict",
        &[("content-type", "text/plain")],
        "hi",
    )
    .await;
    check(&r, 415, "UNSUPPORTED_MEDIA_TYPE", "Unsupported Media Type");

    let ok = get(a, "/f/limited", &[]).await;
    assert_eq!(ok.status, 200, "{}", ok.text());
    let r = get(a, "/f/limited", &[]).await;
    check(&r, 429, "THROTTLED", "Too Many Requests");
    assert_eq!(
        r.header("x-amzn-errortype"),
        Some("TooManyRequestsException")
    );

    // The template matching Accept, rather than the first.
    let r = get(a, "/f/nowhere", &[("accept", "text/plain")]).await;
    assert_eq!(r.status, 404);
    assert_eq!(r.text(), "plain RESOURCE_NOT_FOUND");
    assert!(
        r.header("content-type")
            .is_some_and(|c| c.starts_with("text/plain")),
        "{:?}",
        r.headers
    );
    assert_eq!(r.header("x-acc"), Some("text/plain"));
}

/// THROTTLED set with only a header keeps 429 and "Too Many Requests", though DEFAULT_4XX sets
/// a status and a template (which the types not set do take).
#[tokio::test]
async fn a_partly_customized_type_keeps_its_own_defaults() {
    let yaml = format!(
        "api: \"thr\"
gateway_responses:
  DEFAULT_4XX: {{status: 444, templates: {{application/json: '{{\"from\": \"DEFAULT_4XX\", \"t\": \"$context.error.responseType\"}}'}}}}
  THROTTLED: {{headers: {{x-throttled: \"'yes'\"}}}}
routes:
  - route: \"GET /limited\"
    throttle: {{rate: 0.001, burst: 1}}
    integration: {}
",
        mock(Some(r#"{"ok": true}"#))
    );
    let (_dir, gw) = serve("t", &yaml).await;
    let a = gw.addr();
    let first = get(a, "/t/limited", &[]).await;
    assert_eq!(json_with_status(&first, 200), json!({"ok": true}));
    let r = get(a, "/t/limited", &[]).await;
    assert_message(&r, 429, "Too Many Requests");
    assert_eq!(r.header("x-throttled"), Some("yes"));
    assert_eq!(
        r.header("x-amzn-errortype"),
        Some("TooManyRequestsException")
    );
    // A type not set takes DEFAULT_4XX whole.
    let r = get(a, "/t/nowhere", &[]).await;
    assert_eq!(
        json_with_status(&r, 444),
        json!({"from": "DEFAULT_4XX", "t": "RESOURCE_NOT_FOUND"})
    );
    assert_no_header(&r, "x-throttled");
}

/// Every `$context.error.*` variable (and the request id, a stage variable, `$input.params`)
/// in a DEFAULT_4XX template, for a body refusal and a parameter refusal.
#[tokio::test]
async fn error_variables_in_templates_for_body_and_parameter_refusals() {
    let be = Backend::start("orders").await;
    let tpl = r#"{"m": $context.error.messageString, "raw": "$context.error.message", "t": "$context.error.responseType", "v": "$context.error.validationErrorString", "id": "$context.requestId", "sv": "$stageVariables.a", "q": "$input.params('q')"}"#;
    let yaml = format!(
        "api: \"shop\"
models:
  Order:
    schema: {{type: object, required: [item, qty], properties: {{item: {{type: string}}, qty: {{type: integer, minimum: 1}}}}}}
request_validators:
  all: {{body: true, parameters: true}}
gateway_responses:
  DEFAULT_4XX:
    headers: {{x-id: context.requestId, x-v: stageVariables.a, x-acc: method.request.header.Accept}}
    templates: {{application/json: {}}}
routes:
  - route: \"POST /orders\"
    request_validator: all
    request_parameters: {{method.request.header.x-tenant: true, method.request.querystring.dry: false}}
    request_models: {{application/json: Order}}
    integration: {}
",
        q(tpl),
        proxy(&format!("http://{}/orders", be.addr()))
    );
    let (_dir, gw) = serve("s", &yaml).await;
    let a = gw.addr();

    // The body: qty missing.
    let r = post_json(
        a,
        "/s/orders?q=zz",
        &[("x-tenant", "t1"), ("accept", "application/json")],
        r#"{"item": "book"}"#,
    )
    .await;
    let body = json_with_status(&r, 400);
    let id = r.header("x-request-id").expect("x-request-id").to_string();
    assert_eq!(body["m"], "Invalid request body");
    assert_eq!(body["raw"], "Invalid request body");
    assert_eq!(body["t"], "BAD_REQUEST_BODY");
    assert_eq!(body["v"], "[\"qty\" is a required property]");
    assert_eq!(body["id"], id.as_str());
    assert_eq!(body["sv"], "va");
    assert_eq!(body["q"], "zz");
    assert_eq!(r.header("x-id"), Some(id.as_str()));
    assert_eq!(r.header("x-v"), Some("va"));
    assert_eq!(r.header("x-acc"), Some("application/json"));

    // Two schema errors at once, one of them nested: both are in the string.
    let r = post_json(
        a,
        "/s/orders",
        &[("x-tenant", "t1")],
        r#"{"item": 5, "qty": 0}"#,
    )
    .await;
    let v = json_with_status(&r, 400)["v"].as_str().unwrap().to_string();
    assert!(v.starts_with('[') && v.ends_with(']'), "{v}");
    assert!(
        v.contains("/item") && v.contains("/qty"),
        "both errors, with where: {v}"
    );

    // The parameters: x-tenant missing (and blank counts as missing); the optional one is not
    // listed.
    for tenant in [None, Some("  ")] {
        let mut headers = vec![];
        if let Some(t) = tenant {
            headers.push(("x-tenant", t));
        }
        let r = post_json(a, "/s/orders", &headers, r#"{"item": "book", "qty": 1}"#).await;
        let body = json_with_status(&r, 400);
        let id = r.header("x-request-id").expect("x-request-id").to_string();
        assert_eq!(
            body["m"], "Missing required request parameters: [x-tenant]",
            "{tenant:?}"
        );
        assert_eq!(
            body["raw"],
            "Missing required request parameters: [x-tenant]"
        );
        assert_eq!(body["t"], "BAD_REQUEST_PARAMETERS");
        assert_eq!(body["v"], "");
        assert_eq!(body["id"], id.as_str());
        assert_eq!(body["sv"], "va");
        assert_eq!(body["q"], "");
        assert_no_header(&r, "x-acc");
    }
    assert_eq!(be.requests(), 0);

    // And a valid order goes through.
    let r = post_json(
        a,
        "/s/orders",
        &[("x-tenant", "t1")],
        r#"{"item": "book", "qty": 1}"#,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(be.requests(), 1);
}

// ---------------------------------------------------------------------------------------------
// e-f, h. Models.

/// Person and House refer to each other (vectors 8-9), deeper than the vectors go, behind an
/// http_proxy: valid bodies reach the backend intact, invalid ones at any depth do not.
#[tokio::test]
async fn recursive_models_validate_at_every_depth() {
    let be = Backend::start("people").await;
    let yaml = format!(
        "api: \"people\"
{}request_validators:
  basic: {{body: true, parameters: true}}
default_request_validator: basic
gateway_responses:
  BAD_REQUEST_BODY: {{templates: {{application/json: '{{\"v\": \"$context.error.validationErrorString\"}}'}}}}
routes:
  - route: \"POST /person\"
    request_models: {{application/json: Person}}
    integration: {}
",
        person_models(),
        proxy(&format!("http://{}/echo-body", be.addr()))
    );
    let (_dir, gw) = serve("dev", &yaml).await;
    let a = gw.addr();

    let valid = json!({"name": "P1", "b": 1, "house": {"contains": [
        {"name": "P2", "b": 2, "house": {"contains": [{"name": "P3", "b": 3}]}}
    ]}})
    .to_string();
    let r = post_json(a, "/dev/person", &[], &valid).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        r.json()["body"],
        valid.as_str(),
        "the backend got the body as sent"
    );

    let deep_missing_b = json!({"name": "P1", "b": 1, "house": {"contains": [
        {"name": "P2", "b": 2, "house": {"contains": [{"name": "P3"}]}}
    ]}});
    let r = post_json(a, "/dev/person", &[], &deep_missing_b.to_string()).await;
    let v = json_with_status(&r, 400)["v"].as_str().unwrap().to_string();
    assert!(v.contains("\"b\" is a required property"), "{v}");
    assert!(
        v.contains("/house/contains/0/house/contains/0"),
        "where: {v}"
    );

    for bad in [
        json!({"name": "P1", "b": 1, "house": {"contains": []}}),
        json!({"name": "P1", "b": 1, "house": "a tent"}),
        json!({"name": 5, "b": 1}),
        json!({"name": "P1", "b": 1, "house": {"contains": [{"randomObject": "not a Person"}]}}),
    ] {
        let r = post_json(a, "/dev/person", &[], &bad.to_string()).await;
        assert_eq!(r.status, 400, "{bad}: {}", r.text());
    }
    assert_eq!(be.requests(), 1, "only the valid body reached the backend");
}

/// Valid JSON that is not an object, and bodies that are not JSON, against an object model:
/// 400, and the backend sees none of them. A content type without a model (and no `$default`)
/// is not validated; `$default` takes every other content type.
#[tokio::test]
async fn non_object_and_non_json_bodies_are_refused_before_the_backend() {
    let be = Backend::start("orders").await;
    let yaml = format!(
        "api: \"shop\"
models:
  Order: {{schema: {{type: object, required: [item], properties: {{item: {{type: string}}}}}}}}
request_validators:
  all: {{body: true, parameters: true}}
routes:
  - route: \"POST /orders\"
    request_validator: all
    request_models: {{application/json: Order}}
    integration: {}
  - route: \"POST /any\"
    request_validator: all
    request_models: {{$default: Order}}
    integration: {}
",
        proxy(&format!("http://{}/orders", be.addr())),
        proxy(&format!("http://{}/any", be.addr()))
    );
    let (_dir, gw) = serve("s", &yaml).await;
    let a = gw.addr();

    for body in [
        "[1]",
        "\"x\"",
        "3",
        "null",
        "true",
        "{not json",
        "{\"item\": \"a\"",
        "\u{1}",
    ] {
        let r = post_json(a, "/s/orders", &[], body).await;
        assert_message(&r, 400, "Invalid request body");
    }
    // With parameters on the media type, and in another case.
    let r = call(
        a,
        Method::POST,
        "/s/orders",
        &[("content-type", "Application/JSON; charset=utf-8")],
        "[1]",
    )
    .await;
    assert_message(&r, 400, "Invalid request body");
    assert_eq!(be.requests(), 0, "the backend saw none of them");

    let r = post_json(a, "/s/orders", &[], r#"{"item": "a"}"#).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(be.requests(), 1);
    // No model for text/plain and no $default: not validated.
    let r = call(
        a,
        Method::POST,
        "/s/orders",
        &[("content-type", "text/plain")],
        "[1]",
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(be.requests(), 2);
    // $default validates any content type.
    let r = call(
        a,
        Method::POST,
        "/s/any",
        &[("content-type", "text/plain")],
        "[1]",
    )
    .await;
    assert_message(&r, 400, "Invalid request body");
    let r = call(
        a,
        Method::POST,
        "/s/any",
        &[("content-type", "application/x-order")],
        r#"{"item": "a"}"#,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(be.requests(), 3);
}

/// A validated http_proxy body well above 64 KiB (200 KB of JSON, mostly whitespace) reaches
/// the backend byte for byte; an invalid one of the same size does not reach it.
#[tokio::test]
async fn a_large_validated_body_reaches_the_backend_intact() {
    let be = Backend::start("upload").await;
    let yaml = format!(
        "api: \"big\"
models:
  Order: {{schema: {{type: object, required: [item, qty], properties: {{item: {{type: string}}, qty: {{type: integer, minimum: 1}}}}}}}}
request_validators:
  all: {{body: true, parameters: true}}
routes:
  - route: \"POST /upload\"
    request_validator: all
    request_models: {{application/json: Order}}
    integration: {}
",
        proxy(&format!("http://{}/upload", be.addr()))
    );
    let (_dir, gw) = serve("s", &yaml).await;
    let a = gw.addr();

    let padded = |qty: i64| {
        let mut b = String::from("{\"item\": \"big\",");
        b.push_str(&" \n\t".repeat(66_000));
        b.push_str(&format!("\"qty\": {qty}}}"));
        b
    };
    let body = padded(2);
    assert!(body.len() > 195_000, "{}", body.len());
    let r = post_json(a, "/s/upload", &[], &body).await;
    let seen = json_with_status(&r, 200);
    assert_eq!(seen["body_len"], body.len(), "bytes the backend got");
    assert_eq!(
        seen["sha256"],
        sha256_hex(body.as_bytes()),
        "the body the backend got"
    );
    assert_eq!(be.requests(), 1);

    let r = post_json(a, "/s/upload", &[], &padded(0)).await;
    assert_message(&r, 400, "Invalid request body");
    assert_eq!(
        be.requests(),
        1,
        "the invalid body did not reach the backend"
    );

    // The same bodies chunked (no Content-Length), in 16 KiB pieces.
    let chunked = |body: String| async move {
        let mut c = Client::connect(a).await;
        let (tx, stream) = channel_body(4);
        let req = c.build(
            Method::POST,
            "/s/upload",
            &[("content-type", "application/json")],
            stream.boxed(),
        );
        let pending = tokio::spawn(c.send(req).await.expect("send"));
        let bytes = Bytes::from(body);
        for piece in bytes.chunks(16 * 1024) {
            tx.send(bytes.slice_ref(piece))
                .await
                .expect("the gateway reads the body");
        }
        drop(tx);
        let resp = within("the answer to a chunked body", pending)
            .await
            .expect("join")
            .expect("response");
        read_reply(resp).await.expect("read the answer")
    };
    let r = chunked(body.clone()).await;
    let seen = json_with_status(&r, 200);
    assert_eq!(
        seen["body_len"],
        body.len(),
        "bytes the backend got (chunked)"
    );
    assert_eq!(
        seen["sha256"],
        sha256_hex(body.as_bytes()),
        "the body the backend got (chunked)"
    );
    assert_eq!(be.requests(), 2);
    let r = chunked(padded(0)).await;
    assert_message(&r, 400, "Invalid request body");
    assert_eq!(
        be.requests(),
        2,
        "the invalid chunked body did not reach the backend"
    );
}

// ---------------------------------------------------------------------------------------------
// g. CORS.

/// A backend that answers every request 200 with CORS headers of its own (which the gateway's
/// policy must replace); counts requests.
async fn cors_backend() -> (SocketAddr, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let counter = counter.clone();
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(
                    move |_req: http::Request<hyper::body::Incoming>| {
                        counter.fetch_add(1, Ordering::SeqCst);
                        async move {
                            Ok::<_, Infallible>(
                                http::Response::builder()
                                    .header("content-type", "text/plain")
                                    .header("access-control-allow-origin", "https://evil.test")
                                    .header("access-control-allow-credentials", "true")
                                    .header("access-control-expose-headers", "x-secret")
                                    .header("access-control-max-age", "99999")
                                    .header("x-backend", "cors")
                                    .body(full("hello from the backend"))
                                    .unwrap(),
                            )
                        }
                    },
                );
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    (addr, hits)
}

fn assert_vary_origin(r: &Reply) {
    let vary: Vec<&str> = r
        .headers
        .get_all("vary")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    assert!(
        vary.iter().any(|v| v
            .split(',')
            .any(|p| p.trim().eq_ignore_ascii_case("origin"))),
        "Vary: Origin; headers {:?}",
        r.headers
    );
}

fn assert_no_cors(r: &Reply) {
    for h in r.headers.keys() {
        assert!(
            !h.as_str().starts_with("access-control-"),
            "unexpected {h}: {:?}",
            r.headers
        );
    }
}

#[tokio::test]
async fn cors_preflights_and_headers_on_every_answer() {
    let (cors_be, hits) = cors_backend().await;
    let web = format!(
        "api: \"web\"
cors:
  allow_origins: [\"https://app.example.com\", \"https://*.example.org\"]
  allow_methods: [\"GET\", \"POST\"]
  allow_headers: [\"content-type\", \"x-tenant\"]
  expose_headers: [\"x-request-id\"]
  max_age_seconds: 600
models:
  Thing: {{schema: {{type: object, required: [id]}}}}
request_validators:
  all: {{body: true, parameters: true}}
routes:
  - route: \"GET /items\"
    integration: {}
  - route: \"POST /items\"
    request_validator: all
    request_models: {{application/json: Thing}}
    integration: {}
  - route: \"GET /down\"
    integration: {}
  - route: \"GET /own\"
    integration: {}
  - route: \"OPTIONS /own\"
    integration: {{type: mock, request_templates: {{application/json: '{{\"statusCode\": 200}}'}}, responses: [{{status: 200, headers: {{x-own: \"'yes'\"}}, templates: {{application/json: '{{\"route\": \"OPTIONS /own\"}}'}}}}]}}
",
        proxy(&format!("http://{cors_be}/items")),
        proxy(&format!("http://{cors_be}/items")),
        proxy(&format!("http://{}/down", dead_addr())),
        mock(Some(r#"{"route": "GET /own"}"#)),
    );
    let cred = format!(
        "api: \"cred\"
cors:
  allow_origins: [\"https://app.example.com\"]
  allow_credentials: true
routes:
  - route: \"GET /items\"
    integration: {}
",
        proxy(&format!("http://{cors_be}/items"))
    );
    let dir = ConfigDir::new();
    deploy(&dir, "web-1", &web);
    deploy(&dir, "cred-1", &cred);
    dir.put_stage("w", &Stage::new("web", "web-1"));
    dir.put_stage("c", &Stage::new("cred", "cred-1"));
    let gw = Gateway::start(&dir).await;
    let a = gw.addr();
    let app = "https://app.example.com";

    // Preflight for an allowed origin: 204 from the gateway, nothing reaches the backend.
    let pre = |origin: &'static str, path: &'static str| async move {
        call(
            a,
            Method::OPTIONS,
            path,
            &[
                ("origin", origin),
                ("access-control-request-method", "POST"),
                ("access-control-request-headers", "content-type"),
            ],
            Bytes::new(),
        )
        .await
    };
    let r = pre(app, "/w/items").await;
    assert_eq!(r.status, 204, "{:?} {}", r.headers, r.text());
    assert_eq!(r.header("access-control-allow-origin"), Some(app));
    assert_eq!(r.header("access-control-allow-methods"), Some("GET,POST"));
    assert_eq!(
        r.header("access-control-allow-headers"),
        Some("content-type,x-tenant")
    );
    assert_eq!(r.header("access-control-max-age"), Some("600"));
    assert_eq!(
        r.header("access-control-expose-headers"),
        Some("x-request-id")
    );
    assert_no_header(&r, "access-control-allow-credentials");
    assert_vary_origin(&r);
    assert!(r.body.is_empty());
    // A subdomain of a wildcard origin.
    let r = pre("https://shop.example.org", "/w/items").await;
    assert_eq!(r.status, 204);
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("https://shop.example.org")
    );
    // A disallowed origin: 204 without any Access-Control-* header.
    let r = pre("https://evil.test", "/w/items").await;
    assert_eq!(r.status, 204, "{}", r.text());
    assert_no_cors(&r);
    assert_vary_origin(&r);
    let r = pre("https://example.org", "/w/items").await;
    assert_eq!(r.status, 204);
    assert_no_cors(&r);
    // A path with no route.
    let r = pre(app, "/w/nothing").await;
    assert_eq!(r.status, 404, "{}", r.text());
    // An explicit OPTIONS route takes its preflight.
    let r = pre(app, "/w/own").await;
    assert_eq!(json_with_status(&r, 200), json!({"route": "OPTIONS /own"}));
    assert_eq!(r.header("x-own"), Some("yes"));
    assert_eq!(
        hits.load(Ordering::SeqCst),
        0,
        "no preflight reached the backend"
    );

    let origin = [("origin", app)];
    // A streamed 200 from the backend: the API's CORS headers replace the backend's own.
    let r = get(a, "/w/items", &origin).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.text(), "hello from the backend");
    assert_eq!(r.header("x-backend"), Some("cors"));
    assert_eq!(r.header("access-control-allow-origin"), Some(app));
    assert_eq!(
        r.header("access-control-expose-headers"),
        Some("x-request-id")
    );
    assert_no_header(&r, "access-control-allow-credentials");
    assert_no_header(&r, "access-control-max-age");
    assert_eq!(
        r.headers
            .get_all("access-control-allow-origin")
            .iter()
            .count(),
        1
    );
    assert_vary_origin(&r);
    // A disallowed origin gets none, not even the backend's.
    let r = get(a, "/w/items", &[("origin", "https://evil.test")]).await;
    assert_eq!(r.status, 200);
    assert_no_cors(&r);
    assert_eq!(hits.load(Ordering::SeqCst), 2);

    // The gateway's own answers: 502, 404, 400, a mock.
    let r = get(a, "/w/down", &origin).await;
    assert_message(&r, 502, "Bad Gateway");
    assert_eq!(r.header("access-control-allow-origin"), Some(app));
    assert_eq!(
        r.header("access-control-expose-headers"),
        Some("x-request-id")
    );
    assert_vary_origin(&r);
    let r = get(a, "/w/nothing", &origin).await;
    assert_message(&r, 404, "Not Found");
    assert_eq!(r.header("access-control-allow-origin"), Some(app));
    assert_vary_origin(&r);
    let r = post_json(a, "/w/items", &origin, "{}").await;
    assert_message(&r, 400, "Invalid request body");
    assert_eq!(r.header("access-control-allow-origin"), Some(app));
    assert_vary_origin(&r);
    let r = get(a, "/w/own", &origin).await;
    assert_eq!(json_with_status(&r, 200), json!({"route": "GET /own"}));
    assert_eq!(r.header("access-control-allow-origin"), Some(app));
    // No Origin: no CORS headers.
    let r = get(a, "/w/nothing", &[]).await;
    assert_eq!(r.status, 404);
    assert_no_cors(&r);

    // With credentials: the origin itself and Allow-Credentials.
    let r = get(a, "/c/items", &origin).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("access-control-allow-origin"), Some(app));
    assert_eq!(r.header("access-control-allow-credentials"), Some("true"));
    assert_no_header(&r, "access-control-expose-headers");
    assert_vary_origin(&r);
}

// ---------------------------------------------------------------------------------------------
// i. Metrics.

#[tokio::test]
async fn refusals_are_counted_by_stage_and_type() {
    let be = Backend::start("orders").await;
    let yaml = format!(
        "api: \"shop\"
models:
  Order: {{schema: {{type: object, required: [item]}}}}
request_validators:
  all: {{body: true, parameters: true}}
routes:
  - route: \"POST /orders\"
    request_validator: all
    request_parameters: {{method.request.header.x-tenant: true}}
    request_models: {{application/json: Order}}
    integration: {}
",
        proxy(&format!("http://{}/orders", be.addr()))
    );
    let (_dir, gw) = serve("m", &yaml).await;
    let a = gw.addr();
    assert_eq!(
        gateway_responses_total(&gw, "m", "BAD_REQUEST_BODY").await,
        0
    );
    assert_eq!(
        gateway_responses_total(&gw, "m", "BAD_REQUEST_PARAMETERS").await,
        0
    );

    for body in ["{}", "[1]", "nope"] {
        let r = post_json(a, "/m/orders", &[("x-tenant", "t")], body).await;
        assert_eq!(r.status, 400, "{body}");
    }
    let r = post_json(a, "/m/orders", &[], r#"{"item": "a"}"#).await;
    assert_eq!(r.status, 400);
    let r = post_json(a, "/m/orders", &[("x-tenant", "t")], r#"{"item": "a"}"#).await;
    assert_eq!(r.status, 200, "{}", r.text());

    assert_eq!(
        gateway_responses_total(&gw, "m", "BAD_REQUEST_BODY").await,
        3
    );
    assert_eq!(
        gateway_responses_total(&gw, "m", "BAD_REQUEST_PARAMETERS").await,
        1
    );
    assert_eq!(be.requests(), 1);
}

/// A refusal made before the body was read (no route, a missing parameter, a throttle) reads and
/// drops a small body first, so the client's connection stays open for its next request; a
/// body above 64 KiB still ends it.
#[tokio::test]
async fn refusals_of_small_bodies_keep_the_connection() {
    let be = Backend::start("keep").await;
    let yaml = format!(
        "api: \"keep\"
request_validators:
  params: {{body: false, parameters: true}}
routes:
  - route: \"POST /orders\"
    request_validator: params
    request_parameters: {{method.request.header.x-tenant: true}}
    integration: {}
",
        proxy(&format!("http://{}/orders", be.addr()))
    );
    let (_dir, gw) = serve("k", &yaml).await;
    let mut c = Client::connect(gw.addr()).await;
    let body = r#"{"item": "book"}"#;
    for (target, status) in [("/k/nowhere", 404), ("/k/orders", 400), ("/k/orders", 400)] {
        let r = c
            .request(
                Method::POST,
                target,
                &[("content-type", "application/json")],
                body,
            )
            .await
            .unwrap_or_else(|e| panic!("POST {target} on the kept connection: {e}"));
        assert_eq!(r.status, status, "{target}: {}", r.text());
        assert_ne!(r.header("connection"), Some("close"), "{target}");
    }
    let r = c
        .request(
            Method::POST,
            "/k/orders",
            &[("x-tenant", "t1"), ("content-type", "application/json")],
            body,
        )
        .await
        .expect("the same connection serves the next request");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(be.requests(), 1);

    let big = "x".repeat(70 * 1024);
    let r = c
        .request(Method::POST, "/k/nowhere", &[], big)
        .await
        .expect("the big refusal is answered");
    assert_eq!(r.status, 404);
    assert_eq!(r.header("connection"), Some("close"));
}

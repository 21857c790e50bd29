//! Non-proxy integrations through the real gateway: `mock` and `http` with mapping templates,
//! integration responses chosen by `selection_pattern`, response templates chosen by Accept,
//! parameter mapping (also for `http_proxy`), passthrough behaviours, overrides, limits and
//! run-time template failures. The `mock`/`mock-pipeline` cases of `vtl/cases.json` (end-to-end
//! observations of AWS that the template runner skips) are replayed here with their expected
//! bodies, statuses and headers.

use crate::common;

use std::collections::BTreeSet;
use std::net::SocketAddr;

use base64::Engine as _;
use bytes::Bytes;
use common::{
    channel_body, dead_addr, read_reply, within, Backend, Client, ConfigDir, Gateway, Reply, Stage,
};
use http::Method;
use http_body_util::BodyExt as _;
use serde_json::json;

// ---------------------------------------------------------------------------------------------
// Building deployments. Templates are full of quotes and newlines, and response templates are
// chosen by their order in the file, so routes are built as ordered YAML flow nodes (JSON
// syntax, which YAML reads) rather than through serde_json (whose maps sort their keys).

#[derive(Clone, Debug)]
enum Y {
    Str(String),
    Int(i64),
    Map(Vec<(String, Y)>),
    List(Vec<Y>),
}

impl Y {
    fn render(&self) -> String {
        let q = |s: &str| serde_json::to_string(s).unwrap();
        match self {
            Y::Str(v) => q(v),
            Y::Int(n) => n.to_string(),
            Y::Map(pairs) => {
                let items: Vec<String> = pairs
                    .iter()
                    .map(|(k, v)| format!("{}: {}", q(k), v.render()))
                    .collect();
                format!("{{{}}}", items.join(", "))
            }
            Y::List(items) => {
                let items: Vec<String> = items.iter().map(Y::render).collect();
                format!("[{}]", items.join(", "))
            }
        }
    }

    /// Adds `key: value` to a map.
    fn with(self, key: &str, value: Y) -> Y {
        match self {
            Y::Map(mut pairs) => {
                pairs.push((key.to_string(), value));
                Y::Map(pairs)
            }
            other => panic!("with({key}) on a non-map {other:?}"),
        }
    }
}

fn s(v: &str) -> Y {
    Y::Str(v.to_string())
}

fn m<const N: usize>(pairs: [(&str, Y); N]) -> Y {
    Y::Map(pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
}

fn l(items: impl IntoIterator<Item = Y>) -> Y {
    Y::List(items.into_iter().collect())
}

/// `{application/json: TEMPLATE}`.
fn json_tpl(t: &str) -> Y {
    m([("application/json", s(t))])
}

fn route(route: &str, integration: Y) -> Y {
    m([("route", s(route)), ("integration", integration)])
}

fn mock(request_template: &str, responses: Y) -> Y {
    m([
        ("type", s("mock")),
        ("request_templates", json_tpl(request_template)),
        ("responses", responses),
    ])
}

fn http_integration(uri: &str) -> Y {
    m([("type", s("http")), ("uri", s(uri))])
}

/// An integration response: `selection_pattern` (none = the default) and `status`.
fn response(pattern: Option<&str>, status: i64) -> Y {
    let r = m([]);
    let r = match pattern {
        Some(p) => r.with("selection_pattern", s(p)),
        None => r,
    };
    r.with("status", Y::Int(status))
}

const STAGE: &str = "s";

/// Writes deployment `shop-1` with `routes` and stage `s` (base path `/s`) on it, with the
/// variables the tests read.
fn config(routes: Vec<Y>) -> ConfigDir {
    let dir = ConfigDir::new();
    let mut yaml = String::from("api: \"shop\"\nroutes:\n");
    for r in &routes {
        yaml.push_str("  - ");
        yaml.push_str(&r.render());
        yaml.push('\n');
    }
    dir.write(&ConfigDir::deployment_file("shop-1"), &yaml);
    dir.put_stage(
        STAGE,
        &Stage::new("shop", "shop-1")
            .var("env", "production")
            .var("apiVersion", "3")
            .var("greeting", "hello")
            .var("testVar", "default")
            .var("defaultVar", "default"),
    );
    dir
}

async fn serve(routes: Vec<Y>) -> (ConfigDir, Gateway) {
    let dir = config(routes);
    let gw = Gateway::start(&dir).await;
    (dir, gw)
}

// ---------------------------------------------------------------------------------------------
// Requests and checks.

/// One request on a new connection; panics on transport errors.
async fn call(
    addr: SocketAddr,
    method: Method,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Reply {
    let mut c = Client::connect(addr).await;
    c.request(method.clone(), path, headers, body.to_string())
        .await
        .unwrap_or_else(|e| panic!("{method} {path}: {e}"))
}

async fn get(addr: SocketAddr, path: &str) -> Reply {
    call(addr, Method::GET, path, &[], "").await
}

/// What every answer carries: a non-empty `x-request-id` and an exact `content-length`.
fn assert_framing(r: &Reply) {
    let id = r
        .header("x-request-id")
        .unwrap_or_else(|| panic!("no x-request-id on a {} response", r.status));
    assert!(!id.trim().is_empty(), "empty x-request-id");
    let len = r.header("content-length").unwrap_or_else(|| {
        panic!(
            "no content-length on a {} response: {:?}",
            r.status, r.headers
        )
    });
    assert_eq!(
        len.parse::<usize>().ok(),
        Some(r.body.len()),
        "content-length vs body {:?}",
        r.text()
    );
}

/// Status (with the body in the message), framing, and the body as JSON.
fn assert_json(r: &Reply, status: u16, body: serde_json::Value) {
    assert_eq!(r.status, status, "status; body: {}", r.text());
    assert_framing(r);
    assert_eq!(r.json(), body, "body");
}

/// A gateway error: status, `{"message": MESSAGE}` as application/json.
fn assert_gateway_error(r: &Reply, status: u16, message: &str) {
    assert_json(r, status, json!({ "message": message }));
    let ct = r.header("content-type").unwrap_or_default();
    assert!(
        ct.starts_with("application/json"),
        "content-type {ct:?}, expected application/json"
    );
}

fn content_type(r: &Reply) -> &str {
    r.header("content-type").unwrap_or("")
}

/// The query string the backend saw, as decoded `(name, value)` pairs in a set.
fn seen_query(r: &Reply) -> BTreeSet<(String, String)> {
    let q = r.seen("query");
    form_urlencoded::parse(q.as_str().unwrap_or("").as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

fn pairs(items: &[(&str, &str)]) -> BTreeSet<(String, String)> {
    items
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// `http://BACKEND/PREFIX/status/CODE?body=BODY`: the backend answers CODE with BODY.
fn status_uri(be: &Backend, prefix: &str, code: &str, body: &str) -> String {
    let body: String = form_urlencoded::byte_serialize(body.as_bytes()).collect();
    format!("http://{}{prefix}/status/{code}?body={body}", be.addr())
}

// ---------------------------------------------------------------------------------------------
// 1. mock integrations

/// `{"statusCode": N}` from the request template selects the integration response whose
/// `selection_pattern` matches the whole status, else the default; without a default a miss is
/// 500. AWS's non-JSON `{statusCode: 200}` works, and a response without templates is empty.
#[tokio::test]
async fn mock_status_code_selects_the_integration_response() {
    let mapped = || {
        l([
            response(Some("4\\d{2}"), 400).with(
                "templates",
                json_tpl(r#"{"error": "not found", "stage": "$context.stage"}"#),
            ),
            response(None, 200).with("templates", json_tpl(r#"{"ok": true}"#)),
        ])
    };
    let (_dir, gw) =
        serve(vec![
            route("GET /not-found", mock(r#"{"statusCode": 404}"#, mapped())),
            route("GET /found", mock(r#"{"statusCode": 200}"#, mapped())),
            // 503 matches no pattern and there is no default.
            route(
                "GET /no-default",
                mock(
                    r#"{"statusCode": 503}"#,
                    l([response(Some("2\\d{2}"), 200)
                        .with("templates", json_tpl(r#"{"ok": true}"#))]),
                ),
            ),
            // "4" must match the whole status: 404 falls to the default.
            route(
                "GET /whole",
                mock(
                    r#"{"statusCode": 404}"#,
                    l([
                        response(Some("4"), 418)
                            .with("templates", json_tpl(r#"{"partial": true}"#)),
                        response(None, 200).with("templates", json_tpl(r#"{"whole": true}"#)),
                    ]),
                ),
            ),
            // No statusCode at all: 200.
            route(
                "GET /no-status",
                mock(
                    r#"{"nothing": 1}"#,
                    l([
                        response(Some("200"), 201).with("templates", json_tpl(r#"{"was": 200}"#)),
                        response(None, 500).with("templates", json_tpl(r#"{"was": "other"}"#)),
                    ]),
                ),
            ),
            // cases.json #12: the CDK CORS template, responses with no templates -> 200, empty body.
            route(
                "GET /loose/{testPath}",
                mock("{statusCode: 200}", l([response(Some("2\\d{2}"), 200)])),
            ),
        ])
        .await;
    let a = gw.addr();

    let r = get(a, "/s/not-found").await;
    assert_json(&r, 400, json!({"error": "not found", "stage": "s"}));
    assert!(
        content_type(&r).starts_with("application/json"),
        "{:?}",
        r.headers
    );

    assert_json(&get(a, "/s/found").await, 200, json!({"ok": true}));
    assert_gateway_error(&get(a, "/s/no-default").await, 500, "Internal server error");
    assert_json(&get(a, "/s/whole").await, 200, json!({"whole": true}));
    assert_json(&get(a, "/s/no-status").await, 201, json!({"was": 200}));

    let r = get(a, "/s/loose/test-path").await;
    assert_eq!(r.status, 200, "body: {}", r.text());
    assert_framing(&r);
    assert!(
        r.body.is_empty(),
        "expected an empty body, got {:?}",
        r.text()
    );
}

/// `$context`, `$stageVariables` and `$input.params()` in a mock's response template
/// (cases.json #11 and #15: `$input.params().path.id` unquoted is the number 42, undefined
/// stage variables are empty, `isCanaryRequest` is "false" off-canary).
#[tokio::test]
async fn mock_response_templates_read_context_stage_variables_and_params() {
    let ok = r#"{"statusCode": 200}"#;
    let (_dir, gw) = serve(vec![
        route(
            "ANY /items/{id}",
            mock(
                ok,
                l([response(None, 200).with(
                    "templates",
                    json_tpl(r#"{"statusCode": 200, "id": $input.params().path.id}"#),
                )]),
            ),
        ),
        route(
            "GET /canary",
            mock(
                ok,
                l([response(None, 200).with(
                    "templates",
                    json_tpl(
                        "{\"statusCode\": 200, \"message\": \"default deployment\", \"variable\": \"$stageVariables.testVar\", \"nonExistingDefault\": \"$stageVariables.noStageVar\", \"nonOverridden\": \"$stageVariables.defaultVar\", \"isCanary\": \"$context.isCanaryRequest\"}",
                    ),
                )]),
            ),
        ),
        route(
            "GET /ctx/{id}",
            mock(
                ok,
                l([response(None, 200).with(
                    "templates",
                    json_tpl(
                        r#"{"stage": "$context.stage", "greeting": "$stageVariables.greeting", "id": "$input.params('id')", "q": "$input.params('q')", "h": "$input.params('x-h')", "method": "$context.httpMethod", "resourcePath": "$context.resourcePath", "path": "$context.path", "requestId": "$context.requestId"}"#,
                    ),
                )]),
            ),
        ),
    ])
    .await;
    let a = gw.addr();

    for method in [Method::GET, Method::POST] {
        let r = call(
            a,
            method.clone(),
            "/s/items/42",
            &[("content-type", "application/json")],
            "",
        )
        .await;
        assert_json(&r, 200, json!({"id": 42, "statusCode": 200}));
    }

    assert_json(
        &get(a, "/s/canary").await,
        200,
        json!({
            "isCanary": "false",
            "message": "default deployment",
            "nonExistingDefault": "",
            "nonOverridden": "default",
            "statusCode": 200,
            "variable": "default"
        }),
    );

    let r = call(a, Method::GET, "/s/ctx/abc?q=red", &[("x-h", "hv")], "").await;
    assert_eq!(r.status, 200, "body: {}", r.text());
    assert_framing(&r);
    let body = r.json();
    let rid = r.header("x-request-id").unwrap().to_string();
    assert_eq!(
        body,
        json!({
            "stage": "s",
            "greeting": "hello",
            "id": "abc",
            "q": "red",
            "h": "hv",
            "method": "GET",
            "resourcePath": "/ctx/{id}",
            "path": "/s/ctx/abc",
            "requestId": rid,
        })
    );
}

// cases.json #25-#30 (mock-pipeline), verbatim.
const OVERRIDE_REQUEST: &str = "#set($body = $util.base64Decode($input.params('testPath')))\n    #set($context.requestOverride.path.body = $body)\n    {\n      \"statusCode\": 200\n    }\n";
const OVERRIDE_RESPONSE: &str = "\n#set($body = $util.parseJson($context.requestOverride.path.body))\n#set($inputBody = $body.message)\n#if($inputBody == \"path1\")\n{\n   \"response\": \"path was path one\"\n}\n#elseif($inputBody == \"path2\")\n{\n   \"response\": \"path was path two\"\n}\n#else\n{\n  \"response\": \"this is the else clause\"\n}\n#end\n";
const RESPONSE_OVERRIDE_REQUEST: &str = "\n#set($context.responseOverride.status = 444)\n#set($context.responseOverride.header.foo = \"bar\")\n#set($context.responseOverride.custom = \"is also passed around\")\n{\n  \"statusCode\": 200\n}\n";
const RESPONSE_OVERRIDE_RESPONSE: &str = "\n#set($statusOverride = $context.responseOverride.status)\n#set($fooHeader = $context.responseOverride.header.foo)\n#set($custom = $context.responseOverride.custom)\n{\n    \"statusOverride\": \"$statusOverride\",\n    \"fooHeader\": \"$fooHeader\",\n    \"custom\": \"$custom\"\n}\n";
const MAP_ASSIGN_REQUEST: &str = "\n#set($paramName = \"foo\")\n#set($context.requestOverride.querystring[$paramName] = \"bar\")\n#set($paramPutName = \"putfoo\")\n$context.requestOverride.querystring.put($paramPutName, \"putBar\")\n#set($context[\"requestOverride\"].querystring[\"nestedfoo\"] = \"nestedFoo\")\n{\n  \"statusCode\": 200\n}\n";
const MAP_ASSIGN_RESPONSE: &str = "\n#set($value = $context.requestOverride.querystring[\"foo\"])\n#set($value2 = $context.requestOverride.querystring[\"putfoo\"])\n#set($value3 = $context.requestOverride.querystring[\"nestedfoo\"])\n{\n    \"value\": \"$value\",\n    \"value2\": \"$value2\",\n    \"value3\": \"$value3\"\n}\n";

/// The `mock-pipeline` cases: `requestOverride` set in the request template is read back in
/// the response template; `responseOverride` set in the request template sets the final
/// status (444) and header (foo: bar), with and without a response template; the map
/// assignment forms. Also `responseOverride` from the response template itself.
#[tokio::test]
async fn mock_pipeline_cases_from_aws() {
    let (_dir, gw) = serve(vec![
        route(
            "GET /override/{testPath}",
            mock(
                OVERRIDE_REQUEST,
                l([response(None, 200).with("templates", json_tpl(OVERRIDE_RESPONSE))]),
            ),
        ),
        route(
            "GET /response-override",
            mock(
                RESPONSE_OVERRIDE_REQUEST,
                l([response(None, 200).with("templates", json_tpl(RESPONSE_OVERRIDE_RESPONSE))]),
            ),
        ),
        route(
            "GET /response-override-empty",
            mock(RESPONSE_OVERRIDE_REQUEST, l([response(None, 200)])),
        ),
        route(
            "GET /map-assign",
            mock(
                MAP_ASSIGN_REQUEST,
                l([response(None, 200).with("templates", json_tpl(MAP_ASSIGN_RESPONSE))]),
            ),
        ),
        route(
            "GET /override-in-response",
            mock(
                r#"{"statusCode": 200}"#,
                l([response(None, 200).with(
                    "templates",
                    json_tpl(
                        "#set($context.responseOverride.status = 201)#set($context.responseOverride.header.Location = \"/s/things/7\"){\"created\": 7}",
                    ),
                )]),
            ),
        ),
    ])
    .await;
    let a = gw.addr();

    let b64 = |v: serde_json::Value| {
        base64::engine::general_purpose::STANDARD.encode(serde_json::to_string(&v).unwrap())
    };
    // The exact path segments of the AWS snapshot, then our own encodings of the same bodies.
    for (segment, want) in [
        ("eyJtZXNzYWdlIjogInBhdGgxIn0=", "path was path one"),
        ("eyJtZXNzYWdlIjogInBhdGgyIn0=", "path was path two"),
        (
            "eyJtZXNzYWdlIjogIndoYXRldmVyIn0=",
            "this is the else clause",
        ),
        (&b64(json!({"message": "path2"})), "path was path two"),
    ] {
        let r = get(a, &format!("/s/override/{segment}")).await;
        assert_json(&r, 200, json!({ "response": want }));
    }

    let r = get(a, "/s/response-override").await;
    assert_json(
        &r,
        444,
        json!({"statusOverride": "444", "fooHeader": "bar", "custom": "is also passed around"}),
    );
    assert_eq!(r.header("foo"), Some("bar"), "headers: {:?}", r.headers);

    let r = get(a, "/s/response-override-empty").await;
    assert_eq!(r.status, 444, "body: {}", r.text());
    assert_framing(&r);
    assert_eq!(r.header("foo"), Some("bar"), "headers: {:?}", r.headers);
    assert!(
        r.body.is_empty(),
        "expected an empty body, got {:?}",
        r.text()
    );

    assert_json(
        &get(a, "/s/map-assign").await,
        200,
        json!({"value": "bar", "value2": "putBar", "value3": "nestedFoo"}),
    );

    let r = get(a, "/s/override-in-response").await;
    assert_json(&r, 201, json!({"created": 7}));
    assert_eq!(
        r.header("location"),
        Some("/s/things/7"),
        "headers: {:?}",
        r.headers
    );
}

/// [LS-UNIT] in the reference: a `responseOverride.status` outside 100-599 is ignored, so
/// the integration response's status stands.
#[tokio::test]
async fn out_of_range_status_override_is_ignored() {
    let (_dir, gw) = serve(vec![route(
        "GET /odd",
        mock(
            "#set($context.responseOverride.status = 999){\"statusCode\": 200}",
            l([response(None, 202).with("templates", json_tpl(r#"{"odd": true}"#))]),
        ),
    )])
    .await;
    let mut c = Client::connect(gw.addr()).await;
    let r = c
        .request(Method::GET, "/s/odd", &[], "")
        .await
        .unwrap_or_else(|e| panic!("GET /s/odd: {e}"));
    assert_json(&r, 202, json!({"odd": true}));
}

// ---------------------------------------------------------------------------------------------
// 2. http integrations

/// The request template reshapes the JSON body; the backend gets it with
/// `content-type: application/json` and an exact length, and (non-proxy) none of the client's
/// query string or headers. With no `responses:` the backend's answer passes through.
#[tokio::test]
async fn http_request_template_reshapes_the_body() {
    let be = Backend::start("B").await;
    let (_dir, gw) = serve(vec![route(
        "POST /orders/{id}",
        http_integration(&format!("http://{}/orders/{{id}}/echo-body", be.addr())).with(
            "request_templates",
            json_tpl(
                r#"{"item": $input.json('$.item'), "qty": $input.path('$.qty'), "env": "$stageVariables.env", "id": "$input.params('id')"}"#,
            ),
        ),
    )])
    .await;

    let client_body = r#"{"item": {"sku": "A1", "name": "lamp"}, "qty": 2, "ignored": true}"#;
    for ct in ["application/json", "application/json; charset=UTF-8"] {
        let r = call(
            gw.addr(),
            Method::POST,
            "/s/orders/42?debug=1",
            &[("content-type", ct), ("x-not-mapped", "zzz")],
            client_body,
        )
        .await;
        assert_eq!(r.status, 200, "content-type {ct}: body {}", r.text());
        assert_framing(&r);
        assert!(
            content_type(&r).starts_with("application/json"),
            "{:?}",
            r.headers
        );
        assert_eq!(r.seen("method"), "POST");
        assert_eq!(r.seen("path"), "/orders/42/echo-body");
        assert_eq!(
            r.seen("query"),
            serde_json::Value::Null,
            "client query must not be forwarded"
        );
        assert_eq!(
            r.seen_header("x-not-mapped"),
            None,
            "client headers must not be forwarded"
        );
        assert_eq!(
            r.seen_header("content-type").as_deref(),
            Some("application/json")
        );
        let sent: String = r.seen("body").as_str().unwrap().to_string();
        assert_eq!(
            r.seen_header("content-length"),
            Some(sent.len().to_string()),
            "content-length of the templated body {sent:?}"
        );
        let sent: serde_json::Value = serde_json::from_str(&sent)
            .unwrap_or_else(|e| panic!("templated body is not JSON ({e}): {sent:?}"));
        assert_eq!(
            sent,
            json!({"item": {"sku": "A1", "name": "lamp"}, "qty": 2, "env": "production", "id": "42"})
        );
        assert_eq!(
            r.seen_header("x-request-id").as_deref(),
            r.header("x-request-id"),
            "the backend gets the request id the client sees"
        );
    }
}

/// The backend's status selects the integration response: 404 -> 400 with a template that
/// reads the backend body (`$input.json('$.message')`), 503 -> 502, anything else -> default.
#[tokio::test]
async fn http_backend_status_selects_the_integration_response() {
    let be = Backend::start("B").await;
    let uri = status_uri(
        &be,
        "/orders/{id}",
        "{code}",
        r#"{"message": "no such order"}"#,
    );
    let (_dir, gw) = serve(vec![route(
        "GET /orders/{id}/{code}",
        http_integration(&uri).with(
            "responses",
            l([
                response(Some("4\\d{2}"), 400).with(
                    "templates",
                    json_tpl(r#"{"error": $input.json('$.message'), "id": "$input.params('id')"}"#),
                ),
                response(Some("5\\d{2}"), 502).with(
                    "templates",
                    json_tpl(r#"{"error": "upstream", "was": $input.json('$')}"#),
                ),
                response(None, 200).with(
                    "templates",
                    json_tpl(r#"{"found": true, "raw": $input.json('$')}"#),
                ),
            ]),
        ),
    )])
    .await;
    let a = gw.addr();

    let r = get(a, "/s/orders/7/404").await;
    assert_json(&r, 400, json!({"error": "no such order", "id": "7"}));
    assert!(
        content_type(&r).starts_with("application/json"),
        "{:?}",
        r.headers
    );

    let r = get(a, "/s/orders/7/503").await;
    assert_json(
        &r,
        502,
        json!({"error": "upstream", "was": {"message": "no such order"}}),
    );

    assert_json(
        &get(a, "/s/orders/7/201").await,
        200,
        json!({"found": true, "raw": {"message": "no such order"}}),
    );
    assert_eq!(be.requests(), 3);
}

/// Response templates are chosen by the client's Accept; a missing Accept counts as
/// application/json; an Accept with no template takes the first template (in file order).
#[tokio::test]
async fn http_response_template_is_chosen_by_accept() {
    let be = Backend::start("B").await;
    let uri = status_uri(&be, "", "200", r#"{"name": "Ada"}"#);
    let json_t = r#"{"hello": "$input.path('$.name')"}"#;
    let xml_t = "<hello>$input.path('$.name')</hello>";
    let greet = |templates: Y| {
        http_integration(&uri).with(
            "responses",
            l([response(None, 200).with("templates", templates)]),
        )
    };
    let (_dir, gw) = serve(vec![
        route(
            "GET /greet",
            greet(m([
                ("application/json", s(json_t)),
                ("application/xml", s(xml_t)),
            ])),
        ),
        route(
            "GET /greet-xml-first",
            greet(m([
                ("application/xml", s(xml_t)),
                ("application/json", s(json_t)),
            ])),
        ),
    ])
    .await;
    let a = gw.addr();

    let ask = |path: &'static str, accept: Option<&'static str>| async move {
        let headers: Vec<(&str, &str)> = accept.map(|v| ("accept", v)).into_iter().collect();
        let r = call(a, Method::GET, path, &headers, "").await;
        assert_eq!(r.status, 200, "{path} Accept {accept:?}: {}", r.text());
        assert_framing(&r);
        r
    };
    let is_json = |r: &Reply, why: &str| {
        assert!(
            content_type(r).starts_with("application/json"),
            "{why}: {:?}",
            r.headers
        );
        assert_eq!(r.json(), json!({"hello": "Ada"}), "{why}");
    };
    let is_xml = |r: &Reply, why: &str| {
        assert!(
            content_type(r).starts_with("application/xml"),
            "{why}: {:?}",
            r.headers
        );
        assert_eq!(r.text(), "<hello>Ada</hello>", "{why}");
    };

    for path in ["/s/greet", "/s/greet-xml-first"] {
        is_json(
            &ask(path, Some("application/json")).await,
            &format!("{path} json"),
        );
        is_xml(
            &ask(path, Some("application/xml")).await,
            &format!("{path} xml"),
        );
        is_xml(
            &ask(path, Some("text/html, application/xml;q=0.9")).await,
            &format!("{path} first listed range with a template"),
        );
        is_json(
            &ask(path, None).await,
            &format!("{path} no Accept = application/json"),
        );
    }
    is_json(
        &ask("/s/greet", Some("text/plain")).await,
        "unknown Accept, json listed first",
    );
    is_xml(
        &ask("/s/greet-xml-first", Some("text/plain")).await,
        "unknown Accept, xml listed first in the file",
    );
}

/// Timeouts answer 504 and unreachable backends 502, both as gateway errors.
#[tokio::test]
async fn http_integration_timeout_and_connection_failure() {
    let be = Backend::start("B").await;
    let dead = dead_addr();
    let responses = || l([response(None, 200).with("templates", json_tpl(r#"{"ok": true}"#))]);
    let (_dir, gw) = serve(vec![
        route(
            "GET /slow",
            http_integration(&format!("http://{}/slow", be.addr()))
                .with("timeout_ms", Y::Int(300))
                .with("responses", responses()),
        ),
        route(
            "GET /down",
            http_integration(&format!("http://{dead}/x")).with("responses", responses()),
        ),
        route(
            "GET /fine",
            http_integration(&format!("http://{}/x", be.addr())).with("responses", responses()),
        ),
    ])
    .await;
    let a = gw.addr();

    let r = get(a, "/s/slow").await;
    assert_gateway_error(&r, 504, "Endpoint request timed out");
    be.release();
    assert_gateway_error(&get(a, "/s/down").await, 502, "Bad Gateway");
    assert_json(&get(a, "/s/fine").await, 200, json!({"ok": true}));
}

/// `$context.requestOverride` set in an `http` request template changes the request sent
/// (header, query string, path parameter, over what `request_parameters` mapped) and is
/// readable in the response template.
#[tokio::test]
async fn http_request_overrides_reach_the_backend() {
    let be = Backend::start("B").await;
    let request = concat!(
        "#set($context.requestOverride.header[\"x-over\"] = \"yes\")",
        "#set($context.requestOverride.header[\"x-mapped\"] = \"from-template\")",
        "#set($context.requestOverride.querystring[\"qo\"] = \"1\")",
        "#set($context.requestOverride.path[\"id\"] = \"99\")",
        "{\"id\": \"$input.params('id')\"}"
    );
    let overriding = |path: &str| {
        http_integration(&format!("http://{}{path}/{{id}}/echo-body", be.addr()))
            .with(
                "request_parameters",
                m([("integration.request.header.x-mapped", s("'from-mapping'"))]),
            )
            .with("request_templates", json_tpl(request))
    };
    let (_dir, gw) = serve(vec![
        // No responses: the echo shows what the backend got.
        route("POST /things/{id}", overriding("/things")),
        route(
            "POST /read-back/{id}",
            overriding("/read-back").with(
                "responses",
                l([response(None, 200).with(
                    "templates",
                    json_tpl(
                        r#"{"path": "$input.path('$.path')", "over": "$context.requestOverride.header['x-over']"}"#,
                    ),
                )]),
            ),
        ),
    ])
    .await;
    let post = |path: &'static str| {
        call(
            gw.addr(),
            Method::POST,
            path,
            &[("content-type", "application/json")],
            "{}",
        )
    };

    let r = post("/s/things/7").await;
    assert_eq!(r.status, 200, "body: {}", r.text());
    assert_eq!(r.seen("path"), "/things/99/echo-body");
    assert_eq!(seen_query(&r), pairs(&[("qo", "1")]));
    assert_eq!(r.seen_header("x-over").as_deref(), Some("yes"));
    assert_eq!(
        r.seen_header("x-mapped").as_deref(),
        Some("from-template"),
        "the template's override wins over request_parameters"
    );
    assert_eq!(r.seen("body"), r#"{"id": "7"}"#);

    assert_json(
        &post("/s/read-back/7").await,
        200,
        json!({"path": "/read-back/99/echo-body", "over": "yes"}),
    );
}

// ---------------------------------------------------------------------------------------------
// 3. parameter mapping

/// `request_parameters` of an `http` integration: headers, query strings and path parameters
/// from the method request, `$context`, stage variables, literals and the body; nothing else
/// of the client's request is forwarded; a source the request lacks sets nothing.
#[tokio::test]
async fn http_request_parameters_map_headers_query_and_path() {
    let be = Backend::start("B").await;
    let params = m([
        (
            "integration.request.header.x-user",
            s("method.request.header.x-user"),
        ),
        (
            "integration.request.header.x-tags",
            s("method.request.multivalueheader.x-tag"),
        ),
        ("integration.request.header.x-stage", s("context.stage")),
        ("integration.request.header.x-req", s("context.requestId")),
        (
            "integration.request.header.x-method",
            s("context.httpMethod"),
        ),
        (
            "integration.request.header.x-resource",
            s("context.resourcePath"),
        ),
        ("integration.request.header.x-path", s("context.path")),
        (
            "integration.request.header.x-ip",
            s("context.identity.sourceIp"),
        ),
        ("integration.request.header.x-env", s("stageVariables.env")),
        ("integration.request.header.x-const", s("'fixed'")),
        (
            "integration.request.header.x-sku",
            s("method.request.body.item.sku"),
        ),
        (
            "integration.request.header.x-missing",
            s("method.request.header.x-absent"),
        ),
        (
            "integration.request.header.X-Upper",
            s("method.request.header.X-User"),
        ),
        (
            "integration.request.querystring.v",
            s("stageVariables.apiVersion"),
        ),
        (
            "integration.request.querystring.q",
            s("method.request.querystring.search"),
        ),
        (
            "integration.request.querystring.tags",
            s("method.request.multivaluequerystring.tag"),
        ),
        (
            "integration.request.querystring.uid",
            s("method.request.path.id"),
        ),
        (
            "integration.request.querystring.missing",
            s("method.request.querystring.nope"),
        ),
    ]);
    let (_dir, gw) = serve(vec![
        route(
            "POST /users/{id}",
            http_integration(&format!("http://{}/users/{{id}}", be.addr()))
                .with("request_parameters", params),
        ),
        route(
            "GET /accounts/{id}/{tab}",
            http_integration(&format!("http://{}/accounts/{{id}}/{{tab}}", be.addr())).with(
                "request_parameters",
                m([(
                    "integration.request.path.id",
                    s("method.request.header.x-account"),
                )]),
            ),
        ),
    ])
    .await;
    let a = gw.addr();

    let r = call(
        a,
        Method::POST,
        "/s/users/42?search=red+shoes&tag=a&tag=b&secret=1",
        &[
            ("content-type", "application/json"),
            ("x-user", "ada"),
            ("x-tag", "one"),
            ("x-tag", "two"),
            ("x-not-mapped", "zzz"),
        ],
        r#"{"item": {"sku": "A1"}}"#,
    )
    .await;
    assert_eq!(r.status, 200, "body: {}", r.text());
    assert_framing(&r);
    assert_eq!(r.seen("path"), "/users/42");
    assert_eq!(
        seen_query(&r),
        pairs(&[
            ("v", "3"),
            ("q", "red shoes"),
            ("tags", "a,b"),
            ("uid", "42")
        ]),
        "query the backend saw: {}",
        r.seen("query")
    );
    let h = |name: &str| r.seen_header(name);
    assert_eq!(h("x-user").as_deref(), Some("ada"));
    assert_eq!(h("x-tags").as_deref(), Some("one,two"));
    assert_eq!(h("x-stage").as_deref(), Some("s"));
    assert_eq!(h("x-req").as_deref(), r.header("x-request-id"));
    assert_eq!(h("x-method").as_deref(), Some("POST"));
    assert_eq!(h("x-resource").as_deref(), Some("/users/{id}"));
    assert_eq!(h("x-path").as_deref(), Some("/s/users/42"));
    assert_eq!(h("x-ip").as_deref(), Some("127.0.0.1"));
    assert_eq!(h("x-env").as_deref(), Some("production"));
    assert_eq!(h("x-const").as_deref(), Some("fixed"));
    assert_eq!(h("x-sku").as_deref(), Some("A1"));
    assert_eq!(h("x-missing"), None);
    assert_eq!(
        h("x-upper").as_deref(),
        Some("ada"),
        "header names in mappings are case-insensitive"
    );
    assert_eq!(
        h("x-not-mapped"),
        None,
        "unmapped client headers must not be forwarded"
    );
    assert_eq!(
        h("x-tag"),
        None,
        "unmapped client headers must not be forwarded"
    );
    // No template: the body passes through as sent.
    assert_eq!(r.seen("body_len"), r#"{"item": {"sku": "A1"}}"#.len());

    // A mapped path parameter replaces the captured one (and is encoded as one segment);
    // an unmapped one keeps the captured text.
    let r = call(
        a,
        Method::GET,
        "/s/accounts/1/profile",
        &[("x-account", "acct 9/x")],
        "",
    )
    .await;
    assert_eq!(r.status, 200, "body: {}", r.text());
    assert_eq!(r.seen("path"), "/accounts/acct%209%2Fx/profile");
    // Without the header the captured value stays.
    let r = call(a, Method::GET, "/s/accounts/1/profile", &[], "").await;
    assert_eq!(r.seen("path"), "/accounts/1/profile");
}

/// `request_parameters` of an `http_proxy` integration add headers, query strings and path
/// parameters to what the proxy forwards anyway.
#[tokio::test]
async fn http_proxy_request_parameters() {
    let be = Backend::start("B").await;
    let (_dir, gw) = serve(vec![route(
        "GET /p/{id}",
        m([
            ("type", s("http_proxy")),
            ("uri", s(&format!("http://{}/p/{{id}}", be.addr()))),
            (
                "request_parameters",
                m([
                    ("integration.request.header.x-stage", s("context.stage")),
                    ("integration.request.header.x-env", s("stageVariables.env")),
                    ("integration.request.header.x-const", s("'fixed'")),
                    (
                        "integration.request.header.x-user-copy",
                        s("method.request.header.x-user"),
                    ),
                    (
                        "integration.request.header.x-resource",
                        s("context.resourcePath"),
                    ),
                    (
                        "integration.request.querystring.v",
                        s("stageVariables.apiVersion"),
                    ),
                    (
                        "integration.request.querystring.uid",
                        s("method.request.path.id"),
                    ),
                    (
                        "integration.request.path.id",
                        s("method.request.querystring.account"),
                    ),
                ]),
            ),
        ]),
    )])
    .await;

    let r = call(
        gw.addr(),
        Method::GET,
        "/s/p/42?account=77&keep=1",
        &[("x-user", "ada")],
        "",
    )
    .await;
    assert_eq!(r.status, 200, "body: {}", r.text());
    assert_eq!(r.backend(), Some("B"));
    assert_eq!(r.seen("path"), "/p/77");
    assert_eq!(
        seen_query(&r),
        pairs(&[("account", "77"), ("keep", "1"), ("v", "3"), ("uid", "42")]),
        "query the backend saw: {}",
        r.seen("query")
    );
    let h = |name: &str| r.seen_header(name);
    assert_eq!(
        h("x-user").as_deref(),
        Some("ada"),
        "http_proxy forwards client headers"
    );
    assert_eq!(h("x-user-copy").as_deref(), Some("ada"));
    assert_eq!(h("x-stage").as_deref(), Some("s"));
    assert_eq!(h("x-env").as_deref(), Some("production"));
    assert_eq!(h("x-const").as_deref(), Some("fixed"));
    assert_eq!(h("x-resource").as_deref(), Some("/p/{id}"));

    // Without ?account= the captured id stays.
    let r = call(gw.addr(), Method::GET, "/s/p/42", &[], "").await;
    assert_eq!(r.seen("path"), "/p/42");
    assert_eq!(seen_query(&r), pairs(&[("v", "3"), ("uid", "42")]));
}

// ---------------------------------------------------------------------------------------------
// 4. passthrough behaviours

/// AWS's passthrough matrix on the wire: `never` and `when_no_templates` (templates present)
/// answer 415 for a Content-Type without a template and never call the backend;
/// `when_no_match` passes such a body through unchanged, with its content type; `$default`
/// catches any type; a missing Content-Type counts as application/json.
#[tokio::test]
async fn passthrough_behaviours() {
    let be = Backend::start("B").await;
    let echo = format!("http://{}/echo-body", be.addr());
    let wrap = r#"{"wrapped": $input.json('$')}"#;
    let templated = |behavior: &str| {
        http_integration(&echo)
            .with("request_templates", json_tpl(wrap))
            .with("passthrough_behavior", s(behavior))
    };
    let (_dir, gw) = serve(vec![
        route("POST /never", templated("never")),
        route("POST /no-templates", templated("when_no_templates")),
        route("POST /no-match", templated("when_no_match")),
        route(
            "POST /never-untemplated",
            http_integration(&echo).with("passthrough_behavior", s("never")),
        ),
        route(
            "POST /default",
            http_integration(&echo)
                .with(
                    "request_templates",
                    m([
                        ("application/json", s(wrap)),
                        ("$default", s("DEFAULT:$input.body")),
                    ]),
                )
                .with("passthrough_behavior", s("never")),
        ),
        route(
            "POST /mock-never",
            mock(
                r#"{"statusCode": 200}"#,
                l([response(None, 200).with("templates", json_tpl(r#"{"mock": true}"#))]),
            )
            .with("passthrough_behavior", s("never")),
        ),
    ])
    .await;
    let a = gw.addr();
    let post = |path: &'static str, ct: Option<&'static str>, body: &'static str| async move {
        let headers: Vec<(&str, &str)> = ct.map(|v| ("content-type", v)).into_iter().collect();
        call(a, Method::POST, path, &headers, body).await
    };
    let xml = "<order><id>7</id></order>";

    for path in [
        "/s/never",
        "/s/no-templates",
        "/s/never-untemplated",
        "/s/mock-never",
    ] {
        let before = be.requests();
        let r = post(path, Some("application/xml"), xml).await;
        assert_gateway_error(&r, 415, "Unsupported Media Type");
        assert_eq!(
            be.requests(),
            before,
            "{path}: a 415 must not reach the backend"
        );
    }
    assert_gateway_error(
        &post("/s/never-untemplated", None, "{}").await,
        415,
        "Unsupported Media Type",
    );

    // Matching (or missing) content types are transformed under every behaviour.
    for path in ["/s/never", "/s/no-templates", "/s/no-match"] {
        for ct in [
            Some("application/json"),
            Some("Application/JSON; charset=utf-8"),
            None,
        ] {
            let r = post(path, ct, r#"{"a": 1}"#).await;
            assert_eq!(r.status, 200, "{path} {ct:?}: {}", r.text());
            let sent = r.seen("body");
            let sent: serde_json::Value = serde_json::from_str(sent.as_str().unwrap()).unwrap();
            assert_eq!(sent, json!({"wrapped": {"a": 1}}), "{path} {ct:?}");
            assert_eq!(
                r.seen_header("content-type").as_deref(),
                Some("application/json")
            );
        }
    }
    assert_json(
        &post("/s/mock-never", None, "").await,
        200,
        json!({"mock": true}),
    );

    // when_no_match: an unmatched type passes through byte for byte with its content type.
    let r = post("/s/no-match", Some("application/xml"), xml).await;
    assert_eq!(r.status, 200, "body: {}", r.text());
    assert_eq!(r.seen("body"), xml);
    assert_eq!(
        r.seen_header("content-type").as_deref(),
        Some("application/xml")
    );
    assert_eq!(r.seen_header("content-length"), Some(xml.len().to_string()));

    // $default catches text/plain under `never`.
    let r = post("/s/default", Some("text/plain"), "hi there").await;
    assert_eq!(r.status, 200, "body: {}", r.text());
    assert_eq!(r.seen("body"), "DEFAULT:hi there");
}

// ---------------------------------------------------------------------------------------------
// 5. keep-alive

fn keepalive_routes(be: &Backend) -> Vec<Y> {
    vec![
        // No responses: the backend's answer passes through.
        route(
            "GET /raw/{id}",
            http_integration(&format!("http://{}/raw/{{id}}", be.addr())),
        ),
        route(
            "GET /ping",
            mock(
                r#"{"statusCode": 200}"#,
                l([response(None, 200)
                    .with("templates", json_tpl(r#"{"pong": "$context.stage"}"#))]),
            ),
        ),
        route(
            "POST /orders/{id}",
            http_integration(&format!("http://{}/orders/{{id}}/echo-body", be.addr()))
                .with(
                    "request_templates",
                    json_tpl(r#"{"n": $input.json('$.n')}"#),
                )
                .with(
                    "responses",
                    l([response(None, 201).with(
                        "templates",
                        json_tpl(
                            r#"{"sent": $input.json('$.body'), "path": "$input.path('$.path')"}"#,
                        ),
                    )]),
                ),
        ),
        route(
            "GET /missing/{id}",
            http_integration(&status_uri(
                be,
                "/missing/{id}",
                "404",
                r#"{"message": "gone"}"#,
            ))
            .with(
                "responses",
                l([
                    response(Some("4\\d{2}"), 400).with(
                        "templates",
                        json_tpl(r#"{"error": $input.json('$.message')}"#),
                    ),
                    response(None, 200),
                ]),
            ),
        ),
        route(
            "POST /strict",
            http_integration(&format!("http://{}/echo-body", be.addr()))
                .with("request_templates", json_tpl("{}"))
                .with("passthrough_behavior", s("never")),
        ),
        route(
            "GET /no-default",
            mock(
                r#"{"statusCode": 503}"#,
                l([response(Some("2\\d{2}"), 200)]),
            ),
        ),
        route(
            "GET /broken",
            mock(
                r#"{"statusCode": 200}"#,
                l([response(None, 200)
                    .with("templates", json_tpl("$util.base64Decode('%%%not base64')"))]),
            ),
        ),
    ]
}

/// One connection carries 20 mock and http requests in a row: every answer is right, has a
/// content-length, and the gateway never closes the connection.
#[tokio::test]
async fn templated_responses_keep_the_connection_alive() {
    let be = Backend::start("B").await;
    let (_dir, gw) = serve(keepalive_routes(&be)).await;
    let mut c = Client::connect(gw.addr()).await;

    for i in 0..20 {
        let r = match i % 4 {
            0 => c.request(Method::GET, "/s/ping", &[], "").await,
            1 => {
                let body = format!(r#"{{"n": {i}, "junk": "x"}}"#);
                c.request(
                    Method::POST,
                    &format!("/s/orders/{i}"),
                    &[("content-type", "application/json")],
                    body,
                )
                .await
            }
            2 => {
                c.request(Method::GET, &format!("/s/missing/{i}"), &[], "")
                    .await
            }
            _ => {
                c.request(Method::GET, &format!("/s/raw/{i}"), &[], "")
                    .await
            }
        }
        .unwrap_or_else(|e| panic!("request {i} on the shared connection failed: {e}"));
        match i % 4 {
            0 => assert_json(&r, 200, json!({"pong": "s"})),
            1 => {
                assert_eq!(r.status, 201, "request {i}: {}", r.text());
                assert_framing(&r);
                let body = r.json();
                assert_eq!(
                    body["path"],
                    format!("/orders/{i}/echo-body"),
                    "request {i}"
                );
                let sent: serde_json::Value =
                    serde_json::from_str(body["sent"].as_str().unwrap()).unwrap();
                assert_eq!(sent, json!({ "n": i }), "request {i}");
            }
            2 => assert_json(&r, 400, json!({"error": "gone"})),
            _ => {
                assert_eq!(r.status, 200, "request {i}: {}", r.text());
                assert_framing(&r);
                assert_eq!(r.seen("path"), format!("/raw/{i}"), "request {i}");
            }
        }
        assert_ne!(
            r.header("connection")
                .map(str::to_ascii_lowercase)
                .as_deref(),
            Some("close"),
            "request {i}"
        );
        assert!(
            !c.is_closed(),
            "the gateway closed the connection after request {i}"
        );
    }
    // 15 of them were http requests.
    assert_eq!(be.requests(), 15);
    assert!(!c.is_closed());
}

/// Gateway errors of templated routes (415, no matching integration response, a template
/// failing at run time) keep the connection too.
#[tokio::test]
async fn templated_errors_keep_the_connection_alive() {
    let be = Backend::start("B").await;
    let (_dir, gw) = serve(keepalive_routes(&be)).await;
    let mut c = Client::connect(gw.addr()).await;
    for round in 0..2 {
        let r = c
            .request(
                Method::POST,
                "/s/strict",
                &[("content-type", "text/plain")],
                "text",
            )
            .await
            .unwrap_or_else(|e| panic!("round {round}: 415 request: {e}"));
        assert_gateway_error(&r, 415, "Unsupported Media Type");
        let r = c
            .get("/s/no-default")
            .await
            .unwrap_or_else(|e| panic!("round {round}: no-default request: {e}"));
        assert_gateway_error(&r, 500, "Internal server error");
        let r = c
            .get("/s/broken")
            .await
            .unwrap_or_else(|e| panic!("round {round}: broken template request: {e}"));
        assert_gateway_error(&r, 500, "Internal server error");
        let r = c
            .get("/s/ping")
            .await
            .unwrap_or_else(|e| panic!("round {round}: ping after errors: {e}"));
        assert_json(&r, 200, json!({"pong": "s"}));
        assert!(!c.is_closed(), "round {round}: connection closed");
    }
    assert_eq!(be.requests(), 0, "none of these reach the backend");
}

// ---------------------------------------------------------------------------------------------
// 6. body limit

/// A templated route reads the body whole: beyond `limits.max_body_bytes` it answers 413
/// (and never calls the backend); at the limit it serves.
#[tokio::test]
async fn templated_body_over_the_limit_is_413() {
    let be = Backend::start("B").await;
    let dir = config(vec![
        route(
            "POST /m",
            mock(
                r#"{"statusCode": 200}"#,
                l([response(None, 200).with("templates", json_tpl(r#"{"ok": true}"#))]),
            ),
        ),
        route(
            "POST /h",
            http_integration(&format!("http://{}/echo-body", be.addr())).with(
                "request_templates",
                json_tpl(r#"{"len": "$input.body.length()"}"#),
            ),
        ),
    ]);
    dir.set_limit("max_body_bytes", 1024);
    let gw = Gateway::start(&dir).await;
    let a = gw.addr();
    let text = |n: usize| "x".repeat(n);

    for path in ["/s/m", "/s/h"] {
        let r = call(
            a,
            Method::POST,
            path,
            &[("content-type", "text/plain")],
            &text(1025),
        )
        .await;
        assert_gateway_error(&r, 413, "Request Too Large");
        let r = call(
            a,
            Method::POST,
            path,
            &[("content-type", "text/plain")],
            &text(64 * 1024),
        )
        .await;
        assert_gateway_error(&r, 413, "Request Too Large");
    }
    // The unread rest of a refused body must never be read as a request: the gateway either
    // closes the connection (and says so) or the next request gets its own answer.
    let mut c = Client::connect(a).await;
    let smuggled = format!("GET /s/m HTTP/1.1\r\nhost: x\r\n\r\n{}", "x".repeat(2048));
    let r = c
        .request(
            Method::POST,
            "/s/m",
            &[("content-type", "text/plain")],
            smuggled,
        )
        .await
        .unwrap();
    assert_gateway_error(&r, 413, "Request Too Large");
    let closing = r
        .header("connection")
        .is_some_and(|v| v.eq_ignore_ascii_case("close"));
    match c.get("/s/m").await {
        Ok(next) => assert_gateway_error(&next, 405, "Method Not Allowed"),
        Err(e) => assert!(closing, "connection broke ({e}) without connection: close"),
    }

    // A chunked body (no content-length) is counted as it arrives.
    for path in ["/s/m", "/s/h"] {
        let mut c = Client::connect(a).await;
        let (tx, body) = channel_body(4);
        let req = c.build(
            Method::POST,
            path,
            &[("content-type", "application/json")],
            body.boxed(),
        );
        let pending = tokio::spawn(c.send(req).await.unwrap());
        // Send until the gateway answers (it may stop reading once over the limit).
        let feed = tokio::spawn(async move {
            for _ in 0..16 {
                if tx.send(Bytes::from(vec![b'x'; 512])).await.is_err() {
                    break;
                }
            }
        });
        let resp = within("413 for a chunked body", pending)
            .await
            .unwrap()
            .unwrap_or_else(|e| panic!("{path} chunked: {e}"));
        let r = read_reply(resp).await.unwrap();
        assert_gateway_error(&r, 413, "Request Too Large");
        feed.abort();
    }
    assert_eq!(be.requests(), 0, "a 413 must not reach the backend");

    let r = call(
        a,
        Method::POST,
        "/s/m",
        &[("content-type", "text/plain")],
        &text(1024),
    )
    .await;
    assert_json(&r, 200, json!({"ok": true}));
    let r = call(
        a,
        Method::POST,
        "/s/h",
        &[("content-type", "application/json")],
        &text(1024),
    )
    .await;
    assert_eq!(r.status, 200, "body: {}", r.text());
    assert_eq!(r.seen("body"), r#"{"len": "1024"}"#);
}

// ---------------------------------------------------------------------------------------------
// 7. response header mapping

/// Integration-response `headers:` from a literal, a backend header, a path in the backend's
/// JSON body and a stage variable; a missing source sets nothing.
#[tokio::test]
async fn integration_response_headers_are_mapped() {
    let be = Backend::start("B").await;
    let uri = status_uri(
        &be,
        "",
        "200",
        r#"{"order": {"id": "o-7", "total": 12.5, "tags": ["a"]}}"#,
    );
    let headers = m([
        ("x-lit", s("'static value'")),
        ("x-from-backend", s("integration.response.header.x-backend")),
        ("x-order", s("integration.response.body.order.id")),
        ("x-total", s("integration.response.body.order.total")),
        ("x-tags", s("integration.response.body.order.tags")),
        ("x-env", s("stageVariables.env")),
        ("x-absent", s("integration.response.header.x-nope")),
        ("x-absent-body", s("integration.response.body.order.nope")),
    ]);
    let (_dir, gw) = serve(vec![
        route(
            "GET /hdrs",
            http_integration(&uri).with(
                "responses",
                l([response(None, 200).with("headers", headers.clone()).with(
                    "templates",
                    json_tpl(r#"{"id": "$input.path('$.order.id')"}"#),
                )]),
            ),
        ),
        // No templates: the backend body passes through, headers still mapped.
        route(
            "GET /hdrs-raw",
            http_integration(&uri).with(
                "responses",
                l([response(None, 200).with("headers", headers)]),
            ),
        ),
        route(
            "GET /mock-hdrs",
            mock(
                r#"{"statusCode": 200}"#,
                l([response(None, 204).with(
                    "headers",
                    m([("x-lit", s("'m'")), ("x-env", s("stageVariables.env"))]),
                )]),
            ),
        ),
    ])
    .await;
    let a = gw.addr();

    let check = |r: &Reply, what: &str| {
        assert_eq!(
            r.header("x-lit"),
            Some("static value"),
            "{what}: {:?}",
            r.headers
        );
        assert_eq!(r.header("x-from-backend"), Some("B"), "{what}");
        assert_eq!(r.header("x-order"), Some("o-7"), "{what}");
        assert_eq!(r.header("x-total"), Some("12.5"), "{what}");
        assert_eq!(r.header("x-tags"), Some(r#"["a"]"#), "{what}");
        assert_eq!(r.header("x-env"), Some("production"), "{what}");
        assert_eq!(r.header("x-absent"), None, "{what}");
        assert_eq!(r.header("x-absent-body"), None, "{what}");
    };
    let r = get(a, "/s/hdrs").await;
    assert_json(&r, 200, json!({"id": "o-7"}));
    check(&r, "templated");

    let r = get(a, "/s/hdrs-raw").await;
    assert_json(
        &r,
        200,
        json!({"order": {"id": "o-7", "total": 12.5, "tags": ["a"]}}),
    );
    check(&r, "untemplated");

    let r = get(a, "/s/mock-hdrs").await;
    assert_eq!(r.status, 204, "body: {}", r.text());
    assert!(r.body.is_empty());
    assert_eq!(r.header("x-lit"), Some("m"));
    assert_eq!(r.header("x-env"), Some("production"));
}

// ---------------------------------------------------------------------------------------------
// 8. run-time template failures

/// Templates that compile but fail when rendered (a `#foreach` nest beyond the step budget,
/// `$util.base64Decode` of garbage, `$util.parseJson` of non-JSON) answer 500 JSON, in request
/// and response templates alike, and the gateway keeps serving.
#[tokio::test]
async fn templates_failing_at_run_time_answer_500() {
    let be = Backend::start("B").await;
    let ok = r#"{"statusCode": 200}"#;
    let fine = || l([response(None, 200).with("templates", json_tpl(r#"{"ok": true}"#))]);
    let loops = "#foreach($a in [1..1000])#foreach($b in [1..1000])#foreach($c in [1..1000])#set($x = $c)#end#end#end{\"statusCode\": 200}";
    let (_dir, gw) = serve(vec![
        route("GET /loops", mock(loops, fine())),
        route(
            "GET /loops-in-response",
            mock(
                ok,
                l([response(None, 200).with("templates", json_tpl(loops))]),
            ),
        ),
        route(
            "GET /b64",
            mock(
                r#"$util.base64Decode("%%% not base64 %%%"){"statusCode": 200}"#,
                fine(),
            ),
        ),
        route(
            "GET /parse",
            mock(
                r#"#set($v = $util.parseJson("{not json")){"statusCode": 200}"#,
                fine(),
            ),
        ),
        route(
            "POST /http-b64",
            http_integration(&format!("http://{}/echo-body", be.addr())).with(
                "request_templates",
                json_tpl("$util.base64Decode($input.body)"),
            ),
        ),
        route("GET /ok", mock(ok, fine())),
    ])
    .await;
    let a = gw.addr();

    for path in ["/s/loops", "/s/loops-in-response", "/s/b64", "/s/parse"] {
        let r = get(a, path).await;
        assert_gateway_error(&r, 500, "Internal server error");
        assert_json(&get(a, "/s/ok").await, 200, json!({"ok": true}));
    }
    let r = call(
        a,
        Method::POST,
        "/s/http-b64",
        &[("content-type", "application/json")],
        "%%%",
    )
    .await;
    assert_gateway_error(&r, 500, "Internal server error");
    assert_eq!(
        be.requests(),
        0,
        "a failed request template must not reach the backend"
    );
    assert!(gw.is_running());
    assert_json(&get(a, "/s/ok").await, 200, json!({"ok": true}));
}

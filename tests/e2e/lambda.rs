//! Function integrations through the real gateway: `aws_proxy` against a real ASGI application
//! wrapped by Mangum (from PyPI, in a venv under `target/lambda-venv` that this test creates),
//! behind a minimal invocation endpoint (`tests/lambda/invoke.py`); the proxy event checked field
//! by field against the AWS documentation's example (with a Rust "function" that answers the
//! event it received), stage variables under a canary with overrides, invocation paths per
//! backend version, malformed answers, function errors and timeouts; and `type: aws`
//! (request template -> event, `errorMessage` selection, response template).

use crate::common;

use std::convert::Infallible;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use common::{Client, ConfigDir, Gateway, Reply};
use http::{Method, Request, Response};
use http_body_util::{BodyExt as _, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};

const INVOCATIONS: &str = "/2015-03-31/functions/function/invocations";

// ---------------------------------------------------------------------------------------------
// A Rust "function": answers the invocation by path.

async fn function(req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let path = req.uri().path().to_string();
    let body = req.into_body().collect().await.unwrap().to_bytes();
    let event: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let ok = |v: Value| (200, v.to_string(), None);
    let (status, out, flag): (u16, String, Option<&str>) = match path.as_str() {
        // The proxy event back as the body, with where it was invoked.
        INVOCATIONS | "/v2/invoke" => ok(json!({
            "statusCode": 200,
            "headers": {"content-type": "application/json", "x-invoked": path},
            "body": event.to_string(),
        })),
        "/malformed" => (200, "this is not json".into(), None),
        "/nostatus" => ok(json!({"body": "x"})),
        "/badbody" => ok(json!({"statusCode": 200, "body": {"a": 1}})),
        "/badstatus" => ok(json!({"statusCode": "teapot", "body": "x"})),
        "/error" => ok(json!({"errorMessage": "boom", "errorType": "ValueError"})),
        "/flagged" => (200, "\"oops\"".into(), Some("Unhandled")),
        "/status500" => (500, r#"{"message":"runtime crashed"}"#.into(), None),
        "/slow" => {
            tokio::time::sleep(Duration::from_secs(3)).await;
            ok(json!({"statusCode": 200, "body": "late"}))
        }
        // `type: aws`: fail with `fail` as the errorMessage when the event has one, else
        // answer {"result": EVENT}.
        "/custom" => match event.get("fail").and_then(Value::as_str) {
            Some(m) => ok(json!({"errorMessage": m, "errorType": "Error", "stackTrace": []})),
            None => ok(json!({"result": event})),
        },
        _ => (404, "{}".into(), None),
    };
    let mut r = Response::builder()
        .status(status)
        .header("content-type", "application/json");
    if let Some(f) = flag {
        r = r.header("x-amz-function-error", f);
    }
    Ok(r.body(Full::new(Bytes::from(out))).unwrap())
}

pub async fn start_function() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service_fn(function))
                    .await;
            });
        }
    });
    addr
}

// ---------------------------------------------------------------------------------------------
// Configuration.

/// Writes deployment `id` of api `fn` with `routes` (YAML flow mappings, one a line).
fn deployment(dir: &ConfigDir, id: &str, routes: &[Value]) {
    let mut yaml = String::from("api: \"fn\"\nroutes:\n");
    for r in routes {
        yaml.push_str(&format!("  - {r}\n"));
    }
    dir.write(&ConfigDir::deployment_file(id), &yaml);
}

fn route(route: &str, integration: Value) -> Value {
    json!({"route": route, "integration": integration})
}

fn proxy(uri: &str) -> Value {
    json!({"type": "aws_proxy", "uri": uri})
}

/// One request on a new connection.
async fn call(
    addr: SocketAddr,
    method: Method,
    path: &str,
    headers: &[(&str, &str)],
    body: impl Into<Bytes>,
) -> Reply {
    let mut c = Client::connect(addr).await;
    c.request(method.clone(), path, headers, body)
        .await
        .unwrap_or_else(|e| panic!("{method} {path}: {e}"))
}

async fn get(addr: SocketAddr, path: &str) -> Reply {
    call(addr, Method::GET, path, &[], Bytes::new()).await
}

fn assert_length(r: &Reply) {
    assert_eq!(
        r.header("content-length").and_then(|v| v.parse().ok()),
        Some(r.body.len()),
        "content-length of {:?}",
        r.text()
    );
}

fn assert_status(r: &Reply, status: u16) {
    assert_eq!(r.status, status, "body: {}", r.text());
    assert_length(r);
}

fn assert_error(r: &Reply, status: u16, message: &str) {
    assert_status(r, status);
    assert_eq!(r.json(), json!({ "message": message }));
}

// ---------------------------------------------------------------------------------------------
// The proxy event.

#[tokio::test]
async fn proxy_event_has_the_fields_of_the_aws_example() {
    let f = start_function().await;
    let dir = ConfigDir::new();
    dir.set_gateway_key(
        "backends",
        json!({"echo": {"versions": {"v1": {"targets": [f.to_string()]}}, "aliases": {"live": {"v1": 100}}}}),
    );
    deployment(
        &dir,
        "fn-1",
        &[
            route("ANY /things/{id}/{proxy+}", proxy("backend://echo:live")),
            route("GET /plain", proxy(&format!("http://{f}"))),
        ],
    );
    dir.write(
        &ConfigDir::stage_file("dev"),
        "api: fn\ndeployment: fn-1\nvariables:\n  color: blue\n",
    );
    dir.write(
        &ConfigDir::stage_file("bare"),
        "api: fn\ndeployment: fn-1\n",
    );
    let gw = Gateway::start(&dir).await;

    let r = call(
        gw.addr(),
        Method::POST,
        "/dev/things/42/a/b%20c?x=1&y=2&x=3",
        &[
            ("user-agent", "lambda-test/1.0"),
            ("x-multi", "one"),
            ("x-multi", "two"),
            ("content-type", "application/json"),
        ],
        r#"{"hello": "world"}"#,
    )
    .await;
    assert_status(&r, 200);
    assert_eq!(r.header("x-invoked"), Some(INVOCATIONS));
    let e = r.json();
    assert_eq!(e["resource"], "/things/{id}/{proxy+}");
    assert_eq!(e["path"], "/things/42/a/b%20c");
    assert_eq!(e["httpMethod"], "POST");
    assert_eq!(e["headers"]["user-agent"], "lambda-test/1.0");
    assert_eq!(
        e["headers"]["x-multi"], "two",
        "headers keep the last value"
    );
    assert_eq!(e["multiValueHeaders"]["x-multi"], json!(["one", "two"]));
    assert_eq!(e["queryStringParameters"], json!({"x": "3", "y": "2"}));
    assert_eq!(
        e["multiValueQueryStringParameters"],
        json!({"x": ["1", "3"], "y": ["2"]})
    );
    assert_eq!(e["pathParameters"], json!({"id": "42", "proxy": "a/b c"}));
    assert_eq!(e["stageVariables"], json!({"color": "blue"}));
    assert_eq!(e["body"], r#"{"hello": "world"}"#);
    assert_eq!(e["isBase64Encoded"], false);
    let c = &e["requestContext"];
    for key in [
        "accountId",
        "apiId",
        "resourcePath",
        "httpMethod",
        "path",
        "protocol",
        "stage",
        "requestId",
        "extendedRequestId",
        "requestTime",
        "deploymentId",
        "domainName",
    ] {
        assert!(c[key].is_string(), "requestContext.{key}: {c}");
    }
    assert_eq!(c["resourcePath"], "/things/{id}/{proxy+}");
    assert_eq!(c["httpMethod"], "POST");
    assert_eq!(c["path"], "/dev/things/42/a/b%20c");
    assert_eq!(c["protocol"], "HTTP/1.1");
    assert_eq!(c["stage"], "dev");
    assert_eq!(c["apiId"], "fn");
    assert_eq!(c["deploymentId"], "fn-1");
    assert_eq!(c["domainName"], "127.0.0.1");
    assert_eq!(c["requestId"].as_str(), r.header("x-request-id"));
    assert!(c["requestTimeEpoch"].as_i64().unwrap() > 1_600_000_000_000);
    assert_eq!(c["identity"]["sourceIp"], "127.0.0.1");
    assert_eq!(c["identity"]["userAgent"], "lambda-test/1.0");
    assert!(c["identity"]["caller"].is_null() && c["identity"]["user"].is_null());
    // No API key on this route: null, as AWS sends (tests/e2e/usage_plans.rs has a keyed one).
    assert!(c["identity"]["apiKey"].is_null() && c["identity"]["apiKeyId"].is_null());

    // Nothing in the query, path or stage: null, as AWS puts it; no body: null.
    let r = get(gw.addr(), "/bare/plain").await;
    assert_status(&r, 200);
    let e = r.json();
    for key in [
        "queryStringParameters",
        "multiValueQueryStringParameters",
        "pathParameters",
        "stageVariables",
        "body",
    ] {
        assert!(e[key].is_null(), "{key} should be null: {e}");
    }
    assert_eq!(e["path"], "/plain");
    assert_eq!(e["isBase64Encoded"], false);

    // A binary body goes base64; so does text that is not UTF-8.
    let bytes: Vec<u8> = (0u8..=255).collect();
    for ct in ["application/octet-stream", "text/plain"] {
        let r = call(
            gw.addr(),
            Method::PUT,
            "/bare/things/1/x",
            &[("content-type", ct)],
            bytes.clone(),
        )
        .await;
        let e = r.json();
        assert_eq!(e["isBase64Encoded"], true, "{ct}");
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(e["body"].as_str().unwrap())
            .unwrap();
        assert_eq!(decoded, bytes, "{ct}");
    }
    let r = call(
        gw.addr(),
        Method::POST,
        "/bare/things/1/x",
        &[("content-type", "application/x-www-form-urlencoded")],
        "a=1&b=2",
    )
    .await;
    assert_eq!(r.json()["body"], "a=1&b=2");
    assert_eq!(r.json()["isBase64Encoded"], false);
}

#[tokio::test]
async fn stage_variables_follow_the_canary_and_versions_have_their_own_invocation_path() {
    let f = start_function().await;
    let dir = ConfigDir::new();
    dir.set_gateway_key(
        "backends",
        json!({"echo": {
            "versions": {
                "v1": {"targets": [f.to_string()]},
                "v2": {"targets": [f.to_string()], "invocation_path": "/v2/invoke"},
            },
            "aliases": {"blue": {"v1": 100}, "green": {"v2": 100}},
        }}),
    );
    let routes = [route(
        "ANY /{proxy+}",
        proxy("backend://echo:${stageVariables.alias}"),
    )];
    deployment(&dir, "fn-1", &routes);
    deployment(&dir, "fn-2", &routes);
    dir.write(
        &ConfigDir::stage_file("dev"),
        "api: fn\ndeployment: fn-1\nvariables:\n  alias: blue\n  color: blue\n  keep: same\n\
         canary:\n  deployment: fn-2\n  percent: 100\n  variables:\n    alias: green\n    color: green\n    extra: x\n",
    );
    dir.write(
        &ConfigDir::stage_file("prod"),
        "api: fn\ndeployment: fn-1\nvariables:\n  alias: blue\n",
    );
    let gw = Gateway::start(&dir).await;

    let r = get(gw.addr(), "/dev/anything").await;
    assert_status(&r, 200);
    assert_eq!(
        r.header("x-invoked"),
        Some("/v2/invoke"),
        "the canary's alias picks v2"
    );
    let e = r.json();
    assert_eq!(
        e["stageVariables"],
        json!({"alias": "green", "color": "green", "keep": "same", "extra": "x"})
    );
    assert_eq!(e["requestContext"]["deploymentId"], "fn-2");
    assert_eq!(e["requestContext"]["stage"], "dev");

    let r = get(gw.addr(), "/prod/anything").await;
    assert_eq!(r.header("x-invoked"), Some(INVOCATIONS));
    assert_eq!(r.json()["stageVariables"], json!({"alias": "blue"}));
    assert_eq!(r.json()["requestContext"]["deploymentId"], "fn-1");
}

// ---------------------------------------------------------------------------------------------
// Failures.

#[tokio::test]
async fn malformed_answers_errors_and_timeouts_give_the_documented_answers() {
    let f = start_function().await;
    let dir = ConfigDir::new();
    let mut routes: Vec<Value> = [
        "malformed",
        "nostatus",
        "badbody",
        "badstatus",
        "error",
        "flagged",
        "status500",
    ]
    .iter()
    .map(|p| route(&format!("GET /{p}"), proxy(&format!("http://{f}/{p}"))))
    .collect();
    routes.push(route(
        "GET /slow",
        json!({"type": "aws_proxy", "uri": format!("http://{f}/slow"), "timeout_ms": 300}),
    ));
    routes.push(route(
        "GET /down",
        proxy(&format!("http://{}", common::dead_addr())),
    ));
    routes.push(route("GET /ok", proxy(&format!("http://{f}"))));
    deployment(&dir, "fn-1", &routes);
    dir.write(&ConfigDir::stage_file("dev"), "api: fn\ndeployment: fn-1\n");
    let gw = Gateway::start(&dir).await;

    for p in [
        "malformed",
        "nostatus",
        "badbody",
        "badstatus",
        "error",
        "flagged",
        "status500",
        "down",
    ] {
        let r = get(gw.addr(), &format!("/dev/{p}")).await;
        assert_eq!(r.status, 502, "{p}: {}", r.text());
        assert_error(&r, 502, "Internal server error");
    }
    let r = get(gw.addr(), "/dev/slow").await;
    assert_error(&r, 504, "Endpoint request timed out");
    assert!(gw.is_running(), "{}", gw.logs());
    let r = get(gw.addr(), "/dev/ok").await;
    assert_status(&r, 200);
    let logs = gw.logs();
    assert!(logs.contains("ValueError: boom"), "{logs}");
    assert!(logs.contains("runtime crashed"), "{logs}");
}

// ---------------------------------------------------------------------------------------------
// `type: aws`.

#[tokio::test]
async fn custom_integration_templates_the_event_and_selects_by_error_message() {
    let f = start_function().await;
    let dir = ConfigDir::new();
    let integration = json!({
        "type": "aws",
        "uri": format!("http://{f}/custom"),
        "request_templates": {"application/json": concat!(
            "{\"id\": \"$input.params('id')\", \"stage\": \"$context.stage\", ",
            "\"color\": \"$stageVariables.color\"",
            "#if($input.path('$.fail') != ''), \"fail\": \"$input.path('$.fail')\"#end}"
        )},
        "responses": [
            {"selection_pattern": "200", "status": 418},
            {"selection_pattern": ".*four hundred.*", "status": 405,
             "templates": {"application/json": "{\"error\": \"$input.path('$.errorMessage')\"}"}},
            {"selection_pattern": ".+", "status": 502},
            {"status": 200, "headers": {"x-color": "stageVariables.color"},
             "templates": {"application/json": "{\"got\": $input.json('$.result')}"}},
        ],
    });
    deployment(&dir, "fn-1", &[route("POST /items/{id}", integration)]);
    dir.write(
        &ConfigDir::stage_file("dev"),
        "api: fn\ndeployment: fn-1\nvariables:\n  color: red\n",
    );
    let gw = Gateway::start(&dir).await;
    let post = |body: &'static str| {
        let addr = gw.addr();
        async move {
            call(
                addr,
                Method::POST,
                "/dev/items/7",
                &[("content-type", "application/json")],
                body,
            )
            .await
        }
    };

    // Success: the default response (a "200" pattern does not match a success).
    let r = post("{}").await;
    assert_status(&r, 200);
    assert_eq!(r.header("x-color"), Some("red"));
    assert_eq!(
        r.json(),
        json!({"got": {"id": "7", "stage": "dev", "color": "red"}})
    );
    let r = post(r#"{"fail": "it was four hundred and five"}"#).await;
    assert_status(&r, 405);
    assert_eq!(r.json(), json!({"error": "it was four hundred and five"}));
    let r = post(r#"{"fail": "anything else"}"#).await;
    assert_status(&r, 502);
    assert!(gw.is_running());
}

// ---------------------------------------------------------------------------------------------
// A real ASGI application wrapped by Mangum.

/// The venv's python with Mangum installed: created under `target/lambda-venv` on first use.
fn lambda_python() -> &'static Path {
    static PYTHON: OnceLock<PathBuf> = OnceLock::new();
    PYTHON.get_or_init(|| {
        let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/lambda-venv");
        let python = venv.join("bin/python");
        let has_mangum = |py: &Path| {
            Command::new(py)
                .args(["-c", "import mangum"])
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        };
        if python.exists() && has_mangum(&python) {
            return python;
        }
        let run = |cmd: &mut Command, what: &str| {
            let out = cmd
                .output()
                .unwrap_or_else(|e| panic!("{what}: cannot run {cmd:?}: {e}"));
            assert!(
                out.status.success(),
                "{what} failed ({}): {}\n{}\nThe Mangum test needs python3 with venv and access to PyPI.",
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        };
        if !python.exists() {
            run(
                Command::new("python3").arg("-m").arg("venv").arg(&venv),
                "creating the venv target/lambda-venv",
            );
        }
        run(
            Command::new(&python).args([
                "-m",
                "pip",
                "install",
                "--disable-pip-version-check",
                "--quiet",
                "mangum",
            ]),
            "pip install mangum into target/lambda-venv",
        );
        assert!(has_mangum(&python), "mangum does not import after pip install");
        python
    })
}

/// A Python script under `tests/lambda/` that serves HTTP on the port it prints
/// (`listening PORT`), killed on drop.
pub struct Script {
    child: Child,
    pub addr: SocketAddr,
}

impl Script {
    pub fn start(python: &Path, script: &str) -> Script {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(script);
        let mut child = Command::new(python)
            .arg(path)
            .arg("0")
            .stdout(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("start {script}: {e}"));
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap_or_else(|e| panic!("read the port of {script}: {e}"));
        let port: u16 = line
            .trim()
            .strip_prefix("listening ")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("{script} said {line:?}"));
        Script {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
        }
    }
}

/// `tests/lambda/invoke.py` (the Mangum-wrapped app), in the venv that has Mangum.
struct Invoker;

impl Invoker {
    fn start() -> Script {
        Script::start(lambda_python(), "tests/lambda/invoke.py")
    }
}

impl Drop for Script {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn mangum_wrapped_asgi_app_behind_the_gateway() {
    let invoker = tokio::task::spawn_blocking(Invoker::start).await.unwrap();
    let dir = ConfigDir::new();
    dir.set_gateway_key(
        "backends",
        json!({"functions": {"versions": {"v1": {"targets": [invoker.addr.to_string()]}}, "aliases": {"live": {"v1": 100}}}}),
    );
    deployment(
        &dir,
        "fn-1",
        &[route("ANY /{proxy+}", proxy("backend://functions:live"))],
    );
    dir.write(
        &ConfigDir::stage_file("dev"),
        "api: fn\ndeployment: fn-1\nvariables:\n  color: blue\n",
    );
    let gw = Gateway::start(&dir).await;

    // Path and query parameters, headers, stage variables.
    let r = call(
        gw.addr(),
        Method::GET,
        "/dev/hello/ada?greeting=hi&x=1&x=2",
        &[("x-custom", "yes")],
        Bytes::new(),
    )
    .await;
    assert_status(&r, 200);
    assert!(r
        .header("content-type")
        .unwrap()
        .starts_with("application/json"));
    assert_eq!(
        r.json(),
        json!({
            "message": "hi, ada",
            "method": "GET",
            "query": {"greeting": ["hi"], "x": ["1", "2"]},
            "x_custom": "yes",
            "stage": "dev",
            "stage_variables": {"color": "blue"},
        })
    );

    // A JSON body there and back.
    let r = call(
        gw.addr(),
        Method::POST,
        "/dev/echo",
        &[("content-type", "application/json")],
        r#"{"n": [1, 2, 3]}"#,
    )
    .await;
    assert_status(&r, 200);
    assert_eq!(r.json(), json!({"n": [1, 2, 3]}));

    // A binary body both ways (base64 in the event and in the function's answer).
    let bytes: Vec<u8> = (0..4096u32).map(|i| (i * 7 % 256) as u8).collect();
    let r = call(
        gw.addr(),
        Method::POST,
        "/dev/echo",
        &[("content-type", "application/octet-stream")],
        bytes.clone(),
    )
    .await;
    assert_status(&r, 200);
    assert_eq!(r.header("content-type"), Some("application/octet-stream"));
    assert_eq!(r.header("x-length"), Some("4096"));
    assert_eq!(&r.body[..], &bytes[..]);

    // Non-200 statuses.
    let r = get(gw.addr(), "/dev/missing").await;
    assert_status(&r, 404);
    assert_eq!(r.json(), json!({"error": "no such thing"}));

    // Multi-value headers.
    let r = get(gw.addr(), "/dev/cookies").await;
    assert_status(&r, 201);
    assert_eq!(r.text(), "made");
    let all = |name: &str| -> Vec<String> {
        r.headers
            .get_all(name)
            .iter()
            .map(|v| v.to_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(all("set-cookie"), ["a=1; Path=/", "b=2; Path=/"]);
    assert_eq!(all("x-multi"), ["one", "two"]);

    // The app raising: Mangum answers 500 itself, which passes through.
    let r = get(gw.addr(), "/dev/boom").await;
    assert_status(&r, 500);
    assert_eq!(r.text(), "Internal Server Error");
    // The handler failing: Lambda's error shape, a function error.
    let r = get(gw.addr(), "/dev/crash").await;
    assert_error(&r, 502, "Internal server error");
    assert!(gw.logs().contains("the handler crashed"), "{}", gw.logs());
    let r = get(gw.addr(), "/dev/hello/again").await;
    assert_status(&r, 200);
}

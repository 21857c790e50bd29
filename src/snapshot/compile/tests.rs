//! `compile` on small configurations written as YAML strings: what the snapshot holds (stages,
//! routes, canaries, throttles, weights, warnings), what a compile hands the next one
//! (`Carried`), and that what it cannot use is a problem with a file and a line.
#![allow(clippy::unwrap_used)]

use super::*;
use crate::config::{parse_sources, SourceSet};

const GATEWAY: &str = r#"listen: ["127.0.0.1:18080"]
admin: "127.0.0.1:19901"
throttle: { rate: 100, burst: 10 }
backends:
  orders:
    sticky: "header:x-user"
    versions:
      v1: { targets: ["127.0.0.1:9001"] }
      v2: { targets: ["127.0.0.1:9002", "127.0.0.1:9003"], invocation_path: /fn/v2 }
    aliases:
      live: { v1: 0, v2: 3 }
      split: { v1: 1, v2: 1 }
"#;

const DEPLOYMENT: &str = r#"api: shop
routes:
  - route: "GET /orders/{id}"
    integration:
      type: http_proxy
      uri: "backend://orders:${stageVariables.alias}/orders/{id}?src=gw"
      request_parameters:
        integration.request.header.x-env: "stageVariables.env"
        integration.request.querystring.who: "context.stage"
    throttle: { rate: 5, burst: 2 }
  - route: "ANY /legacy/{proxy+}"
    integration:
      type: http_proxy
      uri: "http://127.0.0.1:9009/api/{proxy}"
  - route: "POST /fn"
    integration:
      type: aws_proxy
      uri: "backend://orders:v2"
  - route: "GET /mock"
    integration:
      type: mock
      request_templates:
        application/json: '{"statusCode": 200}'
      responses:
        - status: 200
          headers:
            x-stage: "stageVariables.env"
"#;

const PROD: &str = "api: shop
deployment: shop-1
variables:
  alias: live
  env: production
canary:
  deployment: shop-1
  percent: 12.5
  sticky: \"cookie:session\"
  variables:
    alias: split
access_log:
  format: \"$context.requestId $context.status\"
";

const BETA: &str = "api: shop
deployment: shop-1
base_path: /b
host: Beta.Example.Test
variables:
  alias: live
  env: beta
throttle: { rate: 1, burst: 1 }
";

/// A configuration directory that exists only in memory.
fn raw(files: &[(&str, &str)]) -> RawConfig {
    parse_sources(&SourceSet::in_memory(files)).unwrap_or_else(|p| panic!("{p}"))
}

fn shop(prod: &str) -> RawConfig {
    raw(&[
        (GATEWAY_FILE, GATEWAY),
        ("deployments/shop-1.yaml", DEPLOYMENT),
        ("stages/prod.yaml", prod),
        ("stages/beta.yaml", BETA),
    ])
}

/// Validates (no errors allowed) and compiles, as the load pipeline does.
fn compiled(raw: &RawConfig, carried: &Carried) -> Snapshot {
    let problems = crate::config::validate::validate(raw);
    assert!(!problems.has_errors(), "{problems}");
    compile(raw, carried, 7).unwrap_or_else(|p| panic!("{p}"))
}

fn stage<'s>(snap: &'s Snapshot, name: &str) -> &'s Stage {
    snap.stages.iter().find(|s| &*s.name == name).unwrap()
}

fn route<'d>(d: &'d RouteTable, template: &str) -> &'d Route {
    d.routes.iter().find(|r| &*r.template == template).unwrap()
}

fn proxy(r: &Route) -> &ProxyIntegration {
    match &r.integration {
        Integration::HttpProxy(p) => p,
        other => panic!("not http_proxy: {other:?}"),
    }
}

fn version_names(sel: &Selector) -> Vec<&str> {
    sel.versions().iter().map(|v| &*v.name).collect()
}

#[test]
fn stages_routes_and_server_settings() {
    let snap = compiled(&shop(PROD), &Carried::default());
    assert_eq!(snap.generation, 7);
    assert_eq!(snap.hash, "sha256:test");
    assert_eq!(snap.server.listen.len(), 1);
    assert_eq!(snap.server.listen[0].addr.to_string(), "127.0.0.1:18080");
    assert_eq!(snap.server.admin.map(|a| a.port()), Some(19901));

    let names: Vec<&str> = snap.stages.iter().map(|s| &*s.name).collect();
    assert_eq!(names, ["beta", "prod"]);
    let prod = stage(&snap, "prod");
    assert_eq!(&*prod.base_path, "/prod");
    assert_eq!(prod.host, None);
    assert_eq!(&*stage(&snap, "beta").base_path, "/b");
    assert_eq!(
        stage(&snap, "beta").host.as_deref(),
        Some("beta.example.test")
    );
    // The host-bound stage answers its host; any other host reaches only prod.
    let (s, rest) = snap
        .select_stage(Some("beta.example.test"), "/b/orders/1")
        .unwrap();
    assert_eq!((&*s.name, rest), ("beta", "/orders/1"));
    assert!(snap
        .select_stage(Some("other.test"), "/b/orders/1")
        .is_none());
    assert!(snap.routes_by_host());

    let d = &prod.primary;
    assert_eq!(&*d.deployment_id, "shop-1");
    let templates: Vec<&str> = d.routes.iter().map(|r| &*r.template).collect();
    assert_eq!(
        templates,
        [
            "GET /orders/{id}",
            "ANY /legacy/{proxy+}",
            "POST /fn",
            "GET /mock"
        ]
    );
    let orders = route(d, "GET /orders/{id}");
    assert_eq!(&*orders.resource_path, "/orders/{id}");
    assert_eq!(&*orders.param_names, [Box::from("id")]);
    // Stage variables are substituted once, here: `alias` picked the alias, `env` the header.
    let p = proxy(orders);
    assert_eq!(version_names(&p.upstream), ["v1", "v2"]);
    assert_eq!(p.host_header, None);
    assert_eq!(
        &*p.path,
        [PathPart::Text("/orders/".into()), PathPart::Capture(0)]
    );
    assert_eq!(p.query.as_deref(), Some("src=gw"));
    let mapped: Vec<_> = p.params.iter().map(|m| (&m.target, &m.source)).collect();
    assert_eq!(
        mapped,
        [
            (
                &mapping::ParamTarget::Header(http::HeaderName::from_static("x-env")),
                &ParamSource::Literal("production".into())
            ),
            (
                &mapping::ParamTarget::Query("who".into()),
                &ParamSource::Context(mapping::ContextField::Stage)
            ),
        ]
    );
    let legacy = proxy(route(d, "ANY /legacy/{proxy+}"));
    assert_eq!(legacy.host_header.as_deref(), Some("127.0.0.1:9009"));
    assert_eq!(legacy.timeout, Duration::from_millis(29_000));

    let Integration::Function(f) = &route(d, "POST /fn").integration else {
        panic!("not a function");
    };
    assert!(!f.uri_path);
    assert_eq!(f.invocation_path("v2"), "/fn/v2");
    assert_eq!(
        f.invocation_path("v1"),
        super::super::function::DEFAULT_INVOCATION_PATH
    );

    let Integration::Mock(m) = &route(d, "GET /mock").integration else {
        panic!("not a mock");
    };
    let r = m.responses.fallback().unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(
        &*r.headers,
        [(
            http::HeaderName::from_static("x-stage"),
            mapping::HeaderSource::Literal("production".into())
        )]
    );
    assert!(snap.warnings.is_empty(), "{:?}", snap.warnings);
}

#[test]
fn canary_access_log_and_weights() {
    let snap = compiled(&shop(PROD), &Carried::default());
    let prod = stage(&snap, "prod");
    let canary = prod.canary.as_ref().unwrap();
    assert_eq!(canary.percent, 12.5);
    assert_eq!(
        canary.sticky,
        Some(crate::config::sticky::StickyKey::Cookie("session".into()))
    );
    // The canary's variables override the stage's: its routes use the other alias.
    assert_eq!(canary.deployed.variables.get("alias").unwrap(), "split");
    assert_eq!(canary.deployed.variables.get("env").unwrap(), "production");

    let headers = http::HeaderMap::new();
    // `live` weighs v1 0 and v2 3: v1 is never picked.
    let live = &proxy(route(&prod.primary, "GET /orders/{id}")).upstream;
    for _ in 0..200 {
        assert_eq!(&*live.pick(&headers).name, "v2");
    }
    // `split` is sticky on the backend's header: one user, one version.
    let split = &proxy(route(&canary.deployed, "GET /orders/{id}")).upstream;
    let mut user = http::HeaderMap::new();
    user.insert("x-user", http::HeaderValue::from_static("alice"));
    let first = split.pick(&user).name.clone();
    for _ in 0..50 {
        assert_eq!(split.pick(&user).name, first);
    }

    let log = prod.access_log.as_ref().unwrap();
    let line = log.format.line(&|f, out| {
        if *f == crate::accesslog::Field::RequestId {
            out.push_str("r-1")
        }
    });
    assert_eq!(line, "r-1 -\n");
    assert!(stage(&snap, "beta").access_log.is_none());
}

#[test]
fn throttles_and_health_are_carried_to_the_next_snapshot() {
    let carried = Carried::default();
    let first = compiled(&shop(PROD), &carried);
    let prod = stage(&first, "prod");
    let beta = stage(&first, "beta");
    // A stage without `throttle:` gets gateway.yaml's, in a bucket of its own.
    let (prod_bucket, beta_bucket) = (
        prod.throttle.clone().unwrap(),
        beta.throttle.clone().unwrap(),
    );
    assert!(!Arc::ptr_eq(&prod_bucket, &beta_bucket));
    let route_bucket = route(&prod.primary, "GET /orders/{id}")
        .throttle
        .clone()
        .unwrap();
    assert!(route(&prod.primary, "ANY /legacy/{proxy+}")
        .throttle
        .is_none());
    // beta allows one request at once.
    assert!(beta_bucket.take().is_ok());
    assert!(beta_bucket.take().is_err());

    let second = compiled(&shop(PROD), &carried);
    assert!(Arc::ptr_eq(
        &stage(&second, "prod").throttle.clone().unwrap(),
        &prod_bucket
    ));
    assert!(Arc::ptr_eq(
        &route(&stage(&second, "prod").primary, "GET /orders/{id}")
            .throttle
            .clone()
            .unwrap(),
        &route_bucket
    ));
    let health = |s: &Snapshot| s.versions[0].health()[0].clone();
    assert!(Arc::ptr_eq(&health(&first), &health(&second)));

    // New settings are a new bucket; another process (a fresh `Carried`) shares nothing.
    let faster = compiled(
        &shop(&format!("{PROD}throttle: {{ rate: 7, burst: 1 }}\n")),
        &carried,
    );
    assert!(!Arc::ptr_eq(
        &stage(&faster, "prod").throttle.clone().unwrap(),
        &prod_bucket
    ));
    let elsewhere = compiled(&shop(PROD), &Carried::default());
    assert!(!Arc::ptr_eq(
        &stage(&elsewhere, "prod").throttle.clone().unwrap(),
        &prod_bucket
    ));
    assert!(!Arc::ptr_eq(&health(&elsewhere), &health(&first)));
}

#[test]
fn undefined_stage_variables_are_warnings_naming_the_stage_file() {
    let prod = PROD.replace("  alias: live\n  env: production\n", "  other: x\n");
    let prod = prod.replace("    alias: split\n", "    other: y\n");
    let snap = compiled(&shop(&prod), &Carried::default());
    let warnings: Vec<String> = snap.warnings.iter().map(ToString::to_string).collect();
    assert!(
        warnings.iter().any(|w| w.starts_with("warning: stages/prod.yaml: uri of route \"GET /orders/{id}\" uses undefined stage variable(s) alias in stage \"prod\"")),
        "{warnings:?}"
    );
    assert!(
        warnings.iter().any(|w| w.starts_with(
            "warning: stages/prod.yaml: route \"GET /mock\" maps undefined stage variable(s) env"
        )),
        "{warnings:?}"
    );
    // Requests to that route get 500; the stage is served all the same.
    let orders = route(&stage(&snap, "prod").primary, "GET /orders/{id}");
    assert!(matches!(
        orders.integration,
        Integration::Misconfigured { .. }
    ));
}

/// The problems of a configuration that does not compile, as `validate` prints them.
fn problems(raw: &RawConfig) -> Vec<String> {
    match compile(raw, &Carried::default(), 1) {
        Ok(s) => panic!("compiled, with warnings {:?}", s.warnings),
        Err(p) => p.0.iter().map(ToString::to_string).collect(),
    }
}

#[test]
fn what_only_a_stage_shows_is_a_problem_with_file_and_line() {
    // A variable that makes the URI unparsable, and one that names an alias that is not there.
    let bad = PROD.replace("alias: live", "alias: \"a/b\"");
    assert_eq!(
        problems(&shop(&bad)),
        ["error: deployments/shop-1.yaml:6: backend \"orders\" has no alias or version \"a\" (uri \"backend://orders:a/b/orders/{id}?src=gw\", stage \"prod\")"]
    );
    let bad = PROD.replace("alias: live", "alias: \"live/a b\"");
    assert_eq!(
        problems(&shop(&bad)),
        ["error: deployments/shop-1.yaml:6: invalid uri \"backend://orders:live/a b/orders/{id}?src=gw\": white space in path or query (with the variables of stage \"prod\")"]
    );
}

#[test]
fn a_value_that_did_not_parse_is_reported_not_dropped() {
    // What validation reports first; compiled anyway (as `validate` does), it is a problem
    // here too, in the same words, never a silently missing sticky key or log.
    let gateway = GATEWAY.replace("header:x-user", "query:x");
    let prod = PROD.replace("$context.status\"", "$context.nope\"");
    let raw = raw(&[
        (GATEWAY_FILE, &gateway),
        ("deployments/shop-1.yaml", DEPLOYMENT),
        ("stages/prod.yaml", &prod),
    ]);
    let found = problems(&raw);
    assert!(
        found.contains(&"error: gateway.yaml:6: backend \"orders\": invalid sticky \"query:x\": expected \"header:NAME\" or \"cookie:NAME\"".to_string()),
        "{found:?}"
    );
    assert!(
        found.iter().any(|p| p.starts_with(
            "error: stages/prod.yaml:13: access_log.format: $context.nope is not a field"
        )),
        "{found:?}"
    );
    let validated: Vec<String> = crate::config::validate::validate(&raw)
        .0
        .iter()
        .map(ToString::to_string)
        .collect();
    for p in &found {
        assert!(validated.contains(p), "validation did not say {p}");
    }
}

#[test]
fn duplicate_routes_and_unknown_deployments_are_reported_in_validations_words() {
    let dup = DEPLOYMENT.replace("ANY /legacy/{proxy+}", "GET /orders/{other}");
    let dup = dup.replace("/api/{proxy}", "/api/{other}");
    let raw = raw(&[
        (GATEWAY_FILE, GATEWAY),
        ("deployments/shop-1.yaml", &dup),
        (
            "stages/prod.yaml",
            &PROD.replace("  deployment: shop-1", "  deployment: shop-9"),
        ),
    ]);
    let found = problems(&raw);
    assert_eq!(
        found,
        [
            "error: deployments/shop-1.yaml:11: duplicate route \"GET /orders/{other}\": the same method and path as the route on line 3",
            "error: stages/prod.yaml:7: canary deployment \"shop-9\" does not exist (no deployments/shop-9.yaml)",
        ]
    );
    let validated = crate::config::validate::validate(&raw);
    for p in &found {
        assert!(validated.0.iter().any(|v| v.to_string() == *p), "{p}");
    }
}

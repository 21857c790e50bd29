//! `$context`, `$stageVariables` and the override maps.

use super::{r, Req};
use crate::template::{ContextData, Identity, Overrides, RequestOverrides};

fn ctx() -> ContextData {
    ContextData {
        request_id: "req-1".into(),
        extended_request_id: "ext-1".into(),
        stage: "prod".into(),
        http_method: "POST".into(),
        resource_path: "/pets/{id}".into(),
        path: "/prod/pets/7".into(),
        protocol: "HTTP/1.1".into(),
        request_time: "09/Apr/2015:12:34:56 +0000".into(),
        request_time_epoch: 1428582896000,
        domain_name: "api.example.com".into(),
        domain_prefix: "api".into(),
        api_id: "abc123".into(),
        account_id: "123456789012".into(),
        deployment_id: "dep1".into(),
        resource_id: "res1".into(),
        identity: Identity {
            source_ip: "203.0.113.9".into(),
            user_agent: "curl/8".into(),
            ..Identity::default()
        },
        is_canary_request: Some(false),
        ..ContextData::default()
    }
}

#[test]
fn context_fields() {
    let req = Req {
        context: ctx(),
        ..Req::new()
    };
    assert_eq!(
        req.render("$context.requestId $context.extendedRequestId $context.stage $context.httpMethod $context.resourcePath $context.path $context.protocol"),
        "req-1 ext-1 prod POST /pets/{id} /prod/pets/7 HTTP/1.1"
    );
    assert_eq!(
        req.render("$context.requestTime|$context.requestTimeEpoch|$context.domainName|$context.domainPrefix|$context.apiId|$context.accountId|$context.deploymentId|$context.resourceId"),
        "09/Apr/2015:12:34:56 +0000|1428582896000|api.example.com|api|abc123|123456789012|dep1|res1"
    );
    assert_eq!(
        req.render(
            "$context.identity.sourceIp $context.identity.userAgent $context.isCanaryRequest"
        ),
        "203.0.113.9 curl/8 false"
    );
    assert_eq!(
        req.render("$context.keySet()"),
        "[resourceId, resourcePath, httpMethod, extendedRequestId, requestTime, path, accountId, protocol, requestOverride, stage, domainPrefix, requestTimeEpoch, requestId, identity, domainName, deploymentId, responseOverride, apiId, isCanaryRequest]"
    );
    assert_eq!(
        req.render("$context['stage'] ${context.stage} $context.get('stage')"),
        "prod prod prod"
    );
    assert_eq!(r("[$context.isCanaryRequest][$context.nope]"), "[][]");
}

#[test]
fn context_extra_is_deep_merged() {
    let mut c = ctx();
    c.extra.push((
        "identity".into(),
        serde_json::json!({"sourceIp": "198.51.100.1", "caller": "me"}),
    ));
    c.extra.push((
        "authorizer".into(),
        serde_json::json!({"principalId": "u1", "claims": {"sub": "s"}}),
    ));
    c.extra.push(("stage".into(), serde_json::json!("beta")));
    let req = Req {
        context: c,
        ..Req::new()
    };
    assert_eq!(
        req.render("$context.identity.sourceIp $context.identity.userAgent $context.identity.caller $context.authorizer.principalId $context.authorizer.claims.sub $context.stage"),
        "198.51.100.1 curl/8 me u1 s beta"
    );
}

#[test]
fn response_override_is_read_back() {
    let req = Req::new();
    let out = req
        .try_render("#set($context.responseOverride.status = 444)\n#set($context.responseOverride.header.foo = \"bar\")\n#set($context.responseOverride.custom = \"is also passed around\")\n{\n  \"statusCode\": 200\n}\n")
        .expect("renders");
    assert_eq!(out.output, "{\n  \"statusCode\": 200\n}\n");
    assert_eq!(out.response_override.status, Some(444));
    assert_eq!(
        out.response_override.headers,
        vec![("foo".to_string(), "bar".to_string())]
    );
    assert_eq!(
        out.response_override.other,
        vec![(
            "custom".to_string(),
            serde_json::json!("is also passed around")
        )]
    );
}

#[test]
fn status_override_outside_100_599_is_ignored() {
    for (v, want) in [
        ("444", Some(444)),
        ("'201'", Some(201)),
        ("99", None),
        ("600", None),
        ("'abc'", None),
        ("200.0", Some(200)),
    ] {
        let out = Req::new()
            .try_render(&format!("#set($context.responseOverride.status = {v})"))
            .expect("renders");
        assert_eq!(out.response_override.status, want, "{v}");
    }
}

#[test]
fn request_override_forms() {
    let out = Req::new()
        .try_render("#set($paramName = \"foo\")\n#set($context.requestOverride.querystring[$paramName] = \"bar\")\n#set($paramPutName = \"putfoo\")\n$context.requestOverride.querystring.put($paramPutName, \"putBar\")\n#set($context[\"requestOverride\"].querystring[\"nestedfoo\"] = \"nestedFoo\")\n#set($context.requestOverride.header.h = 5)#set($context.requestOverride.path.p = 'v')")
        .expect("renders");
    assert_eq!(out.output, "\n");
    assert_eq!(
        out.request_override,
        RequestOverrides {
            header: vec![("h".into(), "5".into())],
            path: vec![("p".into(), "v".into())],
            querystring: vec![
                ("foo".into(), "bar".into()),
                ("putfoo".into(), "putBar".into()),
                ("nestedfoo".into(), "nestedFoo".into()),
            ],
        }
    );
}

#[test]
fn overrides_pass_through_when_context_is_untouched() {
    let c = ContextData {
        response_override: Overrides {
            status: Some(201),
            headers: vec![("x".into(), "y".into())],
            other: vec![],
        },
        request_override: RequestOverrides {
            path: vec![("body".into(), "b".into())],
            ..RequestOverrides::default()
        },
        ..ContextData::default()
    };
    let req = Req {
        context: c.clone(),
        ..Req::new()
    };
    let out = req.try_render("plain").expect("renders");
    assert_eq!(out.response_override, c.response_override);
    assert_eq!(out.request_override, c.request_override);
    // and can be read by the template
    assert_eq!(req.render("$context.responseOverride.status $context.responseOverride.header.x $context.requestOverride.path.body"), "201 y b");
}

#[test]
fn replacing_context_keeps_overrides_of_the_original_object() {
    let out = Req::new()
        .try_render(
            "#set($c = $context)#set($context = 'x')#set($c.responseOverride.status = 302)$context",
        )
        .expect("renders");
    assert_eq!(out.output, "x");
    assert_eq!(out.response_override.status, Some(302));
}

#[test]
fn stage_variables() {
    let req = Req::new()
        .stage_var("version", "1.0")
        .stage_var("url", "example.com");
    assert_eq!(
        req.render("{ \"version\": \"$stageVariables.version\" }"),
        "{ \"version\": \"1.0\" }"
    );
    assert_eq!(
        req.render("${stageVariables.url}|$stageVariables['url']|${stageVariables['url']}|$stageVariables.get('version')|[$stageVariables.missing]"),
        "example.com|example.com|example.com|1.0|[]"
    );
    assert_eq!(
        req.render("https://${stageVariables.url}/${stageVariables.nope}/x"),
        "https://example.com//x"
    );
    assert_eq!(
        req.render("$stageVariables"),
        "{url=example.com, version=1.0}"
    );
}

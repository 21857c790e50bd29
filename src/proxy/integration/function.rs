//! Part of the proxy stage, step 9 for functions: `aws_proxy` POSTs the API Gateway REST proxy
//! event (format 1.0) to the function and turns its `{statusCode, headers, multiValueHeaders, body,
//! isBase64Encoded}` into the response; `aws` POSTs the request template's output and selects the
//! integration response by the function's `errorMessage`. A function is anything that answers
//! `POST` on its invocation path the way Lambda's Invoke API (or the runtime interface emulator)
//! does: the event in, the function's result (or `{"errorMessage", "errorType"}`) out.
//!
//! Decisions (see the README): a request body is sent as text when its media type is textual
//! (`text/*`, JSON, XML, JavaScript, form data, `*+json`, `*+xml`; no Content-Type counts as
//! text) and it is valid UTF-8, base64 otherwise; a function error (`X-Amz-Function-Error`, the
//! error shape, a non-2xx invocation or no answer) and a malformed answer are 502
//! `{"message": "Internal server error"}`, logged with the function's message; a timeout is 504.

use super::mapping::{self, View};
use super::response::{respond, Integrated};
use super::{content_type, exchange, Exchanged, Failure, Job, Outgoing};
use crate::proxy::facts::Facts;
use crate::proxy::respond::{Answer, GatewayError};
use crate::proxy::route::Call;
use crate::proxy::upstream::Endpoint;
use crate::snapshot::function::{FunctionIntegration, FunctionKind};
use crate::snapshot::templated::{media_type, BinaryMediaTypes, Mapping, RequestBody};
use crate::snapshot::{ProxyIntegration, Route};
use crate::template::{Overrides, RequestOverrides};
use base64::Engine as _;
use bytes::Bytes;
use pingora::http::RequestHeader;
use serde_json::{json, Map, Value};
use std::borrow::Cow;
use std::sync::Arc;

pub async fn serve(
    job: &Job<'_>,
    f: &FunctionIntegration,
    exchanged: &mut Option<Exchanged>,
) -> Result<Answer, Failure> {
    let req = job.req;
    let route = job.route;
    let limits = &job.ctx.snapshot.template_limits;
    let mut view = View::new(Facts::new(req, job.ctx), job.call, route);
    let (event, overrides) = match &f.kind {
        FunctionKind::Proxy => (Bytes::from(proxy_event(&view, &job.body).to_string()), None),
        FunctionKind::Custom(mapping) => match mapping.request_body(content_type(req)) {
            RequestBody::Unsupported => return Err(GatewayError::UnsupportedMediaType.into()),
            RequestBody::Transform(t) => {
                let r = view.render(t, &job.body, limits)?;
                (
                    Bytes::from(r.output),
                    Some((r.request_override, r.response_override)),
                )
            }
            RequestBody::Passthrough => (job.body.clone(), None),
        },
    };

    let endpoint = Endpoint::pick(&f.target, &req.headers);
    let path = invocation_path(
        &f.target,
        f.uri_path,
        &f.invocation_paths,
        &endpoint.version.name,
        req,
        job.call,
        route,
    );
    let invocation = Outgoing {
        method: http::Method::POST,
        path,
        content_type: Some("application/json"),
        headers: &[],
        body: event,
    };
    let (resp, out) = match exchange(job, &endpoint, invocation, exchanged).await {
        Ok(r) => r,
        Err(Failure::Refuse(r)) if r.error == GatewayError::BadGateway => {
            return Err(Failure::Function(format!(
                "route {:?}: function version {:?} could not be invoked",
                route.template, endpoint.version.name
            )))
        }
        Err(e) => return Err(e),
    };
    let status = resp.status.as_u16();
    let parsed: Option<Value> = serde_json::from_slice(&out).ok();
    let flagged = resp.headers.contains_key("x-amz-function-error");
    let error = function_error(parsed.as_ref(), flagged, &out);
    let what = |why: &str| format!("route {:?}: {why}", route.template);

    match &f.kind {
        FunctionKind::Proxy => {
            if !(200..300).contains(&status) {
                let msg = error.unwrap_or_else(|| snippet(&out));
                return Err(Failure::Function(what(&format!(
                    "invocation answered {status}: {msg}"
                ))));
            }
            if let Some(msg) = error {
                return Err(Failure::Function(what(&msg)));
            }
            let Some(v) = parsed else {
                return Err(Failure::Function(what(&format!(
                    "malformed Lambda proxy response (not JSON): {}",
                    snippet(&out)
                ))));
            };
            proxy_answer(v).map_err(|why| {
                Failure::Function(what(&format!("malformed Lambda proxy response: {why}")))
            })
        }
        FunctionKind::Custom(Mapping { responses, .. }) => {
            let message = error.as_ref().map(|_| error_message(parsed.as_ref(), &out));
            if !(200..300).contains(&status) && message.is_none() {
                return Err(Failure::Function(what(&format!(
                    "invocation answered {status}: {}",
                    snippet(&out)
                ))));
            }
            if responses.is_empty() {
                // No integration responses: the result as it is, and errors as errors.
                if let Some(msg) = error {
                    return Err(Failure::Function(what(&msg)));
                }
                return Ok(Answer {
                    status: 200,
                    headers: Vec::new(),
                    content_type: Some(Cow::Borrowed("application/json")),
                    body: out,
                });
            }
            if let Some(msg) = &error {
                tracing::info!(request_id = %job.ctx.request_id, route = %route.template, "function error: {msg}");
            }
            let (request_override, response_override) =
                overrides.unwrap_or_else(|| (RequestOverrides::default(), Overrides::default()));
            let got = Integrated {
                status: 200,
                headers: None,
                body: out,
                request_override,
                response_override,
            };
            respond(&mut view, responses, got, message.as_deref(), limits)
        }
    }
}

/// Where a function is invoked: the URI's own path when it has one (captures filled), else the
/// picked version's invocation path; the URI's query either way. For integrations and
/// authorizers alike.
pub(crate) fn invocation_path(
    target: &ProxyIntegration,
    uri_path: bool,
    paths: &[(Arc<str>, Arc<str>)],
    version: &str,
    req: &RequestHeader,
    call: &Call,
    route: &Route,
) -> String {
    if uri_path {
        return mapping::upstream_path(
            &target.path,
            call.rest(req),
            &call.captures,
            route,
            None,
            &[target.query.as_deref()],
        );
    }
    let mut p = crate::snapshot::function::invocation_path(paths, version).to_string();
    if let Some(q) = &target.query {
        p.push('?');
        p.push_str(q);
    }
    p
}

/// The first bytes of a function's answer, for the log.
fn snippet(out: &[u8]) -> String {
    let text = String::from_utf8_lossy(&out[..out.len().min(512)]).into_owned();
    if out.len() > 512 {
        format!("{text}...")
    } else {
        text
    }
}

/// `Some(description)` when the function failed: Lambda's `X-Amz-Function-Error` header, or the
/// error shape `{"errorMessage": ..., "errorType": ...}` without a `statusCode`.
pub(crate) fn function_error(parsed: Option<&Value>, flagged: bool, out: &[u8]) -> Option<String> {
    let o = parsed.and_then(Value::as_object);
    let shaped = o.is_some_and(|o| {
        o.contains_key("errorMessage")
            && o.contains_key("errorType")
            && !o.contains_key("statusCode")
    });
    if !(flagged || shaped) {
        return None;
    }
    let kind = o
        .and_then(|o| o.get("errorType"))
        .and_then(Value::as_str)
        .unwrap_or("Error");
    Some(format!("{kind}: {}", error_message(parsed, out)))
}

/// What `selection_pattern` is matched against: `errorMessage` (the whole answer when the
/// function's error has no such field).
fn error_message(parsed: Option<&Value>, out: &[u8]) -> String {
    match parsed.and_then(|v| v.get("errorMessage")) {
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
        None => match parsed {
            Some(Value::String(s)) => s.clone(),
            _ => String::from_utf8_lossy(out).into_owned(),
        },
    }
}

/// Whether a body of this media type goes to the function as text (when it is UTF-8).
pub fn is_text(content_type: Option<&str>) -> bool {
    let Some(ct) = content_type else {
        return true;
    };
    let m = media_type(ct).to_ascii_lowercase();
    m.is_empty()
        || m.starts_with("text/")
        || m.ends_with("+json")
        || m.ends_with("+xml")
        || matches!(
            m.as_str(),
            "application/json"
                | "application/xml"
                | "application/javascript"
                | "application/x-www-form-urlencoded"
        )
}

/// Whether a UTF-8 request body goes to the function base64-encoded: when the API lists
/// `binary_media_types`, exactly when its media type matches one (`image/png`, `image/*`,
/// `*/*`), as AWS decides; without the list, when its media type is not textual. A body that
/// is not UTF-8 is always base64.
pub fn as_base64(binary: &BinaryMediaTypes, content_type: Option<&str>) -> bool {
    if binary.is_empty() {
        return !is_text(content_type);
    }
    binary.matches(media_type(content_type.unwrap_or("")))
}

/// The API Gateway REST proxy event (payload format 1.0) for this request.
pub(crate) fn proxy_event(view: &View<'_>, body: &[u8]) -> Value {
    let req = view.facts.req;
    let c = &view.context;
    let mut headers = Map::new();
    let mut multi_headers = Map::new();
    for name in req.headers.keys() {
        let values: Vec<Value> = req
            .headers
            .get_all(name)
            .iter()
            .map(|v| Value::String(String::from_utf8_lossy(v.as_bytes()).into_owned()))
            .collect();
        if let Some(last) = values.last() {
            headers.insert(name.as_str().to_string(), last.clone());
        }
        multi_headers.insert(name.as_str().to_string(), Value::Array(values));
    }
    let mut query = Map::new();
    let mut multi_query = Map::new();
    for (k, v) in &view.params.querystring {
        query.insert(k.clone(), Value::String(v.clone()));
        if let Value::Array(list) = multi_query
            .entry(k.clone())
            .or_insert_with(|| Value::Array(Vec::new()))
        {
            list.push(Value::String(v.clone()));
        }
    }
    let path_params: Map<String, Value> = view
        .params
        .path
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect();
    let stage_vars: Map<String, Value> = view
        .call
        .deployed
        .variables
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect();
    let or_null = |m: Map<String, Value>| {
        if m.is_empty() {
            Value::Null
        } else {
            Value::Object(m)
        }
    };
    let (body, base64) = if body.is_empty() {
        (Value::Null, false)
    } else {
        let binary = &view.call.deployed.binary_media_types;
        match std::str::from_utf8(body) {
            Ok(text) if !as_base64(binary, content_type(req)) => {
                (Value::String(text.to_string()), false)
            }
            _ => (
                Value::String(base64::engine::general_purpose::STANDARD.encode(body)),
                true,
            ),
        }
    };
    let rest = view.call.rest(req);
    let path = if rest.is_empty() { "/" } else { rest };
    let non_empty = |s: &str| {
        if s.is_empty() {
            Value::Null
        } else {
            Value::String(s.to_string())
        }
    };
    let mut event = json!({
        "resource": &*view.route.resource_path,
        "path": path,
        "httpMethod": req.method.as_str(),
        "headers": or_null(headers),
        "multiValueHeaders": or_null(multi_headers),
        "queryStringParameters": or_null(query),
        "multiValueQueryStringParameters": or_null(multi_query),
        "pathParameters": or_null(path_params),
        "stageVariables": or_null(stage_vars),
        "requestContext": {
            "accountId": c.account_id,
            "apiId": c.api_id,
            "resourceId": non_empty(&c.resource_id),
            "resourcePath": c.resource_path,
            "httpMethod": c.http_method,
            "path": c.path,
            "protocol": c.protocol,
            "stage": c.stage,
            "domainPrefix": c.domain_prefix,
            "domainName": c.domain_name,
            "requestId": c.request_id,
            "extendedRequestId": c.extended_request_id,
            "requestTime": c.request_time,
            "requestTimeEpoch": c.request_time_epoch,
            "deploymentId": c.deployment_id,
            "identity": {
                "cognitoIdentityPoolId": null,
                "accountId": null,
                "cognitoIdentityId": null,
                "caller": null,
                "accessKey": null,
                "sourceIp": c.identity.source_ip,
                "principalOrgId": null,
                "cognitoAuthenticationType": null,
                "cognitoAuthenticationProvider": null,
                "userArn": null,
                "userAgent": non_empty(&c.identity.user_agent),
                "user": null,
                // The key a keyed route admitted the request with (null elsewhere), as AWS sends.
                "apiKey": c.identity.api_key,
                "apiKeyId": c.identity.api_key_id,
            },
        },
        "body": body,
        "isBase64Encoded": base64,
    });
    // No `authorizer` key at all when the route has none, as AWS sends it.
    if let Some(a) = view.facts.authorizer_json(false) {
        event["requestContext"]["authorizer"] = a;
    }
    event
}

/// Headers the gateway frames itself: a function's values for them are dropped.
fn framing(name: &http::HeaderName) -> bool {
    matches!(
        name.as_str(),
        "content-length" | "transfer-encoding" | "connection" | "keep-alive" | "upgrade"
    )
}

fn header_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// The client's answer from a function's proxy response. Multi-value headers are appended;
/// a name in both maps takes the multi-value list only, as AWS merges them.
pub fn proxy_answer(v: Value) -> Result<Answer, String> {
    let Value::Object(o) = v else {
        return Err("not a JSON object".into());
    };
    let status = match o.get("statusCode") {
        Some(Value::Number(n)) => n.as_u64(),
        Some(Value::String(s)) => s.trim().parse::<u64>().ok(),
        Some(other) => return Err(format!("statusCode {other} is not a number")),
        None => return Err("no statusCode".into()),
    };
    let status = status
        .filter(|s| (100..=599).contains(s))
        .ok_or("statusCode is not an HTTP status")? as u16;
    let mut headers: Vec<(http::HeaderName, String)> = Vec::new();
    let mut content_type = None;
    let mut push = |name: &str, value: String| -> Result<(), String> {
        let n = http::HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| format!("invalid header name {name:?}"))?;
        if http::HeaderValue::from_str(&value).is_err() {
            return Err(format!("invalid value for header {name:?}"));
        }
        if n == http::header::CONTENT_TYPE {
            content_type = Some(value);
        } else if !framing(&n) {
            headers.push((n, value));
        }
        Ok(())
    };
    let multi = match o.get("multiValueHeaders") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(m)) => m.clone(),
        Some(_) => return Err("multiValueHeaders is not an object".into()),
    };
    match o.get("headers") {
        None | Some(Value::Null) => {}
        Some(Value::Object(m)) => {
            for (k, v) in m {
                if multi.keys().any(|mk| mk.eq_ignore_ascii_case(k)) {
                    continue;
                }
                let v = header_text(v).ok_or_else(|| format!("header {k:?} is not a string"))?;
                push(k, v)?;
            }
        }
        Some(_) => return Err("headers is not an object".into()),
    }
    for (k, list) in &multi {
        let Value::Array(list) = list else {
            return Err(format!("multiValueHeaders {k:?} is not a list"));
        };
        for v in list {
            let v = header_text(v).ok_or_else(|| format!("header {k:?} has a non-string value"))?;
            push(k, v)?;
        }
    }
    let base64 = match o.get("isBase64Encoded") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err("isBase64Encoded is not a boolean".into()),
    };
    let body = match o.get("body") {
        None | Some(Value::Null) => Bytes::new(),
        Some(Value::String(s)) if base64 => Bytes::from(
            base64::engine::general_purpose::STANDARD
                .decode(s.trim())
                .map_err(|e| format!("body is not valid base64: {e}"))?,
        ),
        Some(Value::String(s)) => Bytes::from(s.clone()),
        Some(_) => return Err("body is not a string".into()),
    };
    Ok(Answer {
        status,
        headers,
        content_type: Some(content_type.map_or(Cow::Borrowed("application/json"), Cow::Owned)),
        body,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn binary_media_types_decide_base64_as_aws_does() {
        let list = |l: &[&str]| BinaryMediaTypes::new(l.iter().copied());
        let images = list(&["image/png", "application/octet-stream", "video/*"]);
        assert!(as_base64(&images, Some("image/png")));
        assert!(as_base64(&images, Some("Image/PNG; q=1")));
        assert!(as_base64(&images, Some("video/mp4")));
        assert!(!as_base64(&images, Some("image/jpeg")));
        // Listed types rule: a textual type the list names is base64; an unlisted one is not.
        assert!(as_base64(
            &list(&["application/json"]),
            Some("application/json")
        ));
        assert!(!as_base64(&images, Some("application/x-custom")));
        assert!(!as_base64(&images, None));
        assert!(as_base64(&list(&["*/*"]), Some("text/plain")));
        // No list: by content, as before.
        let none = BinaryMediaTypes::default();
        assert!(!as_base64(&none, Some("application/json")));
        assert!(as_base64(&none, Some("image/png")));
    }

    #[test]
    fn text_media_types() {
        for t in [
            "text/plain",
            "application/json; charset=utf-8",
            "application/hal+json",
            "application/atom+xml",
            "application/x-www-form-urlencoded",
            "application/xml",
        ] {
            assert!(is_text(Some(t)), "{t}");
        }
        assert!(is_text(None));
        for t in [
            "application/octet-stream",
            "image/png",
            "multipart/form-data; b=x",
        ] {
            assert!(!is_text(Some(t)), "{t}");
        }
    }

    #[test]
    fn proxy_answers() {
        let a = proxy_answer(json!({"statusCode": 201, "body": "hi"})).unwrap();
        assert_eq!((a.status, &a.body[..]), (201, &b"hi"[..]));
        assert_eq!(a.content_type.as_deref(), Some("application/json"));
        let a = proxy_answer(json!({
            "statusCode": "404",
            "headers": {"X-One": "a", "Set-Cookie": "ignored", "Content-Length": "99"},
            "multiValueHeaders": {"set-cookie": ["a=1", "b=2"]},
            "body": "AAEC",
            "isBase64Encoded": true
        }))
        .unwrap();
        assert_eq!(a.status, 404);
        assert_eq!(&a.body[..], &[0, 1, 2]);
        let cookies: Vec<&str> = a
            .headers
            .iter()
            .filter(|(k, _)| k == "set-cookie")
            .map(|(_, v)| v.as_str())
            .collect();
        assert_eq!(cookies, ["a=1", "b=2"]);
        assert!(!a.headers.iter().any(|(k, _)| k == "content-length"));
        for bad in [
            json!([1]),
            json!({"body": "x"}),
            json!({"statusCode": 99}),
            json!({"statusCode": true}),
            json!({"statusCode": 200, "body": {"a": 1}}),
            json!({"statusCode": 200, "headers": {"a": [1]}}),
            json!({"statusCode": 200, "body": "%%", "isBase64Encoded": true}),
            json!({"statusCode": 200, "headers": {"bad name": "x"}}),
        ] {
            assert!(proxy_answer(bad.clone()).is_err(), "{bad}");
        }
    }

    #[test]
    fn function_errors() {
        let e = json!({"errorMessage": "boom", "errorType": "ValueError"});
        assert_eq!(
            function_error(Some(&e), false, b"").as_deref(),
            Some("ValueError: boom")
        );
        let ok = json!({"statusCode": 200, "errorMessage": "x", "errorType": "y"});
        assert!(function_error(Some(&ok), false, b"").is_none());
        assert!(function_error(Some(&json!({"a": 1})), false, b"").is_none());
        assert_eq!(
            function_error(None, true, b"oops").as_deref(),
            Some("Error: oops")
        );
    }
}

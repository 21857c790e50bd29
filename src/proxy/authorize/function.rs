//! Part of the proxy stage, step 5 for `token` and `request` authorizers: AWS's TOKEN or REQUEST
//! event POSTed to the function the way `aws_proxy` invokes functions (same backends, same
//! invocation paths, so a stage's alias picks the authorizer's version too), and the function's
//! answer read into a `Decision`: `principalId`, a `policyDocument` that must parse, a `context`
//! of strings, numbers and booleans, and `usageIdentifierKey`. A function error whose message
//! is exactly `Unauthorized` is AWS's 401; anything else that is not a decision is an error.

use super::AuthError;
use crate::proxy::context::RequestCtx;
use crate::proxy::facts::Facts;
use crate::proxy::integration::function::{function_error, invocation_path, proxy_event};
use crate::proxy::integration::mapping::View;
use crate::proxy::integration::{round_trip, Outgoing};
use crate::proxy::route::Call;
use crate::proxy::upstream::Endpoint;
use crate::snapshot::authorizer::{Decision, FunctionAuthorizer};
use crate::snapshot::policy::Policy;
use crate::snapshot::Route;
use bytes::Bytes;
use pingora::connectors::http::Connector;
use pingora::http::RequestHeader;
use serde_json::{json, Map, Value};

/// At most this much of an authorizer's answer is read (a policy and a context, not a body).
const MAX_ANSWER_BYTES: u64 = 1024 * 1024;

/// One call to the function, within the authorizer's timeout.
pub async fn call(
    f: &FunctionAuthorizer,
    identity: &[String],
    arn: &str,
    req: &RequestHeader,
    ctx: &RequestCtx,
    call: &Call,
    connector: &Connector,
) -> Result<Decision, AuthError> {
    let route = call
        .route()
        .ok_or_else(|| AuthError::Configuration("route vanished".into()))?;
    let event = if f.token {
        json!({
            "type": "TOKEN",
            "authorizationToken": identity.first().map_or("", |t| t.as_str()),
            "methodArn": arn,
        })
    } else {
        request_event(req, ctx, call, route, arn)
    };
    let endpoint = Endpoint::pick(&f.target, &req.headers);
    let invocation = Outgoing {
        method: http::Method::POST,
        path: invocation_path(
            &f.target,
            f.uri_path,
            &f.invocation_paths,
            &endpoint.version.name,
            req,
            call,
            route,
        ),
        content_type: Some("application/json"),
        headers: &[],
        body: Bytes::from(event.to_string()),
    };
    let head = invocation
        .head(req, ctx, &endpoint)
        .map_err(|e| AuthError::Configuration(format!("building the invocation: {e}")))?;
    let body = invocation.body;
    let peer = endpoint.peer();
    let answered = tokio::time::timeout(
        endpoint.timeout,
        round_trip(connector, &peer, head, body, MAX_ANSWER_BYTES),
    )
    .await;
    let (resp, out) = match answered {
        Err(_) => {
            return Err(AuthError::Configuration(format!(
                "no answer within {} ms",
                endpoint.timeout.as_millis()
            )))
        }
        Ok(Err(e)) => {
            return Err(AuthError::Configuration(format!(
                "version {:?} could not be invoked: {e}",
                endpoint.version.name
            )))
        }
        Ok(Ok(r)) => r,
    };
    decision(
        resp.status.as_u16(),
        resp.headers.contains_key("x-amz-function-error"),
        &out,
    )
}

/// AWS's REQUEST event: the proxy event's request parts without the body, with `type` and
/// `methodArn`.
fn request_event(
    req: &RequestHeader,
    ctx: &RequestCtx,
    call: &Call,
    route: &Route,
    arn: &str,
) -> Value {
    let view = View::new(Facts::new(req, ctx), call, route);
    let mut event = proxy_event(&view, &[]);
    if let Value::Object(o) = &mut event {
        o.remove("body");
        o.remove("isBase64Encoded");
        o.insert("type".into(), Value::String("REQUEST".into()));
        o.insert("methodArn".into(), Value::String(arn.into()));
    }
    event
}

/// The function's answer as a decision, or why it is none.
pub fn decision(status: u16, flagged: bool, out: &[u8]) -> Result<Decision, AuthError> {
    let parsed: Option<Value> = serde_json::from_slice(out).ok();
    if let Some(error) = function_error(parsed.as_ref(), flagged, out) {
        let message = parsed
            .as_ref()
            .and_then(|v| v.get("errorMessage"))
            .and_then(Value::as_str);
        return Err(if message == Some("Unauthorized") {
            AuthError::Unauthorized
        } else {
            AuthError::Failure(format!("function error: {error}"))
        });
    }
    if !(200..300).contains(&status) {
        return Err(AuthError::Configuration(format!(
            "invocation answered {status}"
        )));
    }
    let Some(Value::Object(o)) = parsed else {
        return Err(AuthError::Configuration(
            "the answer is not a JSON object".into(),
        ));
    };
    parse_decision(&o).map_err(|why| AuthError::Configuration(format!("malformed answer: {why}")))
}

fn parse_decision(o: &Map<String, Value>) -> Result<Decision, String> {
    let principal_id = match o.get("principalId") {
        Some(Value::String(s)) => s.as_str().into(),
        Some(Value::Number(n)) => n.to_string().into(),
        Some(other) => return Err(format!("principalId must be a string, found {other}")),
        None => return Err("no principalId".into()),
    };
    let policy = Policy::parse(o.get("policyDocument").ok_or("no policyDocument")?)?;
    let context = match o.get("context") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(m)) => {
            if let Some((k, _)) = m
                .iter()
                .find(|(_, v)| !matches!(v, Value::String(_) | Value::Number(_) | Value::Bool(_)))
            {
                return Err(format!(
                    "context value {k:?} is not a string, number or boolean"
                ));
            }
            m.clone()
        }
        Some(_) => return Err("context must be an object".into()),
    };
    let usage_identifier_key = match o.get("usageIdentifierKey") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.as_str().into()),
        Some(_) => return Err("usageIdentifierKey must be a string".into()),
    };
    Ok(Decision {
        principal_id,
        policy,
        context,
        usage_identifier_key,
        ..Decision::default()
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::snapshot::policy::Verdict;

    const ARN: &str = "arn:aws:execute-api:local:000000000000:shop/prod/GET/orders/1";

    fn allow(resource: &str) -> String {
        json!({
            "principalId": "user-1",
            "policyDocument": {"Version": "2012-10-17", "Statement": [
                {"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": resource}
            ]},
            "context": {"tier": "gold", "n": 1, "b": true},
        })
        .to_string()
    }

    #[test]
    fn answers_become_decisions() {
        let d = decision(
            200,
            false,
            allow("arn:aws:execute-api:*:*:shop/prod/*").as_bytes(),
        )
        .unwrap();
        assert_eq!(&*d.principal_id, "user-1");
        assert_eq!(d.policy.evaluate(ARN), Verdict::Allow);
        assert_eq!(d.context.len(), 3);
        let d = decision(
            200,
            false,
            allow("arn:aws:execute-api:*:*:shop/prod/POST/*").as_bytes(),
        )
        .unwrap();
        assert_eq!(d.policy.evaluate(ARN), Verdict::ImplicitDeny);
    }

    #[test]
    fn unauthorized_is_exactly_that_message() {
        let e = json!({"errorMessage": "Unauthorized", "errorType": "Error"}).to_string();
        assert!(matches!(
            decision(200, true, e.as_bytes()),
            Err(AuthError::Unauthorized)
        ));
        let e = json!({"errorMessage": "unauthorized", "errorType": "Error"}).to_string();
        assert!(matches!(
            decision(200, true, e.as_bytes()),
            Err(AuthError::Failure(_))
        ));
        let e = json!({"errorMessage": "boom", "errorType": "ValueError"}).to_string();
        assert!(matches!(
            decision(200, false, e.as_bytes()),
            Err(AuthError::Failure(_))
        ));
    }

    #[test]
    fn malformed_answers_are_configuration_errors() {
        for bad in [
            "not json".to_string(),
            "[1]".into(),
            json!({"policyDocument": {"Statement": []}}).to_string(),
            json!({"principalId": "u"}).to_string(),
            json!({"principalId": "u", "policyDocument": {"Statement": [{"Effect": "Maybe", "Action": "*", "Resource": "*"}]}}).to_string(),
            json!({"principalId": "u", "policyDocument": {"Statement": []}, "context": {"o": {"a": 1}}}).to_string(),
            json!({"principalId": "u", "policyDocument": {"Statement": []}, "usageIdentifierKey": 5}).to_string(),
        ] {
            assert!(
                matches!(decision(200, false, bad.as_bytes()), Err(AuthError::Configuration(_))),
                "{bad}"
            );
        }
        assert!(matches!(
            decision(500, false, allow("*").as_bytes()),
            Err(AuthError::Configuration(_))
        ));
    }
}

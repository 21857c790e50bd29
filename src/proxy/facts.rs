//! Part of the proxy stage: the request's `$context` facts, one model for every reader. Templates
//! (`ContextData`), parameter and header mappings (`context.NAME`), the access log and the Lambda
//! event all ask `Facts::write` for a field, so a value cannot differ between them (before, the
//! access log and templates disagreed on `$context.protocol`).
//!
//! `Facts` is a view over the request head and its context, not a copy: a request whose route
//! reads no fact pays for none, and a value is formatted only when a reader asks for it.

use super::context::ErrorFacts;
use super::context::RequestCtx;
use crate::snapshot::mapping::ContextField;
use crate::template::{ContextData, Identity};
use pingora::http::RequestHeader;
use std::fmt::Write as _;

#[derive(Clone, Copy)]
pub struct Facts<'a> {
    pub req: &'a RequestHeader,
    pub ctx: &'a RequestCtx,
}

/// A host as a client sends it (`Host`, `:authority`), without its port; an IPv6 literal
/// without its brackets.
pub fn without_port(raw: &str) -> &str {
    match raw.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(v6),
        None => raw.split(':').next().unwrap_or(raw),
    }
}

/// The decoded values of query parameter `name`, in request order.
pub fn query_values<'r>(
    req: &'r RequestHeader,
    name: &'r str,
) -> impl Iterator<Item = String> + 'r {
    form_urlencoded::parse(req.uri.query().unwrap_or("").as_bytes())
        .filter(move |(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// The last value of query parameter `name` (AWS keeps the last).
pub fn query_param(req: &RequestHeader, name: &str) -> Option<String> {
    query_values(req, name).last()
}

/// A header's value as text (bytes that are not UTF-8 replaced), the first when repeated.
pub fn header_text(req: &RequestHeader, name: impl http::header::AsHeaderName) -> Option<String> {
    req.headers
        .get(name)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
}

/// `$context.protocol` as AWS writes it.
pub fn protocol(v: http::Version) -> &'static str {
    match v {
        http::Version::HTTP_09 => "HTTP/0.9",
        http::Version::HTTP_10 => "HTTP/1.0",
        http::Version::HTTP_2 => "HTTP/2.0",
        http::Version::HTTP_3 => "HTTP/3.0",
        _ => "HTTP/1.1",
    }
}

impl<'a> Facts<'a> {
    pub fn new(req: &'a RequestHeader, ctx: &'a RequestCtx) -> Facts<'a> {
        Facts { req, ctx }
    }

    /// The host the client addressed, without port: `Host`, or the authority of an absolute
    /// URI (HTTP/2's `:authority`).
    pub fn domain_name(&self) -> &'a str {
        let raw = match self.req.headers.get(http::header::HOST) {
            Some(h) => h.to_str().unwrap_or(""),
            None => self.req.uri.authority().map_or("", |a| a.as_str()),
        };
        without_port(raw)
    }

    /// `$context.apiId`: the API of the stage that served the request (looked up only when
    /// something shows it, so routing does not carry it for every request).
    fn api_id(&self) -> &'a str {
        let Some(name) = self.ctx.labels.stage.as_deref() else {
            return "";
        };
        self.ctx
            .snapshot
            .stages
            .iter()
            .find(|s| &*s.name == name)
            .map_or("", |s| &*s.api)
    }

    fn user_agent(&self) -> std::borrow::Cow<'a, str> {
        self.req
            .headers
            .get(http::header::USER_AGENT)
            .map(|v| String::from_utf8_lossy(v.as_bytes()))
            .unwrap_or_default()
    }

    /// Appends one field's value to `out` (nothing when the request has none).
    pub fn write(&self, f: &ContextField, out: &mut String) {
        let labels = &self.ctx.labels;
        let _ = match f {
            ContextField::RequestId | ContextField::ExtendedRequestId => {
                out.write_str(self.ctx.request_id.as_str())
            }
            ContextField::Stage => out.write_str(text(&labels.stage)),
            ContextField::HttpMethod => out.write_str(self.req.method.as_str()),
            ContextField::ResourcePath => out.write_str(text(&labels.resource_path)),
            ContextField::Path => out.write_str(self.req.uri.path()),
            ContextField::Protocol => out.write_str(protocol(self.req.version)),
            ContextField::RequestTime => out.write_str(&crate::timefmt::clf(self.ctx.received())),
            ContextField::RequestTimeEpoch => {
                write!(out, "{}", crate::timefmt::epoch_ms(self.ctx.received()))
            }
            ContextField::DomainName => out.write_str(self.domain_name()),
            ContextField::DomainPrefix => {
                out.write_str(self.domain_name().split('.').next().unwrap_or(""))
            }
            ContextField::ApiId => out.write_str(self.api_id()),
            ContextField::AccountId | ContextField::ResourceId => Ok(()),
            ContextField::DeploymentId => out.write_str(text(&labels.deployment)),
            ContextField::SourceIp => match self.ctx.client.ip {
                Some(ip) => write!(out, "{ip}"),
                None => Ok(()),
            },
            ContextField::UserAgent => out.write_str(&self.user_agent()),
            ContextField::ApiKey => {
                out.write_str(self.ctx.api_key.as_ref().map_or("", |k| &k.value))
            }
            ContextField::ApiKeyId => {
                out.write_str(self.ctx.api_key.as_ref().map_or("", |k| &k.id))
            }
            ContextField::IsCanaryRequest => write!(out, "{}", labels.canary),
            ContextField::ErrorMessage => out.write_str(self.error().map_or("", |e| e.message())),
            ContextField::ErrorMessageString => match self.error() {
                Some(e) => match &e.message {
                    // A message of the request's own can hold quotes: JSON-escaped.
                    Some(m) => out.write_str(&serde_json::Value::from(&**m).to_string()),
                    // The types' messages are plain ASCII without quotes or backslashes.
                    None => write!(out, "\"{}\"", e.kind.message()),
                },
                None => Ok(()),
            },
            ContextField::ErrorResponseType => {
                out.write_str(self.error().map_or("", |e| e.kind.name()))
            }
            ContextField::ErrorValidationErrorString => out.write_str(
                self.error()
                    .and_then(|e| e.validation.as_deref())
                    .unwrap_or(""),
            ),
            ContextField::Authorizer(key) => match self.ctx.authorized.as_deref() {
                Some(d) if &**key == "principalId" => out.write_str(&d.principal_id),
                Some(d) => match authorizer_value(d, key) {
                    // As `as_string` shows it, without building the string first.
                    Some(serde_json::Value::String(v)) => out.write_str(v),
                    Some(v) => write!(out, "{v}"),
                    None => Ok(()),
                },
                None => Ok(()),
            },
        };
    }

    fn error(&self) -> Option<&'a ErrorFacts> {
        self.ctx.error.get().map(|e| &**e)
    }

    pub fn value(&self, f: &ContextField) -> String {
        let mut out = String::new();
        self.write(f, &mut out);
        out
    }

    /// The fixed `$context` of a template render.
    pub fn context_data(&self) -> ContextData {
        use ContextField as F;
        ContextData {
            request_id: self.value(&F::RequestId),
            extended_request_id: self.value(&F::ExtendedRequestId),
            stage: self.value(&F::Stage),
            http_method: self.value(&F::HttpMethod),
            resource_path: self.value(&F::ResourcePath),
            path: self.value(&F::Path),
            protocol: self.value(&F::Protocol),
            request_time: self.value(&F::RequestTime),
            request_time_epoch: crate::timefmt::epoch_ms(self.ctx.received()),
            domain_name: self.value(&F::DomainName),
            domain_prefix: self.value(&F::DomainPrefix),
            api_id: self.value(&F::ApiId),
            account_id: self.value(&F::AccountId),
            deployment_id: self.value(&F::DeploymentId),
            resource_id: self.value(&F::ResourceId),
            identity: Identity {
                source_ip: self.value(&F::SourceIp),
                user_agent: self.value(&F::UserAgent),
                api_key: self.ctx.api_key.as_ref().map(|k| k.value.to_string()),
                api_key_id: self.ctx.api_key.as_ref().map(|k| k.id.to_string()),
            },
            is_canary_request: Some(self.ctx.labels.canary),
            extra: self
                .authorizer_json(true)
                .map(|a| vec![("authorizer".to_string(), a)])
                .unwrap_or_default(),
            ..ContextData::default()
        }
    }

    /// `$context.authorizer` (`stringify`: values as templates see them, AWS's strings) or the
    /// `aws_proxy` event's `requestContext.authorizer` (values as the function returned them):
    /// the principal and the decision's context. `None` when the route has no authorizer.
    pub fn authorizer_json(&self, stringify: bool) -> Option<serde_json::Value> {
        let d = self.ctx.authorized.as_deref()?;
        let mut m = serde_json::Map::with_capacity(d.context.len() + 1);
        m.insert("principalId".into(), (&*d.principal_id).into());
        for (k, v) in &d.context {
            let v = if stringify { as_string(v) } else { v.clone() };
            m.insert(k.clone(), v);
        }
        if let Some(claims) = &d.claims {
            // As AWS passes a Cognito token's claims: strings in templates and in the event.
            let strings = claims.iter().map(|(k, v)| (k.clone(), as_string(v)));
            m.insert(
                "claims".into(),
                serde_json::Value::Object(strings.collect()),
            );
        }
        Some(serde_json::Value::Object(m))
    }
}

/// `$context.authorizer.KEY`: a context value, or a claim for `claims.NAME`.
fn authorizer_value<'d>(
    d: &'d crate::snapshot::authorizer::Decision,
    key: &str,
) -> Option<&'d serde_json::Value> {
    match key.strip_prefix("claims.") {
        Some(claim) => d.claims.as_ref()?.get(claim),
        None => d.context.get(key),
    }
}

/// An authorizer's context value or claim as AWS's templates see it: a string as it is, anything
/// else as its JSON text (`1` -> `"1"`, `true` -> `"true"`).
fn as_string(v: &serde_json::Value) -> serde_json::Value {
    match v {
        serde_json::Value::String(_) => v.clone(),
        other => other.to_string().into(),
    }
}

fn text(o: &Option<std::sync::Arc<str>>) -> &str {
    o.as_deref().unwrap_or("")
}

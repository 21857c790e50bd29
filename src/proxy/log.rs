//! Part of the proxy stage, step 11 of the pipeline: log and count. Runs once per request,
//! whatever its outcome: the request metrics, and one access-log line when the stage has an
//! access log. Request facts come from `Facts`, the same model templates and mappings read.

use super::context::RequestCtx;
use super::facts::Facts;
use crate::accesslog::Field;
use crate::snapshot::mapping::ContextField;
use pingora::proxy::Session;
use std::fmt::Write as _;

pub fn log_and_count(session: &Session, ctx: &RequestCtx) {
    let status = session
        .response_written()
        .map(|r| r.status.as_u16())
        .unwrap_or(0);
    let elapsed = ctx.started.elapsed();
    let labels = &ctx.labels;
    labels.metrics.observe(
        &session.req_header().method,
        status,
        labels.version.as_ref(),
        elapsed,
    );
    let Some(log) = &labels.access_log else {
        return;
    };
    let facts = Facts::new(session.req_header(), ctx);
    let line = log.format.line(&|f, out| {
        let _ = match f {
            Field::Status => write!(out, "{status}"),
            Field::ResponseLength => write!(out, "{}", session.body_bytes_sent()),
            Field::ResponseLatency => write!(out, "{}", elapsed.as_millis()),
            Field::IntegrationLatency => match ctx.upstream.latency {
                Some(d) => write!(out, "{}", d.as_millis()),
                None => Ok(()),
            },
            Field::Version => out.write_str(labels.version.as_deref().unwrap_or("")),
            Field::ApiKey => match &ctx.api_key {
                Some(k) => write!(out, "****{}", k.last_four()),
                None => Ok(()),
            },
            request => {
                if let Some(c) = request_fact(request) {
                    facts.write(&c, out);
                }
                Ok(())
            }
        };
    });
    log.write(line);
}

/// The `$context` fact behind an access-log field (the others are the response's).
fn request_fact(f: &Field) -> Option<ContextField> {
    Some(match f {
        Field::RequestId => ContextField::RequestId,
        Field::ExtendedRequestId => ContextField::ExtendedRequestId,
        Field::HttpMethod => ContextField::HttpMethod,
        Field::ResourcePath => ContextField::ResourcePath,
        Field::Path => ContextField::Path,
        Field::Protocol => ContextField::Protocol,
        Field::SourceIp => ContextField::SourceIp,
        Field::UserAgent => ContextField::UserAgent,
        Field::RequestTime => ContextField::RequestTime,
        Field::RequestTimeEpoch => ContextField::RequestTimeEpoch,
        Field::DomainName => ContextField::DomainName,
        Field::Stage => ContextField::Stage,
        Field::DeploymentId => ContextField::DeploymentId,
        Field::IsCanaryRequest => ContextField::IsCanaryRequest,
        Field::ErrorMessage => ContextField::ErrorMessage,
        Field::ErrorMessageString => ContextField::ErrorMessageString,
        Field::ErrorResponseType => ContextField::ErrorResponseType,
        Field::ErrorValidationErrorString => ContextField::ErrorValidationErrorString,
        Field::Authorizer(key) => ContextField::Authorizer(key.clone()),
        Field::ApiKeyId => ContextField::ApiKeyId,
        Field::ApiKey
        | Field::Status
        | Field::ResponseLength
        | Field::ResponseLatency
        | Field::IntegrationLatency
        | Field::Version => return None,
    })
}

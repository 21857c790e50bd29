//! Part of the proxy stage, step 9 for `http` (non-proxy): `request_parameters` and the request
//! template shape the integration request, the backend is called, and the integration response
//! chosen by its status reshapes the answer.

use super::mapping::{self, View};
use super::response::{respond, Integrated};
use super::{content_type, exchange, Exchanged, Failure, Job, Outgoing};
use crate::proxy::facts::Facts;
use crate::proxy::respond::{Answer, GatewayError};
use crate::proxy::upstream::Endpoint;
use crate::snapshot::templated::{HttpIntegration, RequestBody};
use crate::template::{Overrides, RequestOverrides};
use bytes::Bytes;
use std::borrow::Cow;

pub async fn serve(
    job: &Job<'_>,
    http: &HttpIntegration,
    exchanged: &mut Option<Exchanged>,
) -> Result<Answer, Failure> {
    let req = job.req;
    let limits = &job.ctx.snapshot.template_limits;
    let facts = Facts::new(req, job.ctx);
    let mut view = View::new(facts, job.call, job.route);
    let mut mapped = mapping::map(&http.params, facts, job.call, job.route, &job.body);
    let (upstream_body, request_override, response_override, templated) =
        match http.mapping.request_body(content_type(req)) {
            RequestBody::Unsupported => return Err(GatewayError::UnsupportedMediaType.into()),
            RequestBody::Transform(t) => {
                let r = view.render(t, &job.body, limits)?;
                mapped.absorb(&r.request_override);
                (
                    Bytes::from(r.output),
                    r.request_override,
                    r.response_override,
                    true,
                )
            }
            RequestBody::Passthrough => (
                job.body.clone(),
                RequestOverrides::default(),
                Overrides::default(),
                false,
            ),
        };

    let target = &http.target;
    let endpoint = Endpoint::pick(target, &req.headers);
    // The client's query string is not forwarded: only the URI's and the mapped parameters.
    let path = mapping::upstream_path(
        &target.path,
        job.call.rest(req),
        &job.call.captures,
        job.route,
        Some(&mapped),
        &[target.query.as_deref()],
    );
    let headers = mapped.header_values()?;
    let out = Outgoing {
        method: req.method.clone(),
        path,
        content_type: if templated {
            Some("application/json")
        } else {
            content_type(req)
        },
        headers: &headers,
        body: upstream_body,
    };
    let (resp, resp_body) = exchange(job, &endpoint, out, exchanged).await?;
    let got = Integrated {
        status: resp.status.as_u16(),
        headers: Some(&resp),
        body: resp_body,
        request_override,
        response_override,
    };
    if http.mapping.responses.is_empty() {
        // No integration responses: the backend's status, content type and body as they are.
        return Ok(Answer {
            status: got.status,
            headers: Vec::new(),
            content_type: resp
                .headers
                .get(::http::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .map(|ct| Cow::Owned(ct.to_string())),
            body: got.body,
        });
    }
    let selector = got.status.to_string();
    respond(
        &mut view,
        &http.mapping.responses,
        got,
        Some(&selector),
        limits,
    )
}

//! Non-proxy integrations (`http`, `mock`) and parameter mapping. Templates need whole bodies, so
//! these requests are buffered (up to `limits.max_body_bytes`, 413 beyond): the body is read in
//! `request_filter`, the request template rendered, the backend called through a pooled pingora
//! connector, the integration response chosen and templated, and the answer written with an
//! exact `Content-Length`, so keep-alive survives. Everything compiled (templates, regexes,
//! mappings) comes from the snapshot; only request data is read here.

use super::respond::{write_error, GatewayError};
use super::route::Call;
use super::RequestCtx;
use crate::snapshot::mapping::{
    ContextField, HeaderSource, ParamMapping, ParamSource, ParamTarget,
};
use crate::snapshot::templated::{
    HttpIntegration, IntegrationResponse, MockIntegration, RequestBody, Responses,
};
use crate::snapshot::{PathPart, Route};
use crate::template::{
    ContextData, Identity, Overrides, Params, RenderInput, Rendered, RequestOverrides, Template,
};
use crate::timefmt;
use bytes::{Bytes, BytesMut};
use pingora::connectors::http::Connector;
use pingora::http::{RequestHeader, ResponseHeader};
use pingora::proxy::Session;
use std::net::IpAddr;
use std::time::SystemTime;

/// Why a templated request failed; each maps to one gateway error.
#[derive(Debug)]
pub enum Failure {
    Gateway(GatewayError),
    /// Logged with the request id, answered 500.
    Internal(String),
    /// The client went away or sent a broken body: nothing to answer.
    Downstream(Box<pingora::Error>),
    /// A function failed or answered something unusable: logged with the request id, answered
    /// 502 `{"message": "Internal server error"}` as AWS does.
    Function(String),
}

impl From<GatewayError> for Failure {
    fn from(e: GatewayError) -> Self {
        Failure::Gateway(e)
    }
}

/// What a template or mapping can know about the request.
pub struct RequestView<'a> {
    pub req: &'a RequestHeader,
    pub call: &'a Call,
    pub route: &'a Route,
    pub params: Params,
    pub context: ContextData,
}

impl<'a> RequestView<'a> {
    pub fn new(
        req: &'a RequestHeader,
        call: &'a Call,
        route: &'a Route,
        request_id: &str,
        client: Option<IpAddr>,
    ) -> Self {
        let path = req.uri.path();
        let rest = path.get(call.rest_start..).unwrap_or("");
        let params = Params {
            path: route
                .param_names
                .iter()
                .zip(&call.captures)
                .map(|(name, (s, e))| {
                    (
                        name.to_string(),
                        percent_decode(rest.get(*s as usize..*e as usize).unwrap_or("")),
                    )
                })
                .collect(),
            querystring: form_urlencoded::parse(req.uri.query().unwrap_or("").as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
            header: req
                .headers
                .iter()
                .map(|(k, v)| {
                    (
                        k.as_str().to_string(),
                        String::from_utf8_lossy(v.as_bytes()).into_owned(),
                    )
                })
                .collect(),
        };
        let now = SystemTime::now();
        let host = req
            .headers
            .get(http::header::HOST)
            .and_then(|h| h.to_str().ok())
            .map(|h| h.split(':').next().unwrap_or(h).to_string())
            .unwrap_or_default();
        let context = ContextData {
            request_id: request_id.to_string(),
            extended_request_id: request_id.to_string(),
            stage: call.stage.to_string(),
            http_method: req.method.as_str().to_string(),
            resource_path: route.resource_path.to_string(),
            path: path.to_string(),
            protocol: "HTTP/1.1".to_string(),
            request_time: timefmt::clf(now),
            request_time_epoch: timefmt::epoch_ms(now),
            domain_prefix: host.split('.').next().unwrap_or("").to_string(),
            domain_name: host,
            api_id: call.api.to_string(),
            account_id: String::new(),
            deployment_id: call.deployed.deployment_id.to_string(),
            resource_id: String::new(),
            identity: Identity {
                source_ip: client.map(|ip| ip.to_string()).unwrap_or_default(),
                user_agent: req
                    .headers
                    .get(http::header::USER_AGENT)
                    .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
                    .unwrap_or_default(),
            },
            is_canary_request: Some(call.canary),
            request_override: RequestOverrides::default(),
            response_override: Overrides::default(),
            extra: Vec::new(),
        };
        RequestView {
            req,
            call,
            route,
            params,
            context,
        }
    }

    pub(super) fn render(
        &self,
        t: &Template,
        body: &[u8],
        limits: &crate::template::Limits,
    ) -> Result<Rendered, Failure> {
        let input = RenderInput {
            body,
            params: &self.params,
            stage_variables: &self.call.deployed.variables,
            context: &self.context,
        };
        t.render(&input, limits).map_err(|e| {
            Failure::Internal(format!(
                "route {:?}: template failed: {e}",
                self.route.template
            ))
        })
    }

    fn context_value(&self, f: ContextField) -> String {
        let c = &self.context;
        match f {
            ContextField::RequestId => c.request_id.clone(),
            ContextField::ExtendedRequestId => c.extended_request_id.clone(),
            ContextField::Stage => c.stage.clone(),
            ContextField::HttpMethod => c.http_method.clone(),
            ContextField::ResourcePath => c.resource_path.clone(),
            ContextField::Path => c.path.clone(),
            ContextField::Protocol => c.protocol.clone(),
            ContextField::RequestTime => c.request_time.clone(),
            ContextField::RequestTimeEpoch => c.request_time_epoch.to_string(),
            ContextField::DomainName => c.domain_name.clone(),
            ContextField::DomainPrefix => c.domain_prefix.clone(),
            ContextField::ApiId => c.api_id.clone(),
            ContextField::AccountId => c.account_id.clone(),
            ContextField::DeploymentId => c.deployment_id.clone(),
            ContextField::ResourceId => c.resource_id.clone(),
            ContextField::SourceIp => c.identity.source_ip.clone(),
            ContextField::UserAgent => c.identity.user_agent.clone(),
            ContextField::IsCanaryRequest => c.is_canary_request.unwrap_or(false).to_string(),
        }
    }

    /// The value of one mapping source; `None` when the request has no such value (the target is
    /// then not set, as AWS does).
    fn param_value(&self, source: &ParamSource, body: &mut LazyJson<'_>) -> Option<String> {
        let last = |list: &[(String, String)], name: &str| {
            list.iter()
                .rev()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        };
        let all = |list: &[(String, String)], name: &str| {
            let v: Vec<&str> = list
                .iter()
                .filter(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
                .collect();
            (!v.is_empty()).then(|| v.join(","))
        };
        match source {
            ParamSource::Literal(l) => Some(l.to_string()),
            ParamSource::Path(n) => last(&self.params.path, n),
            ParamSource::Query(n) => last(&self.params.querystring, n),
            ParamSource::MultiQuery(n) => all(&self.params.querystring, n),
            ParamSource::Header(h) => self
                .req
                .headers
                .get(h)
                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned()),
            ParamSource::MultiHeader(h) => {
                let v: Vec<String> = self
                    .req
                    .headers
                    .get_all(h)
                    .iter()
                    .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
                    .collect();
                (!v.is_empty()).then(|| v.join(","))
            }
            ParamSource::Body => Some(String::from_utf8_lossy(body.raw).into_owned()),
            ParamSource::BodyPath(p) => body.get().and_then(|doc| p.text(doc)),
            ParamSource::Context(f) => Some(self.context_value(*f)),
        }
    }

    /// Applies `request_parameters`: headers and query strings to add, path parameters to replace.
    pub fn mapped(&self, mappings: &[ParamMapping], body: &[u8]) -> Mapped {
        let mut out = Mapped::default();
        let mut json = LazyJson::new(body);
        for m in mappings {
            let Some(v) = self.param_value(&m.source, &mut json) else {
                continue;
            };
            match &m.target {
                ParamTarget::Header(h) => out.headers.push((h.clone(), v)),
                ParamTarget::Query(q) => out.query.push((q.to_string(), v)),
                ParamTarget::Path(p) => out.path.push((p.to_string(), v)),
            }
        }
        out
    }
}

/// The outcome of `request_parameters` (and a request template's `requestOverride`).
#[derive(Debug, Default)]
pub struct Mapped {
    pub headers: Vec<(http::HeaderName, String)>,
    pub query: Vec<(String, String)>,
    /// Path parameters replacing the captured ones in the URI's `{name}`.
    pub path: Vec<(String, String)>,
}

impl Mapped {
    fn absorb(&mut self, o: &RequestOverrides) {
        for (k, v) in &o.header {
            if let Ok(h) = http::HeaderName::from_bytes(k.as_bytes()) {
                self.headers.retain(|(n, _)| n != h);
                self.headers.push((h, v.clone()));
            }
        }
        for (k, v) in &o.querystring {
            self.query.retain(|(n, _)| n != k);
            self.query.push((k.clone(), v.clone()));
        }
        for (k, v) in &o.path {
            self.path.retain(|(n, _)| n != k);
            self.path.push((k.clone(), v.clone()));
        }
    }
}

/// The body parsed as JSON at most once, and only if a mapping asks for it.
struct LazyJson<'a> {
    raw: &'a [u8],
    parsed: Option<Option<serde_json::Value>>,
}

impl<'a> LazyJson<'a> {
    fn new(raw: &'a [u8]) -> Self {
        LazyJson { raw, parsed: None }
    }

    fn get(&mut self) -> Option<&serde_json::Value> {
        self.parsed
            .get_or_insert_with(|| serde_json::from_slice(self.raw).ok())
            .as_ref()
    }
}

fn percent_decode(s: &str) -> String {
    if !s.contains('%') {
        return s.to_string();
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The URI's path for this request: captured parameters, replaced by mapped ones where given.
pub fn upstream_path(
    parts: &[PathPart],
    view: &RequestView<'_>,
    mapped_path: &[(String, String)],
    query: Option<&str>,
    mapped_query: &[(String, String)],
) -> String {
    let mut out = String::with_capacity(64);
    for part in parts {
        match part {
            PathPart::Text(t) => out.push_str(t),
            PathPart::Capture(i) => {
                let name = view.route.param_names.get(*i).map(|n| &**n).unwrap_or("");
                match mapped_path.iter().rev().find(|(k, _)| k == name) {
                    Some((_, v)) => {
                        out.extend(form_urlencoded::byte_serialize(v.as_bytes()).map(|s| {
                            if s == "+" {
                                "%20"
                            } else {
                                s
                            }
                        }))
                    }
                    None => {
                        let rest = view
                            .req
                            .uri
                            .path()
                            .get(view.call.rest_start..)
                            .unwrap_or("");
                        if let Some((s, e)) = view.call.captures.get(*i) {
                            out.push_str(rest.get(*s as usize..*e as usize).unwrap_or(""));
                        }
                    }
                }
            }
        }
    }
    let mut q = String::new();
    if let Some(base) = query.filter(|q| !q.is_empty()) {
        q.push_str(base);
    }
    if !mapped_query.is_empty() {
        let mut ser = form_urlencoded::Serializer::new(String::new());
        for (k, v) in mapped_query {
            ser.append_pair(k, v);
        }
        if !q.is_empty() {
            q.push('&');
        }
        q.push_str(&ser.finish());
    }
    if !q.is_empty() {
        out.push('?');
        out.push_str(&q);
    }
    out
}

/// Reads the whole request body, failing with 413 beyond `max`.
pub(super) async fn read_body(session: &mut Session, max: u64) -> Result<Bytes, Failure> {
    let mut buf = BytesMut::new();
    loop {
        match session.read_request_body().await {
            Ok(Some(chunk)) => {
                if (buf.len() + chunk.len()) as u64 > max {
                    return Err(GatewayError::RequestTooLarge.into());
                }
                buf.extend_from_slice(&chunk);
            }
            Ok(None) => return Ok(buf.freeze()),
            Err(e) => return Err(Failure::Downstream(e)),
        }
    }
}

/// What every buffered integration starts from.
pub struct Buffered<'c> {
    pub snapshot: std::sync::Arc<crate::snapshot::Snapshot>,
    /// The whole request body (413 beyond `limits.max_body_bytes`).
    pub body: Bytes,
    pub route: &'c Route,
    pub client: Option<IpAddr>,
}

/// Reads the whole body and gathers what a buffered integration needs.
pub async fn buffer<'c>(
    session: &mut Session,
    ctx: &RequestCtx,
    call: &'c Call,
) -> Result<Buffered<'c>, Failure> {
    let snapshot = ctx
        .snapshot
        .clone()
        .ok_or_else(|| Failure::Internal("no snapshot".into()))?;
    let body = read_body(session, snapshot.limits.max_body_bytes).await?;
    let route = call
        .route()
        .ok_or_else(|| Failure::Internal("route vanished".into()))?;
    let client = session
        .client_addr()
        .and_then(|a| a.as_inet())
        .map(|a| a.ip());
    Ok(Buffered {
        snapshot,
        body,
        route,
        client,
    })
}

/// A response the gateway writes itself, always with an exact `Content-Length`.
pub(super) struct Answer {
    pub status: u16,
    pub headers: Vec<(http::HeaderName, String)>,
    pub content_type: Option<String>,
    pub body: Bytes,
}

pub(super) async fn write_answer(
    session: &mut Session,
    ctx: &RequestCtx,
    a: Answer,
) -> pingora::Result<()> {
    let mut resp = ResponseHeader::build(a.status, Some(a.headers.len() + 3))?;
    for (k, v) in a.headers {
        resp.append_header(k, v)?;
    }
    if let Some(ct) = a.content_type {
        resp.insert_header(http::header::CONTENT_TYPE, ct)?;
    }
    resp.insert_header(http::header::CONTENT_LENGTH, a.body.len())?;
    resp.insert_header("x-request-id", ctx.request_id.header())?;
    let head_only = session.req_header().method == http::Method::HEAD;
    session
        .write_response_header(Box::new(resp), head_only || a.body.is_empty())
        .await?;
    if !head_only && !a.body.is_empty() {
        session.write_response_body(Some(a.body), true).await?;
    }
    Ok(())
}

/// The integration's answer before the integration response is applied.
pub(super) struct Integrated<'b> {
    pub status: u16,
    pub headers: Option<&'b ResponseHeader>,
    pub body: Bytes,
    /// Overrides set by the request template, readable in (and overridable by) the response template.
    pub request_override: RequestOverrides,
    pub response_override: Overrides,
}

/// Chooses the integration response by `selector` (the status code, or a function's
/// `errorMessage`; `None`: the default response) and renders it into the client's answer.
pub(super) fn respond(
    view: &mut RequestView<'_>,
    responses: &Responses,
    got: Integrated<'_>,
    selector: Option<&str>,
    limits: &crate::template::Limits,
) -> Result<Answer, Failure> {
    let chosen = match selector {
        Some(s) => responses.select(s),
        None => responses.fallback(),
    };
    let Some(ir): Option<&IntegrationResponse> = chosen else {
        return Err(Failure::Internal(format!(
            "route {:?}: no integration response matches {:?} and there is no default",
            view.route.template,
            selector.unwrap_or("a success")
        )));
    };
    view.context.request_override = got.request_override;
    view.context.response_override = got.response_override.clone();
    let accept = view
        .req
        .headers
        .get(http::header::ACCEPT)
        .and_then(|v| v.to_str().ok());
    let (content_type, body, overrides) = match ir.templates.for_response(accept) {
        Some((media, t)) => {
            let r = view.render(t, &got.body, limits)?;
            (
                Some(media.to_string()),
                Bytes::from(r.output),
                r.response_override,
            )
        }
        None => (
            got.headers
                .and_then(|h| h.headers.get(http::header::CONTENT_TYPE))
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
                .or_else(|| Some("application/json".to_string())),
            got.body.clone(),
            got.response_override,
        ),
    };
    let mut headers = Vec::with_capacity(ir.headers.len() + overrides.headers.len());
    let mut json = LazyJson::new(&got.body);
    for (name, source) in ir.headers.iter() {
        let value = match source {
            HeaderSource::Literal(l) => Some(l.to_string()),
            HeaderSource::Header(h) => got
                .headers
                .and_then(|r| r.headers.get(h))
                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned()),
            HeaderSource::MultiHeader(h) => got
                .headers
                .map(|r| {
                    r.headers
                        .get_all(h)
                        .iter()
                        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
                        .collect::<Vec<_>>()
                        .join(",")
                })
                .filter(|v| !v.is_empty()),
            HeaderSource::Body => Some(String::from_utf8_lossy(&got.body).into_owned()),
            HeaderSource::BodyPath(p) => json.get().and_then(|d| p.text(d)),
            HeaderSource::Context(f) => Some(view.context_value(*f)),
        };
        if let Some(v) = value.filter(|v| http::HeaderValue::from_str(v).is_ok()) {
            headers.push((name.clone(), v));
        }
    }
    for (k, v) in &overrides.headers {
        if let (Ok(h), true) = (
            http::HeaderName::from_bytes(k.as_bytes()),
            http::HeaderValue::from_str(v).is_ok(),
        ) {
            headers.retain(|(n, _)| *n != h);
            headers.push((h, v.clone()));
        }
    }
    Ok(Answer {
        status: overrides.status.unwrap_or(ir.status),
        headers,
        content_type,
        body,
    })
}

/// `statusCode` from a mock's rendered request template. AWS accepts `{statusCode: 200}`, which
/// is not JSON, so this reads the number after the key rather than parsing the document.
fn mock_status(output: &str) -> Option<u16> {
    let at = output.find("statusCode")?;
    let rest = output[at + "statusCode".len()..]
        .trim_start_matches(|c: char| c == '"' || c == '\'' || c.is_whitespace());
    let rest = rest
        .strip_prefix(':')?
        .trim_start()
        .trim_start_matches(['"', '\'']);
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

pub(super) fn content_type(req: &RequestHeader) -> Option<&str> {
    req.headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
}

pub async fn serve_mock(
    session: &mut Session,
    ctx: &RequestCtx,
    call: &Call,
    mock: &MockIntegration,
) -> Result<(), Failure> {
    let Buffered {
        snapshot,
        body,
        route,
        client,
    } = buffer(session, ctx, call).await?;
    let answer = {
        let req = session.req_header();
        let mut view = RequestView::new(req, call, route, &ctx.request_id, client);
        let limits = &snapshot.template_limits;
        let (status, request_override, response_override) =
            match mock.request_body(content_type(req)) {
                RequestBody::Unsupported => return Err(GatewayError::UnsupportedMediaType.into()),
                RequestBody::Transform(t) => {
                    let r = view.render(t, &body, limits)?;
                    (
                        mock_status(&r.output).unwrap_or(200),
                        r.request_override,
                        r.response_override,
                    )
                }
                RequestBody::Passthrough => (
                    mock_status(&String::from_utf8_lossy(&body)).unwrap_or(200),
                    RequestOverrides::default(),
                    Overrides::default(),
                ),
            };
        let got = Integrated {
            status,
            headers: None,
            body: Bytes::new(),
            request_override,
            response_override,
        };
        let selector = status.to_string();
        respond(&mut view, &mock.responses, got, Some(&selector), limits)?
    };
    write_answer(session, ctx, answer)
        .await
        .map_err(Failure::Downstream)
}

pub async fn serve_http(
    session: &mut Session,
    ctx: &mut RequestCtx,
    call: &Call,
    http: &HttpIntegration,
    connector: &Connector,
) -> Result<(), Failure> {
    let Buffered {
        snapshot,
        body,
        route,
        client,
    } = buffer(session, ctx, call).await?;
    let limits = &snapshot.template_limits;
    let req = session.req_header().clone();
    let mut view = RequestView::new(&req, call, route, &ctx.request_id, client);
    let mut mapped = view.mapped(&http.params, &body);
    let (upstream_body, request_override, response_override, templated) =
        match http.mapping.request_body(content_type(&req)) {
            RequestBody::Unsupported => return Err(GatewayError::UnsupportedMediaType.into()),
            RequestBody::Transform(t) => {
                let r = view.render(t, &body, limits)?;
                mapped.absorb(&r.request_override);
                (
                    Bytes::from(r.output),
                    r.request_override,
                    r.response_override,
                    true,
                )
            }
            RequestBody::Passthrough => (
                body.clone(),
                RequestOverrides::default(),
                Overrides::default(),
                false,
            ),
        };

    let target = &http.target;
    let version = target.upstream.pick(&req.headers).clone();
    let index = version.next_target();
    let path = upstream_path(
        &target.path,
        &view,
        &mapped.path,
        target.query.as_deref(),
        &mapped.query,
    );
    let mut up = RequestHeader::build(
        req.method.clone(),
        path.as_bytes(),
        Some(mapped.headers.len() + 8),
    )
    .map_err(|e| Failure::Internal(format!("building the upstream request: {e}")))?;
    let host = target
        .host_header
        .clone()
        .unwrap_or_else(|| version.host_header(index).clone());
    let set = |up: &mut RequestHeader, k: http::HeaderName, v: &str| {
        up.insert_header(k, v)
            .map_err(|e| Failure::Internal(format!("upstream header: {e}")))
    };
    set(&mut up, http::header::HOST, &host)?;
    let ct = if templated {
        Some("application/json")
    } else {
        content_type(&req)
    };
    if let Some(ct) = ct {
        set(&mut up, http::header::CONTENT_TYPE, ct)?;
    }
    set(
        &mut up,
        http::header::CONTENT_LENGTH,
        &upstream_body.len().to_string(),
    )?;
    set(
        &mut up,
        http::HeaderName::from_static("x-request-id"),
        &ctx.request_id,
    )?;
    if let Some(ip) = client {
        set(
            &mut up,
            http::HeaderName::from_static("x-forwarded-for"),
            &ip.to_string(),
        )?;
    }
    for (k, v) in &mapped.headers {
        if http::HeaderValue::from_str(v).is_ok() {
            set(&mut up, k.clone(), v)?;
        }
    }

    let mut peer = version.peer(index).clone();
    peer.options.connection_timeout = Some(target.timeout.min(std::time::Duration::from_secs(10)));
    peer.options.read_timeout = Some(target.timeout);
    peer.options.write_timeout = Some(target.timeout);
    let (resp, resp_body) = send(
        ctx,
        &route.template,
        connector,
        &version,
        &peer,
        up,
        upstream_body,
        target.timeout,
        snapshot.limits.max_body_bytes,
    )
    .await?;
    let got = Integrated {
        status: resp.status.as_u16(),
        headers: Some(&resp),
        body: resp_body,
        request_override,
        response_override,
    };
    let answer = if http.mapping.responses.is_empty() {
        // No integration responses: the backend's status, content type and body as they are.
        Answer {
            status: got.status,
            headers: Vec::new(),
            content_type: resp
                .headers
                .get(http::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string),
            body: got.body,
        }
    } else {
        let selector = got.status.to_string();
        respond(
            &mut view,
            &http.mapping.responses,
            got,
            Some(&selector),
            limits,
        )?
    };
    drop(view);
    write_answer(session, ctx, answer)
        .await
        .map_err(Failure::Downstream)
}

/// Sends one integration request within `timeout`, recording the version and latency: a
/// timeout is 504 (`EndpointTimeout`), any other failure 502 (`BadGateway`), logged.
#[allow(clippy::too_many_arguments)]
pub(super) async fn send(
    ctx: &mut RequestCtx,
    route: &str,
    connector: &Connector,
    version: &crate::snapshot::upstream::Version,
    peer: &pingora::upstreams::peer::HttpPeer,
    header: RequestHeader,
    body: Bytes,
    timeout: std::time::Duration,
    max: u64,
) -> Result<(ResponseHeader, Bytes), Failure> {
    ctx.seen.version = Some(version.name.clone());
    let sent = std::time::Instant::now();
    let outcome = tokio::time::timeout(timeout, exchange(connector, peer, header, body, max)).await;
    ctx.upstream_latency = Some(sent.elapsed());
    ctx.seen
        .metrics
        .observe_upstream(&version.name, sent.elapsed());
    match outcome {
        Err(_) => Err(GatewayError::EndpointTimeout.into()),
        Ok(Err(e)) => {
            let timeout = matches!(
                e.etype(),
                pingora::ErrorType::ConnectTimedout
                    | pingora::ErrorType::ReadTimedout
                    | pingora::ErrorType::WriteTimedout
            );
            tracing::warn!(request_id = %ctx.request_id, route = %route, "integration request failed: {e}");
            Err(if timeout {
                GatewayError::EndpointTimeout
            } else {
                GatewayError::BadGateway
            }
            .into())
        }
        Ok(Ok(r)) => Ok(r),
    }
}

/// One request over a pooled upstream connection; a connection that the backend closed while
/// idle in the pool is retried once on a fresh one.
async fn exchange(
    connector: &Connector,
    peer: &pingora::upstreams::peer::HttpPeer,
    header: RequestHeader,
    body: Bytes,
    max: u64,
) -> pingora::Result<(ResponseHeader, Bytes)> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        let (mut s, reused) = connector.get_http_session(peer).await?;
        let result: pingora::Result<(ResponseHeader, Bytes)> = async {
            s.write_request_header(Box::new(header.clone())).await?;
            if !body.is_empty() {
                s.write_request_body(body.clone(), true).await?;
            }
            s.finish_request_body().await?;
            s.read_response_header().await?;
            let resp = s.response_header().cloned().ok_or_else(|| {
                pingora::Error::explain(pingora::ErrorType::InvalidHTTPHeader, "no response header")
            })?;
            let mut buf = BytesMut::new();
            while let Some(chunk) = s.read_response_body().await? {
                if (buf.len() + chunk.len()) as u64 > max {
                    return Err(pingora::Error::explain(
                        pingora::ErrorType::InvalidHTTPHeader,
                        "integration response over limits.max_body_bytes",
                    ));
                }
                buf.extend_from_slice(&chunk);
            }
            Ok((resp, buf.freeze()))
        }
        .await;
        match result {
            Ok(r) => {
                connector
                    .release_http_session(s, peer, peer.options.idle_timeout)
                    .await;
                return Ok(r);
            }
            Err(e) if reused && attempt == 1 => {
                tracing::debug!("pooled upstream connection failed, retrying on a new one: {e}");
                continue;
            }
            Err(e) => return Err(e),
        }
    }
}

/// Answers a failure of a templated request, logging internal errors with the request id.
/// Reads and drops the rest of a refused request body: at most 1 s and 1 MiB.
async fn linger(session: &mut Session) {
    let drain = async {
        let mut left: usize = 1 << 20;
        while let Ok(Some(chunk)) = session.read_request_body().await {
            left = left.saturating_sub(chunk.len());
            if left == 0 {
                break;
            }
        }
    };
    let _ = tokio::time::timeout(std::time::Duration::from_secs(1), drain).await;
}

pub async fn answer_failure(
    session: &mut Session,
    ctx: &RequestCtx,
    f: Failure,
) -> pingora::Result<()> {
    match f {
        Failure::Gateway(GatewayError::RequestTooLarge) => {
            // The client may still be sending. Closing with its bytes unread makes the kernel
            // reset the connection, which can destroy the 413 before the client reads it; so
            // say the connection ends, answer, then read and drop what is still coming for a
            // short while (nginx's lingering close).
            session.set_keepalive(None);
            write_error(
                session,
                GatewayError::RequestTooLarge,
                &ctx.request_id,
                None,
            )
            .await?;
            linger(session).await;
            Ok(())
        }
        Failure::Gateway(e) => write_error(session, e, &ctx.request_id, None).await,
        Failure::Internal(why) => {
            tracing::error!(request_id = %ctx.request_id, "{why}");
            write_error(
                session,
                GatewayError::InternalServerError,
                &ctx.request_id,
                None,
            )
            .await
        }
        Failure::Function(why) => {
            tracing::error!(request_id = %ctx.request_id, "function error: {why}");
            let body = GatewayError::InternalServerError.body();
            let answer = Answer {
                status: 502,
                headers: Vec::new(),
                content_type: Some("application/json".into()),
                body: Bytes::from_static(body.as_bytes()),
            };
            write_answer(session, ctx, answer).await
        }
        Failure::Downstream(e) => Err(e),
    }
}

/// `request_parameters` of an `http_proxy` route: headers to set and the path and query to send.
pub fn proxy_mapping(
    req: &RequestHeader,
    call: &Call,
    route: &Route,
    target: &crate::snapshot::ProxyIntegration,
    request_id: &str,
    client: Option<IpAddr>,
) -> (Vec<(http::HeaderName, String)>, String) {
    let view = RequestView::new(req, call, route, request_id, client);
    let mapped = view.mapped(&target.params, &[]);
    let path = upstream_path(
        &target.path,
        &view,
        &mapped.path,
        joined_query(target.query.as_deref(), req.uri.query()).as_deref(),
        &mapped.query,
    );
    (mapped.headers, path)
}

fn joined_query(a: Option<&str>, b: Option<&str>) -> Option<String> {
    match (a.filter(|s| !s.is_empty()), b.filter(|s| !s.is_empty())) {
        (Some(a), Some(b)) => Some(format!("{a}&{b}")),
        (Some(a), None) => Some(a.to_string()),
        (None, Some(b)) => Some(b.to_string()),
        (None, None) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mock_status_accepts_aws_loose_json() {
        assert_eq!(mock_status(r#"{"statusCode": 200}"#), Some(200));
        assert_eq!(mock_status("{statusCode: 404}"), Some(404));
        assert_eq!(mock_status("{\n  \"statusCode\" : \"201\"\n}"), Some(201));
        assert_eq!(mock_status("{}"), None);
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("a%20b%2Fc"), "a b/c");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz"), "%zz");
    }
}

//! Part of the proxy stage, inside step 9 (the integration): the one place an upstream request
//! is shaped. Every integration that calls a backend (`http_proxy` streaming through pingora,
//! `http` and the functions through the gateway's own connector) picks its endpoint with
//! `Endpoint::pick` and stamps its request with `stamp`, so what a backend learns about the
//! client cannot differ between integration types.
//!
//! The forwarding rule (nginx's `proxy_add_x_forwarded_for`, Envoy's default with
//! `use_remote_address`): `X-Forwarded-For` is the client's own list with the client's address
//! appended; `X-Forwarded-Host` is the `Host` (or `:authority`) the client sent;
//! `X-Forwarded-Proto` is the scheme the client used to reach the gateway. `Host` is the
//! endpoint's, and `x-request-id` the request's id.

use super::context::RequestCtx;
use super::request_id;
use crate::snapshot::upstream::Version;
use crate::snapshot::ProxyIntegration;
use bytes::Bytes;
use http::{HeaderName, HeaderValue};
use pingora::http::RequestHeader;
use pingora::upstreams::peer::HttpPeer;
use pingora::Result;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

/// Where one integration call goes: the version picked by the alias weights (once per request:
/// retries keep it), a target of that version, the `Host` to send and the timeout.
pub struct Endpoint {
    pub version: Arc<Version>,
    pub target: usize,
    /// `Some` for `http://` endpoints (the URI's authority); `None`: the target's own.
    host: Option<Arc<str>>,
    pub timeout: Duration,
}

impl Endpoint {
    pub fn pick(p: &ProxyIntegration, headers: &http::HeaderMap) -> Endpoint {
        let version = p.upstream.pick(headers).clone();
        let target = version.next_target();
        Endpoint {
            version,
            target,
            host: p.host_header.clone(),
            timeout: p.timeout,
        }
    }

    pub fn host(&self) -> &str {
        self.host
            .as_deref()
            .unwrap_or_else(|| self.version.host_header(self.target))
    }

    /// The target's prebuilt peer with this call's timeouts (connecting gets at most 10 s).
    pub fn peer(&self) -> HttpPeer {
        let mut peer = self.version.peer(self.target).clone();
        peer.options.connection_timeout = Some(self.timeout.min(Duration::from_secs(10)));
        peer.options.read_timeout = Some(self.timeout);
        peer.options.write_timeout = Some(self.timeout);
        peer
    }

    /// A retry moves to the next target of the same version, never to another version.
    pub fn retry(&mut self) {
        self.target = self.version.retry_target(self.target);
    }
}

static X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
static X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
static X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");

/// Sets what every upstream request carries (see the module doc), then the headers mapped by
/// `request_parameters` or a template's `requestOverride`, which win. For pingora's streamed
/// request, a copy of the client's head with its case map: names pingora does not know go in as
/// `&'static str`, which the case map keeps without copying.
pub fn stamp(
    up: &mut RequestHeader,
    client_req: &RequestHeader,
    ctx: &RequestCtx,
    host: &str,
    mapped: &[(HeaderName, HeaderValue)],
) -> Result<()> {
    // Ready names, sent in their own case (`Host` as every client writes it): pingora neither
    // parses nor copies them (patches/pingora-http/0001).
    forwarding(client_req, ctx, host, |name, value| {
        let case = if *name == http::header::HOST {
            "Host"
        } else {
            name.as_str()
        };
        up.insert_header_named(name, case, value)
    })?;
    for (k, v) in mapped {
        up.insert_header(k.clone(), v.clone())?;
    }
    Ok(())
}

/// `stamp` for a head the gateway builds itself as plain `http` parts (no case map, so a
/// `HeaderMap` insert of a ready name allocates nothing; the wire is the same).
pub fn stamp_map(
    headers: &mut http::HeaderMap,
    client_req: &RequestHeader,
    ctx: &RequestCtx,
    host: &str,
    mapped: &[(HeaderName, HeaderValue)],
) -> Result<()> {
    forwarding(client_req, ctx, host, |name, value| {
        headers.insert(name.clone(), value);
        Ok(())
    })?;
    for (k, v) in mapped {
        headers.insert(k.clone(), v.clone());
    }
    Ok(())
}

fn forwarding(
    client_req: &RequestHeader,
    ctx: &RequestCtx,
    host: &str,
    mut put: impl FnMut(&'static HeaderName, HeaderValue) -> Result<()>,
) -> Result<()> {
    use pingora::{ErrorType, OrErr};
    static HOST: HeaderName = http::header::HOST;
    let host = HeaderValue::from_str(host).or_err(ErrorType::InvalidHTTPHeader, "upstream host")?;
    put(&HOST, host)?;
    let original_host = client_req
        .headers
        .get(http::header::HOST)
        .cloned()
        .or_else(|| {
            client_req
                .uri
                .authority()
                .and_then(|a| HeaderValue::from_str(a.as_str()).ok())
        });
    if let Some(h) = original_host {
        put(&X_FORWARDED_HOST, h)?;
    }
    let proto = if ctx.client.tls { "https" } else { "http" };
    put(&X_FORWARDED_PROTO, HeaderValue::from_static(proto))?;
    if let Some(ip) = ctx.client.ip {
        let prev = client_req
            .headers
            .get(&X_FORWARDED_FOR)
            .filter(|v| !v.is_empty());
        put(&X_FORWARDED_FOR, forwarded_for(prev, ip))?;
    }
    put(&request_id::HEADER, ctx.request_id.header())
}

/// `X-Forwarded-For` with the client appended. IPv4 is written by hand: `Display` for an address
/// costs about a thousand instructions, a tenth of the gateway's own work per request.
fn forwarded_for(prev: Option<&HeaderValue>, ip: IpAddr) -> HeaderValue {
    let mut value = Vec::with_capacity(prev.map_or(0, |p| p.len() + 2) + 39);
    if let Some(p) = prev {
        value.extend_from_slice(p.as_bytes());
        value.extend_from_slice(b", ");
    }
    match ip {
        IpAddr::V4(v4) => {
            for (i, octet) in v4.octets().into_iter().enumerate() {
                if i > 0 {
                    value.push(b'.');
                }
                if octet >= 100 {
                    value.push(b'0' + octet / 100);
                }
                if octet >= 10 {
                    value.push(b'0' + octet / 10 % 10);
                }
                value.push(b'0' + octet % 10);
            }
        }
        IpAddr::V6(v6) => value.extend_from_slice(v6.to_string().as_bytes()),
    }
    HeaderValue::from_maybe_shared(Bytes::from(value))
        .unwrap_or_else(|_| HeaderValue::from_static(""))
}

#[cfg(test)]
mod tests {
    use super::forwarded_for;

    #[test]
    fn forwarded_for_appends_the_client() {
        let v4 = "10.0.200.7".parse().expect("ip");
        assert_eq!(forwarded_for(None, v4), "10.0.200.7");
        assert_eq!(
            forwarded_for(Some(&http::HeaderValue::from_static("1.2.3.4")), v4),
            "1.2.3.4, 10.0.200.7"
        );
        for ip in ["0.0.0.0", "255.255.255.255", "100.9.10.99"] {
            assert_eq!(forwarded_for(None, ip.parse().expect("ip")), ip);
        }
        let v6 = "2001:db8::1".parse().expect("ip");
        assert_eq!(forwarded_for(None, v6), "2001:db8::1");
    }
}

//! HTTP/1.1 client where one [`Client`] is exactly one TCP connection, so a test can tell
//! whether the gateway closed it; plus one-shot helpers.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{HeaderMap, Method, Request, Response, StatusCode};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::{Frame, Incoming};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::{patience, within, DEADLINE};

/// Request and response body type used by the harness (client requests, backend responses).
pub type Body = BoxBody<Bytes, Infallible>;

/// A body fed chunk by chunk from a channel: the sender decides when each chunk exists,
/// which is how tests prove that the other side sees data before the body is complete.
pub struct ChannelBody {
    rx: mpsc::Receiver<Bytes>,
}

impl hyper::body::Body for ChannelBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        self.rx
            .poll_recv(cx)
            .map(|chunk| chunk.map(|c| Ok(Frame::data(c))))
    }
}

/// A streaming body and its feeding end; dropping the sender ends the body.
pub fn channel_body(buffer: usize) -> (mpsc::Sender<Bytes>, ChannelBody) {
    let (tx, rx) = mpsc::channel(buffer);
    (tx, ChannelBody { rx })
}

pub fn full(body: impl Into<Bytes>) -> Body {
    Full::new(body.into()).boxed()
}

/// A fully read response.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The body as JSON; panics with the body text when it is not JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "response body is not JSON ({e}): status {} body {:?}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    /// Which test backend answered (its `x-backend` header), if any.
    pub fn backend(&self) -> Option<&str> {
        self.header("x-backend")
    }

    /// What the backend saw, from its echo JSON: `path`, `query`, ...
    pub fn seen(&self, field: &str) -> serde_json::Value {
        self.json()[field].clone()
    }

    /// A request header as the backend received it (lowercase name).
    pub fn seen_header(&self, name: &str) -> Option<String> {
        self.json()["headers"][name].as_str().map(str::to_string)
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// One keep-alive HTTP/1.1 connection.
pub struct Client {
    addr: SocketAddr,
    sender: SendRequest<Body>,
    conn: JoinHandle<Result<(), hyper::Error>>,
}

impl Client {
    pub async fn connect(addr: SocketAddr) -> Client {
        let stream = within("TCP connect", TcpStream::connect(addr))
            .await
            .unwrap_or_else(|e| panic!("connect {addr}: {e}"));
        stream.set_nodelay(true).expect("set_nodelay");
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .expect("HTTP/1 handshake");
        // The connection task ends exactly when the connection closes.
        let conn = tokio::spawn(conn);
        Client { addr, sender, conn }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// True once the connection is closed (by either side) or broken.
    pub fn is_closed(&self) -> bool {
        self.conn.is_finished() || self.sender.is_closed()
    }

    /// Builds a request for `path` with `Host: ADDR` unless `headers` has a host.
    pub fn build(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Body,
    ) -> Request<Body> {
        let mut b = Request::builder().method(method).uri(path);
        if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host")) {
            b = b.header("host", self.addr.to_string());
        }
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        b.body(body).expect("valid request")
    }

    /// Waits until the connection can take a request, then sends it. The returned future
    /// is `'static`: a test can spawn it and keep feeding a streaming request body.
    pub async fn send(
        &mut self,
        req: Request<Body>,
    ) -> Result<
        impl std::future::Future<Output = Result<Response<Incoming>, hyper::Error>>,
        hyper::Error,
    > {
        within("connection ready", self.sender.ready()).await?;
        Ok(self.sender.send_request(req))
    }

    /// Sends a request and reads the whole response.
    pub async fn request(
        &mut self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: impl Into<Bytes>,
    ) -> Result<Reply, hyper::Error> {
        let req = self.build(method, path, headers, full(body));
        let resp = within("response head", self.send(req).await?).await?;
        read_reply(resp).await
    }

    pub async fn get(&mut self, path: &str) -> Result<Reply, hyper::Error> {
        self.request(Method::GET, path, &[], Bytes::new()).await
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        self.conn.abort();
    }
}

/// Reads a response to the end.
pub async fn read_reply(resp: Response<Incoming>) -> Result<Reply, hyper::Error> {
    let (parts, body) = resp.into_parts();
    let body = within("response body", body.collect()).await?.to_bytes();
    Ok(Reply {
        status: parts.status,
        headers: parts.headers,
        body,
    })
}

/// One-shot GET on a new connection; panics on transport errors.
pub async fn get(addr: SocketAddr, path: &str) -> Reply {
    get_with(addr, Method::GET, path, &[]).await
}

/// One-shot request with headers on a new connection; panics on transport errors.
pub async fn get_with(
    addr: SocketAddr,
    method: Method,
    path: &str,
    headers: &[(&str, &str)],
) -> Reply {
    let mut c = Client::connect(addr).await;
    let deadline = patience(DEADLINE);
    match tokio::time::timeout(
        deadline,
        c.request(method.clone(), path, headers, Bytes::new()),
    )
    .await
    {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => panic!("{method} {path} via {addr}: {e}"),
        Err(_) => panic!("{method} {path} via {addr}: no response within {deadline:?}"),
    }
}

/// One-shot GET that reports transport errors instead of panicking (for polling).
pub async fn try_get(addr: SocketAddr, path: &str) -> Option<Reply> {
    let stream = TcpStream::connect(addr).await.ok()?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake::<_, Body>(TokioIo::new(stream))
        .await
        .ok()?;
    let conn = tokio::spawn(conn);
    let req = Request::builder()
        .uri(path)
        .header("host", addr.to_string())
        .body(full(Bytes::new()))
        .ok()?;
    let resp = sender.send_request(req).await.ok();
    let reply = match resp {
        Some(r) => read_reply(r).await.ok(),
        None => None,
    };
    conn.abort();
    reply
}

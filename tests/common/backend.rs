//! In-process test backend: an HTTP/1.1 echo server with hooks to hold, stream and observe.
//!
//! Every request is answered with `x-backend: NAME` and, by default, the echo JSON
//! `{"name", "method", "path", "query", "headers", "body_len"}` describing exactly what
//! arrived (raw path, raw query or null, lowercase header names). Paths ending in:
//!
//! - `/stream-down?bytes=N[&hold=1]`: N bytes of [`super::pattern`] in 64 KiB chunks. With
//!   `hold=1` only the first chunk is sent until [`Backend::release`].
//! - `/upload`: reads the body frame by frame, reporting [`UploadEvent`]s to the test as the
//!   first data arrives and when the body ends; answers `{"name", "body_len", "sha256"}`.
//! - `/slow`: reports its arrival ([`Backend::wait_held`]) and answers the echo JSON only
//!   after [`Backend::release`].
//! - `/status/NNN[?body=TEXT][&type=MEDIA]`: answers status NNN with the form-decoded `body`
//!   (default empty) as `type` (default `application/json`).
//! - `/echo-body`: the echo JSON plus `"body"`, the request body as text.
//! - `/health`: the echo JSON while healthy (the default); 503 after
//!   [`Backend::set_health`]`(false)`, for active health checks.
//!
//! Every request's method and raw path-and-query is recorded ([`Backend::seen_requests`]).

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use http::{Request, Response, StatusCode};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use sha2::{Digest, Sha256};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch, Mutex};
use tokio::task::JoinHandle;

use super::client::{channel_body, full, Body};
use super::{pattern, within, CHUNK};

/// What `/upload` tells the test while it reads a request body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UploadEvent {
    /// The first non-empty data frame arrived; its length.
    FirstChunk(usize),
    /// The body ended.
    Done { total: usize, sha256: String },
    /// Reading the body failed.
    Error(String),
}

struct State {
    name: String,
    connections: AtomicUsize,
    requests: AtomicUsize,
    /// Opened once by the test; `/slow` and held downloads wait for it.
    gate: watch::Sender<bool>,
    held_tx: mpsc::UnboundedSender<String>,
    held_rx: Mutex<mpsc::UnboundedReceiver<String>>,
    upload_tx: mpsc::UnboundedSender<UploadEvent>,
    upload_rx: Mutex<mpsc::UnboundedReceiver<UploadEvent>>,
    /// What `/health` answers: the echo JSON while true, 503 while false.
    healthy: AtomicBool,
    /// `METHOD path?query` of every request, in arrival order.
    seen: std::sync::Mutex<Vec<String>>,
}

pub struct Backend {
    addr: SocketAddr,
    state: Arc<State>,
    accept: JoinHandle<()>,
}

impl Backend {
    /// Starts listening on 127.0.0.1:0 in the current tokio runtime.
    pub async fn start(name: &str) -> Backend {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind backend");
        let addr = listener.local_addr().expect("backend local_addr");
        let (held_tx, held_rx) = mpsc::unbounded_channel();
        let (upload_tx, upload_rx) = mpsc::unbounded_channel();
        let state = Arc::new(State {
            name: name.to_string(),
            connections: AtomicUsize::new(0),
            requests: AtomicUsize::new(0),
            gate: watch::Sender::new(false),
            held_tx,
            held_rx: Mutex::new(held_rx),
            upload_tx,
            upload_rx: Mutex::new(upload_rx),
            healthy: AtomicBool::new(true),
            seen: std::sync::Mutex::new(Vec::new()),
        });
        let st = state.clone();
        let accept = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                st.connections.fetch_add(1, Ordering::SeqCst);
                let _ = stream.set_nodelay(true);
                let st = st.clone();
                tokio::spawn(async move {
                    let svc = service_fn(move |req| handle(st.clone(), req));
                    // Connection errors (the gateway hanging up) are not the backend's business.
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        Backend {
            addr,
            state,
            accept,
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn name(&self) -> &str {
        &self.state.name
    }

    /// TCP connections accepted so far.
    pub fn connections(&self) -> usize {
        self.state.connections.load(Ordering::SeqCst)
    }

    /// Requests received so far (any path).
    pub fn requests(&self) -> usize {
        self.state.requests.load(Ordering::SeqCst)
    }

    /// Makes `/health` answer 503 (`false`) or the echo JSON again (`true`, the default).
    pub fn set_health(&self, healthy: bool) {
        self.state.healthy.store(healthy, Ordering::SeqCst);
    }

    /// `METHOD path?query` (raw, as received) of every request so far, in arrival order.
    pub fn seen_requests(&self) -> Vec<String> {
        self.state.seen.lock().expect("seen lock").clone()
    }

    /// Lets every held request (`/slow`, `/stream-down?hold=1`) proceed, now and later.
    pub fn release(&self) {
        self.state.gate.send_replace(true);
    }

    /// Waits until a request reaches its hold point; returns its path.
    pub async fn wait_held(&self) -> String {
        let mut rx = self.state.held_rx.lock().await;
        within("a request held at the backend", rx.recv())
            .await
            .expect("backend state alive")
    }

    /// The next event reported by `/upload`.
    pub async fn next_upload_event(&self) -> UploadEvent {
        let mut rx = self.state.upload_rx.lock().await;
        within("an /upload event from the backend", rx.recv())
            .await
            .expect("backend state alive")
    }
}

impl Drop for Backend {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

async fn wait_gate(state: &State, path: &str) {
    let mut rx = state.gate.subscribe();
    let _ = state.held_tx.send(path.to_string());
    // The sender lives in `state`, so this only ends when the gate opens.
    let _ = rx.wait_for(|open| *open).await;
}

fn query_param<'a>(query: Option<&'a str>, name: &str) -> Option<&'a str> {
    query?
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

fn json_response(state: &State, status: StatusCode, value: serde_json::Value) -> Response<Body> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .header("x-backend", state.name.as_str())
        .body(full(value.to_string()))
        .expect("valid response")
}

async fn handle(state: Arc<State>, req: Request<Incoming>) -> Result<Response<Body>, Infallible> {
    state.requests.fetch_add(1, Ordering::SeqCst);
    let target = req
        .uri()
        .path_and_query()
        .map_or_else(|| req.uri().to_string(), |pq| pq.as_str().to_string());
    state
        .seen
        .lock()
        .expect("seen lock")
        .push(format!("{} {target}", req.method()));
    let path = req.uri().path().to_string();
    if path.ends_with("/health") && !state.healthy.load(Ordering::SeqCst) {
        return Ok(json_response(
            &state,
            StatusCode::SERVICE_UNAVAILABLE,
            serde_json::json!({"name": state.name, "healthy": false}),
        ));
    }
    if path.ends_with("/stream-down") {
        return Ok(stream_down(&state, req.uri().query()));
    }
    if path.ends_with("/upload") {
        return Ok(upload(&state, req).await);
    }
    if path.ends_with("/slow") {
        wait_gate(&state, &path).await;
    }
    if let Some(status) = status_path(&path) {
        return Ok(status_reply(&state, status, req.uri().query()));
    }
    if path.ends_with("/echo-body") {
        return Ok(echo_body(&state, req).await);
    }
    Ok(echo(&state, req).await)
}

/// `.../status/NNN` -> NNN.
fn status_path(path: &str) -> Option<StatusCode> {
    let (rest, code) = path.rsplit_once('/')?;
    if !rest.ends_with("/status") || code.len() != 3 {
        return None;
    }
    StatusCode::from_bytes(code.as_bytes()).ok()
}

fn status_reply(state: &State, status: StatusCode, query: Option<&str>) -> Response<Body> {
    let params: Vec<(String, String)> = form_urlencoded::parse(query.unwrap_or("").as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let param = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    Response::builder()
        .status(status)
        .header(
            "content-type",
            param("type").unwrap_or_else(|| "application/json".to_string()),
        )
        .header("x-backend", state.name.as_str())
        .body(full(param("body").unwrap_or_default()))
        .expect("valid response")
}

async fn echo_body(state: &State, req: Request<Incoming>) -> Response<Body> {
    let (parts, body) = req.into_parts();
    let mut headers: BTreeMap<String, String> = BTreeMap::new();
    for (name, value) in &parts.headers {
        let value = value.to_str().unwrap_or("<non-utf8>");
        headers
            .entry(name.as_str().to_string())
            .and_modify(|v| {
                v.push_str(", ");
                v.push_str(value);
            })
            .or_insert_with(|| value.to_string());
    }
    let body = match body.collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) => {
            return json_response(
                state,
                StatusCode::BAD_REQUEST,
                serde_json::json!({"name": state.name, "error": e.to_string()}),
            )
        }
    };
    json_response(
        state,
        StatusCode::OK,
        serde_json::json!({
            "name": state.name,
            "method": parts.method.as_str(),
            "path": parts.uri.path(),
            "query": parts.uri.query(),
            "headers": headers,
            "body_len": body.len(),
            "body": String::from_utf8_lossy(&body),
        }),
    )
}

async fn echo(state: &State, req: Request<Incoming>) -> Response<Body> {
    let (parts, body) = req.into_parts();
    let mut headers: BTreeMap<String, String> = BTreeMap::new();
    for (name, value) in &parts.headers {
        let value = value.to_str().unwrap_or("<non-utf8>");
        headers
            .entry(name.as_str().to_string())
            .and_modify(|v| {
                v.push_str(", ");
                v.push_str(value);
            })
            .or_insert_with(|| value.to_string());
    }
    let body_len = match body.collect().await {
        Ok(b) => b.to_bytes().len(),
        Err(e) => {
            return json_response(
                state,
                StatusCode::BAD_REQUEST,
                serde_json::json!({"name": state.name, "error": e.to_string()}),
            )
        }
    };
    json_response(
        state,
        StatusCode::OK,
        serde_json::json!({
            "name": state.name,
            "method": parts.method.as_str(),
            "path": parts.uri.path(),
            "query": parts.uri.query(),
            "headers": headers,
            "body_len": body_len,
        }),
    )
}

fn stream_down(state: &Arc<State>, query: Option<&str>) -> Response<Body> {
    let total: usize = query_param(query, "bytes")
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    let hold = query_param(query, "hold") == Some("1");
    // A small buffer so the backend produces data only as fast as it is consumed.
    let (tx, body) = channel_body(2);
    let st = state.clone();
    tokio::spawn(async move {
        let mut off = 0;
        while off < total {
            let n = CHUNK.min(total - off);
            if tx.send(pattern(off, n)).await.is_err() {
                return; // the gateway went away
            }
            off += n;
            if hold && off == n {
                wait_gate(&st, "/stream-down").await;
            }
        }
    });
    Response::builder()
        .header("content-type", "application/octet-stream")
        .header("x-backend", state.name.as_str())
        .body(body.boxed())
        .expect("valid response")
}

async fn upload(state: &State, req: Request<Incoming>) -> Response<Body> {
    let mut body = req.into_body();
    let mut total = 0usize;
    let mut hasher = Sha256::new();
    let mut first = true;
    while let Some(frame) = body.frame().await {
        match frame {
            Ok(frame) => {
                if let Some(data) = frame.data_ref() {
                    if first && !data.is_empty() {
                        first = false;
                        let _ = state.upload_tx.send(UploadEvent::FirstChunk(data.len()));
                    }
                    total += data.len();
                    hasher.update(data);
                }
            }
            Err(e) => {
                let _ = state.upload_tx.send(UploadEvent::Error(e.to_string()));
                return json_response(
                    state,
                    StatusCode::BAD_REQUEST,
                    serde_json::json!({"name": state.name, "error": e.to_string()}),
                );
            }
        }
    }
    let sha256 = format!("{:x}", hasher.finalize());
    let _ = state.upload_tx.send(UploadEvent::Done {
        total,
        sha256: sha256.clone(),
    });
    json_response(
        state,
        StatusCode::OK,
        serde_json::json!({"name": state.name, "body_len": total, "sha256": sha256}),
    )
}

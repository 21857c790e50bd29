//! Beside the data flow, in front of the request path: the HTTP/1 keep-alive loop of plain-TCP
//! connections, run here instead of in pingora so that a connection waiting for its next
//! request holds only its socket. pingora builds the next request's session, its header buffer
//! and its (boxed, ~13 KB) request future the moment the previous answer is sent, and keeps
//! them for as long as the client stays idle; here the connection first waits until the client
//! sends something (a zero-length read: readiness, nothing consumed), up to the idle timeout,
//! and only then hands pingora the session. Measured in benches/README.md (issue 18).
//!
//! Only for what pingora would treat as plain HTTP/1: TLS connections (rustls may hold
//! decrypted bytes the socket does not show), h2c and custom protocols keep pingora's own path.
//! A next request already read with the previous one (pipelining, patch 0005 shows it) is
//! handed over at once.

use pingora::apps::{HttpServerApp, HttpServerOptions};
use pingora::protocols::http::ServerSession;
use pingora::protocols::l4::stream::Stream as PlainStream;
use pingora::protocols::Stream;
use pingora::server::ShutdownWatch;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncReadExt;

/// pingora's wait for a connection's first request, and for a reused one without its own.
const FIRST_REQUEST: Duration = Duration::from_secs(60);

/// Whether this connection's HTTP/1 loop runs here (see the module doc).
pub fn owns(stream: &Stream, options: Option<&HttpServerOptions>) -> bool {
    let special = options.is_some_and(|o| o.h2c || o.force_custom);
    !special && stream.get_ssl_digest().is_none() && stream.as_any().is::<PlainStream>()
}

/// The keep-alive loop of `apps::ServerApp for HttpServerApp` in pingora 0.9.1 (apps/mod.rs,
/// the HTTP/1 branch), with a wait before each request. Keep it in step with pingora's when
/// pingora changes (scripts/pingora-patches.sh apply shows the new release's loop).
pub async fn serve<A>(app: &Arc<A>, mut stream: Stream, shutdown: &ShutdownWatch) -> Option<Stream>
where
    A: HttpServerApp + Send + Sync + 'static,
{
    if !wait(&mut stream, FIRST_REQUEST, shutdown).await {
        return None;
    }
    let mut session = ServerSession::new_http1(stream);
    session.set_keepalive(if *shutdown.borrow() { None } else { Some(60) });
    session.set_keepalive_reuses_remaining(
        app.server_options().and_then(|o| o.keepalive_request_limit),
    );
    let mut result = app.process_new_http(session, shutdown).await;
    while let Some((mut stream, settings)) = result.map(|r| r.consume()) {
        let pending = settings.as_ref().is_some_and(|s| s.has_pipelined_prefix());
        let idle = settings
            .as_ref()
            .and_then(|s| s.keepalive_timeout())
            .map_or(FIRST_REQUEST, Duration::from_secs);
        if !pending && !wait(&mut stream, idle, shutdown).await {
            return None;
        }
        let mut session = ServerSession::new_http1(stream);
        if let Some(settings) = settings {
            settings.apply_to_session(&mut session);
        }
        result = app.process_new_http(session, shutdown).await;
    }
    None
}

/// Waits until the client sends something or closes (`true`: read the request, or the close,
/// in pingora), the idle time passes or the read fails (`false`: drop the connection). A
/// shutdown ends the wait with `true`, so that pingora answers a request arriving during the
/// linger (with keep-alive off) or closes the connection, as it does for its own idle ones.
async fn wait(stream: &mut Stream, idle: Duration, shutdown: &ShutdownWatch) -> bool {
    if *shutdown.borrow() {
        return true;
    }
    let mut shutdown = shutdown.clone();
    // A zero-length read returns once the socket is readable, consuming nothing: Linux's recv
    // of 0 bytes says "would block" while nothing is there (tokio then waits for readiness) and
    // 0 once data or the close is.
    let readable = async { stream.read(&mut []).await.is_ok() };
    tokio::select! {
        r = tokio::time::timeout(idle, readable) => r.unwrap_or(false),
        _ = shutdown.changed() => true,
    }
}

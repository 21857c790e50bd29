//! Beside the data flow: how the process ends. SIGTERM (and the end of a binary upgrade, after
//! SIGQUIT hands the listening sockets to the new process) stops accepting, then this service
//! waits for the requests in flight and exits as soon as the last one is answered, or when
//! pingora's grace period (`shutdown_grace_seconds`) runs out. pingora alone would always sleep
//! the whole grace period; SIGINT stays pingora's fast exit.

use crate::store::Store;
use async_trait::async_trait;
use pingora::apps::{HttpServerApp, ServerApp};
use pingora::protocols::Stream;
use pingora::server::ShutdownWatch;
use pingora::services::background::BackgroundService;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Requests between their first phase and their last: one counter, touched twice per request.
#[derive(Debug, Default, Clone)]
pub struct InFlight(Arc<AtomicUsize>);

impl InFlight {
    pub fn enter(&self) -> InFlightGuard {
        self.0.fetch_add(1, Ordering::AcqRel);
        InFlightGuard(self.0.clone())
    }

    pub fn count(&self) -> usize {
        self.0.load(Ordering::Acquire)
    }
}

/// Leaves the count when the request's context is dropped, however the request ended.
#[derive(Debug)]
pub struct InFlightGuard(Arc<AtomicUsize>);

impl Drop for InFlightGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// How long accepted connections may still send their request after the listeners close.
/// pingora's shutdown closes every connection still waiting for a request as soon as the
/// accept loop stops, including one accepted a moment earlier whose request is on its way: that
/// request would be lost (a fresh connection is not retried by clients). Waiting this long
/// before pingora's cleanup lets those requests in; they are answered with keep-alive off.
pub const LINGER: Duration = Duration::from_millis(500);

/// A pingora app whose shutdown cleanup runs `LINGER` after the listeners close.
pub struct Lingering<A> {
    inner: Arc<A>,
}

impl<A> Lingering<A> {
    pub fn new(inner: A) -> Self {
        Lingering {
            inner: Arc::new(inner),
        }
    }
}

#[async_trait]
impl<A: HttpServerApp + Send + Sync + 'static> ServerApp for Lingering<A> {
    async fn process_new(
        self: &Arc<Self>,
        session: Stream,
        shutdown: &ShutdownWatch,
    ) -> Option<Stream> {
        // Plain HTTP/1 waits for each request outside pingora (`idle`); the rest is pingora's.
        if crate::idle::owns(&session, self.inner.server_options()) {
            return crate::idle::serve(&self.inner, session, shutdown).await;
        }
        ServerApp::process_new(&self.inner, session, shutdown).await
    }

    async fn cleanup(&self) {
        tokio::time::sleep(LINGER).await;
        ServerApp::cleanup(&*self.inner).await;
    }
}

pub struct DrainService {
    pub inflight: InFlight,
    pub store: Arc<Store>,
    /// Saved once the last request is answered: a graceful stop loses no count.
    pub usage: Arc<crate::usage::persist::Persister>,
}

#[async_trait]
impl BackgroundService for DrainService {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        if shutdown.changed().await.is_err() {
            return;
        }
        self.store.set_draining();
        tracing::info!(
            in_flight = self.inflight.count(),
            "shutting down: no new connections; waiting for requests in flight"
        );
        // Requests of connections accepted just before the listeners closed arrive within
        // LINGER; they are not counted until their head is read.
        tokio::time::sleep(LINGER).await;
        loop {
            if self.inflight.count() == 0 {
                tracing::info!("every request answered; exiting");
                let usage = self.usage.clone();
                match tokio::task::spawn_blocking(move || usage.save()).await {
                    Ok(Err(e)) => tracing::error!("cannot save usage counters: {e}"),
                    Err(e) => tracing::error!("saving usage counters: {e}"),
                    Ok(Ok(())) => {}
                }
                crate::accesslog::flush();
                std::process::exit(0);
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

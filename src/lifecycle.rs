//! Beside the data flow: how the process ends. SIGTERM (and the end of a binary upgrade, after
//! SIGQUIT hands the listening sockets to the new process) stops accepting, then this service
//! waits for the requests in flight and exits as soon as the last one is answered, or when
//! pingora's grace period (`shutdown_grace_seconds`) runs out. pingora alone would always sleep
//! the whole grace period; SIGINT stays pingora's fast exit.

use crate::store::Store;
use async_trait::async_trait;
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

pub struct DrainService {
    pub inflight: InFlight,
    pub store: Arc<Store>,
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
        loop {
            if self.inflight.count() == 0 {
                tracing::info!("every request answered; exiting");
                crate::accesslog::flush();
                std::process::exit(0);
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

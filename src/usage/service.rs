//! Part of the usage store (`usage`): its background work, as a pingora background service:
//! connecting to a shared store on a runtime that lives as long as the process, and saving the
//! local counters once a second and when the process is told to stop.

use super::persist::Persister;
use super::Store;
use async_trait::async_trait;
use pingora::server::ShutdownWatch;
use pingora::services::background::BackgroundService;
use std::sync::Arc;
use std::time::Duration;

pub struct UsageService {
    pub store: Arc<Store>,
    pub persister: Arc<Persister>,
}

/// Saves off the async runtime (file I/O blocks), logging a failure once per failing streak.
async fn save(p: &Arc<Persister>, failing: &mut bool) {
    let p = p.clone();
    let result = tokio::task::spawn_blocking(move || p.save()).await;
    match result {
        Ok(Ok(())) => {
            if std::mem::take(failing) {
                tracing::info!("usage counters are saved again");
            }
        }
        Ok(Err(e)) => {
            if !std::mem::replace(failing, true) {
                tracing::error!("cannot save usage counters: {e}; they are kept in memory and saved once this works");
            }
        }
        Err(e) => tracing::error!("saving usage counters: {e}"),
    }
}

#[async_trait]
impl BackgroundService for UsageService {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        if let Some(shared) = self.store.shared() {
            match shared.connect() {
                Ok(()) => tracing::info!(store = %shared.shown(), "usage store: shared"),
                Err(e) => tracing::error!("{e}; keyed requests follow on_store_error"),
            }
        }
        let mut failing = false;
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            tokio::select! {
                _ = tick.tick() => save(&self.persister, &mut failing).await,
                _ = shutdown.changed() => {
                    // The drain saves again once the last request is answered.
                    save(&self.persister, &mut failing).await;
                    return;
                }
            }
        }
    }
}

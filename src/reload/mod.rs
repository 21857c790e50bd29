//! Beside the data flow: rebuilds the snapshot when the configuration directory changes and
//! publishes it to the store. Triggers: filesystem events (notify, on the directory and its
//! subfolders, so renames and ConfigMap `..data` swaps are seen), SIGHUP, and a slow poll in case
//! events are lost. Every trigger ends in the same `Reloader::reload`, which reads the files,
//! compares their content hash and only then puts them through the one load pipeline
//! (`snapshot::load`) and publishes. A failure changes nothing but the log and the failure count.
//! The reloader owns the state carried from one snapshot to the next (`snapshot::Carried`).

use crate::config::{self, Scope};
use crate::snapshot::load::load_sources;
use crate::snapshot::Carried;
use crate::store::Store;
use async_trait::async_trait;
use notify::event::{AccessKind, AccessMode};
use notify::{EventKind, RecursiveMode, Watcher as _};
use pingora::server::ShutdownWatch;
use pingora::services::background::BackgroundService;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    FileEvent,
    Signal,
    Poll,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    Unchanged,
    Published { generation: u64 },
    Failed,
}

/// Reloads one directory into one store.
pub struct Reloader {
    dir: PathBuf,
    store: Arc<Store>,
    /// Buckets and target health, handed from each snapshot to the next.
    carried: Carried,
    /// Hash of the last contents tried, good or bad, so a broken file is reported once, not at
    /// every poll.
    last_tried: Mutex<String>,
}

impl Reloader {
    /// `store` holds the snapshot `carried` was used to compile (see `app::run`).
    pub fn new(dir: PathBuf, store: Arc<Store>, carried: Carried) -> Reloader {
        let last_tried = Mutex::new(store.current().hash.clone());
        Reloader {
            dir,
            store,
            carried,
            last_tried,
        }
    }

    /// One reload, start to end, on the calling thread. Blocking (reads files, may resolve
    /// names): the watcher calls it off the async runtime.
    pub fn reload(&self, trigger: Trigger) -> Outcome {
        let started = Instant::now();
        let sources = match config::read_sources(&self.dir, Scope::Served) {
            Ok(s) => s,
            Err(p) => return self.fail(trigger, &p),
        };
        let current = self.store.current();
        if sources.hash == current.hash {
            self.set_last_tried(&sources.hash);
            // A broken file put back as it was: nothing to load, and nothing wrong any more.
            self.store.clear_error();
            return Outcome::Unchanged;
        }
        if trigger != Trigger::Signal && self.last_tried() == sources.hash {
            return Outcome::Unchanged;
        }
        self.set_last_tried(&sources.hash);
        match load_sources(&sources, &self.carried, current.generation + 1) {
            Ok(loaded) => {
                let snap = loaded.snapshot;
                for w in &snap.warnings {
                    tracing::warn!("{w}");
                }
                if snap.server != current.server {
                    tracing::warn!("listen, admin or threads changed in gateway.yaml: they take effect at the next restart");
                }
                let generation = snap.generation;
                self.store.publish(snap);
                crate::metrics::config_reloaded(generation);
                tracing::info!(generation, hash = %sources.hash, ?trigger, elapsed_ms = started.elapsed().as_secs_f64() * 1e3, "configuration reloaded");
                Outcome::Published { generation }
            }
            Err(rejected) => self.fail(trigger, &rejected.into()),
        }
    }

    fn fail(&self, trigger: Trigger, problems: &config::Problems) -> Outcome {
        for p in problems.errors() {
            tracing::error!(
                ?trigger,
                "reload rejected, still serving the last good configuration: {p}"
            );
        }
        crate::metrics::config_reload_failed();
        self.store.record_failure(
            problems
                .errors()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("\n"),
        );
        Outcome::Failed
    }

    fn last_tried(&self) -> String {
        self.last_tried
            .lock()
            .map(|h| h.clone())
            .unwrap_or_default()
    }

    fn set_last_tried(&self, hash: &str) {
        if let Ok(mut h) = self.last_tried.lock() {
            hash.clone_into(&mut h);
        }
    }
}

/// The pingora background service that owns the watcher. The notify watcher (a thread) is
/// created inside `start`, because daemon mode forks after services are added.
pub struct WatchService {
    reloader: Arc<Reloader>,
    /// Quiet time after the last event before reading: editors write in bursts.
    pub debounce: Duration,
    /// The fallback poll, for filesystems where events are lost (some network and FUSE mounts).
    pub poll_every: Duration,
}

impl WatchService {
    pub fn new(reloader: Reloader) -> WatchService {
        WatchService {
            reloader: Arc::new(reloader),
            debounce: Duration::from_millis(10),
            poll_every: Duration::from_secs(2),
        }
    }

    /// `since`: when the change was first seen, so the recorded latency covers the debounce too.
    async fn reload(&self, trigger: Trigger, since: Instant) {
        let r = self.reloader.clone();
        match tokio::task::spawn_blocking(move || r.reload(trigger)).await {
            Ok(Outcome::Published { generation }) => {
                let latency = since.elapsed();
                crate::metrics::config_reload_latency(latency);
                tracing::info!(
                    generation,
                    latency_ms = latency.as_secs_f64() * 1e3,
                    "new configuration served"
                );
            }
            Ok(_) => {}
            Err(e) => tracing::error!("reload task failed: {e}"),
        }
    }
}

const MAX_DEBOUNCE: Duration = Duration::from_millis(300);

/// Events that can mean new contents; reads (including our own) are not.
fn is_change(kind: &EventKind) -> bool {
    match kind {
        EventKind::Access(AccessKind::Close(AccessMode::Write)) => true,
        EventKind::Access(_) => false,
        _ => true,
    }
}

#[async_trait]
impl BackgroundService for WatchService {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        let (tx, mut rx) = mpsc::unbounded_channel::<()>();
        let dir = self.reloader.dir.clone();
        let watcher =
            notify::recommended_watcher(move |res: notify::Result<notify::Event>| match res {
                Ok(ev) if is_change(&ev.kind) => {
                    let _ = tx.send(());
                }
                Ok(_) => {}
                Err(e) => tracing::warn!("file watcher: {e}"),
            });
        // Kept alive for the whole loop: dropping it stops the events.
        let _watcher = match watcher {
            Ok(mut w) => match w.watch(&dir, RecursiveMode::Recursive) {
                Ok(()) => Some(w),
                Err(e) => {
                    tracing::warn!(
                        "cannot watch {}: {e}; relying on polling every {:?}",
                        dir.display(),
                        self.poll_every
                    );
                    None
                }
            },
            Err(e) => {
                tracing::warn!(
                    "cannot start the file watcher: {e}; relying on polling every {:?}",
                    self.poll_every
                );
                None
            }
        };
        let mut usr1 =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::user_defined1())
                .map_err(|e| tracing::warn!("cannot handle SIGUSR1 (access-log reopen): {e}"))
                .ok();
        let mut hup = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
            Ok(s) => Some(s),
            Err(e) => {
                tracing::warn!("cannot handle SIGHUP: {e}");
                None
            }
        };
        self.reloader.store.set_watching();
        tracing::info!(dir = %dir.display(), "watching the configuration directory");
        let mut poll = tokio::time::interval(self.poll_every);
        poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = shutdown.changed() => break,
                Some(()) = rx.recv() => {
                    let since = Instant::now();
                    // Debounce: wait until the burst is quiet, but never longer than
                    // MAX_DEBOUNCE, so a file written continuously is still picked up.
                    let deadline = tokio::time::Instant::now() + MAX_DEBOUNCE;
                    while tokio::time::Instant::now() < deadline {
                        match tokio::time::timeout(self.debounce, rx.recv()).await {
                            Ok(Some(())) => continue,
                            _ => break,
                        }
                    }
                    self.reload(Trigger::FileEvent, since).await;
                }
                Some(()) = async { match hup.as_mut() { Some(h) => h.recv().await, None => std::future::pending().await } } => {
                    tracing::info!("SIGHUP: reloading");
                    self.reload(Trigger::Signal, Instant::now()).await;
                }
                _ = poll.tick() => self.reload(Trigger::Poll, Instant::now()).await,
                Some(()) = async { match usr1.as_mut() { Some(s) => s.recv().await, None => std::future::pending().await } } => {
                    tracing::info!("SIGUSR1: reopening access-log files");
                    crate::accesslog::request_reopen();
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;

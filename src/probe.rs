//! Beside the data flow: active health checks. A background service probes each target of
//! every backend version that has `health_check:` (`GET path`, HTTP/1.1, `Connection: close`)
//! at its interval, and marks it up (2xx or 3xx) or down (anything else, or no answer within
//! the interval). Requests skip targets that are down; see `snapshot::health`.

use crate::store::Store;
use async_trait::async_trait;
use pingora::server::ShutdownWatch;
use pingora::services::background::BackgroundService;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

pub struct ProbeService {
    pub store: Arc<Store>,
}

/// One probe: true for a 2xx or 3xx status line within `timeout`.
pub async fn probe(addr: SocketAddr, host: &str, path: &str, timeout: Duration) -> bool {
    let attempt = async {
        let mut s = tokio::net::TcpStream::connect(addr).await.ok()?;
        let req = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: stagecraft-health-check\r\nConnection: close\r\n\r\n");
        s.write_all(req.as_bytes()).await.ok()?;
        let mut buf = [0u8; 64];
        let mut n = 0;
        while n < 12 {
            let r = s.read(&mut buf[n..]).await.ok()?;
            if r == 0 {
                break;
            }
            n += r;
        }
        let line = std::str::from_utf8(&buf[..n]).ok()?;
        let code: u16 = line.strip_prefix("HTTP/1.")?.get(2..5)?.parse().ok()?;
        Some((200..400).contains(&code))
    };
    matches!(tokio::time::timeout(timeout, attempt).await, Ok(Some(true)))
}

#[async_trait]
impl BackgroundService for ProbeService {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        let mut due: HashMap<SocketAddr, Instant> = HashMap::new();
        let mut tick = tokio::time::interval(Duration::from_millis(50));
        loop {
            tokio::select! {
                _ = shutdown.changed() => return,
                _ = tick.tick() => {}
            }
            let snapshot = self.store.current();
            let now = Instant::now();
            for version in &snapshot.versions {
                let Some(check) = &version.health_check else {
                    continue;
                };
                for (i, health) in version.health().iter().enumerate() {
                    if due.get(&health.addr).is_some_and(|t| *t > now) {
                        continue;
                    }
                    due.insert(health.addr, now + check.interval);
                    let (health, host, path) = (
                        health.clone(),
                        version.host_header(i).clone(),
                        check.path.clone(),
                    );
                    let timeout = check.interval.min(Duration::from_secs(2));
                    tokio::spawn(async move {
                        let up = probe(health.addr, &host, &path, timeout).await;
                        health.set_healthy(up);
                    });
                }
            }
        }
    }
}

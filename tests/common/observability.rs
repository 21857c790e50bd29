//! The gateway of the shutdown and upgrade tests, shared by `tests/e2e/observability.rs` (binary
//! upgrade) and `tests/timing/observability.rs` (SIGTERM and SIGINT exit times).

use super::{Backend, ConfigDir, Deployment, Gateway, Stage};

/// A gateway on a catch-all stage `s` in front of `backend`, with extra gateway.yaml keys.
pub async fn shutdown_gateway(
    backend: &Backend,
    keys: &[(&str, serde_json::Value)],
) -> (ConfigDir, Gateway) {
    let dir = ConfigDir::new();
    for (k, v) in keys {
        dir.set_gateway_key(k, v.clone());
    }
    dir.put_deployment("shop-1", &Deployment::catch_all("shop", backend.addr()));
    dir.put_stage("s", &Stage::new("shop", "shop-1"));
    let gw = Gateway::start(&dir).await;
    (dir, gw)
}

//! Beside the data flow, reading the `store`: the admin listener (`admin:` in gateway.yaml):
//! `/healthz` and `/readyz` for orchestrators, `/config` for people, `/metrics` for Prometheus. It
//! reads the store like a request does and never touches the proxy's hot path.

use crate::store::Store;
use crate::timefmt;
use async_trait::async_trait;
use http::Response;
use pingora::apps::http_app::ServeHttp;
use pingora::protocols::http::ServerSession;
use std::sync::Arc;

pub struct AdminApp {
    store: Arc<Store>,
}

impl AdminApp {
    pub fn new(store: Arc<Store>) -> AdminApp {
        AdminApp { store }
    }
}

fn json(status: u16, body: String) -> Response<Vec<u8>> {
    let body = body.into_bytes();
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .header("content-length", body.len())
        .body(body)
        .unwrap_or_default()
}

/// `/config`: what is being served and whether the last reload failed.
fn config_json(store: &Store) -> String {
    let snap = store.current();
    let stage_json = |s: &crate::snapshot::Stage| {
        serde_json::json!({
            "name": &*s.name,
            "api": &*s.api,
            "base_path": &*s.base_path,
            "host": s.host.as_deref(),
            "deployment": &*s.primary.deployment_id,
            "variables": &*s.primary.variables,
            "canary": s.canary.as_ref().map(|c| serde_json::json!({
                "deployment": &*c.deployed.deployment_id,
                "percent": c.percent,
                "variables": &*c.deployed.variables,
            })),
        })
    };
    let (ok, failed) = store.reload_counts();
    serde_json::json!({
        "generation": snap.generation,
        "loaded_at": timefmt::rfc3339(snap.loaded_at),
        "hash": snap.hash,
        "reloads": { "success": ok, "failure": failed },
        "last_error": store.last_error().map(|e| serde_json::json!({
            "at": timefmt::rfc3339(e.at),
            "message": e.message,
        })),
        "warnings": snap.warnings.iter().map(ToString::to_string).collect::<Vec<_>>(),
        "stages": snap.stages.iter().map(stage_json).collect::<Vec<_>>(),
    })
    .to_string()
}

#[async_trait]
impl ServeHttp for AdminApp {
    async fn response(&self, session: &mut ServerSession) -> Response<Vec<u8>> {
        let path = session.req_header().uri.path().to_string();
        match path.as_str() {
            "/healthz" => json(200, r#"{"status":"ok"}"#.into()),
            "/readyz" => {
                let snap = self.store.current();
                if self.store.is_ready() {
                    json(
                        200,
                        format!(r#"{{"status":"ready","generation":{}}}"#, snap.generation),
                    )
                } else {
                    json(503, r#"{"status":"starting"}"#.into())
                }
            }
            "/config" => json(200, config_json(&self.store)),
            "/metrics" => {
                let body = crate::metrics::render();
                Response::builder()
                    .status(200)
                    .header("content-type", "text/plain; version=0.0.4")
                    .header("content-length", body.len())
                    .body(body)
                    .unwrap_or_default()
            }
            _ => json(404, r#"{"message":"Not Found"}"#.into()),
        }
    }
}

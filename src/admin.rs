//! Beside the data flow, reading the `store`: the admin listener (`admin:` in gateway.yaml):
//! `/healthz` and `/readyz` for orchestrators, `/config` for people, `/metrics` for Prometheus,
//! the JSON API under `/api/` (`api`) and the web console at `/` (`console`). It reads the store
//! like a request does, writes only through `release`, and never touches the proxy's hot path.

mod api;
mod auth;
mod console;
mod traffic;

use crate::store::Store;
use crate::timefmt;
use async_trait::async_trait;
use http::Response;
use pingora::apps::http_app::ServeHttp;
use pingora::protocols::http::ServerSession;
use std::path::PathBuf;
use std::sync::Arc;

pub use traffic::Traffic;

/// The largest request body the admin API reads (its writes take small JSON objects).
const MAX_BODY: usize = 64 * 1024;

pub struct AdminApp {
    store: Arc<Store>,
    api: api::Api,
}

impl AdminApp {
    /// `dir`: the configuration directory the API's writes go to, as `run --config` names it.
    pub fn new(store: Arc<Store>, dir: PathBuf, traffic: Traffic) -> AdminApp {
        AdminApp {
            api: api::Api::new(dir, store.clone(), traffic),
            store,
        }
    }

    async fn api(&self, session: &mut ServerSession, path: &str) -> Response<Vec<u8>> {
        let req = session.req_header();
        let method = req.method.clone();
        let query = req.uri.query().map(str::to_string);
        let token = auth::bearer(
            req.headers
                .get(http::header::AUTHORIZATION)
                .map(|h| h.as_bytes()),
        )
        .map(str::to_string);
        let mut body = Vec::new();
        loop {
            match session.read_request_body().await {
                Ok(Some(chunk)) => {
                    if body.len() + chunk.len() > MAX_BODY {
                        return json(
                            413,
                            r#"{"message":"the request body is larger than 64 KiB"}"#.into(),
                        );
                    }
                    body.extend_from_slice(&chunk);
                }
                Ok(None) => break,
                Err(e) => {
                    return json(
                        400,
                        serde_json::json!({ "message": format!("reading the request body: {e}") })
                            .to_string(),
                    )
                }
            }
        }
        let answer = self
            .api
            .answer(api::Call {
                method,
                path: path.to_string(),
                query,
                token,
                body,
            })
            .await;
        json(answer.status, answer.body.to_string())
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

/// What is served and how the reloads went: what `/config` and `/api/status` share. The stages
/// are listed under `stages_key`, each named under `name_key` (`/config` says `stages` and
/// `name`, the API `serving` and `stage`).
fn served(
    store: &Store,
    stages_key: &str,
    name_key: &str,
) -> serde_json::Map<String, serde_json::Value> {
    let snap = store.current();
    let stage_json = |s: &crate::snapshot::Stage| {
        serde_json::json!({
            name_key: &*s.name,
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
    let mut out = serde_json::Map::new();
    out.insert("generation".into(), snap.generation.into());
    out.insert("loaded_at".into(), timefmt::rfc3339(snap.loaded_at).into());
    out.insert("hash".into(), snap.hash.clone().into());
    out.insert(
        "reloads".into(),
        serde_json::json!({ "success": ok, "failure": failed }),
    );
    out.insert(
        "last_error".into(),
        serde_json::json!(store.last_error().map(|e| serde_json::json!({
            "at": timefmt::rfc3339(e.at),
            "message": e.message,
        }))),
    );
    out.insert(
        "warnings".into(),
        serde_json::json!(snap
            .warnings
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()),
    );
    out.insert(
        stages_key.into(),
        snap.stages.iter().map(stage_json).collect(),
    );
    out
}

/// `/config`: what is being served and whether the last reload failed.
fn config_json(store: &Store) -> String {
    serde_json::Value::Object(served(store, "stages", "name")).to_string()
}

#[async_trait]
impl ServeHttp for AdminApp {
    async fn response(&self, session: &mut ServerSession) -> Response<Vec<u8>> {
        let path = session.req_header().uri.path().to_string();
        if let Some(rest) = path.strip_prefix("/api/") {
            return self.api(session, rest).await;
        }
        if let Some(asset) = console::asset(&path) {
            return asset;
        }
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

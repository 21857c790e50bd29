//! The admin listener (`admin:` in gateway.yaml): `/healthz` and `/readyz` for orchestrators.
//! It reads the store like a request does and never touches the proxy's hot path.

use crate::store::Store;
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
            _ => json(404, r#"{"message":"Not Found"}"#.into()),
        }
    }
}

//! The reload tests' fixture, file writes and `/config` reading, shared by the reload tests of
//! `tests/e2e/reload.rs` and the timed ones of `tests/timing/reload.rs`.

use std::time::Duration;

use super::{backend_at, Backend, ConfigDir, Deployment, Gateway, Stage};

/// Failure bound for waits that are not the thing measured.
pub const WAIT: Duration = Duration::from_secs(10);

/// Backends A and B, deployments d-a / d-b sending everything to them, stage `s` on d-a.
pub struct Fixture {
    pub a: Backend,
    pub b: Backend,
    pub dir: ConfigDir,
    pub gw: Gateway,
}

pub async fn fixture(dir: ConfigDir) -> Fixture {
    let a = Backend::start("A").await;
    let b = Backend::start("B").await;
    dir.put_deployment("d-a", &Deployment::catch_all("shop", a.addr()));
    dir.put_deployment("d-b", &Deployment::catch_all("shop", b.addr()));
    dir.put_stage("s", &Stage::new("shop", "d-a"));
    let gw = Gateway::start(&dir).await;
    assert_eq!(backend_at(gw.addr(), "/s/who").await.as_deref(), Some("A"));
    Fixture { a, b, dir, gw }
}

pub fn stage_on(deployment: &str) -> String {
    Stage::new("shop", deployment).yaml()
}

#[derive(Clone, Copy, Debug)]
pub enum How {
    InPlace,
    Rename,
    Recreate,
}

pub fn write(dir: &ConfigDir, how: How, rel: &str, content: &str) {
    match how {
        How::InPlace => dir.write(rel, content),
        How::Rename => dir.write_renamed(rel, content),
        How::Recreate => dir.recreate(rel, content),
    }
}

/// What /config says about the last reload error.
pub enum LastError {
    /// /config answers 404: not implemented (yet).
    NoEndpoint,
    /// /config answers, `last_error` is null or missing.
    None,
    /// `last_error` as JSON text.
    Some(String),
}

pub async fn last_error(gw: &Gateway) -> LastError {
    let Some(r) = gw.admin_get("/config").await else {
        return LastError::None;
    };
    if r.status == 404 {
        return LastError::NoEndpoint;
    }
    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap_or_default();
    match v.get("last_error") {
        Some(e) if !e.is_null() => LastError::Some(e.to_string()),
        _ => LastError::None,
    }
}

//! Beside the data flow: Prometheus metrics in the process's default registry (the one
//! pingora-prometheus serves too), rendered at the admin listener's `/metrics`. Handles are
//! created once; the request path never looks a metric up by name.

use prometheus::{Encoder, IntCounterVec, IntGauge, Opts, TextEncoder};
use std::sync::LazyLock;

struct ConfigMetrics {
    reloads: IntCounterVec,
    generation: IntGauge,
}

fn register<C: prometheus::core::Collector + Clone + 'static>(c: C) -> C {
    // Registering twice (e.g. two gateways in one test process) is not an error worth failing for.
    let _ = prometheus::register(Box::new(c.clone()));
    c
}

static CONFIG: LazyLock<Option<ConfigMetrics>> = LazyLock::new(|| {
    let reloads = IntCounterVec::new(
        Opts::new(
            "stagecraft_config_reloads_total",
            "Configuration reloads, by result",
        ),
        &["result"],
    )
    .ok()?;
    let generation = IntGauge::new(
        "stagecraft_config_generation",
        "Generation of the configuration snapshot being served",
    )
    .ok()?;
    // Both results exist from the start, so a rate() over them never lacks a series.
    reloads.with_label_values(&["success"]);
    reloads.with_label_values(&["failure"]);
    Some(ConfigMetrics {
        reloads: register(reloads),
        generation: register(generation),
    })
});

pub fn config_loaded(generation: u64) {
    if let Some(m) = CONFIG.as_ref() {
        m.generation.set(generation as i64);
    }
}

pub fn config_reloaded(generation: u64) {
    if let Some(m) = CONFIG.as_ref() {
        m.reloads.with_label_values(&["success"]).inc();
        m.generation.set(generation as i64);
    }
}

pub fn config_reload_failed() {
    if let Some(m) = CONFIG.as_ref() {
        m.reloads.with_label_values(&["failure"]).inc();
    }
}

/// The text exposition of every registered metric.
pub fn render() -> Vec<u8> {
    LazyLock::force(&CONFIG);
    let mut out = Vec::new();
    if let Err(e) = TextEncoder::new().encode(&prometheus::gather(), &mut out) {
        tracing::warn!("encoding metrics: {e}");
    }
    out
}

//! The end-to-end tests: one test binary, a module per topic, all sharing the harness in
//! `tests/common/` (see its docs). Each test starts its own `stagecraft` process on ephemeral
//! ports against its own backends and files, so the tests of every module run in parallel.
//! Tests that assert how long something takes are in `tests/timing/`, which runs them one at a
//! time.
//!
//! Run one topic with `cargo test --test e2e reload::`, one test by its name.
#![allow(clippy::unwrap_used)]

#[path = "../common/mod.rs"]
mod common;

mod admin_api;
mod authorizers;
mod conformance;
mod console;
mod framing;
mod hardening;
mod lambda;
mod method_request;
mod observability;
mod openapi;
mod pingora_patches;
mod pipeline;
mod release;
mod reload;
mod routing;
mod streaming;
mod templates;
mod tls;
mod usage_plans;
mod usage_redis;
mod validate;
mod validate_messages;
mod weights;

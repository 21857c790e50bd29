//! stagecraft: an API gateway data plane with the AWS API Gateway deployment model, on pingora.
//!
//! Data flow: `config` (files -> serde model with every string parsed once into typed values,
//! cross-checked) -> `snapshot` (compiled, immutable; the only step that reads the files the
//! configuration names and resolves DNS) -> `store` (one ArcSwap) -> `proxy` (thin pingora
//! phases). `snapshot::load` is the one pipeline from a directory to a snapshot; `reload` runs
//! it when the directory changes and owns the state carried from one snapshot to the next
//! (`snapshot::Carried`); `release` (beside the flow) writes the files `config` reads: the
//! deployment lifecycle behind `stagecraft deploy`, `rollback`, `canary` and `promote`;
//! `openapi` (beside the flow too) reads AWS definitions for `stagecraft import`;
//! `shutdown` ends the process gracefully; `cli` and `app` wire it together. See
//! ARCHITECTURE.md.
//!
//! Dependencies point one way: `config` and `template` use no other module; `snapshot` uses
//! `config`, `template` (and `tls`, `accesslog`, `metrics` beside the flow); `store` uses
//! `snapshot`; `proxy` uses those before it, never the other way round.

pub mod accesslog;
pub mod admin;
pub mod app;
pub mod cli;
pub mod config;
pub mod idle;
pub mod metrics;
pub mod openapi;
pub mod probe;
pub mod proxy;
pub mod release;
pub mod reload;
pub mod shutdown;
pub mod snapshot;
pub mod store;
pub mod template;
pub mod timefmt;
pub mod tls;
pub mod usage;

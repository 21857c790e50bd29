//! stagecraft: an API gateway data plane with the AWS API Gateway deployment model, on pingora.
//!
//! Data flow: `config` (files -> serde model, validated) -> `snapshot` (compiled, immutable)
//! -> `store` (one ArcSwap) -> `proxy` (thin pingora phases). `reload` rebuilds snapshots when
//! the directory changes; `deploy` (beside the flow) writes the files `config` reads: the
//! deployment lifecycle; `cli` and `app` wire it together.

pub mod accesslog;
pub mod admin;
pub mod app;
pub mod cli;
pub mod config;
pub mod deploy;
pub mod lifecycle;
pub mod metrics;
pub mod probe;
pub mod proxy;
pub mod reload;
pub mod snapshot;
pub mod store;
pub mod template;
pub mod timefmt;
pub mod tls;

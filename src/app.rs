//! Wiring: the first snapshot, the store, and the pingora server with its services (proxy
//! listeners, admin listener, configuration watcher). Only this module, `proxy`, `admin` and
//! `reload` touch pingora.

use crate::admin::AdminApp;
use crate::proxy::Gateway;
use crate::reload::{self, WatchService};
use crate::store::Store;
use pingora::apps::http_app::HttpServer;
use pingora::prelude::*;
use pingora::server::configuration::ServerConf;
use pingora::services::listening::Service;
use std::path::PathBuf;
use std::sync::Arc;

/// Loads `dir`, then serves until the process is told to stop. An invalid configuration at start
/// is an error (as with nginx): there is no last good one to fall back on.
pub fn run(dir: PathBuf) -> Result<(), crate::config::Problems> {
    let snap = reload::build(&dir, 1)?;
    for w in &snap.warnings {
        tracing::warn!("{w}");
    }
    let settings = snap.server.clone();
    tracing::info!(stages = snap.stages.len(), hash = %snap.hash, "configuration loaded");
    crate::metrics::config_loaded(snap.generation);
    let store = Arc::new(Store::new(snap));

    let conf = ServerConf {
        threads: settings.threads,
        // Reloads never need a restart; these only shape SIGTERM and binary upgrades.
        grace_period_seconds: Some(0),
        graceful_shutdown_timeout_seconds: Some(5),
        ..ServerConf::default()
    };
    let mut server = Server::new_with_opt_and_conf(None, conf);
    server.bootstrap();

    let mut proxy = http_proxy_service(&server.configuration, Gateway::new(store.clone()));
    for addr in &settings.listen {
        proxy.add_tcp(&addr.to_string());
    }
    server.add_service(proxy);

    if let Some(admin) = settings.admin {
        let mut svc = Service::new(
            "stagecraft admin".to_string(),
            HttpServer::new_app(AdminApp::new(store.clone())),
        );
        svc.add_tcp(&admin.to_string());
        server.add_service(svc);
    }
    server.add_service(background_service(
        "config watcher",
        WatchService::new(dir, store),
    ));
    server.run_forever()
}

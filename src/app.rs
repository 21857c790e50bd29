//! Beside the data flow, assembling it: the state carried across reloads, the first load
//! (`snapshot::load`), the store, the reloader that owns that state from then on, and the pingora
//! server with its services (proxy listeners, admin listener, configuration watcher). Only this
//! module, `proxy`, `admin` and `reload` touch pingora.

use crate::admin::AdminApp;
use crate::config::Scope;
use crate::probe::ProbeService;
use crate::proxy::Gateway;
use crate::reload::{Reloader, WatchService};
use crate::shutdown::{DrainService, InFlight, Lingering};
use crate::snapshot::Carried;
use crate::store::Store;
use pingora::apps::http_app::HttpServer;
use pingora::listeners::{L4BufferSettings, ListenerConfig};
use pingora::prelude::*;
use pingora::proxy::HttpProxy;
use pingora::server::configuration::ServerConf;
use pingora::services::listening::Service;
use std::path::PathBuf;
use std::sync::Arc;

/// Loads `dir`, then serves until the process is told to stop. An invalid configuration at start
/// is an error (as with nginx): there is no last good one to fall back on.
/// `upgrade`: take the listening sockets over from a running stagecraft (pingora's `-u`), which
/// then gets SIGQUIT.
pub fn run(dir: PathBuf, upgrade: bool) -> Result<(), crate::config::Problems> {
    // Created once: every reload compiles with it, so buckets and target health outlive
    // snapshots (the reloader owns it from here on).
    let carried = Carried::default();
    let snap = crate::snapshot::load::load(&dir, Scope::Served, &carried, 1)?.snapshot;
    for w in &snap.warnings {
        tracing::warn!("{w}");
    }
    let settings = snap.server.clone();
    let usage = Arc::new(crate::usage::Store::new(&settings.usage));
    let persister = Arc::new(crate::usage::persist::Persister::new(
        carried.usage.clone(),
        &settings.usage.state_dir,
    ));
    match persister.restore() {
        Ok(0) => {}
        Ok(n) => {
            tracing::info!(counters = n, file = %persister.path().display(), "usage counters restored")
        }
        Err(e) => tracing::error!("cannot read the saved usage counters ({e}); counting from zero"),
    }
    tracing::info!(stages = snap.stages.len(), hash = %snap.hash, "configuration loaded");
    crate::metrics::config_loaded(snap.generation);
    let store = Arc::new(Store::new(snap));

    // Reloads never need a restart; these only shape SIGTERM and binary upgrades. The grace
    // period is the longest a shutdown waits for requests in flight (DrainService exits sooner).
    let conf = ServerConf {
        threads: settings.threads.unwrap_or_else(default_threads),
        grace_period_seconds: Some(settings.shutdown_grace_seconds),
        graceful_shutdown_timeout_seconds: Some(1),
        upgrade_sock: settings.upgrade_sock.clone(),
        ..ServerConf::default()
    };
    let opt = Opt {
        upgrade,
        ..Opt::default()
    };
    let mut server = Server::new_with_opt_and_conf(opt, conf);
    server.bootstrap();

    let inflight = InFlight::default();
    let mut app = HttpProxy::new(
        Gateway::new(store.clone(), inflight.clone(), usage.clone()),
        server.configuration.clone(),
    );
    app.handle_init_modules();
    let mut proxy = Service::new("stagecraft proxy".to_string(), Lingering::new(app));
    let mut certs = Vec::new();
    for l in &settings.listen {
        let addr = l.addr.to_string();
        let Some(tls) = &l.tls else {
            // No read buffer under the HTTP parser: pingora's default is 64 KiB per connection,
            // allocated up front, which made an idle keep-alive connection cost ~100 KB; the
            // parser reads into its own header buffer anyway (benches/README.md). TLS listeners
            // keep it: rustls reads in small records.
            proxy.add_listener(
                ListenerConfig::tcp(addr.clone()).l4_buffer(L4BufferSettings::default().read(0)),
            );
            continue;
        };
        // Compiling the first snapshot read and checked the certificate; it is served from here
        // on and follows its files (CertWatchService).
        let cert = tls.loaded.clone();
        let tls_settings = crate::tls::listener_settings(cert.clone()).map_err(|e| {
            crate::config::Problems(vec![crate::config::Problem::error(
                crate::config::GATEWAY_FILE,
                None,
                format!("TLS listener {addr}: {e}"),
            )])
        })?;
        proxy.add_tls_with_settings(&addr, None, tls_settings);
        certs.push(cert);
    }
    server.add_service(proxy);
    if !certs.is_empty() {
        server.add_service(background_service(
            "certificate watcher",
            crate::tls::CertWatchService::new(certs),
        ));
    }

    if let Some(admin) = settings.admin {
        let mut svc = Service::new(
            "stagecraft admin".to_string(),
            HttpServer::new_app(AdminApp::new(
                store.clone(),
                dir.clone(),
                crate::admin::Traffic::start(),
            )),
        );
        svc.add_tcp(&admin.to_string());
        server.add_service(svc);
    }
    server.add_service(background_service(
        "config watcher",
        WatchService::new(Reloader::new(dir, store.clone(), carried)),
    ));
    server.add_service(background_service(
        "health checks",
        ProbeService {
            store: store.clone(),
        },
    ));
    server.add_service(background_service(
        "usage store",
        crate::usage::service::UsageService {
            store: usage,
            persister: persister.clone(),
        },
    ));
    server.add_service(background_service(
        "graceful shutdown",
        DrainService {
            inflight,
            store,
            usage: persister,
        },
    ));
    server.run_forever()
}

/// One proxy thread per core the process may use (`available_parallelism` follows the cgroup's
/// CPU quota, so a container limited to 2 CPUs gets 2): the proxy is CPU-bound, fewer threads
/// leave cores idle and more only add context switches.
fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}

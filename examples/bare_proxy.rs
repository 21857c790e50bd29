//! The floor the gateway is measured against: pingora 0.9 with nothing on top.
//!
//! ```text
//! cargo build --release --manifest-path benches/bare/Cargo.toml --target-dir target/bare
//! target/bare/release/bare_proxy --listen 127.0.0.1:18094 --upstream 127.0.0.1:18081
//! ```
//!
//! `benches/bare` builds it on pingora as released, without the repository's patch series (what
//! `benches/load.sh` measures: the patches then count in the gateway's favour); as an example of
//! this crate (`cargo build --release --example bare_proxy`) it is built on the patched pingora.
//!
//! One listener, one fixed upstream, default pingora settings but for the thread count (1, as
//! the gateway runs in the benchmark), no routing, metrics or logs. It is built in the same
//! release profile and with the same allocator as the gateway, so the difference between the
//! two in `benches/load.sh` is the gateway's own work per request.
//!
//! `--add` switches on, one by one, pieces of pingora work the gateway asks for on every request,
//! to attribute the gateway's overhead (benches/README.md): `timeouts` (read, write and connect
//! timeouts on the upstream peer), `keepalive` (a downstream keep-alive timeout), `headers` (the
//! forwarding headers and the response's `x-request-id`), `unbuffered` (the listener reads without
//! pingora's 64 KiB per-connection buffer, as the gateway's plain listeners do). Without `--add` it
//! is plain pingora.

use async_trait::async_trait;
use pingora::listeners::{L4BufferSettings, ListenerConfig};
use pingora::prelude::*;
use pingora::server::configuration::ServerConf;
use std::time::Duration;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const USAGE: &str = "usage: bare_proxy --listen HOST:PORT --upstream HOST:PORT [--threads N] \
                     [--work-stealing false] [--add timeouts,keepalive,headers,unbuffered]";

#[derive(Default)]
struct Add {
    timeouts: bool,
    keepalive: bool,
    headers: bool,
    unbuffered: bool,
}

struct Bare {
    upstream: String,
    add: Add,
}

#[async_trait]
impl ProxyHttp for Bare {
    type CTX = ();
    fn new_ctx(&self) -> Self::CTX {}

    async fn request_filter(&self, session: &mut Session, _ctx: &mut ()) -> Result<bool> {
        if self.add.keepalive {
            session.set_keepalive(Some(60));
        }
        Ok(false)
    }

    async fn upstream_peer(&self, _session: &mut Session, _ctx: &mut ()) -> Result<Box<HttpPeer>> {
        let mut peer = HttpPeer::new(self.upstream.as_str(), false, String::new());
        if self.add.timeouts {
            let t = Duration::from_secs(29);
            peer.options.connection_timeout = Some(Duration::from_secs(10));
            peer.options.read_timeout = Some(t);
            peer.options.write_timeout = Some(t);
        }
        Ok(Box::new(peer))
    }

    async fn upstream_request_filter(
        &self,
        _session: &mut Session,
        upstream: &mut RequestHeader,
        _ctx: &mut (),
    ) -> Result<()> {
        if self.add.headers {
            upstream.insert_header("host", "127.0.0.1:18081")?;
            upstream.insert_header("x-forwarded-host", "127.0.0.1:18090")?;
            upstream.insert_header("x-forwarded-proto", "http")?;
            upstream.insert_header("x-forwarded-for", "127.0.0.1")?;
            upstream.insert_header("x-request-id", "0b5c9a3e-8a55-4f7e-9d51-0e3c2f1a7b44")?;
        }
        Ok(())
    }

    async fn response_filter(
        &self,
        _session: &mut Session,
        response: &mut ResponseHeader,
        _ctx: &mut (),
    ) -> Result<()> {
        if self.add.headers {
            response.insert_header("x-request-id", "0b5c9a3e-8a55-4f7e-9d51-0e3c2f1a7b44")?;
        }
        Ok(())
    }
}

fn main() {
    let mut listen = None;
    let mut upstream = None;
    let mut threads = 1usize;
    let mut work_stealing = true;
    let mut add = Add::default();
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next();
        match (flag.as_str(), value) {
            ("--listen", Some(v)) => listen = Some(v),
            ("--upstream", Some(v)) => upstream = Some(v),
            ("--threads", Some(v)) => threads = v.parse().unwrap_or(1),
            ("--work-stealing", Some(v)) => work_stealing = v != "false",
            ("--add", Some(v)) => {
                for piece in v.split(',') {
                    match piece {
                        "timeouts" => add.timeouts = true,
                        "keepalive" => add.keepalive = true,
                        "headers" => add.headers = true,
                        "unbuffered" => add.unbuffered = true,
                        _ => {
                            eprintln!("unknown --add piece {piece:?}\n{USAGE}");
                            std::process::exit(2);
                        }
                    }
                }
            }
            _ => {
                eprintln!("{USAGE}");
                std::process::exit(2);
            }
        }
    }
    let (Some(listen), Some(upstream)) = (listen, upstream) else {
        eprintln!("{USAGE}");
        std::process::exit(2);
    };
    let conf = ServerConf {
        threads,
        work_stealing,
        ..ServerConf::default()
    };
    let mut server = Server::new_with_opt_and_conf(None, conf);
    server.bootstrap();
    let unbuffered = add.unbuffered;
    let mut proxy = http_proxy_service(&server.configuration, Bare { upstream, add });
    if unbuffered {
        proxy.add_listener(
            ListenerConfig::tcp(listen).l4_buffer(L4BufferSettings::default().read(0)),
        );
    } else {
        proxy.add_tcp(&listen);
    }
    server.add_service(proxy);
    server.run_forever();
}

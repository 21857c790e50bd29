//! Hot reload: a rejected change is reported, in-flight requests and keep-alive connections
//! survive reloads. How fast each kind of change is served, and that an invalid change keeps
//! the old snapshot, are measured in `tests/timing/reload.rs`.

use crate::common;

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::reload::{fixture, last_error, stage_on, write, How, LastError, WAIT};
use common::{backend_at, eventually, read_reply, served_by, within, Client, ConfigDir, Gateway};
use http::Method;

/// Sum of `stagecraft_config_reloads_total{...result="failure"...}` in /metrics.
async fn failed_reloads(gw: &Gateway) -> f64 {
    let Some(m) = gw.admin_get("/metrics").await else {
        return 0.0;
    };
    m.text()
        .lines()
        .filter(|l| {
            l.starts_with("stagecraft_config_reloads_total{") && l.contains("result=\"failure\"")
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// The admin side of a rejected reload (README: "Hot reload" and "Admin endpoints"): /config shows the
/// error with its file, and /metrics counts a failed reload.
#[tokio::test]
async fn rejected_reload_is_reported_at_config_and_in_metrics() {
    let fx = fixture(ConfigDir::new()).await;
    let r = fx.gw.admin_get("/config").await.expect("/config reachable");
    assert_eq!(r.status, 200, "/config: {}", r.text());
    let config = r.json();
    assert!(
        config.get("generation").is_some(),
        "/config without generation: {config}"
    );
    assert!(
        config.get("last_error").is_none_or(|e| e.is_null()),
        "last_error before any error: {config}"
    );

    fx.dir
        .write_renamed(&ConfigDir::stage_file("s"), &stage_on("d-missing"));
    let gw = &fx.gw;
    eventually("/config last_error naming stages/s.yaml", WAIT, || async move {
        matches!(last_error(gw).await, LastError::Some(e) if e.contains("s.yaml"))
    })
    .await;
    assert!(
        failed_reloads(gw).await >= 1.0,
        "no failed reload counted in /metrics"
    );
    assert_eq!(
        backend_at(fx.gw.addr(), "/s/who").await.as_deref(),
        Some("A")
    );
}

#[tokio::test]
async fn request_in_flight_finishes_on_its_snapshot() {
    let fx = fixture(ConfigDir::new()).await;
    let addr = fx.gw.addr();

    let mut c = Client::connect(addr).await;
    let req = c.build(Method::GET, "/s/slow", &[], common::full(""));
    let pending = tokio::spawn(c.send(req).await.unwrap());
    assert_eq!(fx.a.wait_held().await, "/slow", "held request at A");

    fx.dir
        .write_renamed(&ConfigDir::stage_file("s"), &stage_on("d-b"));
    served_by(addr, "/s/who", "B", "reload while a request is in flight").await;

    fx.a.release();
    let resp = within("the held response", pending).await.unwrap().unwrap();
    let r = read_reply(resp).await.unwrap();
    assert_eq!(r.status, 200, "in-flight request: {}", r.text());
    assert_eq!(
        r.backend(),
        Some("A"),
        "in-flight request left its snapshot"
    );
    assert_eq!(r.seen("path"), "/slow");

    // The same keep-alive connection sees the new snapshot on its next request.
    let r = c
        .get("/s/who")
        .await
        .expect("next request on the same connection");
    assert_eq!(r.backend(), Some("B"));
    assert!(!c.is_closed(), "the connection was closed");
    assert!(fx.b.requests() > 0);
}

/// Harness self-check: `Client::is_closed` does notice a connection the server closed,
/// so the keep-alive test below can trust it.
#[tokio::test]
async fn harness_client_notices_a_closed_connection() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let accept = tokio::spawn(async move { listener.accept().await.map(|(s, _)| drop(s)) });
    let c = Client::connect(addr).await;
    within("server side to close", accept)
        .await
        .unwrap()
        .unwrap();
    eventually("the client to see the close", WAIT, || async {
        c.is_closed()
    })
    .await;
}

/// 8 keep-alive clients (one connection each) request in a loop while the stage flips
/// between A and B 50 times (alternately written in place and by rename; each change is
/// waited for until served). Zero failures, zero closed connections, every answer a 200,
/// and every client saw both backends on its one connection.
#[tokio::test]
async fn keep_alive_clients_survive_fifty_reloads() {
    let fx = fixture(ConfigDir::new()).await;
    let addr = fx.gw.addr();
    let stop = Arc::new(AtomicBool::new(false));

    let mut clients = Vec::new();
    for id in 0..8 {
        let stop = stop.clone();
        let mut c = Client::connect(addr).await;
        clients.push(tokio::spawn(async move {
            let mut ok = 0usize;
            let mut failures: Vec<String> = Vec::new();
            let mut seen: BTreeSet<String> = BTreeSet::new();
            while !stop.load(Ordering::SeqCst) {
                match c.get("/s/who").await {
                    Ok(r) if r.status == 200 && matches!(r.backend(), Some("A" | "B")) => {
                        ok += 1;
                        seen.insert(r.backend().unwrap().to_string());
                    }
                    Ok(r) => failures.push(format!(
                        "client {id}: status {} body {}",
                        r.status,
                        r.text()
                    )),
                    Err(e) => {
                        failures.push(format!("client {id}: request failed after {ok} ok: {e}"));
                        break;
                    }
                }
                // Pacing, not synchronisation: leave CPU to the gateway's reloads.
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            (ok, failures, seen, c.is_closed())
        }));
    }

    let mut slowest = Duration::ZERO;
    for i in 0..50 {
        let (dep, backend) = if i % 2 == 0 {
            ("d-b", "B")
        } else {
            ("d-a", "A")
        };
        let how = if i % 4 < 2 { How::Rename } else { How::InPlace };
        write(&fx.dir, how, &ConfigDir::stage_file("s"), &stage_on(dep));
        let took = eventually(&format!("reload #{i} to {backend}"), WAIT, || async move {
            backend_at(addr, "/s/who").await.as_deref() == Some(backend)
        })
        .await;
        slowest = slowest.max(took);
    }
    println!(
        "50 reloads, slowest served after {} ms",
        slowest.as_millis()
    );
    stop.store(true, Ordering::SeqCst);

    let mut all_failures = Vec::new();
    for (id, t) in clients.into_iter().enumerate() {
        let (ok, failures, seen, closed) = within("client loop to stop", t).await.unwrap();
        println!("client {id}: {ok} ok, backends {seen:?}, closed {closed}");
        all_failures.extend(failures);
        assert!(
            !closed,
            "client {id}'s connection was closed during reloads"
        );
        assert!(ok > 0, "client {id} made no request");
        assert_eq!(
            seen.len(),
            2,
            "client {id} saw only {seen:?} on its connection"
        );
    }
    assert!(
        all_failures.is_empty(),
        "failed requests during reloads: {all_failures:#?}"
    );
    assert!(fx.gw.is_running());
}

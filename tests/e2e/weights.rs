//! Traffic splitting: alias weights over versions, and round-robin over a version's targets.

use crate::common;

use std::collections::BTreeMap;
use std::net::SocketAddr;

use common::{Backend, BackendSpec, Client, ConfigDir, Deployment, Gateway, Stage};

/// A gateway whose stage `s` sends `/s/...` to `backend://svc:TARGET/...`.
async fn gateway(backends: BackendSpec, target: &str) -> (ConfigDir, Gateway) {
    let dir = ConfigDir::new();
    dir.set_backends(&[backends]);
    dir.put_deployment(
        "shop-1",
        &Deployment::new("shop").proxy("ANY /{p+}", &format!("backend://svc:{target}/{{p}}")),
    );
    dir.put_stage("s", &Stage::new("shop", "shop-1"));
    let gw = Gateway::start(&dir).await;
    (dir, gw)
}

/// Sends `per_client` sequential GETs on each of `clients` keep-alive connections at once;
/// counts answers by the `x-backend` header. Every answer must be a 200.
async fn count_backends(
    addr: SocketAddr,
    clients: usize,
    per_client: usize,
) -> BTreeMap<String, usize> {
    let mut tasks = Vec::new();
    for _ in 0..clients {
        tasks.push(tokio::spawn(async move {
            let mut c = Client::connect(addr).await;
            let mut seen: BTreeMap<String, usize> = BTreeMap::new();
            for i in 0..per_client {
                let r = c
                    .get("/s/w")
                    .await
                    .unwrap_or_else(|e| panic!("request {i}: {e}"));
                assert_eq!(r.status, 200, "request {i}: {}", r.text());
                let name = r.backend().expect("x-backend header").to_string();
                *seen.entry(name).or_default() += 1;
            }
            seen
        }));
    }
    let mut total: BTreeMap<String, usize> = BTreeMap::new();
    for t in tasks {
        for (k, v) in t.await.unwrap() {
            *total.entry(k).or_default() += v;
        }
    }
    total
}

/// 2,000 requests, alias {v1: 70, v2: 30}: v2's share is 30% within 4 points. The standard
/// deviation of the share is about 1 point, so a correct gateway fails this about once in
/// ten thousand runs.
#[tokio::test]
async fn alias_weights_split_traffic_70_30() {
    let v1 = Backend::start("v1").await;
    let v2 = Backend::start("v2").await;
    let spec = BackendSpec::new("svc")
        .version("v1", [v1.addr()])
        .version("v2", [v2.addr()])
        .alias("live", [("v1", 70), ("v2", 30)]);
    let (_dir, gw) = gateway(spec, "live").await;

    let counts = count_backends(gw.addr(), 4, 500).await;
    let n1 = counts.get("v1").copied().unwrap_or(0);
    let n2 = counts.get("v2").copied().unwrap_or(0);
    assert_eq!(n1 + n2, 2000, "answers by backend: {counts:?}");
    let share = n2 as f64 / 2000.0;
    println!("v1 {n1}, v2 {n2}: v2 share {:.1}%", share * 100.0);
    assert!(
        (share - 0.30).abs() <= 0.04,
        "v2 got {:.1}% of 2000 requests, expected 30% +- 4",
        share * 100.0
    );
}

#[tokio::test]
async fn version_with_weight_zero_gets_no_requests() {
    let v1 = Backend::start("v1").await;
    let v2 = Backend::start("v2").await;
    let v3 = Backend::start("v3").await;
    let spec = BackendSpec::new("svc")
        .version("v1", [v1.addr()])
        .version("v2", [v2.addr()])
        .version("v3", [v3.addr()])
        .alias("live", [("v1", 50), ("v2", 0), ("v3", 50)]);
    let (_dir, gw) = gateway(spec, "live").await;

    let counts = count_backends(gw.addr(), 3, 200).await;
    println!("answers by backend: {counts:?}");
    assert_eq!(
        counts.get("v2"),
        None,
        "weight-0 version answered: {counts:?}"
    );
    assert_eq!(v2.requests(), 0, "weight-0 version received requests");
    assert!(
        counts.get("v1").copied().unwrap_or(0) > 0,
        "v1 never picked: {counts:?}"
    );
    assert!(
        counts.get("v3").copied().unwrap_or(0) > 0,
        "v3 never picked: {counts:?}"
    );
}

/// 200 sequential requests (one connection) to a version with two targets: round-robin
/// gives each target half; we allow a difference of at most 2 (exactly 100/100 expected).
async fn round_robin_via(target: &str) {
    let a = Backend::start("a").await;
    let b = Backend::start("b").await;
    let spec = BackendSpec::new("svc")
        .version("v1", [a.addr(), b.addr()])
        .alias("live", [("v1", 100)]);
    let (_dir, gw) = gateway(spec, target).await;

    let counts = count_backends(gw.addr(), 1, 200).await;
    let na = counts.get("a").copied().unwrap_or(0);
    let nb = counts.get("b").copied().unwrap_or(0);
    println!("via {target}: a {na}, b {nb}");
    assert_eq!(na + nb, 200, "answers by backend: {counts:?}");
    assert!(
        na.abs_diff(nb) <= 2,
        "round-robin split a {na} / b {nb}, expected 100 / 100 (+-1)"
    );
}

#[tokio::test]
async fn round_robin_inside_a_version_named_directly() {
    round_robin_via("v1").await;
}

#[tokio::test]
async fn round_robin_inside_a_version_picked_by_alias() {
    round_robin_via("live").await;
}

/// A sticky alias (`sticky: "header:x-user"` on the backend): every request with the same
/// `x-user` reaches the same version, distinct users split near the weights, and a request
/// without the header still gets an answer (by chance).
#[tokio::test]
async fn sticky_alias_keeps_a_client_on_one_version() {
    let v1 = Backend::start("v1").await;
    let v2 = Backend::start("v2").await;
    let spec = BackendSpec::new("svc")
        .version("v1", [v1.addr()])
        .version("v2", [v2.addr()])
        .alias("live", [("v1", 50), ("v2", 50)])
        .sticky("header:x-user");
    let (_dir, gw) = gateway(spec, "live").await;

    let mut c = Client::connect(gw.addr()).await;
    let mut on_v2 = 0;
    let users = 200;
    for u in 0..users {
        let user = format!("user-{u}");
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..3 {
            let r = c
                .request(hyper::Method::GET, "/s/w", &[("x-user", &user)], "")
                .await
                .unwrap();
            assert_eq!(r.status, 200, "{}", r.text());
            seen.insert(r.backend().expect("x-backend").to_string());
        }
        assert_eq!(seen.len(), 1, "{user} was split across {seen:?}");
        if seen.contains("v2") {
            on_v2 += 1;
        }
    }
    // 200 users at 50%: the share's standard deviation is 3.5 points; 15 points is over 4 sigma.
    let share = on_v2 as f64 / users as f64;
    assert!(
        (0.35..=0.65).contains(&share),
        "v2 got {:.0}% of users",
        share * 100.0
    );
    let r = c.get("/s/w").await.unwrap();
    assert_eq!(r.status, 200);
}

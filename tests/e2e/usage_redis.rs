//! The shared usage store: two and three gateway processes counting in one real
//! `redis-server` admit exactly a plan's quota and throttle between them; a Redis outage
//! follows `on_store_error` (`allow` serves and counts locally, `deny` answers 503), and both go
//! back to exact counting in Redis when it returns.

use crate::common::usage::{assert_over_quota, call, get, metric, put_key, setup};
use crate::common::{self, run_cli, ConfigDir, Gateway, RedisServer};

use std::net::SocketAddr;
use std::time::Duration;

use serde_json::{json, Value};

/// A gateway on its own directory (its own state) counting in `redis`.
async fn replica(
    redis: &str,
    on_error: &str,
    plans: &[(&str, Value)],
    keys: &[(&str, &str, &str)],
) -> (ConfigDir, Gateway) {
    let dir = ConfigDir::new();
    setup(&dir, plans);
    for (name, value, plan) in keys {
        put_key(&dir, name, value, &[plan], true);
    }
    dir.set_gateway_key("usage", json!({"store": redis, "on_store_error": on_error}));
    let gw = Gateway::start(&dir).await;
    (dir, gw)
}

/// Sends `total` requests with `key`, `lanes` at a time, spread over `gateways`; counts the
/// statuses.
async fn burst(
    gateways: &[SocketAddr],
    key: &str,
    total: usize,
    lanes: usize,
) -> (usize, usize, usize) {
    let mut tasks = Vec::new();
    for lane in 0..lanes {
        let gateways = gateways.to_vec();
        let key = key.to_string();
        tasks.push(tokio::spawn(async move {
            let mut counts = (0, 0, 0);
            let mut clients = Vec::new();
            for a in &gateways {
                clients.push(common::Client::connect(*a).await);
            }
            let mut i = lane;
            while i < total {
                let c = &mut clients[i % gateways.len()];
                let r = c
                    .request(
                        http::Method::GET,
                        "/prod/orders",
                        &[("x-api-key", key.as_str())],
                        bytes::Bytes::new(),
                    )
                    .await
                    .unwrap();
                match r.status.as_u16() {
                    200 => counts.0 += 1,
                    429 => counts.1 += 1,
                    _ => counts.2 += 1,
                }
                i += lanes;
            }
            counts
        }));
    }
    let mut sum = (0, 0, 0);
    for t in tasks {
        let (a, b, c) = t.await.unwrap();
        sum = (sum.0 + a, sum.1 + b, sum.2 + c);
    }
    sum
}

const K2: &str = "two-replicas-0123456789-ab";
const K3: &str = "three-replicas-0123456789-a";
const KT: &str = "throttled-0123456789-abcde";

#[tokio::test]
async fn replicas_sharing_one_redis_admit_exactly_the_quota() {
    let redis = RedisServer::start();
    let plans = [
        (
            "two",
            json!({"stages": ["shop/prod"], "quota": {"limit": 1000, "period": "day"}}),
        ),
        (
            "three",
            json!({"stages": ["shop/prod"], "quota": {"limit": 1000, "period": "month"}}),
        ),
        // One token per 100 s after a burst of 7: exactly 7, whichever replica serves.
        (
            "slow",
            json!({"stages": ["shop/prod"], "throttle": {"rate": 0.01, "burst": 7}}),
        ),
    ];
    let keys = [("k2", K2, "two"), ("k3", K3, "three"), ("kt", KT, "slow")];
    let mut gws = Vec::new();
    for _ in 0..3 {
        gws.push(replica(&redis.url(), "allow", &plans, &keys).await);
    }
    let addrs: Vec<SocketAddr> = gws.iter().map(|(_, g)| g.addr()).collect();

    let (ok, over, other) = burst(&addrs[..2], K2, 3000, 24).await;
    assert_eq!((ok, over, other), (1000, 2000, 0), "two replicas");
    let (ok, over, other) = burst(&addrs, K3, 3000, 24).await;
    assert_eq!((ok, over, other), (1000, 2000, 0), "three replicas");
    let (ok, over, other) = burst(&addrs, KT, 30, 6).await;
    assert_eq!(
        (ok, over, other),
        (7, 23, 0),
        "one plan bucket across replicas"
    );

    // Each replica counted its share, and `stagecraft usage` reads the total from Redis.
    for (_, gw) in &gws {
        assert!(
            metric(
                gw,
                "stagecraft_api_key_requests_total{plan=\"three\",result=\"ok\"} "
            )
            .await
                > 0
        );
        assert_eq!(metric(gw, "stagecraft_usage_store_errors_total ").await, 0);
    }
    let (code, out, err) = run_cli(gws[0].0.path(), &["usage", "--plan", "three", "--json"]);
    assert_eq!(code, 0, "{err}");
    let rows: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(rows[0]["used"], 1000);
    assert_eq!(rows[0]["remaining"], 0);
    assert_over_quota(&get(addrs[2], Some(K3)).await);
}

/// Requests counted in Redis for key `kk` of plan `p` (through `stagecraft usage`).
fn used_in_redis(dir: &ConfigDir) -> u64 {
    let (code, out, err) = run_cli(dir.path(), &["usage", "--plan", "p", "--json"]);
    assert_eq!(code, 0, "{err}");
    let rows: Value = serde_json::from_str(&out).unwrap();
    rows[0]["used"].as_u64().unwrap()
}

const KK: &str = "outage-key-0123456789-abcd";

#[tokio::test]
async fn a_redis_outage_follows_on_store_error_and_recovers() {
    let mut redis = RedisServer::start();
    let plans = [(
        "p",
        json!({"stages": ["shop/prod"], "quota": {"limit": 20, "period": "day"}}),
    )];
    let keys = [("kk", KK, "p")];
    let (dir_a, a) = replica(&redis.url(), "allow", &plans, &keys).await;
    let (_dir_b, b) = replica(&redis.url(), "deny", &plans, &keys).await;
    for gw in [&a, &a, &a, &b, &b] {
        assert_eq!(get(gw.addr(), Some(KK)).await.status, 200);
    }
    assert_eq!(used_in_redis(&dir_a), 5);

    redis.stop();
    // allow: served, counted in the process; deny: 503.
    for _ in 0..5 {
        assert_eq!(get(a.addr(), Some(KK)).await.status, 200, "allow serves");
    }
    for _ in 0..3 {
        let r = get(b.addr(), Some(KK)).await;
        assert_eq!(r.status, 503, "{}", r.text());
        assert_eq!(r.json(), json!({"message": "Service Unavailable"}));
    }
    // Requests without a key never touch the store.
    let open = call(b.addr(), http::Method::GET, "/prod/open", None).await;
    assert_eq!(open.status, 200);
    for gw in [&a, &b] {
        assert!(metric(gw, "stagecraft_usage_store_errors_total ").await >= 1);
        assert_eq!(
            gw.logs().matches("usage store failed").count(),
            1,
            "logged once per outage\n{}",
            gw.logs()
        );
    }
    assert_eq!(
        metric(
            &b,
            "stagecraft_api_key_requests_total{plan=\"p\",result=\"store_error\"} "
        )
        .await,
        3
    );

    // Redis comes back empty: both gateways count there again by themselves.
    redis.restart();
    common::eventually("deny serves again", Duration::from_secs(10), || async {
        get(b.addr(), Some(KK)).await.status == 200
    })
    .await;
    common::eventually(
        "allow counts in Redis again",
        Duration::from_secs(10),
        || async {
            let before = used_in_redis(&dir_a);
            get(a.addr(), Some(KK)).await.status == 200 && used_in_redis(&dir_a) == before + 1
        },
    )
    .await;
    for gw in [&a, &b] {
        assert!(gw.logs().contains("usage store is back"), "{}", gw.logs());
    }
    // Exact again: what is left of 20 in Redis, and not one more, over both gateways.
    let used = used_in_redis(&dir_a) as usize;
    let (ok, over, other) = burst(&[a.addr(), b.addr()], KK, 40, 8).await;
    assert_eq!((ok, over, other), (20 - used, 40 - (20 - used), 0));
}

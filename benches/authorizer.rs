//! The authorize step's own work for a request whose decision is cached (issue 16's budget: a
//! cached allow adds at most 3 µs of CPU over the same route without an authorizer): the
//! identity copied out of the header, its SHA-256 cache key, the lookup in the authorizer's
//! decision cache (moka, as the gateway builds it), the request's `methodArn`, and the cached
//! policy evaluated against it. Each iteration enters a current-thread runtime once to await the
//! lookup, which the gateway does not pay (it is already in one): the figure is an upper bound.
//! Figures in README.md.

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use stagecraft::proxy::authorize::cache_key;
use stagecraft::snapshot::authorizer::{Caches, Decision};
use stagecraft::snapshot::policy::{method_arn, Policy};
use std::sync::Arc;
use std::time::Duration;

/// The gateway's allocator (src/main.rs).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const TOKEN: &str = "Bearer eyJhbGciOiJSUzI1NiIsImtpZCI6ImsxIn0.eyJzdWIiOiJ1c2VyLTQyIiwiaXNzIjoiaHR0cHM6Ly9pZHAuZXhhbXBsZS5jb20vIiwiYXVkIjoib3JkZXJzLWFwaSIsImV4cCI6MTg5MzQ1NjAwMH0.c2lnbmF0dXJlLW9mLXRoZS10b2tlbi1zaWduYXR1cmUtb2YtdGhlLXRva2Vu";

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let cache = Caches::default().shared("bench".into(), Duration::from_secs(300), 10_000);
    let policy = Policy::parse(&serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [
            {"Action": "execute-api:Invoke", "Effect": "Deny", "Resource": "arn:aws:execute-api:local:000000000000:shop/prod/DELETE/*"},
            {"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": ["arn:aws:execute-api:local:000000000000:shop/prod/GET/*", "arn:aws:execute-api:local:000000000000:shop/prod/POST/orders"]},
        ]
    }))
    .expect("policy");
    let decision = Arc::new(Decision {
        principal_id: "user-42".into(),
        policy,
        ..Decision::default()
    });
    let key = cache_key(&[TOKEN.to_string()]);
    rt.block_on(cache.insert(key, decision));
    // Other identities in the cache, as under load.
    for i in 0..5_000 {
        let k = cache_key(&[format!("{TOKEN}{i}")]);
        rt.block_on(cache.insert(k, Arc::new(Decision::default())));
    }
    c.bench_function("cached allow: key, lookup, methodArn, policy", |b| {
        b.iter(|| {
            let identity = [black_box(TOKEN).to_string()];
            let key = cache_key(&identity);
            let d = rt.block_on(cache.get(&key)).expect("cached");
            let arn = method_arn("local", "000000000000", "shop", "prod", "GET", "/orders/42");
            black_box(d.policy.evaluate(&arn))
        })
    });
    c.bench_function("of which: the SHA-256 cache key", |b| {
        b.iter(|| black_box(cache_key(&[black_box(TOKEN).to_string()])))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);

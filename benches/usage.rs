//! The API-key step's own work for a keyed request with the local usage store (issue 17's
//! budget: at most 3 µs of CPU over the same route without a key): the value copied for
//! `$context.identity.apiKey`, its SHA-256, the lookup in the stage's key table (1,000 keys),
//! the plan's bucket, a method bucket, the quota's period from the clock and its counter, and
//! the plan's metric, as `proxy::key::admit` and `usage::local` do them. The table and plans
//! are compiled from configuration files, as a reload builds them. Figures in README.md.

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use stagecraft::config::usage::KeyHash;
use stagecraft::config::{parse_sources, SourceFile, SourceSet};
use stagecraft::metrics::KeyResult;
use stagecraft::snapshot::quota::{self, Counters};
use stagecraft::snapshot::throttle::Buckets;
use stagecraft::snapshot::usage::compile;

/// The gateway's allocator (src/main.rs).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const KEY: &str = "bench-key-0000-0123456789abcdefghijklmn";

fn sources() -> SourceSet {
    let mut files = vec![
        SourceFile {
            rel: "gateway.yaml".into(),
            text: "listen: [\"127.0.0.1:1\"]\n".into(),
        },
        SourceFile {
            rel: "usage-plans/gold.yaml".into(),
            // Limits no bench run reaches: every iteration is admitted, as a paying key's are.
            text: concat!(
                "stages: [\"shop/prod\"]\n",
                "throttle: { rate: 1000000000, burst: 1000000000 }\n",
                "quota: { limit: 100000000000, period: month }\n",
                "methods: { \"shop/prod GET /orders\": { rate: 1000000000, burst: 1000000000 } }\n",
            )
            .into(),
        },
    ];
    for i in 0..1000 {
        let value = format!("bench-key-{i:04}-0123456789abcdefghijklmn");
        files.push(SourceFile {
            rel: format!("api-keys/k{i:04}.yaml"),
            text: format!(
                "hash: \"{}\"\nplans: [gold]\n",
                KeyHash::of(&value).to_text()
            ),
        });
    }
    SourceSet {
        dir: "/nonexistent".into(),
        files,
        hash: "sha256:bench".into(),
    }
}

fn bench(c: &mut Criterion) {
    let raw = parse_sources(&sources()).expect("bench configuration");
    let (buckets, counters) = (Buckets::default(), Counters::default());
    let compiled = compile(&raw, &buckets, &counters);
    let table = compiled
        .tables
        .get(&("shop".to_string(), "prod".to_string()))
        .expect("the stage's key table")
        .clone();
    assert_eq!(table.len(), 1000);
    c.bench_function(
        "keyed request, local store: copy, hash, lookup, buckets, quota, metric",
        |b| {
            b.iter(|| {
                let value = black_box(KEY);
                let copied: Box<str> = value.into();
                let grant = table.get(&KeyHash::of(value)).expect("a known key");
                let verdict =
                    stagecraft::usage::local(grant, black_box("GET /orders"), quota::now());
                grant.plan.metrics.count(KeyResult::Ok);
                black_box((copied, verdict))
            })
        },
    );
    c.bench_function("of which: the SHA-256 of the key", |b| {
        b.iter(|| black_box(KeyHash::of(black_box(KEY))))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);

//! What one configuration reload costs, and what a request pays to take the current snapshot.
//!
//! The configuration is generated: a gateway.yaml with one backend (`be`, two versions, a
//! weighted alias `live`), one deployment of 1,000 routes shaped like `benches/routing.rs`'s
//! table (collection, item, sub-resource and greedy routes per resource; most to
//! `backend://be:live/...`, every fifth resource to `http://127.0.0.1:18081/...` with `{param}`s
//! and stage variables) and two stages serving it, so a compile builds 2 x 1,000 routes.
//!
//! - `snapshot_compile/1000_routes`: `validate` + `compile` of the parsed `RawConfig`;
//! - `snapshot_compile/parse_validate_compile_1000_routes`: the same plus `parse_sources` of the
//!   files already read (a reload minus the disk I/O);
//! - `snapshot_compile/build_from_disk_1000_routes`: `snapshot::load::load` on a temporary
//!   directory (read, hash, parse, validate, compile: one reload end to end, without the publish);
//! - `snapshot_load/current`: `Store::current()` (`ArcSwap::load_full`), what every request does
//!   once; `current_contended` is the same while another thread calls it in a loop.
//!
//! The new snapshot is dropped outside the timing (`iter_with_large_drop`): a reload frees the old
//! one later, when its last request ends. Run: `cargo bench --bench snapshot`.

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use stagecraft::config::{self, Problems, RawConfig, Scope, SourceSet};
use stagecraft::snapshot::{self, Carried, Integration, Snapshot};
use stagecraft::store::Store;
use std::fmt::Write as _;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

const ROUTES: usize = 1_000;
const STAGES: [&str; 2] = ["prod", "beta"];

const GATEWAY: &str = r#"listen: ["127.0.0.1:8080"]
admin: "127.0.0.1:9901"
threads: 2
backends:
  be:
    versions:
      v1: { targets: ["127.0.0.1:18081", "127.0.0.1:18082"] }
      v2: { targets: ["127.0.0.1:18083"] }
    aliases:
      live: { v1: 95, v2: 5 }
"#;

const STAGE_PROD: &str = "api: bench
deployment: bench-1
base_path: /
variables: { prefix: api, tier: gold }
";

const STAGE_BETA: &str = "api: bench
deployment: bench-1
variables: { prefix: beta-api, tier: silver }
";

/// The deployment file: `n` routes, seven per resource as in `benches/routing.rs`.
fn deployment(n: usize) -> String {
    let mut out = String::from(
        "api: bench\ncreated: \"2026-11-26T09:00:00Z\"\ndescription: \"generated for benches/snapshot.rs\"\nroutes:\n",
    );
    let mut i = 0;
    let mut res = 0;
    'outer: loop {
        // Every fifth resource is served by a plain http:// endpoint whose path and query come
        // from stage variables; the others by the weighted alias.
        let (base, query) = if res % 5 == 4 {
            (
                "http://127.0.0.1:18081/${stageVariables.prefix}",
                "?tier=${stageVariables.tier}",
            )
        } else {
            ("backend://be:live", "")
        };
        for (route, path) in [
            (format!("GET /res{res}"), format!("/res{res}")),
            (format!("POST /res{res}"), format!("/res{res}")),
            (format!("GET /res{res}/{{id}}"), format!("/res{res}/{{id}}")),
            (format!("PUT /res{res}/{{id}}"), format!("/res{res}/{{id}}")),
            (
                format!("DELETE /res{res}/{{id}}"),
                format!("/res{res}/{{id}}"),
            ),
            (
                format!("GET /res{res}/{{id}}/items/{{item}}"),
                format!("/res{res}/{{id}}/items/{{item}}"),
            ),
            (
                format!("ANY /res{res}/{{id}}/files/{{path+}}"),
                format!("/res{res}/{{id}}/files/{{path}}"),
            ),
        ] {
            if i >= n {
                break 'outer;
            }
            let _ = write!(
                out,
                "  - route: \"{route}\"\n    integration:\n      type: http_proxy\n      uri: \"{base}{path}{query}\"\n"
            );
            i += 1;
        }
        res += 1;
    }
    out
}

/// Writes the configuration directory (gateway.yaml, deployments/, stages/) under `dir`.
fn write_config(dir: &Path) {
    let write = |rel: &str, text: &str| {
        let path = dir.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("create config folder");
        }
        std::fs::write(&path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    };
    write(config::GATEWAY_FILE, GATEWAY);
    write("deployments/bench-1.yaml", &deployment(ROUTES));
    write("stages/prod.yaml", STAGE_PROD);
    write("stages/beta.yaml", STAGE_BETA);
}

/// The temporary configuration directory, its files as read and parsed, and a check that it
/// compiles cleanly to what the benches claim to measure.
struct Fixture {
    dir: tempfile::TempDir,
    sources: SourceSet,
    raw: RawConfig,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().expect("create a temporary directory");
    write_config(dir.path());
    let snap = load_dir(dir.path(), 1);
    check(&snap);
    let sources = config::read_sources(dir.path(), Scope::Served)
        .unwrap_or_else(|p| panic!("read_sources: {p}"));
    let raw = config::parse_sources(&sources).unwrap_or_else(|p| panic!("parse_sources: {p}"));
    Fixture { dir, sources, raw }
}

fn check(snap: &Snapshot) {
    assert!(
        snap.warnings.is_empty(),
        "the generated configuration has warnings: {:?}",
        snap.warnings
    );
    let names: Vec<&str> = snap.stages.iter().map(|s| &*s.name).collect();
    assert_eq!(names.len(), STAGES.len(), "stages compiled: {names:?}");
    for s in &snap.stages {
        assert_eq!(
            s.primary.routes.len(),
            ROUTES,
            "stage {} compiled {} routes, expected {ROUTES}",
            s.name,
            s.primary.routes.len()
        );
        let proxies = s
            .primary
            .routes
            .iter()
            .filter(|r| matches!(r.integration, Integration::HttpProxy(_)))
            .count();
        assert_eq!(
            proxies, ROUTES,
            "stage {}: every route must compile to an http_proxy integration",
            s.name
        );
    }
}

/// The whole load pipeline on a directory, as a reload runs it.
fn load_dir(dir: &Path, generation: u64) -> Snapshot {
    snapshot::load::load(dir, Scope::Served, &Carried::default(), generation)
        .unwrap_or_else(|r| panic!("the configuration does not load:\n{}", Problems::from(r)))
        .snapshot
}

/// validate + compile, as the load pipeline runs them after parsing.
fn validate_compile(raw: &RawConfig, generation: u64) -> Snapshot {
    let problems = config::validate::validate(raw);
    assert!(!problems.has_errors(), "validate: {problems}");
    snapshot::compile(raw, &Carried::default(), generation)
        .unwrap_or_else(|p| panic!("compile: {p}"))
}

fn snapshot_compile(c: &mut Criterion) {
    let f = fixture();
    let mut g = c.benchmark_group("snapshot_compile");
    g.sample_size(30);
    g.measurement_time(Duration::from_secs(10));
    g.bench_function("1000_routes", |b| {
        b.iter_with_large_drop(|| validate_compile(black_box(&f.raw), 2))
    });
    g.bench_function("parse_validate_compile_1000_routes", |b| {
        b.iter_with_large_drop(|| {
            let raw = config::parse_sources(black_box(&f.sources))
                .unwrap_or_else(|p| panic!("parse_sources: {p}"));
            validate_compile(&raw, 2)
        })
    });
    g.bench_function("build_from_disk_1000_routes", |b| {
        b.iter_with_large_drop(|| load_dir(black_box(f.dir.path()), 2))
    });
    g.finish();
}

fn snapshot_load(c: &mut Criterion) {
    let f = fixture();
    let snap = validate_compile(&f.raw, 1);
    let store = Arc::new(Store::new(snap));
    let mut g = c.benchmark_group("snapshot_load");
    g.bench_function("current", |b| b.iter(|| black_box(&store).current()));

    // Another thread takes and drops the snapshot in a loop, as concurrent requests do: both
    // touch the same reference count.
    let stop = Arc::new(AtomicBool::new(false));
    let running = Arc::new(AtomicBool::new(false));
    let other = {
        let (store, stop, running) = (store.clone(), stop.clone(), running.clone());
        std::thread::spawn(move || {
            black_box(store.current());
            let mut n = 1u64;
            running.store(true, Ordering::Release);
            while !stop.load(Ordering::Relaxed) {
                black_box(store.current());
                n += 1;
            }
            n
        })
    };
    // Measure only once the other thread is loading too.
    while !running.load(Ordering::Acquire) {
        std::thread::yield_now();
    }
    g.bench_function("current_contended", |b| {
        b.iter(|| black_box(&store).current())
    });
    stop.store(true, Ordering::Relaxed);
    let loads = other.join().expect("the contending thread panicked");
    assert!(loads > 0, "the contending thread never ran");
    g.finish();
}

criterion_group!(benches, snapshot_compile, snapshot_load);
criterion_main!(benches);

//! Request validation alone: a ~1 KB JSON order body checked against its model (required
//! properties, bounds, a pattern, an array of items, a `$ref` to another model), as the
//! validate step does it per request: parse the body, then validate. The model is compiled
//! once, as a snapshot does, and allocations go to mimalloc, as in the gateway. Budget: 10 µs
//! per request (issue 15); figures in README.md. The parse alone is measured beside it, to
//! show how the cost splits.

use criterion::{black_box, criterion_group, criterion_main, Criterion};

/// The gateway's allocator (src/main.rs): the body parse allocates, and the request path pays
/// mimalloc's price for that, not glibc's.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
use stagecraft::config::models::compile;
use stagecraft::snapshot::validation::{check_body, BodyModels};

const MODELS: &str = include_str!("load/order-models.yaml");

fn body() -> String {
    let items: Vec<String> = (0..11)
        .map(|i| {
            format!(
                r#"{{"sku": "SKU-{i:04}", "name": "Widget number {i}", "qty": {q}, "price": {p}.99}}"#,
                q = i + 1,
                p = 10 + i
            )
        })
        .collect();
    format!(
        r#"{{"id": "ord-8d2f9c", "total": 123.45, "currency": "EUR",
  "customer": {{"id": 991, "name": "Ada Lovelace", "email": "ada@example.com", "vip": true}},
  "items": [{}],
  "notes": "leave at the door, ring twice"}}"#,
        items.join(", ")
    )
}

fn bench(c: &mut Criterion) {
    let defs = serde_saphyr::from_str(MODELS).expect("models parse");
    let (models, problems) = compile(&defs);
    assert!(problems.is_empty(), "{problems:?}");
    let set = BodyModels {
        by_type: Box::new([(
            "application/json".into(),
            models.get("Order").expect("compiled").clone(),
        )]),
        default: None,
        names: Box::new([]),
    };
    let body = body();
    assert!((900..=1200).contains(&body.len()), "{} bytes", body.len());
    assert_eq!(
        check_body(&set, Some("application/json"), body.as_bytes()),
        Ok(())
    );
    let bad = body.replace("\"qty\": 3", "\"qty\": 0");
    assert!(check_body(&set, Some("application/json"), bad.as_bytes()).is_err());
    c.bench_function("validate 1 KB body (valid)", |b| {
        b.iter(|| check_body(&set, Some("application/json"), black_box(body.as_bytes())))
    });
    c.bench_function("parse 1 KB body only (serde_json::Value)", |b| {
        b.iter(|| serde_json::from_slice::<serde_json::Value>(black_box(body.as_bytes())))
    });
    c.bench_function("validate 1 KB body (invalid, detail built)", |b| {
        b.iter(|| check_body(&set, Some("application/json"), black_box(bad.as_bytes())))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);

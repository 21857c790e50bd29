//! Hot pure functions of the request path: route lookup in tables of 10, 100 and 1,000 routes
//! (and 10,000 for scale), and the weighted version pick. Run: `cargo bench --bench routing`.

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion};
use stagecraft::config::route::{parse_route, Method};
use stagecraft::snapshot::picker::WeightedPicker;
use stagecraft::snapshot::router::{Lookup, Router};

/// A realistic API shape: resources with collection, item and sub-resource routes, a few
/// methods each, plus a greedy catch-all.
fn table(n: usize) -> Router {
    let mut r = Router::default();
    let mut i = 0u32;
    let mut res = 0;
    'outer: loop {
        for route in [
            format!("GET /res{res}"),
            format!("POST /res{res}"),
            format!("GET /res{res}/{{id}}"),
            format!("PUT /res{res}/{{id}}"),
            format!("DELETE /res{res}/{{id}}"),
            format!("GET /res{res}/{{id}}/items/{{item}}"),
            format!("ANY /res{res}/{{id}}/files/{{path+}}"),
        ] {
            if i as usize >= n {
                break 'outer;
            }
            let spec = parse_route(&route).unwrap_or_else(|e| panic!("{e}"));
            r.insert(&spec, i);
            i += 1;
        }
        res += 1;
    }
    r
}

fn route_lookup(c: &mut Criterion) {
    let mut g = c.benchmark_group("route_lookup");
    for n in [10usize, 100, 1_000, 10_000] {
        let r = table(n);
        // The last resource of the table, so literal lookups walk a full-size map.
        let last = (n / 7).saturating_sub(1);
        let item = format!("/res{last}/12345/items/678");
        g.bench_with_input(BenchmarkId::new("param_match", n), &item, |b, p| {
            b.iter(|| match r.lookup(Some(Method::Get), black_box(p)) {
                Lookup::Found { route, .. } => route,
                _ => u32::MAX,
            })
        });
        let lit = format!("/res{last}");
        g.bench_with_input(BenchmarkId::new("literal_match", n), &lit, |b, p| {
            b.iter(|| {
                matches!(
                    r.lookup(Some(Method::Get), black_box(p)),
                    Lookup::Found { .. }
                )
            })
        });
        let miss = "/nothing/here".to_string();
        g.bench_with_input(BenchmarkId::new("not_found", n), &miss, |b, p| {
            b.iter(|| matches!(r.lookup(Some(Method::Get), black_box(p)), Lookup::NotFound))
        });
    }
    g.finish();
}

fn weighted_pick(c: &mut Criterion) {
    let mut g = c.benchmark_group("weighted_pick");
    let two = WeightedPicker::new(&[95, 5]).unwrap_or_else(|| panic!("weights"));
    g.bench_function("2_versions_95_5", |b| b.iter(|| black_box(&two).pick()));
    let many: Vec<u32> = (1..=16).collect();
    let sixteen = WeightedPicker::new(&many).unwrap_or_else(|| panic!("weights"));
    g.bench_function("16_versions", |b| b.iter(|| black_box(&sixteen).pick()));
    g.finish();
}

criterion_group!(benches, route_lookup, weighted_pick);
criterion_main!(benches);

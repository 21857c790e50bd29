//! A typical request template over a ~1 KB JSON body with ten `$input.json`/`$input.path`
//! lookups; each iteration includes the body parse (once per render).

use std::collections::BTreeMap;

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use stagecraft::template::{ContextData, Identity, Limits, Params, RenderInput, Template};

/// The gateway's allocator (see `src/main.rs`): what a render costs in the gateway.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const TEMPLATE: &str = r##"#set($root = $input.path('$'))
{
  "orderId": "$input.path('$.order.id')",
  "customer": $input.json('$.order.customer'),
  "email": "$util.escapeJavaScript($input.path('$.order.customer.email'))",
  "total": $input.path('$.order.total'),
  "currency": "$input.path('$.order.currency')",
  "items": $input.json('$.order.items'),
  "itemCount": $input.path('$.order.items').size(),
  "firstSku": "$input.path('$.order.items[0].sku')",
  "shipping": $input.json('$.order.shipping'),
  "notes": $input.json('$.order.notes'),
  "source": "$input.params('source')",
  "stage": "$context.stage",
  "requestId": "$context.requestId",
  "skus": [#foreach($item in $root.order.items)"$item.sku"#if($foreach.hasNext),#end#end]
}
"##;

fn body() -> String {
    let mut items = String::new();
    for i in 0..10 {
        if i > 0 {
            items.push_str(", ");
        }
        items.push_str(&format!(
            r#"{{"sku": "SKU-{i:04}", "name": "Widget number {i}", "qty": {q}, "price": {p}.99}}"#,
            q = i + 1,
            p = 10 + i
        ));
    }
    format!(
        r#"{{"order": {{"id": "ord-8d2f9c", "total": 123.45, "currency": "EUR",
  "customer": {{"id": 991, "name": "Ada Lovelace", "email": "ada@example.com", "vip": true}},
  "items": [{items}],
  "shipping": {{"method": "express", "address": {{"street": "1 Main St", "city": "Dublin", "zip": "D01"}}}},
  "notes": "leave at the door, ring twice"}}}}"#
    )
}

fn bench(c: &mut Criterion) {
    let tpl = Template::compile(TEMPLATE).expect("template compiles");
    let body = body();
    assert!(
        (900..1400).contains(&body.len()),
        "body is {} bytes",
        body.len()
    );
    let params = Params {
        querystring: vec![("source".into(), "web".into())],
        header: vec![("Content-Type".into(), "application/json".into())],
        ..Params::default()
    };
    let stage_variables = BTreeMap::new();
    let context = ContextData {
        request_id: "c6af9ac6-7b61-11e6-9a41-93e8deadbeef".into(),
        stage: "prod".into(),
        identity: Identity {
            source_ip: "203.0.113.1".into(),
            user_agent: "curl".into(),
            ..Identity::default()
        },
        ..ContextData::default()
    };
    let limits = Limits::default();
    let input = RenderInput {
        body: body.as_bytes(),
        params: &params,
        stage_variables: &stage_variables,
        context: &context,
    };
    let out = tpl.render(&input, &limits).expect("renders");
    let parsed: Result<serde_json::Value, _> = serde_json::from_str(&out.output);
    assert!(parsed.is_ok(), "output is JSON: {}", out.output);
    c.bench_function("render 1KB body, 10 lookups", |b| {
        b.iter(|| black_box(tpl.render(black_box(&input), &limits)))
    });
    c.bench_function("compile", |b| {
        b.iter(|| black_box(Template::compile(black_box(TEMPLATE))))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);

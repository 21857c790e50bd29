//! Fuzzes the request validator's body path: arbitrary bytes, under an arbitrary content type,
//! against a set of models covering what APIs use (required properties, numbers with bounds,
//! `$ref` between models in both forms, recursion, `oneOf` with null, arrays, patterns,
//! `additionalProperties`). Input: one selector byte (model and content type), then the body.
//! A panic or hang is a bug; every refusal must carry a detail (`[message, ...]`).
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use stagecraft::config::models::{compile, Models};
use stagecraft::snapshot::validation::{check_body, BodyModels};

const MODELS: &str = r##"
Order:
  schema:
    type: object
    required: [item, qty]
    additionalProperties: false
    properties:
      item: { type: string, minLength: 1, maxLength: 64, pattern: "^[A-Za-z0-9 -]+$" }
      qty: { type: integer, minimum: 1, maximum: 1000 }
      price: { type: number, exclusiveMinimum: true, minimum: 0 }
      tags: { type: array, items: { type: string }, maxItems: 8, uniqueItems: true }
      customer: { $ref: "#/models/Customer" }
      status: { oneOf: [ { type: "null" }, { $ref: "https://apigateway.amazonaws.com/restapis/x1/models/Status" } ] }
Customer:
  schema: { type: object, required: [id], properties: { id: { type: string, format: email } } }
Status:
  schema: { type: object, required: [Status, Order], properties: { Status: { type: string, enum: [open, closed] }, Order: { type: integer } } }
Person:
  schema:
    type: object
    required: [name]
    properties:
      name: { type: string }
      house: { $ref: "#/models/House" }
House:
  schema:
    type: object
    properties:
      contains: { type: array, items: { $ref: "#/models/Person" } }
List:
  schema: { type: array, items: { $ref: "#/models/Order" } }
"##;

const TYPES: [&str; 4] = [
    "application/json",
    "application/json; charset=utf-8",
    "text/plain",
    "",
];

static SETS: LazyLock<Vec<BodyModels>> = LazyLock::new(|| {
    let defs = serde_saphyr::from_str(MODELS).expect("the fuzz models parse");
    let (models, problems): (Models, _) = compile(&defs);
    assert!(problems.is_empty(), "{problems:?}");
    ["Order", "Person", "List", "Empty"]
        .iter()
        .map(|name| BodyModels {
            by_type: Box::new([(
                "application/json".into(),
                models.get(name).expect("model compiled").clone(),
            )]),
            default: None,
            names: Box::new([]),
        })
        .collect()
});

fuzz_target!(|data: &[u8]| {
    let Some((&selector, body)) = data.split_first() else {
        return;
    };
    let set = &SETS[usize::from(selector & 3)];
    let content_type = TYPES[usize::from((selector >> 2) & 3)];
    let ct = (!content_type.is_empty()).then_some(content_type);
    if let Err(detail) = check_body(set, ct, body) {
        assert!(
            detail.starts_with('[') && detail.ends_with(']') && detail.len() > 2,
            "detail is not a bracketed list: {detail}"
        );
    }
});

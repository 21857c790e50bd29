//! Fuzzes compile + render of mapping templates. Input: template bytes, then optionally a NUL
//! byte and a request body. Any panic, hang (libFuzzer timeout) or broken limit is a bug.
#![no_main]

use std::collections::BTreeMap;

use libfuzzer_sys::fuzz_target;
use stagecraft::template::{ContextData, Limits, Params, RenderError, RenderInput, Template};

fuzz_target!(|data: &[u8]| {
    let (tpl, body) = match data.iter().position(|&b| b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &b"{\"a\": [1, {\"b\": \"c\"}], \"s\": \"x y\"}"[..]),
    };
    let Ok(src) = std::str::from_utf8(tpl) else {
        return;
    };
    let limits = Limits {
        max_steps: 200_000,
        max_output_bytes: 256 << 10,
        max_string_bytes: 256 << 10,
        ..Limits::default()
    };
    let template = match Template::compile_with_limits(src, &limits) {
        Ok(t) => t,
        Err(e) => {
            assert!(e.line >= 1 && e.column >= 1 && !e.message.is_empty());
            return;
        }
    };
    let params = Params {
        path: vec![("id".into(), "42".into())],
        querystring: vec![("q".into(), "a b".into())],
        header: vec![("Content-Type".into(), "application/json".into())],
    };
    let mut stage_variables = BTreeMap::new();
    stage_variables.insert("v".to_string(), "1".to_string());
    let context = ContextData {
        stage: "prod".into(),
        ..ContextData::default()
    };
    let input = RenderInput {
        body,
        params: &params,
        stage_variables: &stage_variables,
        context: &context,
    };
    match template.render(&input, &limits) {
        Ok(out) => assert!(out.output.len() <= limits.max_output_bytes),
        Err(RenderError::Runtime { line, column, .. }) => assert!(line >= 1 && column >= 1),
        Err(RenderError::Limit { .. }) => {}
    }
});

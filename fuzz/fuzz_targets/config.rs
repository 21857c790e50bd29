//! Fuzzes the configuration parser and validation: arbitrary text as each kind of file, plus the
//! route and URI syntaxes. Any panic is a bug: a bad file must become a located problem.
#![no_main]

use libfuzzer_sys::fuzz_target;
use stagecraft::config::route::parse_route;
use stagecraft::config::uri::{parse_target, UriTemplate};
use stagecraft::config::{self, SourceFile, SourceSet};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let _ = parse_route(text);
    if let Ok(t) = UriTemplate::parse(text) {
        let vars = [("a".to_string(), "127.0.0.1".to_string())].into_iter().collect();
        if let Ok(s) = t.substitute(&vars) {
            let _ = parse_target(&s);
        }
    }
    let _ = parse_target(text);
    // The same text as every kind of file, in one directory, through parse and validate.
    let files = vec![
        SourceFile { rel: "gateway.yaml".into(), text: text.into() },
        SourceFile { rel: "deployments/d-1.yaml".into(), text: text.into() },
        SourceFile { rel: "stages/s.yaml".into(), text: text.into() },
        SourceFile { rel: "apis/a.yaml".into(), text: text.into() },
        SourceFile { rel: "usage-plans/p.yaml".into(), text: text.into() },
        SourceFile { rel: "api-keys/k.yaml".into(), text: text.into() },
    ];
    let set = SourceSet { dir: "/nonexistent".into(), files, hash: String::new() };
    if let Ok(raw) = config::parse_sources(&set) {
        let problems = config::validate::validate(&raw);
        if !problems.has_errors() {
            let _ = stagecraft::snapshot::compile(&raw, &Default::default(), 1);
        }
    }
    // The text as a usage plan and as an API key beside a valid gateway, stage and deployment,
    // through parse, validate and compile (the key tables are built by compile).
    let files = vec![
        SourceFile { rel: "gateway.yaml".into(), text: "listen: [\"127.0.0.1:1\"]\n".into() },
        SourceFile {
            rel: "deployments/d-1.yaml".into(),
            text: "api: a\nroutes:\n  - route: \"GET /x\"\n    api_key_required: true\n    integration: { type: mock }\n".into(),
        },
        SourceFile { rel: "stages/s.yaml".into(), text: "api: a\ndeployment: d-1\n".into() },
        SourceFile { rel: "usage-plans/p.yaml".into(), text: text.into() },
        SourceFile {
            rel: "api-keys/k.yaml".into(),
            text: format!("hash: \"sha256:{}\"\nplans: [p]\n", "ab".repeat(32)),
        },
        SourceFile { rel: "api-keys/t.yaml".into(), text: text.into() },
    ];
    let set = SourceSet { dir: "/nonexistent".into(), files, hash: String::new() };
    if let Ok(raw) = config::parse_sources(&set) {
        let _ = config::validate::validate(&raw);
        let _ = stagecraft::snapshot::compile(&raw, &Default::default(), 1);
    }
});

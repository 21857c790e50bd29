//! Fuzzes `stagecraft import`'s conversion: arbitrary bytes as an OpenAPI file, through the
//! reader, `--map`, the conversion to a draft, the draft's YAML and back, `config`'s parse and
//! validation of it, and `export` of it. Any panic is a bug: a bad file is one error, a strange
//! one a draft with warnings. The draft's YAML must read back as the same tree (a value that
//! changed type on the way, a template `true` becoming a boolean, would be a wrong draft).
#![no_main]

use libfuzzer_sys::fuzz_target;
use stagecraft::config::{self, SourceFile, SourceSet};
use stagecraft::openapi::export::{export, Format, Source};
use stagecraft::openapi::import::{convert, BasePath};
use stagecraft::openapi::map::Mapper;
use stagecraft::openapi::{read, Node};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(doc) = read::parse(text) else { return };
    for base in [BasePath::Ignore, BasePath::Prepend, BasePath::Split] {
        let mut mapper = Mapper::new(vec![
            ("${uri}".into(), "http://127.0.0.1:9/u".into()),
            ("arn:aws:lambda".into(), "backend://f:live".into()),
        ]);
        let imported = convert(&doc, base, &mut mapper);
        let Ok(yaml) = serde_saphyr::to_string(&imported.draft) else {
            panic!("the draft cannot be written as YAML");
        };
        let back: Node = serde_saphyr::from_str(&yaml).expect("the draft's YAML reads back");
        assert_eq!(back, imported.draft, "the draft's YAML reads back as another tree:\n{yaml}");
        let files = vec![
            SourceFile { rel: "gateway.yaml".into(), text: "listen: [\"127.0.0.1:1\"]\n".into() },
            SourceFile { rel: "apis/a.yaml".into(), text: yaml },
        ];
        let set = SourceSet { dir: "/nonexistent".into(), files, hash: String::new() };
        if let Ok(raw) = config::parse_sources(&set) {
            let _ = config::validate::validate(&raw);
        }
        for format in [Format::Oas30, Format::Swagger] {
            let src = Source {
                api: "a",
                deployment_id: "a-1",
                deployment: &imported.draft,
                base_path: "/s",
                host: None,
            };
            let exported = export(&src, format, true);
            let _ = serde_json::to_string(&exported.document);
        }
    }
});

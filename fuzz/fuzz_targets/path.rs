//! Fuzzes the path normaliser: no panic, and what it returns never holds a dot segment or an
//! empty segment, so a backend can never receive `..`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use stagecraft::proxy::admit::path::normalize;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let path = format!("/{text}");
    if let Ok(clean) = normalize(&path) {
        let clean = clean.as_ref();
        assert!(clean.starts_with('/'), "{clean:?}");
        // Idempotent: normalising twice changes nothing.
        assert_eq!(normalize(clean).ok().as_deref(), Some(clean));
        for seg in clean.split('/').skip(1) {
            let decoded = seg.replace("%2e", ".").replace("%2E", ".");
            assert!(decoded != "." && decoded != "..", "{path:?} -> {clean:?}");
        }
        assert!(!clean.contains("//"), "{path:?} -> {clean:?}");
    }
});

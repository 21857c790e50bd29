//! Fuzzes the route matcher: routes built from the first lines of the input, lookups of the
//! rest. Any panic is a bug, and every capture must be a valid range of the looked-up path.
#![no_main]

use libfuzzer_sys::fuzz_target;
use stagecraft::config::route::{parse_route, Method};
use stagecraft::snapshot::router::{Lookup, Router};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let mut lines = text.split('\n');
    let mut router = Router::default();
    for (i, line) in lines.by_ref().take(16).enumerate() {
        if let Ok(spec) = parse_route(line) {
            router.insert(&spec, i as u32);
        }
    }
    for path in lines {
        for m in [Some(Method::Get), Some(Method::Post), None] {
            if let Lookup::Found { captures, .. } = router.lookup(m, path) {
                for (s, e) in captures {
                    assert!(s <= e && (e as usize) <= path.len());
                    assert!(path.is_char_boundary(s as usize) && path.is_char_boundary(e as usize));
                }
            }
        }
    }
});

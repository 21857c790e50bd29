//! Part of `admin`, beside the data flow: the web console's three files, built into the binary
//! (no node, no CDN, no build step): a page, a script that speaks to `/api/` with `fetch`, and a
//! style sheet. They are served as they are, with their hash as ETag so a browser revalidates
//! cheaply after an upgrade.

use http::Response;
use std::sync::LazyLock;

const INDEX: &str = include_str!("console/index.html");
const SCRIPT: &str = include_str!("console/console.js");
const STYLE: &str = include_str!("console/console.css");

static ETAG: LazyLock<String> = LazyLock::new(|| {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for f in [INDEX, SCRIPT, STYLE] {
        h.update(f.as_bytes());
    }
    format!("\"{}\"", &crate::config::hex(&h.finalize())[..16])
});

/// The console file at `path`, if it is one.
pub fn asset(path: &str) -> Option<Response<Vec<u8>>> {
    let (body, kind) = match path {
        "/" | "/index.html" => (INDEX, "text/html; charset=utf-8"),
        "/console.js" => (SCRIPT, "text/javascript; charset=utf-8"),
        "/console.css" => (STYLE, "text/css; charset=utf-8"),
        _ => return None,
    };
    Response::builder()
        .status(200)
        .header("content-type", kind)
        .header("content-length", body.len())
        .header("cache-control", "no-cache")
        .header("etag", ETAG.as_str())
        // The console loads only its own files and talks only to this listener.
        .header(
            "content-security-policy",
            "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'",
        )
        .header("x-content-type-options", "nosniff")
        .body(body.as_bytes().to_vec())
        .ok()
}

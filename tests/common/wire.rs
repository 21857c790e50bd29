//! Reading HTTP/1.1 off raw sockets in tests: the few byte-level helpers that the raw-socket
//! tests (`hardening`, `framing`, `conformance`) share.

/// Where `needle` first stands in `hay`.
pub fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Data bytes of a chunked body at the start of `b`, leniently: a chunk cut short counts what
/// arrived, and parsing stops at the first incomplete or bad size line. The second value is the
/// bytes the body used, once it is complete (last chunk and trailer section, trailers skipped).
pub fn dechunk(mut b: &[u8]) -> (Vec<u8>, Option<usize>) {
    let total = b.len();
    let mut data = Vec::new();
    loop {
        let Some(eol) = find(b, b"\r\n") else {
            return (data, None);
        };
        let line = String::from_utf8_lossy(&b[..eol]);
        let size_text = line.split(';').next().unwrap_or("").trim();
        let Ok(size) = usize::from_str_radix(size_text, 16) else {
            return (data, None);
        };
        b = &b[eol + 2..];
        if size == 0 {
            // Trailer lines until the empty one that ends the body.
            loop {
                let Some(eol) = find(b, b"\r\n") else {
                    return (data, None);
                };
                b = &b[eol + 2..];
                if eol == 0 {
                    return (data, Some(total - b.len()));
                }
            }
        }
        let n = size.min(b.len());
        data.extend_from_slice(&b[..n]);
        if b.len() < size + 2 {
            return (data, None);
        }
        b = &b[size + 2..];
    }
}

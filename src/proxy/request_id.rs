//! Part of the proxy stage: the id every request carries to the backend, the client, the access
//! log and `$context.requestId`. It is held as a header value, made once per request, so the
//! upstream request and the response each take it by a reference-count bump rather than a copy
//! and a parse.

use http::{HeaderName, HeaderValue};
use pingora::http::RequestHeader;
use std::fmt;

/// `x-request-id`, the header the id travels in both ways: a name `http` does not know, made
/// once, so that a `HeaderMap` insert of it allocates nothing.
pub static HEADER: HeaderName = HeaderName::from_static("x-request-id");

#[derive(Clone)]
pub struct RequestId(HeaderValue);

impl Default for RequestId {
    /// Empty until `request_filter` runs; `fail_to_proxy` makes one if a request fails before.
    fn default() -> Self {
        RequestId(HeaderValue::from_static(""))
    }
}

impl RequestId {
    /// A client's own `x-request-id` is kept when it is short and printable (as Envoy does), so
    /// that a trace spans the hops; otherwise the gateway makes one.
    pub fn for_request(req: &RequestHeader) -> RequestId {
        match req.headers.get(&HEADER) {
            Some(v)
                if !v.is_empty()
                    && v.len() <= 128
                    && v.as_bytes().iter().all(u8::is_ascii_graphic) =>
            {
                RequestId(v.clone())
            }
            _ => RequestId::random(),
        }
    }

    /// A random UUID v4, the format of AWS's `requestId`, written without `format!`.
    pub fn random() -> RequestId {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut v: u128 = rand::random();
        // Version 4 and the RFC 4122 variant.
        v = v & !(0xf000 << 64) | (0x4000 << 64);
        v = v & !(0xc000_0000_0000_0000) | 0x8000_0000_0000_0000;
        let bytes = v.to_be_bytes();
        let mut out = [b'-'; 36];
        let mut at = 0;
        for (i, b) in bytes.into_iter().enumerate() {
            if matches!(i, 4 | 6 | 8 | 10) {
                at += 1;
            }
            out[at] = HEX[usize::from(b >> 4)];
            out[at + 1] = HEX[usize::from(b & 0xf)];
            at += 2;
        }
        // Hex digits and dashes are always a valid header value.
        RequestId(
            HeaderValue::from_maybe_shared(bytes::Bytes::copy_from_slice(&out))
                .unwrap_or_else(|_| HeaderValue::from_static("")),
        )
    }

    pub fn as_str(&self) -> &str {
        // Both constructors admit visible ASCII only, so this never falls back.
        self.0.to_str().unwrap_or("")
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// For `insert_header`: a clone shares the bytes.
    pub fn header(&self) -> HeaderValue {
        self.0.clone()
    }
}

impl std::ops::Deref for RequestId {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_ids_are_uuid_v4() {
        let a = RequestId::random();
        let s = a.as_str();
        assert_eq!(s.len(), 36);
        let parts: Vec<&str> = s.split('-').collect();
        assert_eq!(
            parts.iter().map(|p| p.len()).collect::<Vec<_>>(),
            [8, 4, 4, 4, 12]
        );
        assert!(parts[2].starts_with('4'), "{s}");
        assert!(
            matches!(parts[3].as_bytes()[0], b'8' | b'9' | b'a' | b'b'),
            "{s}"
        );
        assert!(s
            .bytes()
            .all(|b| b == b'-' || b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
        assert_ne!(s, RequestId::random().as_str());
    }

    #[test]
    fn a_client_id_is_kept_only_when_short_and_printable() {
        let mut req = RequestHeader::build("GET", b"/", None).expect("request");
        req.insert_header("x-request-id", "trace-123")
            .expect("header");
        assert_eq!(RequestId::for_request(&req).as_str(), "trace-123");
        req.insert_header("x-request-id", "has space")
            .expect("header");
        assert_ne!(RequestId::for_request(&req).as_str(), "has space");
        req.insert_header("x-request-id", "x".repeat(129))
            .expect("header");
        assert_eq!(RequestId::for_request(&req).len(), 36);
    }
}

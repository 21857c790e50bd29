//! Fuzzes the HTTP/1.1 request path up to the body: arbitrary client bytes go over an in-memory
//! connection into pingora's server session (the vendored, patched pingora-core: its head
//! parser and its chunked-body reader), then `admit`, then the body is read to its end.
//!
//! No input may panic. A chunked body pingora accepts must be exactly what an independent,
//! strict reading of RFC 9112 7.1 makes of the same bytes (lines end only at CRLF), and a small
//! body that reading accepts must not be refused. A head `admit` accepts has no bare-LF line end.
//! The first input byte sets how many bytes each read returns (1..=64), so every way a line can
//! be split across reads is reached.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pingora::proxy::Session;
use stagecraft::proxy::admit::admit;
use stagecraft::snapshot::Limits;
use std::sync::OnceLock;
use std::time::Duration;
use tokio::io::AsyncWriteExt;

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime")
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&split, input)) = data.split_first() else {
        return;
    };
    runtime().block_on(run(usize::from(split % 64) + 1, input));
});

async fn run(read_size: usize, input: &[u8]) {
    let (mut client, server) = tokio::io::duplex(read_size);
    let sent = input.to_vec();
    let writer = tokio::spawn(async move {
        let _ = client.write_all(&sent).await;
        let _ = client.shutdown().await;
        client
    });
    check(Session::new_h1(Box::new(server)), input).await;
    // The session is gone, so the writer ends (its peer closed); awaiting it leaves no task
    // behind in the runtime between inputs.
    let _ = writer.await;
}

async fn check(mut session: Session, input: &[u8]) {
    if !matches!(session.read_request().await, Ok(true)) {
        return;
    }
    let limits = Limits {
        max_body_bytes: 1 << 20,
        integration_timeout: Duration::from_secs(1),
        max_url_bytes: 8192,
        max_header_bytes: 64 * 1024,
        max_headers: 100,
        idle_timeout_seconds: 60,
    };
    let head = session
        .as_downstream()
        .as_http1()
        .map(|h1| h1.get_headers_raw_bytes().to_vec())
        .unwrap_or_default();
    let admitted = admit(&mut session, &limits).is_ok();
    if admitted {
        assert!(
            !head
                .iter()
                .enumerate()
                .any(|(i, &b)| b == b'\n' && (i == 0 || head[i - 1] != b'\r')),
            "admitted a head with a bare LF: {:?}",
            head.escape_ascii().to_string()
        );
    }
    let chunked = session
        .req_header()
        .headers
        .get("transfer-encoding")
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"chunked"));

    let mut body = Vec::new();
    let read = loop {
        match session.read_request_body().await {
            Ok(Some(bytes)) => {
                if body.len() < (1 << 20) {
                    body.extend_from_slice(&bytes);
                }
            }
            Ok(None) => break true,
            Err(_) => break false,
        }
    };
    drop(session);

    // Only where the head is the client's bytes as sent (pingora rewrites a head whose target
    // it percent-encodes) does the body start at `head.len()`.
    if !admitted || !chunked || !input.starts_with(&head) {
        return;
    }
    match (read, strict_chunked(&input[head.len()..])) {
        (true, Some(want)) => assert_eq!(body, want, "pingora read another body"),
        (true, None) => panic!(
            "pingora accepted a chunked body a strict reading refuses: {:?}",
            input[head.len()..].escape_ascii().to_string()
        ),
        // Under the size limits of pingora's reader (8 KiB of chunk line, 64 KiB of trailers).
        (false, Some(_)) if input.len() < 4096 => panic!(
            "pingora refused a valid chunked body: {:?}",
            input[head.len()..].escape_ascii().to_string()
        ),
        _ => {}
    }
}

// An independent strict reading of a chunked body (RFC 9112 7.1), written as a recursive
// descent over whole lines rather than pingora's byte state machines. `None`: invalid, or the
// bytes end before the body does.

fn tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

fn ws(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

/// The next line, which must end with CRLF and hold no other CR or LF; and the rest.
fn line(s: &[u8]) -> Option<(&[u8], &[u8])> {
    let lf = s.iter().position(|&b| b == b'\n')?;
    let (l, rest) = (&s[..lf], &s[lf + 1..]);
    let l = l.strip_suffix(b"\r")?;
    (!l.contains(&b'\r')).then_some((l, rest))
}

fn skip_ws(s: &[u8]) -> &[u8] {
    let n = s.iter().take_while(|&&b| ws(b)).count();
    &s[n..]
}

fn token(s: &[u8]) -> Option<&[u8]> {
    let n = s.iter().take_while(|&&b| tchar(b)).count();
    (n > 0).then_some(&s[n..])
}

fn quoted(s: &[u8]) -> Option<&[u8]> {
    let mut i = 1; // past the opening quote
    loop {
        match *s.get(i)? {
            b'"' => return Some(&s[i + 1..]),
            b'\\' => {
                let e = *s.get(i + 1)?;
                if !(ws(e) || (0x21..=0x7e).contains(&e) || e >= 0x80) {
                    return None;
                }
                i += 2;
            }
            b if ws(b) || b == 0x21 || (0x23..=0x7e).contains(&b) || b >= 0x80 => i += 1,
            _ => return None,
        }
    }
}

/// `*( BWS ";" BWS name [ BWS "=" BWS value ] ) BWS` and nothing after.
fn extensions(mut s: &[u8]) -> Option<()> {
    loop {
        s = skip_ws(s);
        if s.is_empty() {
            return Some(());
        }
        s = skip_ws(s.strip_prefix(b";")?);
        s = token(s)?;
        let after = skip_ws(s);
        if let Some(v) = after.strip_prefix(b"=") {
            let v = skip_ws(v);
            s = if v.first() == Some(&b'"') {
                quoted(v)?
            } else {
                token(v)?
            };
        }
    }
}

fn strict_chunked(mut s: &[u8]) -> Option<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let (l, rest) = line(s)?;
        let digits = l.iter().take_while(|b| b.is_ascii_hexdigit()).count();
        if digits == 0 {
            return None;
        }
        let text = std::str::from_utf8(&l[..digits]).ok()?;
        let size = u64::from_str_radix(text.trim_start_matches('0'), 16)
            .or_else(|e| if text.bytes().all(|b| b == b'0') { Ok(0) } else { Err(e) })
            .ok()?;
        extensions(&l[digits..])?;
        if size == 0 {
            s = rest;
            break;
        }
        let size = usize::try_from(size).ok()?;
        if rest.len() < size.checked_add(2)? || &rest[size..size + 2] != b"\r\n" {
            return None;
        }
        body.extend_from_slice(&rest[..size]);
        s = &rest[size + 2..];
    }
    loop {
        let (l, rest) = line(s)?;
        if l.is_empty() {
            return Some(body);
        }
        let colon = l.iter().position(|&b| b == b':')?;
        let (name, value) = (&l[..colon], &l[colon + 1..]);
        if name.is_empty() || !name.iter().all(|&b| tchar(b)) {
            return None;
        }
        if !value
            .iter()
            .all(|&b| ws(b) || (0x21..=0x7e).contains(&b) || b >= 0x80)
        {
            return None;
        }
        s = rest;
    }
}

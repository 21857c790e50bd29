//! A strict recording HTTP/1.1 origin for the request-smuggling battery.
//!
//! A proxy is safe against desync only if what it forwards has exactly one reading. This backend
//! therefore refuses to guess: it parses every byte the gateway sends by the letter of RFC 9112
//! (no bare LF or CR, no obs-fold, one `Host`, one digits-only `Content-Length`, `chunked` as the
//! only transfer coding and never together with `Content-Length`, strict chunk lines and
//! trailers). Anything else is recorded as a framing violation, with the raw bytes, and answered
//! 400 + close; a lenient origin would instead pick one reading and hide the ambiguity.
//!
//! Each request it accepts is answered 200 with a JSON echo of its method, target, body and its
//! place on the upstream connection, so a client can tell which request an answer belongs to.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// Bytes of a message head the backend reads before calling it a violation (the gateway's own
/// header limits are far below this).
const MAX_HEAD: usize = 256 * 1024;

/// One request the backend parsed and answered.
#[derive(Clone, Debug)]
pub struct StrictRequest {
    /// Upstream connection number, from 1, in accept order.
    pub conn: u64,
    /// Request number on that connection, from 1.
    pub seq: u64,
    pub method: String,
    pub target: String,
    /// In the order received, names as sent.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl StrictRequest {
    /// All values of the field `name` (case-insensitive), in order.
    pub fn header_all(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

/// The start of a violation's reason when the bytes break a field's or the target's own syntax
/// (a control byte in a value, a non-ASCII or backslash target) but not the message framing: no
/// two readers can disagree on where such a request ends.
const SYNTAX: &str = "syntax: ";

/// Bytes the backend could not read as one unambiguous request.
#[derive(Clone, Debug)]
pub struct Violation {
    pub conn: u64,
    /// The request number it would have had on its connection.
    pub seq: u64,
    pub reason: String,
    /// Everything received on the connection from the start of the offending request.
    pub raw: Vec<u8>,
}

impl Violation {
    /// Whether the violation is in the framing (lines, lengths, chunks), not in a field's or the
    /// target's own syntax.
    pub fn framing(&self) -> bool {
        !self.reason.starts_with(SYNTAX)
    }
}

/// A request cut short by the end of its connection: not ambiguous (a proxy abandons an
/// upstream request when its client's body breaks off), but kept for reports.
#[derive(Clone, Debug)]
pub struct Truncated {
    pub conn: u64,
    pub raw: Vec<u8>,
}

#[derive(Default)]
struct Record {
    requests: Vec<StrictRequest>,
    violations: Vec<Violation>,
    truncated: Vec<Truncated>,
}

/// The strict backend: a tokio listener on 127.0.0.1:0; stops accepting on drop.
pub struct StrictBackend {
    addr: SocketAddr,
    record: Arc<Mutex<Record>>,
    connections: Arc<AtomicU64>,
    accept: JoinHandle<()>,
}

impl StrictBackend {
    pub async fn start() -> StrictBackend {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind strict backend");
        let addr = listener.local_addr().expect("local_addr");
        let record = Arc::new(Mutex::new(Record::default()));
        let connections = Arc::new(AtomicU64::new(0));
        let (rec, count) = (record.clone(), connections.clone());
        let accept = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let conn = count.fetch_add(1, Ordering::SeqCst) + 1;
                tokio::spawn(serve(stream, conn, rec.clone()));
            }
        });
        StrictBackend {
            addr,
            record,
            connections,
            accept,
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Every request parsed so far, in the order they completed.
    pub fn requests(&self) -> Vec<StrictRequest> {
        self.record.lock().unwrap().requests.clone()
    }

    /// Every framing violation so far.
    pub fn violations(&self) -> Vec<Violation> {
        self.record.lock().unwrap().violations.clone()
    }

    /// Requests whose connection ended before they were complete.
    pub fn truncated(&self) -> Vec<Truncated> {
        self.record.lock().unwrap().truncated.clone()
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> u64 {
        self.connections.load(Ordering::SeqCst)
    }
}

impl Drop for StrictBackend {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

async fn serve(mut s: TcpStream, conn: u64, record: Arc<Mutex<Record>>) {
    let mut buf: Vec<u8> = Vec::new();
    let mut chunk = vec![0u8; 64 * 1024];
    let mut seq = 0u64;
    // The request (by seq) a `100 Continue` was already sent for.
    let mut continued = 0u64;
    let mut eof = false;
    loop {
        if !buf.is_empty() {
            match parse_request(&buf) {
                Parse::Done(req, used) => {
                    seq += 1;
                    let close = wants_close(&req.headers);
                    let answer = echo(&req, conn, seq);
                    record.lock().unwrap().requests.push(StrictRequest {
                        conn,
                        seq,
                        method: req.method,
                        target: req.target,
                        headers: req.headers,
                        body: req.body,
                    });
                    buf.drain(..used);
                    if s.write_all(&answer).await.is_err() || close {
                        return;
                    }
                    continue;
                }
                Parse::Invalid(reason) => {
                    record.lock().unwrap().violations.push(Violation {
                        conn,
                        seq: seq + 1,
                        reason,
                        raw: buf.clone(),
                    });
                    let _ = s
                        .write_all(
                            b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                        )
                        .await;
                    return;
                }
                Parse::Partial { expects_continue } => {
                    if expects_continue && continued != seq + 1 {
                        continued = seq + 1;
                        if s.write_all(b"HTTP/1.1 100 Continue\r\n\r\n").await.is_err() {
                            return;
                        }
                    }
                }
            }
        }
        if eof {
            if !buf.is_empty() {
                record
                    .lock()
                    .unwrap()
                    .truncated
                    .push(Truncated { conn, raw: buf });
            }
            return;
        }
        match s.read(&mut chunk).await {
            Ok(0) | Err(_) => eof = true,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

fn wants_close(headers: &[(String, String)]) -> bool {
    headers.iter().any(|(k, v)| {
        k.eq_ignore_ascii_case("connection")
            && v.split(',').any(|t| t.trim().eq_ignore_ascii_case("close"))
    })
}

fn echo(req: &Parsed, conn: u64, seq: u64) -> Vec<u8> {
    let body = json!({
        "method": req.method,
        "target": req.target,
        "body": String::from_utf8_lossy(&req.body),
        "conn": conn,
        "seq": seq,
    })
    .to_string();
    let mut out = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    if req.method != "HEAD" {
        out.extend_from_slice(body.as_bytes());
    }
    out
}

struct Parsed {
    method: String,
    target: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

enum Parse {
    /// A whole request and the bytes it took.
    Done(Parsed, usize),
    /// More bytes needed; `expects_continue` once a head with `Expect: 100-continue` is in.
    Partial {
        expects_continue: bool,
    },
    Invalid(String),
}

/// RFC 9110 5.6.2 tchar.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

fn is_token(s: &[u8]) -> bool {
    !s.is_empty() && s.iter().all(|&b| is_tchar(b))
}

/// One line ending in CRLF at the start of `b`: `Ok(Some((line, bytes used)))`, `Ok(None)` when
/// no line end has arrived yet, `Err` on a bare LF or a bare CR.
fn line(b: &[u8]) -> Result<Option<(&[u8], usize)>, String> {
    for (i, &c) in b.iter().enumerate() {
        match c {
            b'\n' => return Err(format!("bare LF at byte {i} of a line")),
            b'\r' => {
                return match b.get(i + 1) {
                    None => Ok(None),
                    Some(b'\n') => Ok(Some((&b[..i], i + 2))),
                    Some(_) => Err(format!("bare CR at byte {i} of a line")),
                };
            }
            _ => {}
        }
    }
    Ok(None)
}

/// `token ":" OWS field-value OWS`, the value made of VCHAR, obs-text, SP and HTAB only.
fn field_line(l: &[u8]) -> Result<(String, String), String> {
    let shown = String::from_utf8_lossy(l);
    if l.first().is_some_and(|&b| b == b' ' || b == b'\t') {
        return Err(format!("obs-fold (line begins with whitespace): {shown:?}"));
    }
    let colon = l
        .iter()
        .position(|&b| b == b':')
        .ok_or_else(|| format!("field line without a colon: {shown:?}"))?;
    let name = &l[..colon];
    if !is_token(name) {
        return Err(format!("field name is not a token: {shown:?}"));
    }
    let value = &l[colon + 1..];
    if let Some(bad) = value
        .iter()
        .find(|&&b| (b < 0x20 && b != b'\t') || b == 0x7f)
    {
        return Err(format!(
            "{SYNTAX}control byte {bad:#04x} in a field value: {shown:?}"
        ));
    }
    let value = value
        .trim_ascii_start()
        .trim_ascii_end()
        .iter()
        .map(|&b| b as char)
        .collect::<String>();
    Ok((String::from_utf8_lossy(name).into_owned(), value))
}

/// The request target's own syntax (RFC 9112 3.2): visible ASCII, no fragment, no backslash;
/// origin-form, absolute-form, `*` for OPTIONS or authority-form for CONNECT.
fn target_ok(method: &str, t: &[u8]) -> Result<(), String> {
    let shown = String::from_utf8_lossy(t);
    if t.is_empty() || t.iter().any(|&b| !(0x21..0x7f).contains(&b)) {
        return Err(format!(
            "{SYNTAX}request target with a byte outside VCHAR: {shown:?}"
        ));
    }
    if t.contains(&b'#') || t.contains(&b'\\') {
        return Err(format!(
            "{SYNTAX}request target with '#' or '\\': {shown:?}"
        ));
    }
    let ok = match t {
        [b'/', ..] => true,
        b"*" => method == "OPTIONS",
        _ if method == "CONNECT" => !t.contains(&b'/'),
        _ => t.starts_with(b"http://") || t.starts_with(b"https://"),
    };
    if ok {
        Ok(())
    } else {
        Err(format!(
            "request target in no form {method} allows: {shown:?}"
        ))
    }
}

/// How the body is delimited, from the head.
enum Framing {
    Length(u64),
    Chunked,
}

fn parse_request(buf: &[u8]) -> Parse {
    match parse_request_inner(buf) {
        Ok(p) => p,
        Err(reason) => Parse::Invalid(reason),
    }
}

fn parse_request_inner(buf: &[u8]) -> Result<Parse, String> {
    let partial = |expects_continue: bool| {
        if buf.len() > MAX_HEAD && !expects_continue {
            Err(format!("no complete head in {MAX_HEAD} bytes"))
        } else {
            Ok(Parse::Partial { expects_continue })
        }
    };
    // The request line.
    let Some((rl, mut at)) = line(buf)? else {
        return partial(false);
    };
    let parts: Vec<&[u8]> = rl.split(|&b| b == b' ').collect();
    let [method, target, version] = parts[..] else {
        return Err(format!(
            "request line is not METHOD SP TARGET SP VERSION: {:?}",
            String::from_utf8_lossy(rl)
        ));
    };
    if !is_token(method) {
        return Err(format!(
            "method is not a token: {:?}",
            String::from_utf8_lossy(rl)
        ));
    }
    let method = String::from_utf8_lossy(method).into_owned();
    target_ok(&method, target)?;
    if version != b"HTTP/1.1" {
        return Err(format!(
            "version is not HTTP/1.1: {:?}",
            String::from_utf8_lossy(rl)
        ));
    }
    // The header section.
    let mut headers = Vec::new();
    loop {
        let Some((l, used)) = line(&buf[at..])? else {
            return partial(false);
        };
        at += used;
        if l.is_empty() {
            break;
        }
        headers.push(field_line(l)?);
    }
    let framing = framing(&headers)?;
    let expects_continue = headers
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case("expect") && v.eq_ignore_ascii_case("100-continue"));
    let body_start = at;
    let (body, used) = match framing {
        Framing::Length(n) => {
            let n = usize::try_from(n).map_err(|_| format!("Content-Length {n} too large"))?;
            if buf.len() - body_start < n {
                return Ok(Parse::Partial { expects_continue });
            }
            (buf[body_start..body_start + n].to_vec(), body_start + n)
        }
        Framing::Chunked => match dechunk(&buf[body_start..])? {
            Some((body, n)) => (body, body_start + n),
            None => return Ok(Parse::Partial { expects_continue }),
        },
    };
    Ok(Parse::Done(
        Parsed {
            method,
            target: String::from_utf8_lossy(target).into_owned(),
            headers,
            body,
        },
        used,
    ))
}

/// One `Host`; at most one digits-only `Content-Length`; `Transfer-Encoding` only as the single
/// coding `chunked` (coding names are case-insensitive, RFC 9112 7); never both.
fn framing(headers: &[(String, String)]) -> Result<Framing, String> {
    let all = |name: &str| -> Vec<&str> {
        headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    };
    let hosts = all("host");
    if hosts.len() != 1 {
        return Err(format!("{} Host fields: {hosts:?}", hosts.len()));
    }
    let cl = all("content-length");
    let te = all("transfer-encoding");
    if !cl.is_empty() && !te.is_empty() {
        return Err(format!(
            "both Content-Length {cl:?} and Transfer-Encoding {te:?}"
        ));
    }
    if !te.is_empty() {
        return match te[..] {
            [v] if v.eq_ignore_ascii_case("chunked") => Ok(Framing::Chunked),
            _ => Err(format!("Transfer-Encoding other than one chunked: {te:?}")),
        };
    }
    match cl[..] {
        [] => Ok(Framing::Length(0)),
        [v] if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) => v
            .parse()
            .map(Framing::Length)
            .map_err(|_| format!("Content-Length out of range: {v:?}")),
        _ => Err(format!("Content-Length not one number: {cl:?}")),
    }
}

/// `chunk-ext = *( BWS ";" BWS ext-name [ BWS "=" BWS ( token / quoted-string ) ] )`.
fn chunk_ext_ok(mut e: &[u8]) -> bool {
    let skip_ws = |e: &mut &[u8]| {
        while let [b' ' | b'\t', rest @ ..] = *e {
            *e = rest;
        }
    };
    let token = |e: &mut &[u8]| {
        let n = e.iter().take_while(|&&b| is_tchar(b)).count();
        *e = &e[n..];
        n > 0
    };
    loop {
        skip_ws(&mut e);
        if e.is_empty() {
            return true;
        }
        let [b';', rest @ ..] = e else { return false };
        e = rest;
        skip_ws(&mut e);
        if !token(&mut e) {
            return false;
        }
        skip_ws(&mut e);
        if let [b'=', rest @ ..] = e {
            e = rest;
            skip_ws(&mut e);
            if let [b'"', rest @ ..] = e {
                e = rest;
                loop {
                    match e {
                        [b'"', rest @ ..] => {
                            e = rest;
                            break;
                        }
                        [b'\\', c, rest @ ..] if *c == b'\t' || *c >= 0x20 && *c != 0x7f => {
                            e = rest
                        }
                        [c, rest @ ..] if *c == b'\t' || *c >= 0x20 && *c != 0x7f => e = rest,
                        _ => return false,
                    }
                }
            } else if !token(&mut e) {
                return false;
            }
        }
    }
}

/// A chunked body at the start of `b`: `Ok(Some((data, bytes used)))` once the last chunk and
/// the trailer section are in, `Ok(None)` while incomplete.
fn dechunk(b: &[u8]) -> Result<Option<(Vec<u8>, usize)>, String> {
    let mut data = Vec::new();
    let mut at = 0;
    loop {
        let Some((l, used)) = line(&b[at..]).map_err(|e| format!("chunk size line: {e}"))? else {
            return Ok(None);
        };
        let shown = String::from_utf8_lossy(l);
        let digits = l.iter().take_while(|b| b.is_ascii_hexdigit()).count();
        if digits == 0 {
            return Err(format!("chunk size line without a size: {shown:?}"));
        }
        if !chunk_ext_ok(&l[digits..]) {
            return Err(format!("bad chunk extension: {shown:?}"));
        }
        let size_text = std::str::from_utf8(&l[..digits]).unwrap_or("");
        let size = usize::from_str_radix(size_text.trim_start_matches('0'), 16)
            .or_else(|e| {
                if size_text.trim_start_matches('0').is_empty() {
                    Ok(0)
                } else {
                    Err(e)
                }
            })
            .map_err(|_| format!("chunk size overflows: {shown:?}"))?;
        at += used;
        if size == 0 {
            break;
        }
        if b.len() < at + size + 2 {
            return Ok(None);
        }
        data.extend_from_slice(&b[at..at + size]);
        if &b[at + size..at + size + 2] != b"\r\n" {
            return Err("chunk data not followed by CRLF".to_string());
        }
        at += size + 2;
    }
    // Trailer section: field lines up to an empty line. Framing fields in it would give the
    // message a second length (RFC 9110 6.5.1).
    loop {
        let Some((l, used)) = line(&b[at..]).map_err(|e| format!("trailer section: {e}"))? else {
            return Ok(None);
        };
        at += used;
        if l.is_empty() {
            return Ok(Some((data, at)));
        }
        let (name, _) = field_line(l).map_err(|e| format!("trailer: {e}"))?;
        if ["content-length", "transfer-encoding", "host"]
            .iter()
            .any(|f| name.eq_ignore_ascii_case(f))
        {
            return Err(format!("framing field {name} in the trailers"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn done(b: &[u8]) -> Parsed {
        match parse_request(b) {
            Parse::Done(p, used) => {
                assert_eq!(used, b.len(), "{:?}", String::from_utf8_lossy(b));
                p
            }
            Parse::Partial { .. } => panic!("partial: {:?}", String::from_utf8_lossy(b)),
            Parse::Invalid(r) => panic!("invalid ({r}): {:?}", String::from_utf8_lossy(b)),
        }
    }

    fn invalid(b: &[u8]) {
        assert!(
            matches!(parse_request(b), Parse::Invalid(_)),
            "accepted: {:?}",
            String::from_utf8_lossy(b)
        );
    }

    #[test]
    fn strict_parsing() {
        let p = done(b"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello");
        assert_eq!(p.body, b"hello");
        let p = done(b"POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5;a=b;c=\"d\\\"e\"\r\nhello\r\n1\r\n!\r\n0\r\nX-T: 1\r\n\r\n");
        assert_eq!(p.body, b"hello!");
        for bad in [
            &b"GET /a HTTP/1.1\nHost: x\r\n\r\n"[..],
            b"GET /a HTTP/1.1\r\nHost: x\r\n y\r\n\r\n",
            b"GET /a HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n",
            b"GET /a HTTP/1.1\r\n\r\n",
            b"GET /a HTTP/1.0\r\nHost: x\r\n\r\n",
            b"GET /a#f HTTP/1.1\r\nHost: x\r\n\r\n",
            b"GET /a HTTP/1.1\r\nHost: x\r\nA : b\r\n\r\n",
            b"GET /a HTTP/1.1\r\nHost: x\r\nA: b\rc\r\n\r\n",
            b"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx",
            b"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: +1\r\n\r\nx",
            b"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            b"POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
            b"POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n2;\nxx\r\n0\r\n\r\n",
            b"POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n\r\n0\r\n\r\n",
            b"POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nxxyy0\r\n\r\n",
            b"POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nContent-Length: 1\r\n\r\n",
            b"POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffffffff\r\n",
        ] {
            invalid(bad);
        }
    }
}

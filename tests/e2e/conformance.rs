//! HTTP/1.1 request-smuggling, desync and malformed-request battery: well over a hundred raw-byte
//! payloads sent on TCP sockets to the real gateway, in front of a strict recording origin
//! (`common::strict`) that parses what the gateway forwards by the letter of RFC 9112.
//!
//! A front proxy is the one place where two HTTP parsers meet: whenever the gateway and an origin
//! could read the same bytes as different requests, a client can hide a request from the gateway
//! or attach someone else's answer to its own. Each payload is therefore judged on what both
//! ends saw, not on a status code alone: it must be refused, or forwarded with framing the strict
//! origin accepts, and every answer the client reads must be the answer to the request it sent at
//! that position on the connection. See [`judge`] for the rules.
//!
//! The same battery runs against nginx when `STAGECRAFT_NGINX` names its binary, as a reference
//! for what a mature proxy does with these bytes.

#![allow(clippy::unwrap_used)]

use crate::common;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::hardening::{catch_all, put_deployment, put_stage};
use common::strict::{StrictBackend, StrictRequest, Violation};
use common::wire::{dechunk, find};
use common::{patience, reserve_port, ConfigDir, Gateway};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const HOST: &str = "gw.test";

/// How many cases run at once: enough to finish in seconds, few enough to stay far from any
/// connection limit.
const CONCURRENCY: usize = 16;

/// Bound of one case's exchange. Every case ends deterministically (the last request asks for
/// `close`, or the client shuts its write half), so this is only reached when a proxy leaves a
/// connection hanging, which is itself reported.
const CASE_DEADLINE: Duration = Duration::from_secs(10);

/// How long a connection must stay silent before a `Step::HalfClose` sends the FIN (scaled by
/// [`patience`]). A proxy that decides on the bytes answers or closes within milliseconds; only
/// one waiting for more input waits this long, and then the FIN is what it waits for.
const QUIET: Duration = Duration::from_millis(1000);

// ---------------------------------------------------------------------------------------------
// Cases.

/// What a case must come to, where RFC 9112 leaves only one choice.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Expect {
    /// A 4xx (or the RFC's own 5xx for the input, see `Case::rfc_5xx`), or a close without an
    /// answer; no request of the case reaches the backend.
    Refused,
    /// Exactly this many requests reach the backend and the first this many answers are their
    /// 2xx, in order.
    Forwarded(usize),
    /// Refusing and forwarding are both allowed; the general rules still hold.
    Either,
}

impl std::fmt::Display for Expect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Expect::Refused => f.pad("Refused"),
            Expect::Forwarded(n) => f.pad(&format!("Forwarded({n})")),
            Expect::Either => f.pad("Either"),
        }
    }
}

#[derive(Clone, Debug)]
enum Step {
    Send(Vec<u8>),
    /// Lets a proxy act on what it has so far (answer a head, see a request end) before the rest.
    Pause(Duration),
    /// Shuts down the client's write half once the connection has been quiet for [`QUIET`]:
    /// ends a deliberately incomplete message, and any connection a proxy would otherwise keep
    /// open waiting for a next request. Not at once: a proxy takes a FIN while a request is in
    /// flight as the client giving up (pingora and nginx both abandon the request), so an
    /// immediate FIN would race with what the proxy does with the bytes, which is what is judged.
    HalfClose,
}

/// A request the client means to send, in the form the backend should see it.
#[derive(Clone, Debug)]
struct Intent {
    method: String,
    /// Targets the backend may see for it (one, unless normalisation may legitimately differ).
    targets: Vec<String>,
    body: Vec<u8>,
}

type Check = fn(&[&StrictRequest]) -> Result<(), String>;

struct Case {
    name: String,
    steps: Vec<Step>,
    intents: Vec<Intent>,
    expect: Expect,
    /// 5xx statuses RFC 9110/9112 name as the answer to this input (501 for an unknown transfer
    /// coding or method, 505 for an unsupported version): a refusal, not a server failure.
    rfc_5xx: Vec<u16>,
    /// Backend targets outside `/c/NAME/` that belong to this case (`*`, an authority).
    claims: Vec<String>,
    check: Option<Check>,
    /// The expectation is stagecraft's documented decision where RFC 9112 allows more than one
    /// answer (refusing bare LF line ends, collapsing equal lengths): a reference proxy is held
    /// to the general rules only.
    ours: bool,
}

impl Case {
    fn new(name: &N, expect: Expect) -> Case {
        Case {
            name: name.0.to_string(),
            steps: Vec::new(),
            intents: Vec::new(),
            expect,
            rfc_5xx: Vec::new(),
            claims: Vec::new(),
            check: None,
            ours: false,
        }
    }

    fn send(mut self, bytes: impl AsRef<[u8]>) -> Case {
        self.steps.push(Step::Send(bytes.as_ref().to_vec()));
        self
    }

    fn pause_ms(mut self, ms: u64) -> Case {
        self.steps.push(Step::Pause(Duration::from_millis(ms)));
        self
    }

    fn half_close(mut self) -> Case {
        self.steps.push(Step::HalfClose);
        self
    }

    /// The client's `n`th request: `METHOD /c/NAME/n` at the backend.
    fn wants(self, method: &str, n: usize, body: impl AsRef<[u8]>) -> Case {
        let target = format!("/c/{}/{n}", self.name);
        self.wants_at(method, &[&target], body)
    }

    fn wants_at(mut self, method: &str, targets: &[&str], body: impl AsRef<[u8]>) -> Case {
        self.intents.push(Intent {
            method: method.to_string(),
            targets: targets.iter().map(|t| t.to_string()).collect(),
            body: body.as_ref().to_vec(),
        });
        self
    }

    fn allow_5xx(mut self, status: u16) -> Case {
        self.rfc_5xx.push(status);
        self
    }

    fn ours(mut self) -> Case {
        self.ours = true;
        self
    }

    fn claim(mut self, target: &str) -> Case {
        self.claims.push(target.to_string());
        self
    }

    fn check(mut self, check: Check) -> Case {
        self.check = Some(check);
        self
    }

    fn bytes(&self) -> Vec<u8> {
        let mut all = Vec::new();
        for s in &self.steps {
            match s {
                Step::Send(b) => all.extend_from_slice(b),
                Step::Pause(d) => all.extend_from_slice(format!("<pause {d:?}>").as_bytes()),
                Step::HalfClose => all.extend_from_slice(b"<shutdown(write)>"),
            }
        }
        all
    }

    fn owns(&self, target: &str) -> bool {
        target.contains(&format!("/c/{}/", self.name)) || self.claims.iter().any(|c| c == target)
    }
}

/// A case's name, and the requests that carry it in their targets.
struct N(&'static str);

impl N {
    /// The gateway target of the client's `n`th request.
    fn at(&self, n: usize) -> String {
        format!("/prod/c/{}/{n}", self.0)
    }

    /// A request that must never execute: it sits where one reading of the framing sees body
    /// bytes. It asks for `close` so that a proxy that does run it ends the exchange.
    fn smuggled(&self) -> String {
        format!(
            "GET /prod/c/{}/SMUGGLED HTTP/1.1\r\nHost: {HOST}\r\nConnection: close\r\n\r\n",
            self.0
        )
    }

    /// `GET` with `headers` (each ending in CRLF) after `Host`.
    fn get(&self, n: usize, headers: &str) -> String {
        format!(
            "GET {} HTTP/1.1\r\nHost: {HOST}\r\n{headers}\r\n",
            self.at(n)
        )
    }

    fn get_close(&self, n: usize) -> String {
        self.get(n, "Connection: close\r\n")
    }

    /// `POST` with `headers` (the framing is up to the case) and `body` verbatim.
    fn post(&self, n: usize, headers: &str, body: &str) -> String {
        format!(
            "POST {} HTTP/1.1\r\nHost: {HOST}\r\n{headers}\r\n{body}",
            self.at(n)
        )
    }

    /// A well-formed `POST` with a `Content-Length` body.
    fn post_cl(&self, n: usize, body: &str, close: bool) -> String {
        let close = if close { "Connection: close\r\n" } else { "" };
        self.post(
            n,
            &format!("Content-Length: {}\r\n{close}", body.len()),
            body,
        )
    }
}

fn chunk(data: &str) -> String {
    format!("{:x}\r\n{data}\r\n", data.len())
}

const HELLO_CHUNKED: &str = "5\r\nhello\r\n0\r\n\r\n";

/// `Content-Length` + `Transfer-Encoding` in both orders, with bodies that put a request where
/// one reading sees body bytes.
fn framing_conflicts() -> Vec<Case> {
    use Expect::*;
    let mut c = Vec::new();
    // RFC 9112 6.1: Transfer-Encoding overrides Content-Length; a server may reject the message,
    // or read it as chunked and close the connection afterwards. Either way the bytes after the
    // chunked body never run. stagecraft refuses, whatever `Connection` says (`ours`).
    for (name, te_first, close) in [
        (N("clte-keepalive"), false, false),
        (N("clte-close"), false, true),
        (N("clte-te-first"), true, false),
    ] {
        let body = format!("0\r\n\r\n{}", name.smuggled());
        let cl = format!("Content-Length: {}\r\n", body.len());
        let te = "Transfer-Encoding: chunked\r\n";
        let framing = if te_first {
            format!("{te}{cl}")
        } else {
            format!("{cl}{te}")
        };
        let close = if close { "Connection: close\r\n" } else { "" };
        c.push(
            Case::new(&name, Refused)
                .send(name.post(1, &format!("{framing}{close}"), &body))
                .half_close()
                .wants("POST", 1, "")
                .ours(),
        );
    }
    for (name, close) in [(N("tecl-keepalive"), false), (N("tecl-close"), true)] {
        // By Content-Length the body is the chunk-size line alone and the chunk data is the
        // next request; by chunked framing that request is the body.
        let inner = name.smuggled();
        let size_line = format!("{:x}\r\n", inner.len());
        let close = if close { "Connection: close\r\n" } else { "" };
        c.push(
            Case::new(&name, Refused)
                .send(name.post(
                    1,
                    &format!(
                        "Content-Length: {}\r\nTransfer-Encoding: chunked\r\n{close}",
                        size_line.len()
                    ),
                    &format!("{size_line}{inner}\r\n0\r\n\r\n"),
                ))
                .half_close()
                .wants("POST", 1, &inner)
                .ours(),
        );
    }
    let n = N("clte-cl-zero");
    c.push(
        Case::new(&n, Refused)
            .send(n.post(
                1,
                "Content-Length: 0\r\nTransfer-Encoding: chunked\r\n",
                HELLO_CHUNKED,
            ))
            .half_close()
            .wants("POST", 1, "hello")
            .ours(),
    );
    let n = N("te-with-cl-consistent");
    c.push(
        Case::new(&n, Refused)
            .send(n.post(
                1,
                &format!(
                    "Transfer-Encoding: chunked\r\nContent-Length: {}\r\nConnection: close\r\n",
                    HELLO_CHUNKED.len()
                ),
                HELLO_CHUNKED,
            ))
            .wants("POST", 1, "hello")
            .ours(),
    );
    let n = N("clte-http10");
    let body = format!("0\r\n\r\n{}", n.smuggled());
    c.push(
        Case::new(&n, Refused)
            .send(format!(
                "POST {} HTTP/1.0\r\nHost: {HOST}\r\nContent-Length: {}\r\nTransfer-Encoding: chunked\r\n\r\n{body}",
                n.at(1),
                body.len()
            ))
            .half_close()
            .wants("POST", 1, "")
                .ours(),
    );
    c
}

/// Transfer-Encoding spelled so that some parser might not recognise it, next to a
/// `Content-Length` that covers a hidden request: by `Content-Length` the request is body, by
/// chunked framing it is the next request (which must not run: the connection closes).
fn te_obfuscations() -> Vec<Case> {
    use Expect::*;
    let mut c = Vec::new();
    let te_case = |name: N, te: &str, expect: Expect| {
        let body = format!("0\r\n\r\n{}", name.smuggled());
        // Whatever a proxy cannot read as plain chunked, it may refuse as RFC 9112 6.1's
        // unknown coding (501) as well as a bad request.
        Case::new(&name, expect)
            .send(name.post(1, &format!("Content-Length: {}\r\n{te}", body.len()), &body))
            .half_close()
            .wants("POST", 1, "")
            .allow_5xx(501)
    };
    // RFC 9112 6.3: chunked not the final coding (or none readable) MUST be 400 and close.
    for (name, te) in [
        (N("te-xchunked"), "Transfer-Encoding: xchunked\r\n"),
        (
            N("te-chunked-identity"),
            "Transfer-Encoding: chunked, identity\r\n",
        ),
        (
            N("te-twice-identity"),
            "Transfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n",
        ),
        (N("te-quoted"), "Transfer-Encoding: \"chunked\"\r\n"),
        // RFC 9112 5.1: whitespace between a field name and the colon MUST be rejected.
        (
            N("te-space-before-colon"),
            "Transfer-Encoding : chunked\r\n",
        ),
        // A line without a colon, then a folded line: no field can be read from it.
        (N("te-obs-fold-name"), "Transfer-Encoding\r\n : chunked\r\n"),
    ] {
        c.push(te_case(name, te, Refused));
    }
    // Chunked is final but `identity` is no coding the server knows: RFC 9112 6.1 names 501.
    c.push(
        te_case(
            N("te-identity-chunked"),
            "Transfer-Encoding: identity, chunked\r\n",
            Refused,
        )
        .allow_5xx(501),
    );
    // Read as chunked (OWS, case-insensitive names and codings, an empty list element, obs-fold
    // replaced by SP) or refused as malformed; never read by Content-Length.
    for (name, te) in [
        (N("te-leading-space"), "Transfer-Encoding:  chunked\r\n"),
        (N("te-tab"), "Transfer-Encoding:\tchunked\r\n"),
        (N("te-obs-fold-value"), "Transfer-Encoding:\r\n chunked\r\n"),
        (
            N("te-twice"),
            "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n",
        ),
        (N("te-uppercase"), "Transfer-Encoding: CHUNKED\r\n"),
        (N("te-name-lowercase"), "transfer-encoding: chunked\r\n"),
        (N("te-name-mixed-case"), "TrAnSfEr-EnCoDiNg: chunked\r\n"),
        (N("te-trailing-comma"), "Transfer-Encoding: chunked,\r\n"),
        (N("te-vertical-tab"), "Transfer-Encoding:\x0bchunked\r\n"),
        (N("te-nul-suffix"), "Transfer-Encoding: chunked\0\r\n"),
    ] {
        c.push(te_case(name, te, Either));
    }
    let n = N("te-http10");
    let body = format!("0\r\n\r\n{}", n.smuggled());
    c.push(
        Case::new(&n, Either)
            .send(format!(
                "POST {} HTTP/1.0\r\nHost: {HOST}\r\nTransfer-Encoding: chunked\r\nContent-Length: {}\r\n\r\n{body}",
                n.at(1),
                body.len()
            ))
            .half_close()
            .wants("POST", 1, ""),
    );
    // The spellings RFC 9112 reads as plain chunked, without a Content-Length to conflict with:
    // a valid request, forwarded.
    for (name, te) in [
        (N("te-only-uppercase"), "Transfer-Encoding: CHUNKED\r\n"),
        (N("te-only-tab"), "Transfer-Encoding:\tchunked\r\n"),
        (
            N("te-only-leading-space"),
            "Transfer-Encoding:   chunked\r\n",
        ),
        (N("te-only-name-case"), "transfer-ENCODING: chunked\r\n"),
    ] {
        c.push(
            Case::new(&name, Forwarded(1))
                .send(name.post(1, &format!("{te}Connection: close\r\n"), HELLO_CHUNKED))
                .wants("POST", 1, "hello")
                .allow_5xx(501)
                .ours(),
        );
    }
    let n = N("te-only-xchunked");
    c.push(
        Case::new(&n, Refused)
            .send(n.post(1, "Transfer-Encoding: xchunked\r\n", HELLO_CHUNKED))
            .send(n.smuggled())
            .half_close()
            .wants("POST", 1, "hello")
            .allow_5xx(501),
    );
    c
}

fn one_content_length_of_5(reqs: &[&StrictRequest]) -> Result<(), String> {
    for r in reqs {
        let cl = r.header_all("content-length");
        if cl != ["5"] {
            return Err(format!(
                "backend saw Content-Length {cl:?} on {} {}, expected exactly one \"5\"",
                r.method, r.target
            ));
        }
    }
    Ok(())
}

fn content_lengths() -> Vec<Case> {
    use Expect::*;
    let mut c = Vec::new();
    // Values that are not one decimal number (RFC 9112 6.3: unrecoverable, 400 and close). A
    // lenient reading of 5 would run the request after "hello".
    for (name, value) in [
        (N("cl-plus"), "+5"),
        (N("cl-minus"), "-1"),
        (N("cl-space-separated"), "5 5"),
        (N("cl-hex"), "0x5"),
        (N("cl-list-different"), "5,6"),
        (N("cl-huge"), "99999999999999999999"),
        (N("cl-empty"), ""),
        (N("cl-decimal"), "5.0"),
        (N("cl-letters"), "5a"),
    ] {
        c.push(
            Case::new(&name, Refused)
                .send(name.post(
                    1,
                    &format!("Content-Length: {value}\r\n"),
                    &format!("hello{}", name.smuggled()),
                ))
                .half_close()
                .wants("POST", 1, "hello"),
        );
    }
    let n = N("cl-twice-different");
    let s = n.smuggled();
    c.push(
        Case::new(&n, Refused)
            .send(n.post(
                1,
                &format!("Content-Length: 5\r\nContent-Length: {}\r\n", 5 + s.len()),
                &format!("hello{s}"),
            ))
            .half_close()
            .wants("POST", 1, "hello"),
    );
    let n = N("cl-twice-different-reversed");
    let s = n.smuggled();
    c.push(
        Case::new(&n, Refused)
            .send(n.post(
                1,
                &format!("Content-Length: {}\r\nContent-Length: 5\r\n", 5 + s.len()),
                &format!("hello{s}"),
            ))
            .half_close()
            .wants("POST", 1, "hello"),
    );
    // RFC 9110 8.6: a list of equal values is that one value; the origin must get one field.
    for (name, lengths) in [
        (N("cl-list-equal"), "Content-Length: 5, 5\r\n"),
        (
            N("cl-twice-equal"),
            "Content-Length: 5\r\nContent-Length: 5\r\n",
        ),
    ] {
        c.push(
            Case::new(&name, Forwarded(1))
                .send(name.post(1, &format!("{lengths}Connection: close\r\n"), "hello"))
                .wants("POST", 1, "hello")
                .check(one_content_length_of_5)
                .ours(),
        );
    }
    for (name, value) in [
        (N("cl-leading-zeros"), "005"),
        (N("cl-tab-ows"), "\t5\t"),
        (N("cl-list-trailing-comma"), "5,"),
    ] {
        c.push(
            Case::new(&name, Either)
                .send(name.post(
                    1,
                    &format!("Content-Length: {value}\r\nConnection: close\r\n"),
                    "hello",
                ))
                .wants("POST", 1, "hello"),
        );
    }
    let n = N("cl-larger-than-body");
    c.push(
        Case::new(&n, Refused)
            .send(n.post(1, "Content-Length: 10\r\n", "hello"))
            .half_close()
            .wants("POST", 1, "hello"),
    );
    // The bytes after the declared length are the next request: never merged into the body.
    let n = N("cl-smaller-than-body");
    c.push(
        Case::new(&n, Forwarded(2))
            .send(format!(
                "{}{}",
                n.post(1, "Content-Length: 5\r\n", "hello"),
                n.get_close(2)
            ))
            .wants("POST", 1, "hello")
            .wants("GET", 2, ""),
    );
    let n = N("cl-zero");
    c.push(
        Case::new(&n, Forwarded(1))
            .send(n.post_cl(1, "", true))
            .wants("POST", 1, ""),
    );
    let n = N("cl-get-with-body");
    c.push(
        Case::new(&n, Either)
            .send(n.get(1, "Content-Length: 5\r\nConnection: close\r\n") + "hello")
            .wants("GET", 1, "hello"),
    );
    c
}

fn chunked() -> Vec<Case> {
    use Expect::*;
    let mut c = Vec::new();
    let chunked_post = |n: &N, body: &str, close: bool| {
        let close = if close { "Connection: close\r\n" } else { "" };
        n.post(1, &format!("Transfer-Encoding: chunked\r\n{close}"), body)
    };

    // Funky chunks: a parser that ends the size line at the bare LF reads "xx" and then a chunk
    // that holds a request; one that reads the extension up to CRLF takes "3e" as data, ends the
    // body at the "0" and runs the request.
    let n = N("chunk-lf-in-extension");
    let inner = format!("0\r\n\r\n{}", n.smuggled());
    assert!((0x10..=0xff).contains(&inner.len()), "two hex digits");
    c.push(
        Case::new(&n, Refused)
            .send(chunked_post(
                &n,
                &format!("2;\nxx\r\n{:x}\r\n{inner}\r\n0\r\n\r\n", inner.len()),
                false,
            ))
            .half_close()
            .wants("POST", 1, format!("xx{inner}"))
            .ours(),
    );
    // An empty size line: a parser that skips it reads "hello" and runs what follows.
    let n = N("chunk-size-empty-line");
    c.push(
        Case::new(&n, Refused)
            .send(chunked_post(
                &n,
                &format!("\r\n{HELLO_CHUNKED}{}", n.smuggled()),
                false,
            ))
            .half_close()
            .wants("POST", 1, "hello"),
    );
    // A trailer section holding a request line: a parser without trailers runs it.
    let n = N("chunk-trailer-request-line");
    c.push(
        Case::new(&n, Refused)
            .send(chunked_post(
                &n,
                &format!(
                    "5\r\nhello\r\n0\r\nGET /prod/c/{}/SMUGGLED HTTP/1.1\r\nHost: {HOST}\r\n\r\n",
                    n.0
                ),
                false,
            ))
            .half_close()
            .wants("POST", 1, "hello")
            .ours(),
    );
    for (name, body) in [
        (
            N("chunk-size-overflow"),
            "ffffffffffffffffffff\r\nhello\r\n0\r\n\r\n",
        ),
        (N("chunk-missing-last-chunk"), "5\r\nhello\r\n"),
    ] {
        c.push(
            Case::new(&name, Refused)
                .send(chunked_post(&name, body, false))
                .half_close()
                .wants("POST", 1, "hello"),
        );
    }
    // Malformed, but a proxy that re-frames them unambiguously does no harm: refused, or
    // forwarded with the body "hello".
    for (name, body) in [
        (N("chunk-size-bare-lf"), "5\nhello\r\n0\r\n\r\n"),
        (N("chunk-size-0x"), "0x5\r\nhello\r\n0\r\n\r\n"),
        (N("chunk-size-negative"), "-5\r\nhello\r\n0\r\n\r\n"),
        (N("chunk-size-plus"), "+5\r\nhello\r\n0\r\n\r\n"),
        (N("chunk-size-leading-space"), " 5\r\nhello\r\n0\r\n\r\n"),
        (N("chunk-size-trailing-space"), "5 \r\nhello\r\n0\r\n\r\n"),
        (N("chunk-size-bare-cr"), "5\r\r\nhello\r\n0\r\n\r\n"),
        (N("chunk-extension-bare-cr"), "5;a\rb\r\nhello\r\n0\r\n\r\n"),
        (N("chunk-data-without-crlf"), "5\r\nhelloXX0\r\n\r\n"),
        (N("chunk-data-longer-than-size"), "3\r\nhello\r\n0\r\n\r\n"),
        (
            N("chunk-trailer-content-length"),
            "5\r\nhello\r\n0\r\nContent-Length: 50\r\n\r\n",
        ),
        (
            N("chunk-trailer-transfer-encoding"),
            "5\r\nhello\r\n0\r\nTransfer-Encoding: chunked\r\n\r\n",
        ),
        (
            N("chunk-trailer-without-colon"),
            "5\r\nhello\r\n0\r\nX-T 1\r\n\r\n",
        ),
        (
            N("chunk-trailer-obs-fold"),
            "5\r\nhello\r\n0\r\nX-T: 1\r\n 2\r\n\r\n",
        ),
    ] {
        c.push(
            Case::new(&name, Either)
                .send(chunked_post(&name, body, true))
                .half_close()
                .wants("POST", 1, "hello"),
        );
    }
    // Valid chunked bodies (RFC 9112 7.1): forwarded whole.
    for (name, body, data) in [
        (
            N("chunk-extension-valid"),
            "5;name=value\r\nhello\r\n0\r\n\r\n",
            "hello",
        ),
        (
            N("chunk-extension-quoted"),
            "5;name=\"v;a\\\"l\"\r\nhello\r\n0\r\n\r\n",
            "hello",
        ),
        (
            N("chunk-extension-bare-name"),
            "5;flag\r\nhello\r\n0\r\n\r\n",
            "hello",
        ),
        (
            N("chunk-extension-bws"),
            "5 ; name = value\r\nhello\r\n0\r\n\r\n",
            "hello",
        ),
        (
            N("chunk-trailer-valid"),
            "5\r\nhello\r\n0\r\nX-T: 1\r\n\r\n",
            "hello",
        ),
        (
            N("chunk-uppercase-hex"),
            "A\r\n0123456789\r\n0\r\n\r\n",
            "0123456789",
        ),
        (
            N("chunk-leading-zero-size"),
            "0005\r\nhello\r\n000\r\n\r\n",
            "hello",
        ),
        (
            N("chunk-one-byte-chunks"),
            "1\r\nh\r\n1\r\ne\r\n1\r\nl\r\n1\r\nl\r\n1\r\no\r\n0\r\n\r\n",
            "hello",
        ),
        (N("chunk-zero-only"), "0\r\n\r\n", ""),
    ] {
        c.push(
            Case::new(&name, Forwarded(1))
                .send(chunked_post(&name, body, true))
                .wants("POST", 1, data),
        );
    }
    let n = N("chunk-then-pipelined");
    c.push(
        Case::new(&n, Forwarded(2))
            .send(chunked_post(&n, HELLO_CHUNKED, false) + &n.post_cl(2, "world", true))
            .wants("POST", 1, "hello")
            .wants("POST", 2, "world"),
    );
    c
}

fn header_syntax() -> Vec<Case> {
    use Expect::*;
    let mut c = Vec::new();
    // RFC 9110 5.5 / 9112 5: rejected, or (obs-fold, CR, NUL) replaced by SP before forwarding;
    // whatever is forwarded must be well-formed.
    let long = format!("X-Long: {}\r\n", "a".repeat(60 * 1024));
    let many: String = (0..200).map(|i| format!("X-H{i}: v\r\n")).collect();
    for (name, line) in [
        (N("hdr-obs-fold"), "X-A: a\r\n b\r\n"),
        (N("hdr-obs-fold-tab"), "X-A: a\r\n\tb\r\n"),
        (N("hdr-nul-in-value"), "X-A: a\0b\r\n"),
        (N("hdr-bare-cr-in-value"), "X-A: a\rb\r\n"),
        (N("hdr-del-in-value"), "X-A: a\x7fb\r\n"),
        (N("hdr-space-in-name"), "X A: b\r\n"),
        (N("hdr-empty-name"), ": x\r\n"),
        (N("hdr-no-colon"), "X-A b\r\n"),
        (N("hdr-cr-in-name"), "X\rA: b\r\n"),
        (N("hdr-long-60k"), long.as_str()),
        (N("hdr-200-fields"), many.as_str()),
    ] {
        c.push(
            Case::new(&name, Either)
                .send(name.get(1, &format!("{line}Connection: close\r\n")))
                .half_close()
                .wants("GET", 1, ""),
        );
    }
    let n = N("hdr-non-ascii-name");
    let mut bytes = format!("GET {} HTTP/1.1\r\nHost: {HOST}\r\nX-", n.at(1)).into_bytes();
    bytes.extend_from_slice(b"\xc3\xa9: 1\r\nConnection: close\r\n\r\n");
    c.push(
        Case::new(&n, Either)
            .send(bytes)
            .half_close()
            .wants("GET", 1, ""),
    );
    let n = N("hdr-obs-text-value");
    let mut bytes = format!("GET {} HTTP/1.1\r\nHost: {HOST}\r\nX-A: caf", n.at(1)).into_bytes();
    bytes.extend_from_slice(b"\xe9\r\nConnection: close\r\n\r\n");
    c.push(Case::new(&n, Either).send(bytes).wants("GET", 1, ""));
    // RFC 9112 2.2: a line after the request line that begins with whitespace is rejected or
    // ignored.
    let n = N("hdr-first-line-whitespace");
    c.push(
        Case::new(&n, Either)
            .send(format!(
                "GET {} HTTP/1.1\r\n X-A: b\r\nHost: {HOST}\r\nConnection: close\r\n\r\n",
                n.at(1)
            ))
            .half_close()
            .wants("GET", 1, ""),
    );
    // Bare LF line ends in the head: two parsers may split the head differently.
    for (name, head) in [
        (
            N("hdr-bare-lf-head"),
            "HTTP/1.1\nHost: gw.test\nConnection: close\n\n",
        ),
        (
            N("hdr-mixed-crlf-lf"),
            "HTTP/1.1\r\nHost: gw.test\nConnection: close\r\n\r\n",
        ),
        (
            N("hdr-bare-lf-blank-line"),
            "HTTP/1.1\r\nHost: gw.test\r\nConnection: close\r\n\n",
        ),
        (
            N("hdr-bare-lf-request-line"),
            "HTTP/1.1\nHost: gw.test\r\nConnection: close\r\n\r\n",
        ),
    ] {
        c.push(
            Case::new(&name, Refused)
                .send(format!("GET {} {head}", name.at(1)))
                .half_close()
                .wants("GET", 1, "")
                .ours(),
        );
    }
    let n = N("hdr-bare-lf-hides-body");
    // A bare-LF reader sees `Content-Length` and takes the request after the head as body; a
    // CRLF-only reader sees a `Host` value that runs on past the LF, no length, and then that
    // request. Refused before anything goes upstream.
    let inner = n.smuggled();
    c.push(
        Case::new(&n, Refused)
            .send(format!(
                "POST {} HTTP/1.1\r\nHost: {HOST}\nContent-Length: {}\r\n\r\n{inner}",
                n.at(1),
                inner.len()
            ))
            .half_close()
            .wants("POST", 1, &inner)
            .ours(),
    );
    // RFC 9112 5.1 (MUST reject whitespace before the colon) and 3.2 (400 without one Host).
    let n = N("hdr-space-before-colon");
    c.push(
        Case::new(&n, Refused)
            .send(n.get(1, "X-A : b\r\nConnection: close\r\n"))
            .half_close()
            .wants("GET", 1, ""),
    );
    let n = N("hdr-two-hosts");
    c.push(
        Case::new(&n, Refused)
            .send(n.get(1, "Host: other.test\r\nConnection: close\r\n"))
            .wants("GET", 1, ""),
    );
    let n = N("hdr-no-host-http11");
    c.push(
        Case::new(&n, Refused)
            .send(format!(
                "GET {} HTTP/1.1\r\nConnection: close\r\n\r\n",
                n.at(1)
            ))
            .wants("GET", 1, ""),
    );
    let n = N("hdr-absolute-form-no-host");
    c.push(
        Case::new(&n, Refused)
            .send(format!(
                "GET http://{HOST}{} HTTP/1.1\r\nConnection: close\r\n\r\n",
                n.at(1)
            ))
            .wants("GET", 1, ""),
    );
    // Valid heads, forwarded.
    for (name, line) in [
        (N("hdr-tab-in-value"), "X-A: a\tb\r\n"),
        (N("hdr-empty-value"), "X-A:\r\n"),
        (N("hdr-no-space-after-colon"), "X-A:b\r\n"),
    ] {
        c.push(
            Case::new(&name, Forwarded(1))
                .send(name.get(1, &format!("{line}Connection: close\r\n")))
                .wants("GET", 1, ""),
        );
    }
    let n = N("hdr-host-with-port");
    c.push(
        Case::new(&n, Forwarded(1))
            .send(format!(
                "GET {} HTTP/1.1\r\nHost: {HOST}:8080\r\nConnection: close\r\n\r\n",
                n.at(1)
            ))
            .wants("GET", 1, ""),
    );
    c
}

/// Keep-alive requests sent back to back: RFC 9112 9.3.2 says a server MAY process them in
/// parallel but MUST answer them in order, so every one is answered, in order.
fn pipelining() -> Vec<Case> {
    use Expect::*;
    let mut c = Vec::new();
    for (name, count) in [
        (N("pipe-2-get"), 2),
        (N("pipe-3-get"), 3),
        (N("pipe-10-get"), 10),
    ] {
        let mut case = Case::new(&name, Forwarded(count));
        let mut bytes = String::new();
        for i in 1..=count {
            bytes += &if i == count {
                name.get_close(i)
            } else {
                name.get(i, "")
            };
            case = case.wants("GET", i, "");
        }
        c.push(case.send(bytes));
    }
    let n = N("pipe-post-get");
    c.push(
        Case::new(&n, Forwarded(2))
            .send(n.post_cl(1, "hello", false) + &n.get_close(2))
            .wants("POST", 1, "hello")
            .wants("GET", 2, ""),
    );
    let n = N("pipe-post-pause-get");
    c.push(
        Case::new(&n, Forwarded(2))
            .send(n.post_cl(1, "hello", false))
            .pause_ms(150)
            .send(n.get_close(2))
            .wants("POST", 1, "hello")
            .wants("GET", 2, ""),
    );
    let n = N("pipe-get-pause-get");
    c.push(
        Case::new(&n, Forwarded(2))
            .send(n.get(1, ""))
            .pause_ms(150)
            .send(n.get_close(2))
            .wants("GET", 1, "")
            .wants("GET", 2, ""),
    );
    let n = N("pipe-chunked-get");
    c.push(
        Case::new(&n, Forwarded(2))
            .send(n.post(1, "Transfer-Encoding: chunked\r\n", HELLO_CHUNKED) + &n.get_close(2))
            .wants("POST", 1, "hello")
            .wants("GET", 2, ""),
    );
    let n = N("pipe-head-get");
    c.push(
        Case::new(&n, Forwarded(2))
            .send(format!(
                "HEAD {} HTTP/1.1\r\nHost: {HOST}\r\n\r\n{}",
                n.at(1),
                n.get_close(2)
            ))
            .wants("HEAD", 1, "")
            .wants("GET", 2, ""),
    );
    let n = N("pipe-mixed-5");
    c.push(
        Case::new(&n, Forwarded(5))
            .send(
                n.get(1, "")
                    + &n.post_cl(2, "two", false)
                    + &format!(
                        "PUT {} HTTP/1.1\r\nHost: {HOST}\r\nTransfer-Encoding: chunked\r\n\r\n{}0\r\n\r\n",
                        n.at(3),
                        chunk("three")
                    )
                    + &format!("DELETE {} HTTP/1.1\r\nHost: {HOST}\r\n\r\n", n.at(4))
                    + &n.get_close(5),
            )
            .wants("GET", 1, "")
            .wants("POST", 2, "two")
            .wants("PUT", 3, "three")
            .wants("DELETE", 4, "")
            .wants("GET", 5, ""),
    );
    // The first request is answered as usual; the malformed second one is refused.
    let n = N("pipe-get-then-malformed");
    c.push(
        Case::new(&n, Forwarded(1))
            .send(
                n.get(1, "") + &n.post(2, "Content-Length: abc\r\nConnection: close\r\n", "hello"),
            )
            // No half-close: the refusal ends the connection, and a FIN while the GET is in
            // flight would make its answer depend on timing.
            .wants("GET", 1, "")
            .wants("POST", 2, "hello"),
    );
    c
}

fn expectations() -> Vec<Case> {
    use Expect::*;
    let mut c = Vec::new();
    let n = N("expect-100-continue");
    c.push(
        Case::new(&n, Forwarded(1))
            .send(n.post(
                1,
                "Content-Length: 5\r\nExpect: 100-continue\r\nConnection: close\r\n",
                "hello",
            ))
            .wants("POST", 1, "hello"),
    );
    let n = N("expect-100-body-later");
    c.push(
        Case::new(&n, Forwarded(1))
            .send(n.post(
                1,
                "Content-Length: 5\r\nExpect: 100-continue\r\nConnection: close\r\n",
                "",
            ))
            .pause_ms(150)
            .send("hello")
            .wants("POST", 1, "hello"),
    );
    let n = N("expect-100-chunked");
    c.push(
        Case::new(&n, Forwarded(1))
            .send(n.post(
                1,
                "Transfer-Encoding: chunked\r\nExpect: 100-continue\r\nConnection: close\r\n",
                HELLO_CHUNKED,
            ))
            .wants("POST", 1, "hello"),
    );
    // RFC 9110 10.1.1: an unsupported expectation may be answered 417.
    let n = N("expect-unknown");
    c.push(
        Case::new(&n, Either)
            .send(n.post(
                1,
                "Content-Length: 5\r\nExpect: teapot\r\nConnection: close\r\n",
                "hello",
            ))
            .wants("POST", 1, "hello"),
    );
    c
}

fn targets_and_versions() -> Vec<Case> {
    use Expect::*;
    let mut c = Vec::new();
    // Request lines; `{c}` stands for the case's own prefix `/prod/c/NAME`. If forwarded, the
    // backend sees `/c/NAME/1`.
    for (name, line) in [
        (
            N("target-absolute-form"),
            "GET http://gw.test{c}/1 HTTP/1.1",
        ),
        (
            N("target-absolute-other-host"),
            "GET http://other.test{c}/1 HTTP/1.1",
        ),
        (N("target-dot-segments"), "GET {c}/a/../1 HTTP/1.1"),
        (N("target-pct-dot-segments"), "GET {c}/a/%2e%2e/1 HTTP/1.1"),
        (N("target-fragment"), "GET {c}/1#frag HTTP/1.1"),
        (
            N("target-no-leading-slash"),
            "GET prod/c/target-no-leading-slash/1 HTTP/1.1",
        ),
        (N("version-http12"), "GET {c}/1 HTTP/1.2"),
        (N("version-lowercase"), "GET {c}/1 http/1.1"),
        (N("request-line-double-space"), "GET  {c}/1 HTTP/1.1"),
        (N("request-line-tabs"), "GET\t{c}/1\tHTTP/1.1"),
        (N("request-line-trailing-space"), "GET {c}/1 HTTP/1.1 "),
        (N("leading-empty-line"), "\r\nGET {c}/1 HTTP/1.1"),
        (N("missing-version"), "GET {c}/1"),
    ] {
        let line = line.replace("{c}", &format!("/prod/c/{}", name.0));
        c.push(
            Case::new(&name, Either)
                .send(format!(
                    "{line}\r\nHost: {HOST}\r\nConnection: close\r\n\r\n"
                ))
                .half_close()
                .wants("GET", 1, ""),
        );
    }
    // Empty segments may be merged or kept.
    let n = N("target-double-slash");
    c.push(
        Case::new(&n, Either)
            .send(format!(
                "GET /prod//c/{}//1 HTTP/1.1\r\nHost: {HOST}\r\nConnection: close\r\n\r\n",
                n.0
            ))
            .half_close()
            .wants_at(
                "GET",
                &["/c/target-double-slash/1", "/c/target-double-slash//1"],
                "",
            ),
    );
    // A backslash is no URI character; proxies and origins disagree on whether it is a `/`.
    let n = N("target-backslash");
    c.push(
        Case::new(&n, Refused)
            .send(format!(
                "GET /prod/c/{}/a/b\\..\\..\\1 HTTP/1.1\r\nHost: {HOST}\r\nConnection: close\r\n\r\n",
                n.0
            ))
            .half_close()
            .wants("GET", 1, "")
            .ours(),
    );
    let n = N("target-query");
    c.push(
        Case::new(&n, Forwarded(1))
            .send(n.get(1, "Connection: close\r\n").replacen(
                &n.at(1),
                &format!("{}?a=b&c=%2F..", n.at(1)),
                1,
            ))
            .wants_at("GET", &["/c/target-query/1?a=b&c=%2F.."], ""),
    );
    let n = N("target-pct-space");
    c.push(
        Case::new(&n, Forwarded(1))
            .send(format!(
                "GET /prod/c/{}/a%20b HTTP/1.1\r\nHost: {HOST}\r\nConnection: close\r\n\r\n",
                n.0
            ))
            .wants_at("GET", &["/c/target-pct-space/a%20b"], ""),
    );
    let n = N("target-non-ascii");
    let mut bytes = format!("GET /prod/c/{}/caf", n.0).into_bytes();
    bytes.extend_from_slice(b"\xc3\xa9 HTTP/1.1\r\nHost: gw.test\r\nConnection: close\r\n\r\n");
    c.push(Case::new(&n, Either).send(bytes).half_close().wants_at(
        "GET",
        &[
            "/c/target-non-ascii/caf%C3%A9",
            "/c/target-non-ascii/caf%c3%a9",
        ],
        "",
    ));
    let n = N("target-asterisk-options");
    c.push(
        Case::new(&n, Either)
            .send(format!(
                "OPTIONS * HTTP/1.1\r\nHost: {HOST}\r\nConnection: close\r\n\r\n"
            ))
            .half_close()
            .claim("*")
            .wants_at("OPTIONS", &["*"], ""),
    );
    let n = N("target-connect-authority");
    c.push(
        Case::new(&n, Either)
            .send(format!(
                "CONNECT {HOST}:443 HTTP/1.1\r\nHost: {HOST}:443\r\n\r\n"
            ))
            .half_close()
            .claim("gw.test:443")
            .wants_at("CONNECT", &["gw.test:443"], "")
            .allow_5xx(501),
    );
    let n = N("method-lowercase");
    c.push(
        Case::new(&n, Either)
            .send(format!(
                "get {} HTTP/1.1\r\nHost: {HOST}\r\nConnection: close\r\n\r\n",
                n.at(1)
            ))
            .half_close()
            .wants("get", 1, "")
            .allow_5xx(501),
    );
    let n = N("method-unknown");
    c.push(
        Case::new(&n, Either)
            .send(format!(
                "FROB {} HTTP/1.1\r\nHost: {HOST}\r\nConnection: close\r\n\r\n",
                n.at(1)
            ))
            .wants("FROB", 1, "")
            .allow_5xx(501),
    );
    // HTTP/1.0 may omit Host (RFC 9112 3.2) and closes after the answer by default.
    let n = N("http10-no-host");
    c.push(
        Case::new(&n, Either)
            .send(format!("GET {} HTTP/1.0\r\n\r\n", n.at(1)))
            .wants("GET", 1, ""),
    );
    let n = N("http10-post-content-length");
    c.push(
        Case::new(&n, Either)
            .send(format!(
                "POST {} HTTP/1.0\r\nContent-Length: 5\r\n\r\nhello",
                n.at(1)
            ))
            .wants("POST", 1, "hello"),
    );
    let n = N("http10-keepalive-then-http11");
    c.push(
        Case::new(&n, Either)
            .send(format!(
                "GET {} HTTP/1.0\r\nConnection: keep-alive\r\n\r\n{}",
                n.at(1),
                n.get_close(2)
            ))
            .half_close()
            .wants("GET", 1, "")
            .wants("GET", 2, ""),
    );
    // HTTP/0.9 has no status line to answer with: refused, or closed without an answer.
    let n = N("http09");
    c.push(
        Case::new(&n, Refused)
            .send(format!("GET {}\r\n", n.at(1)))
            .half_close()
            .wants("GET", 1, ""),
    );
    // HTTP/2 is not spoken in HTTP/1.1 syntax; RFC 9110 15.6.6 names 505 for it.
    let n = N("version-http20");
    c.push(
        Case::new(&n, Refused)
            .send(format!(
                "GET {} HTTP/2.0\r\nHost: {HOST}\r\nConnection: close\r\n\r\n",
                n.at(1)
            ))
            .half_close()
            .wants("GET", 1, "")
            .allow_5xx(505),
    );
    c
}

fn battery() -> Vec<Case> {
    let mut all = Vec::new();
    all.extend(framing_conflicts());
    all.extend(te_obfuscations());
    all.extend(content_lengths());
    all.extend(chunked());
    all.extend(header_syntax());
    all.extend(pipelining());
    all.extend(expectations());
    all.extend(targets_and_versions());
    let mut names: Vec<&str> = all.iter().map(|c| c.name.as_str()).collect();
    names.sort_unstable();
    let before = names.len();
    names.dedup();
    assert_eq!(before, names.len(), "case names must be unique");
    all
}

// ---------------------------------------------------------------------------------------------
// The client side: one connection per case, responses read off the wire.

/// What one connection brought back.
#[derive(Debug, Default)]
struct Exchange {
    raw: Vec<u8>,
    /// The proxy closed (FIN or reset) before the deadline.
    closed: bool,
    /// A write failed (the proxy closed before reading everything): not an error in itself.
    write_error: Option<String>,
    elapsed: Duration,
}

async fn exchange(addr: SocketAddr, steps: &[Step]) -> Exchange {
    let start = Instant::now();
    let deadline = patience(CASE_DEADLINE);
    let stream = match tokio::time::timeout(deadline, TcpStream::connect(addr)).await {
        Ok(Ok(s)) => s,
        other => panic!("connect {addr}: {other:?}"),
    };
    stream.set_nodelay(true).unwrap();
    let (mut rd, mut wr) = stream.into_split();
    // When the reads last made progress, and whether they have ended.
    let activity = std::sync::Mutex::new(Instant::now());
    let ended = std::sync::atomic::AtomicBool::new(false);
    // Writes run beside the reads, so a proxy answering early never blocks on a full buffer.
    let writer = async {
        let mut error = None;
        for step in steps {
            match step {
                Step::Send(b) => {
                    if let Err(e) = wr.write_all(b).await {
                        error = Some(e.to_string());
                        break;
                    }
                    *activity.lock().unwrap() = Instant::now();
                }
                Step::Pause(d) => tokio::time::sleep(*d).await,
                Step::HalfClose => {
                    let quiet = patience(QUIET);
                    while !ended.load(std::sync::atomic::Ordering::SeqCst)
                        && activity.lock().unwrap().elapsed() < quiet
                    {
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                    let _ = wr.shutdown().await;
                }
            }
        }
        // The write half lives on until the reads end: dropping it would send a FIN.
        (wr, error)
    };
    let reader = async {
        let mut raw = Vec::new();
        let mut buf = vec![0u8; 64 * 1024];
        let closed = loop {
            let left = deadline.saturating_sub(start.elapsed());
            match tokio::time::timeout(left, rd.read(&mut buf)).await {
                Err(_) => break false,
                Ok(Ok(0)) | Ok(Err(_)) => break true,
                Ok(Ok(n)) => {
                    raw.extend_from_slice(&buf[..n]);
                    *activity.lock().unwrap() = Instant::now();
                }
            }
        };
        ended.store(true, std::sync::atomic::Ordering::SeqCst);
        (raw, closed)
    };
    let ((_wr, write_error), (raw, closed)) =
        match tokio::time::timeout(deadline + Duration::from_secs(1), async {
            tokio::join!(writer, reader)
        })
        .await
        {
            Ok(v) => v,
            // Only a write blocked on a proxy that neither reads nor closes gets here.
            Err(_) => {
                return Exchange {
                    write_error: Some("write blocked past the deadline".into()),
                    elapsed: start.elapsed(),
                    ..Exchange::default()
                }
            }
        };
    Exchange {
        raw,
        closed,
        write_error,
        elapsed: start.elapsed(),
    }
}

/// One final response (interim 1xx answers are skipped).
#[derive(Debug)]
struct Answer {
    status: u16,
    body: Vec<u8>,
}

impl Answer {
    fn echo(&self) -> Option<Value> {
        serde_json::from_slice(&self.body).ok()
    }
}

/// Parses the responses in `raw`, the `i`th final one answering `methods[i]` (a `HEAD` answer
/// has no body). Returns them and what could not be read as a complete response.
fn parse_answers(mut raw: &[u8], methods: &[&str]) -> (Vec<Answer>, Vec<u8>) {
    let mut answers = Vec::new();
    while !raw.is_empty() {
        let Some(head_end) = find(raw, b"\r\n\r\n") else {
            break;
        };
        let head = String::from_utf8_lossy(&raw[..head_end]).into_owned();
        let mut lines = head.split("\r\n");
        let status_line = lines.next().unwrap_or("");
        let status = match status_line.split(' ').collect::<Vec<_>>()[..] {
            [v, s, ..] if v.starts_with("HTTP/1.") && s.len() == 3 => s.parse::<u16>().ok(),
            _ => None,
        };
        let Some(status) = status else { break };
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
            .collect();
        let field = |n: &str| {
            headers
                .iter()
                .find(|(k, _)| k == n)
                .map(|(_, v)| v.as_str())
        };
        let rest = &raw[head_end + 4..];
        if (100..200).contains(&status) {
            raw = rest;
            continue;
        }
        let head_only =
            methods.get(answers.len()) == Some(&"HEAD") || status == 204 || status == 304;
        let (body, used) = if head_only {
            (Vec::new(), 0)
        } else if field("transfer-encoding").is_some_and(|te| te.contains("chunked")) {
            match dechunk(rest) {
                (data, Some(used)) => (data, used),
                (_, None) => break,
            }
        } else if let Some(cl) = field("content-length") {
            match cl.parse::<usize>() {
                Ok(n) if rest.len() >= n => (rest[..n].to_vec(), n),
                _ => break,
            }
        } else {
            // Delimited by the close, which is when parsing happens.
            (rest.to_vec(), rest.len())
        };
        answers.push(Answer { status, body });
        raw = &rest[used..];
    }
    (answers, raw.to_vec())
}

// ---------------------------------------------------------------------------------------------
// The judge.

fn show(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let mut out = format!("{text:?}");
    if out.len() > 600 {
        let mut cut = 560;
        while !out.is_char_boundary(cut) {
            cut -= 1;
        }
        out = format!("{}...({} bytes)", &out[..cut], bytes.len());
    }
    out
}

/// What happened in one case, and what was wrong with it.
struct Verdict {
    name: String,
    expect: Expect,
    outcome: String,
    problems: Vec<String>,
}

/// Applies the rules to one case: what the client read (`x`), what the backend parsed for the
/// case (`seen`) and the framing violations it recorded for it.
/// `cut_short` counts requests whose upstream connection ended mid-message (reported only: a
/// proxy abandons the upstream request when its client's body breaks off).
fn judge(
    case: &Case,
    x: &Exchange,
    seen: &[&StrictRequest],
    violations: &[&Violation],
    cut_short: usize,
    mode: Mode,
) -> Verdict {
    let reference = mode == Mode::Reference;
    let expect = if reference && case.ours {
        Expect::Either
    } else {
        case.expect
    };
    let methods: Vec<&str> = case.intents.iter().map(|i| i.method.as_str()).collect();
    let (answers, leftover) = parse_answers(&x.raw, &methods);
    let statuses: Vec<u16> = answers.iter().map(|a| a.status).collect();
    let mut p = Vec::new();

    // 1. The gateway's framing is never ambiguous to a strict origin. (A reference proxy that
    // forwards a field's or the target's bad syntax as it came is not judged on it.)
    for v in violations.iter().filter(|v| !reference || v.framing()) {
        p.push(format!(
            "the backend recorded a framing violation ({}) on upstream connection {}: {}",
            v.reason,
            v.conn,
            show(&v.raw)
        ));
    }
    // 2. Only intended requests run, each at most once, as sent.
    let executed = |i: &Intent| seen.iter().any(|r| i.targets.contains(&r.target));
    for r in seen {
        if r.target.contains("SMUGGLED") {
            p.push(format!("a smuggled request ran: {} {}", r.method, r.target));
            continue;
        }
        match case.intents.iter().find(|i| i.targets.contains(&r.target)) {
            None => p.push(format!(
                "the backend ran a request the client did not send: {} {} body {}",
                r.method,
                r.target,
                show(&r.body)
            )),
            Some(i) if i.method != r.method || i.body != r.body => p.push(format!(
                "the backend ran {} {} with body {}, the client sent {} with body {}",
                r.method,
                r.target,
                show(&r.body),
                i.method,
                show(&i.body)
            )),
            Some(_) => {}
        }
    }
    for i in &case.intents {
        let runs = seen
            .iter()
            .filter(|r| i.targets.contains(&r.target))
            .count();
        if runs > 1 {
            p.push(format!("{} {:?} ran {runs} times", i.method, i.targets));
        }
    }
    // 3-5. Every answer belongs to the request at its position; an executed request is never
    // reported as refused; no 5xx except the RFC's own refusal of the input.
    for (k, a) in answers.iter().enumerate() {
        let Some(intent) = case.intents.get(k) else {
            p.push(format!(
                "answer {} ({}) has no request: the client sent {}",
                k + 1,
                a.status,
                case.intents.len()
            ));
            continue;
        };
        match a.status {
            200..=299 if intent.method == "HEAD" => {}
            200..=299 => match a.echo() {
                Some(e)
                    if e["method"] == intent.method.as_str()
                        && intent.targets.iter().any(|t| e["target"] == t.as_str())
                        && e["body"] == *String::from_utf8_lossy(&intent.body) => {}
                e => p.push(format!(
                    "answer {} ({}) belongs to another request: it echoes {}, request {} was {} {:?} with body {}",
                    k + 1,
                    a.status,
                    e.map(|e| json!({"method": e["method"], "target": e["target"], "body": e["body"]}).to_string())
                        .unwrap_or_else(|| show(&a.body)),
                    k + 1,
                    intent.method,
                    intent.targets,
                    show(&intent.body)
                )),
            },
            400..=499 if executed(intent) => p.push(format!(
                "request {} ({} {:?}) ran at the backend but was answered {}",
                k + 1,
                intent.method,
                intent.targets,
                a.status
            )),
            400..=499 => {}
            s if case.rfc_5xx.contains(&s) && !executed(intent) => {}
            s => p.push(format!(
                "answer {} is {s}: {}",
                k + 1,
                show(&a.body)
            )),
        }
    }
    if !leftover.is_empty() {
        p.push(format!(
            "bytes that are no complete HTTP/1.1 response: {}",
            show(&leftover)
        ));
    }
    if !x.closed {
        p.push(format!(
            "the connection was still open {:?} after the client was done{}",
            x.elapsed,
            x.write_error
                .as_deref()
                .map(|e| format!(" ({e})"))
                .unwrap_or_default()
        ));
    }
    // 6. The expectation.
    let ok = |s: u16| (200..300).contains(&s);
    match expect {
        Expect::Refused => {
            if !seen.is_empty() || statuses.iter().any(|&s| ok(s)) {
                p.push(format!(
                    "expected a refusal, but {} request(s) reached the backend and the answers were {statuses:?}",
                    seen.len()
                ));
            }
        }
        Expect::Forwarded(n) => {
            let leading = statuses.iter().take_while(|&&s| ok(s)).count();
            let total = statuses.iter().filter(|&&s| ok(s)).count();
            if seen.len() != n || leading != n || total != n {
                p.push(format!(
                    "expected {n} request(s) forwarded and answered 2xx in order; the backend ran {}, the answers were {statuses:?}",
                    seen.len()
                ));
            }
        }
        Expect::Either => {}
    }
    if let Some(check) = case.check {
        if let Err(e) = check(seen) {
            p.push(e);
        }
    }

    let mut outcome = if statuses.is_empty() {
        "no answer".to_string()
    } else {
        format!("answers {statuses:?}")
    };
    write!(
        outcome,
        ", backend ran {}{}{}{}",
        seen.len(),
        if cut_short == 0 {
            String::new()
        } else {
            format!(" (+{cut_short} cut short)")
        },
        if violations.is_empty() {
            String::new()
        } else {
            format!(", {} violation(s)", violations.len())
        },
        if x.closed { ", closed" } else { ", left open" }
    )
    .unwrap();
    if !p.is_empty() {
        p.push(format!("sent {}", show(&case.bytes())));
        p.push(format!("read {}", show(&x.raw)));
    }
    Verdict {
        name: case.name.clone(),
        expect,
        outcome,
        problems: p,
    }
}

/// The battery's result against one proxy.
struct Report {
    verdicts: Vec<Verdict>,
    /// Problems no case owns: backend requests or violations that name no case, a dead proxy.
    stray: Vec<String>,
    took: Duration,
}

impl Report {
    fn failing(&self) -> Vec<&Verdict> {
        self.verdicts
            .iter()
            .filter(|v| !v.problems.is_empty())
            .collect()
    }

    fn table(&self) -> String {
        let mut out = format!("{:<36} {:<14} outcome\n", "case", "expectation");
        for v in &self.verdicts {
            writeln!(
                out,
                "{:<36} {:<14} {}{}",
                v.name,
                v.expect,
                if v.problems.is_empty() {
                    "ok    "
                } else {
                    "FAIL  "
                },
                v.outcome
            )
            .unwrap();
        }
        out
    }

    fn details(&self) -> String {
        let mut out = String::new();
        for v in self.failing() {
            writeln!(out, "--- {} ({})", v.name, v.expect).unwrap();
            for p in &v.problems {
                writeln!(out, "    {p}").unwrap();
            }
        }
        for s in &self.stray {
            writeln!(out, "--- (no case): {s}").unwrap();
        }
        out
    }

    fn score(&self) -> String {
        let total = self.verdicts.len();
        let failing = self.failing();
        format!(
            "{} of {total} cases pass in {:?}{}; failing: {:?}",
            total - failing.len(),
            self.took,
            if self.stray.is_empty() {
                String::new()
            } else {
                format!(", {} problem(s) outside any case", self.stray.len())
            },
            failing.iter().map(|v| v.name.as_str()).collect::<Vec<_>>()
        )
    }
}

/// Who is judged: the gateway on everything, or a reference proxy (nginx) on the general rules,
/// without stagecraft's own decisions where the RFC allows more than one (`Case::ours`) and
/// without the strict origin's objections to syntax that does not touch framing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Gateway,
    Reference,
}

/// Runs every case against the proxy at `addr`, which forwards `/prod/...` to `backend` as `/...`.
async fn run_battery(addr: SocketAddr, backend: &StrictBackend, mode: Mode) -> Report {
    let start = Instant::now();
    let cases: Vec<Arc<Case>> = battery().into_iter().map(Arc::new).collect();
    let limit = Arc::new(tokio::sync::Semaphore::new(CONCURRENCY));
    let mut set = tokio::task::JoinSet::new();
    for (k, case) in cases.iter().enumerate() {
        let (case, limit) = (case.clone(), limit.clone());
        set.spawn(async move {
            let _permit = limit.acquire_owned().await.unwrap();
            (k, exchange(addr, &case.steps).await)
        });
    }
    let mut exchanges: BTreeMap<usize, Exchange> = BTreeMap::new();
    while let Some(done) = set.join_next().await {
        let (k, x) = done.expect("a case task panicked");
        exchanges.insert(k, x);
    }
    // The proxy is still healthy, and everything a case made it forward has been parsed: a
    // request reaches the backend before its answer leaves it.
    let mut stray = Vec::new();
    let sentinel = exchange(
        addr,
        &[Step::Send(
            format!("GET /prod/sentinel HTTP/1.1\r\nHost: {HOST}\r\nConnection: close\r\n\r\n")
                .into_bytes(),
        )],
    )
    .await;
    let (answers, _) = parse_answers(&sentinel.raw, &["GET"]);
    if answers.first().map(|a| a.status) != Some(200) {
        stray.push(format!(
            "a plain GET after the battery was not answered 200: {}",
            show(&sentinel.raw)
        ));
    }

    let requests = backend.requests();
    let violations = backend.violations();
    for r in &requests {
        if r.target != "/sentinel" && !cases.iter().any(|c| c.owns(&r.target)) {
            stray.push(format!(
                "the backend ran a request of no case: {} {} body {}",
                r.method,
                r.target,
                show(&r.body)
            ));
        }
    }
    // Raw upstream bytes belong to the case their request line names, else to the first case
    // they name.
    let owner = |raw: &[u8]| {
        let first_line = raw.split(|&b| b == b'\n').next().unwrap_or_default();
        let named = |bytes: &[u8]| {
            cases
                .iter()
                .filter_map(|c| find(bytes, format!("/c/{}/", c.name).as_bytes()).map(|at| (at, c)))
                .min_by_key(|(at, _)| *at)
                .map(|(_, c)| c.name.clone())
        };
        named(first_line).or_else(|| named(raw))
    };
    let truncated = backend.truncated();
    let mut verdicts = Vec::new();
    for (k, case) in cases.iter().enumerate() {
        let seen: Vec<&StrictRequest> = requests.iter().filter(|r| case.owns(&r.target)).collect();
        let mine: Vec<&Violation> = violations
            .iter()
            .filter(|v| owner(&v.raw).as_deref() == Some(case.name.as_str()))
            .collect();
        let cut_short = truncated
            .iter()
            .filter(|t| owner(&t.raw).as_deref() == Some(case.name.as_str()))
            .count();
        verdicts.push(judge(case, &exchanges[&k], &seen, &mine, cut_short, mode));
    }
    for v in &violations {
        if owner(&v.raw).is_none() && (mode == Mode::Gateway || v.framing()) {
            stray.push(format!(
                "framing violation ({}) naming no case: {}",
                v.reason,
                show(&v.raw)
            ));
        }
    }
    Report {
        verdicts,
        stray,
        took: start.elapsed(),
    }
}

// ---------------------------------------------------------------------------------------------
// The tests.

/// Every payload of the battery through the gateway: refused, or forwarded with unambiguous
/// framing, and every answer belongs to its request.
#[tokio::test]
async fn smuggling_desync_and_malformed_request_battery() {
    let backend = StrictBackend::start().await;
    let dir = ConfigDir::new();
    put_deployment(&dir, "shop-1", catch_all(backend.addr()));
    put_stage(&dir, "prod", "shop-1", json!({}));
    let gw = Gateway::start(&dir).await;

    let report = run_battery(gw.addr(), &backend, Mode::Gateway).await;
    // The whole table, for `--nocapture` (README "HTTP/1.1 conformance" compares it with nginx's).
    println!("gateway:\n{}\ngateway: {}", report.table(), report.score());
    if !report.failing().is_empty() || !report.stray.is_empty() {
        println!("{}", report.details());
        panic!("battery against the gateway: {}", report.score());
    }
}

/// nginx as a child process: one server on an ephemeral port proxying `/prod/` to a backend.
struct Nginx {
    child: Child,
    addr: SocketAddr,
    /// Config, logs and temp files; removed on drop.
    _dir: tempfile::TempDir,
}

impl Nginx {
    async fn start(bin: &str, backend: SocketAddr) -> Nginx {
        let dir = tempfile::Builder::new()
            .prefix("stagecraft-nginx-")
            .tempdir()
            .unwrap();
        let d = dir.path().display();
        let port = reserve_port();
        let conf = format!(
            "daemon off;\nmaster_process off;\nworker_processes 1;\npid {d}/nginx.pid;\n\
             error_log {d}/error.log info;\nevents {{ worker_connections 1024; }}\n\
             http {{\n  access_log off;\n  client_body_temp_path {d}/client_body;\n\
             proxy_temp_path {d}/proxy;\n  fastcgi_temp_path {d}/fastcgi;\n\
             uwsgi_temp_path {d}/uwsgi;\n  scgi_temp_path {d}/scgi;\n\
             server {{\n    listen 127.0.0.1:{port};\n\
             location /prod/ {{ proxy_pass http://{backend}/; proxy_http_version 1.1; \
             proxy_set_header Connection \"\"; }}\n  }}\n}}\n"
        );
        std::fs::write(dir.path().join("nginx.conf"), conf).unwrap();
        let mut child = Command::new(bin)
            .arg("-p")
            .arg(dir.path())
            .arg("-c")
            .arg(dir.path().join("nginx.conf"))
            .arg("-e")
            .arg(dir.path().join("error.log"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("start {bin}: {e}"));
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let start = Instant::now();
        while TcpStream::connect(addr).await.is_err() {
            if let Ok(Some(status)) = child.try_wait() {
                panic!(
                    "nginx exited with {status}: {}",
                    std::fs::read_to_string(dir.path().join("error.log")).unwrap_or_default()
                );
            }
            assert!(
                start.elapsed() < patience(Duration::from_secs(10)),
                "nginx not listening on {addr}"
            );
            tokio::time::sleep(common::POLL_INTERVAL).await;
        }
        Nginx {
            child,
            addr,
            _dir: dir,
        }
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The battery against nginx, as a reference: `STAGECRAFT_NGINX=/usr/sbin/nginx`, judged in
/// `Mode::Reference`. nginx answers HTTP/0.9 in kind (a body without a status line), which this
/// battery counts as a failure; every other case must pass. `missing-version` is an HTTP/0.9 request too (`GET target CRLF`,
/// the rest ignored), so it shares the exception.
#[tokio::test]
async fn battery_against_nginx_when_asked() {
    const HTTP09: [&str; 2] = ["http09", "missing-version"];
    let Ok(bin) = std::env::var("STAGECRAFT_NGINX") else {
        println!(
            "skipped: run with STAGECRAFT_NGINX=/usr/sbin/nginx (any nginx binary) to run the \
             conformance battery against nginx"
        );
        return;
    };
    let backend = StrictBackend::start().await;
    let nginx = Nginx::start(&bin, backend.addr()).await;
    let report = run_battery(nginx.addr, &backend, Mode::Reference).await;
    println!("nginx ({bin}):\n{}\n{}", report.table(), report.details());
    println!("nginx: {}", report.score());
    let unexpected: Vec<&str> = report
        .failing()
        .iter()
        .map(|v| v.name.as_str())
        .filter(|n| !HTTP09.contains(n))
        .collect();
    assert!(
        unexpected.is_empty() && report.stray.is_empty(),
        "nginx fails more than the HTTP/0.9 cases: {unexpected:?}; {}",
        report.score()
    );
}

//! HTTP/1.1 framing at the edge, each of issue 14's defects with its raw bytes: pipelined
//! requests are all answered, in order; a POST the backend executed is never reported as 400
//! because the client sent its next request early; chunk-size lines and trailers end only at
//! CRLF (the vendored pingora's patch series, `patches/pingora-core`); request heads with bare-LF
//! line ends are refused. The battery of payload classes is `conformance`.

use crate::common;
use crate::hardening::{assert_refused, raw, read_exchange, Forwarding, RawResponse, SMUGGLED};

use std::time::Duration;

use common::hardening::{catch_all, put_deployment, put_stage};
use common::{eventually, patience, within, Backend, ConfigDir, Gateway, DEADLINE};
use serde_json::json;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

/// A gateway with stage `s` proxying every path to an echo backend.
pub(crate) async fn gateway() -> (Backend, ConfigDir, Gateway) {
    let be = Backend::start("A").await;
    let dir = ConfigDir::new();
    put_deployment(&dir, "shop-1", catch_all(be.addr()));
    put_stage(&dir, "s", "shop-1", json!({}));
    let gw = Gateway::start(&dir).await;
    (be, dir, gw)
}

async fn connect(gw: &Gateway) -> TcpStream {
    within("TCP connect", TcpStream::connect(gw.addr()))
        .await
        .unwrap()
}

fn get(path: &str, close: bool) -> String {
    let connection = if close { "Connection: close\r\n" } else { "" };
    format!("GET {path} HTTP/1.1\r\nHost: gw.test\r\n{connection}\r\n")
}

/// `(status, method, path)` of each answer, the path as the echo backend saw it.
fn answered(responses: &[RawResponse]) -> Vec<(u16, String, String)> {
    responses
        .iter()
        .map(|r| {
            let echo = r.json();
            (
                r.status,
                echo["method"].as_str().unwrap_or_default().to_string(),
                echo["path"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

fn ok(method: &str, path: &str) -> (u16, String, String) {
    (200, method.to_string(), path.to_string())
}

/// Defect 1: three keep-alive GETs in one write used to get one answer, then a close. Now every
/// pipelined request is answered, in order (RFC 9112 9.3.2), with a body in between and ten deep.
#[tokio::test]
async fn pipelined_requests_are_all_answered_in_order() {
    let (be, _dir, gw) = gateway().await;

    let three = [
        get("/s/p/1", false),
        get("/s/p/2", false),
        get("/s/p/3", true),
    ]
    .concat();
    let x = raw(gw.addr(), three.as_bytes(), None, DEADLINE).await;
    assert_eq!(
        answered(&x.responses),
        [ok("GET", "/p/1"), ok("GET", "/p/2"), ok("GET", "/p/3")],
        "{three:?}"
    );
    assert!(
        x.closed,
        "Connection: close on the last request is honoured"
    );

    let mut ten: String = (1..10).map(|i| get(&format!("/s/t/{i}"), false)).collect();
    ten.push_str(&get("/s/t/10", true));
    let x = raw(gw.addr(), ten.as_bytes(), None, DEADLINE).await;
    let want: Vec<_> = (1..=10).map(|i| ok("GET", &format!("/t/{i}"))).collect();
    assert_eq!(answered(&x.responses), want);

    // Bodies of both framings between GETs: each body ends exactly where its framing says.
    let mixed = [
        "POST /s/echo-body HTTP/1.1\r\nHost: gw.test\r\nContent-Length: 5\r\n\r\nhello",
        &get("/s/m/2", false),
        "POST /s/echo-body HTTP/1.1\r\nHost: gw.test\r\nTransfer-Encoding: chunked\r\n\r\n\
         3;ext=\"a b\"\r\nabc\r\n2\r\nde\r\n0\r\nX-Trailer: t\r\n\r\n",
        &get("/s/m/4", true),
    ]
    .concat();
    let x = raw(gw.addr(), mixed.as_bytes(), None, DEADLINE).await;
    assert_eq!(
        answered(&x.responses),
        [
            ok("POST", "/echo-body"),
            ok("GET", "/m/2"),
            ok("POST", "/echo-body"),
            ok("GET", "/m/4"),
        ],
        "{mixed:?}"
    );
    assert_eq!(x.responses[0].json()["body"], "hello");
    assert_eq!(x.responses[2].json()["body"], "abcde");
    assert_eq!(
        be.requests(),
        3 + 10 + 4,
        "every request reached the backend once"
    );
}

/// Defect 2: a POST with `Content-Length: 5` and `hello`, then (before its answer) a GET on the
/// same connection. The backend executed the POST, but the client read `400 Bad Request` (data
/// after the end of the body was an error) and the GET was lost; a client that retried on that
/// 400 ran the POST twice. The backend holds the POST until the GET has been sent, so the GET
/// always arrives mid-exchange.
#[tokio::test]
async fn a_request_sent_before_the_previous_answer_is_kept_for_its_turn() {
    let (be, _dir, gw) = gateway().await;
    let mut s = connect(&gw).await;
    s.write_all(b"POST /s/order/slow HTTP/1.1\r\nHost: gw.test\r\nContent-Length: 5\r\n\r\nhello")
        .await
        .unwrap();
    assert_eq!(be.wait_held().await, "/order/slow");
    s.write_all(get("/s/after", true).as_bytes()).await.unwrap();
    // Give the gateway the GET's bytes while the POST is in flight (the defect needed exactly
    // this); the answers below are the same whether it has read them yet or not.
    tokio::time::sleep(Duration::from_millis(150)).await;
    be.release();

    let x = read_exchange(&mut s, Some(2), patience(DEADLINE)).await;
    assert_eq!(
        answered(&x.responses),
        [ok("POST", "/order/slow"), ok("GET", "/after")],
        "the executed POST is answered 200 and the GET is answered after it"
    );
    assert_eq!(
        be.seen_requests(),
        ["POST /order/slow", "GET /after"],
        "the POST ran once"
    );
}

/// Defect 3: chunk-size lines end only at CRLF. `2;\nxx\r\n3e\r\n` was read as a 2-byte chunk
/// `3e`; a parser that ends the line at the LF reads a 0x3e-byte chunk that swallows what
/// follows. An empty size line was read as the last chunk, and a request line after `0\r\n`
/// passed as a trailer. Each is 400, and nothing after the bad line reaches the backend.
#[tokio::test]
async fn chunk_lines_and_trailers_end_only_at_crlf() {
    let head = "POST /s/x HTTP/1.1\r\nHost: gw.test\r\nTransfer-Encoding: chunked\r\n\r\n";
    for (case, body) in [
        (
            "bare LF in a chunk extension",
            format!("2;\nxx\r\n3e\r\n0\r\n\r\n{SMUGGLED}"),
        ),
        (
            "bare LF ending a size line",
            format!("5\nhello\r\n0\r\n\r\n{SMUGGLED}"),
        ),
        ("empty chunk-size line", format!("\r\n{SMUGGLED}")),
        (
            "0x in a chunk size",
            format!("0x5\r\nhello\r\n0\r\n\r\n{SMUGGLED}"),
        ),
        ("request line as a trailer", format!("0\r\n{SMUGGLED}")),
        (
            "trailer without a colon",
            format!("0\r\nX-T 1\r\n\r\n{SMUGGLED}"),
        ),
        (
            "bare LF ending a trailer",
            format!("0\r\nX-T: 1\n\r\n{SMUGGLED}"),
        ),
        (
            "folded trailer",
            format!("0\r\nX-T: 1\r\n folded\r\n\r\n{SMUGGLED}"),
        ),
    ] {
        assert_refused(
            case,
            format!("{head}{body}").as_bytes(),
            Forwarding::HeadOnly,
        )
        .await;
    }
}

/// Defect 6 (last part): a request head whose lines end in a bare LF is 400 and reaches no
/// backend; a front end or cache that reads it otherwise would disagree on where it ends.
#[tokio::test]
async fn bare_lf_request_heads_are_refused() {
    for (case, head) in [
        ("all LF", "GET /s/lf HTTP/1.1\nHost: gw.test\n\n"),
        (
            "mixed",
            "GET /s/lf HTTP/1.1\r\nHost: gw.test\nX-A: 1\r\n\r\n",
        ),
        (
            "LF ending the head",
            "GET /s/lf HTTP/1.1\r\nHost: gw.test\r\n\n",
        ),
    ] {
        assert_refused(case, head.as_bytes(), Forwarding::Nothing).await;
    }
}

/// A malformed body is the client's doing: pingora's ERROR line for it would let any client fill
/// the log, so it is logged at info level, and the connection after it is refused cleanly.
#[tokio::test]
async fn a_malformed_body_is_not_logged_as_an_error() {
    let (_be, _dir, gw) = gateway().await;
    let bad = "POST /s/x HTTP/1.1\r\nHost: gw.test\r\nTransfer-Encoding: chunked\r\n\r\n2;\nxx\r\n0\r\n\r\n";
    let x = raw(gw.addr(), bad.as_bytes(), None, DEADLINE).await;
    assert_eq!(x.responses.first().map(|r| r.status), Some(400));
    eventually("the refusal is logged", DEADLINE, || async {
        gw.logs().contains("request failed on the client's side")
    })
    .await;
    let logs = gw.logs();
    assert!(
        !logs.contains(" ERROR "),
        "an ERROR line for a client's bad body:\n{logs}"
    );
}

/// `Expect: 100-continue` (curl sends it for large uploads): the interim `100 Continue` comes
/// before the body by design and must not end the connection. pingora turned keep-alive off
/// for any answer written before the body was read, the 100 included, so every such request
/// closed its connection and a request behind it was lost (patch 0002).
#[tokio::test]
async fn a_100_continue_keeps_the_connection_for_the_next_request() {
    let (be, _dir, gw) = gateway().await;
    let mut s = connect(&gw).await;
    s.write_all(
        b"POST /s/echo-body HTTP/1.1\r\nHost: gw.test\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n",
    )
    .await
    .unwrap();
    let interim = read_exchange(&mut s, Some(1), patience(DEADLINE)).await;
    assert_eq!(
        interim
            .responses
            .iter()
            .map(|r| r.status)
            .collect::<Vec<_>>(),
        [100],
        "the backend's 100 Continue comes through before the body is sent"
    );
    s.write_all(format!("hello{}", get("/s/after", true)).as_bytes())
        .await
        .unwrap();
    let x = read_exchange(&mut s, Some(2), patience(DEADLINE)).await;
    assert_eq!(
        answered(&x.responses),
        [ok("POST", "/echo-body"), ok("GET", "/after")],
        "both requests are answered on the one connection"
    );
    assert_eq!(x.responses[0].json()["body"], "hello");
    assert_eq!(x.responses[0].header("connection"), Some("keep-alive"));
    assert_eq!(be.requests(), 2);
}

/// Whitespace or a control byte inside the request target (found by fuzzing): pingora used to
/// percent-encode it and go on, so `GET /a /b HTTP/1.1` reached routing as `/a%20/b` while a
/// stricter reader sees the target `/a`. RFC 9112 3 forbids autocorrecting a request line: 400,
/// nothing forwarded (patch 0003).
#[tokio::test]
async fn whitespace_inside_the_request_target_is_refused() {
    for (case, line) in [
        ("space", "GET /s/a /b HTTP/1.1"),
        ("two spaces", "GET  /s/a HTTP/1.1"),
        ("tab", "GET /s/a\tb HTTP/1.1"),
        ("control byte", "GET /s/a\x01b HTTP/1.1"),
    ] {
        let req = format!("{line}\r\nHost: gw.test\r\n\r\n");
        assert_refused(case, req.as_bytes(), Forwarding::Nothing).await;
    }
}

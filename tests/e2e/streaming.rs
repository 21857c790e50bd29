//! Bodies stream through the gateway in both directions, intact and without being buffered.
//!
//! "Streams" is proven causally, not by timing: the receiving side must see the first chunk
//! while the sending side is still holding back the rest. The 20 s deadlines only turn a
//! hang into a failure.

use crate::common;

use common::{
    channel_body, full, pattern, pattern_sha256, read_reply, within, Backend, Client, ConfigDir,
    Deployment, Gateway, Stage, UploadEvent, CHUNK,
};
use http::Method;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use sha2::{Digest, Sha256};

/// 10 MB: large, and still below the default 10 MiB request body limit.
const BIG: usize = 10_000_000;

async fn gateway_to(be: &Backend) -> (ConfigDir, Gateway) {
    let dir = ConfigDir::new();
    dir.put_deployment("shop-1", &Deployment::catch_all("shop", be.addr()));
    dir.put_stage("s", &Stage::new("shop", "shop-1"));
    let gw = Gateway::start(&dir).await;
    (dir, gw)
}

/// Reads data frames into `hasher` until at least `at_least` bytes arrived in total
/// (or the body ends). Returns the total.
async fn read_until(
    body: &mut Incoming,
    hasher: &mut Sha256,
    mut got: usize,
    at_least: usize,
) -> usize {
    while got < at_least {
        let Some(frame) = body.frame().await else {
            break;
        };
        let frame = frame.unwrap_or_else(|e| panic!("response body error after {got} bytes: {e}"));
        if let Some(data) = frame.data_ref() {
            hasher.update(data);
            got += data.len();
        }
    }
    got
}

#[tokio::test]
async fn ten_megabyte_response_passes_through_intact() {
    let be = Backend::start("B").await;
    let (_dir, gw) = gateway_to(&be).await;
    let mut c = Client::connect(gw.addr()).await;

    let req = c.build(
        Method::GET,
        &format!("/s/stream-down?bytes={BIG}"),
        &[],
        full(""),
    );
    let resp = within("response head", c.send(req).await.unwrap())
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let mut body = resp.into_body();
    let mut hasher = Sha256::new();
    let got = within(
        "the whole response body",
        read_until(&mut body, &mut hasher, 0, usize::MAX),
    )
    .await;
    assert_eq!(got, BIG, "response length");
    assert_eq!(
        format!("{:x}", hasher.finalize()),
        pattern_sha256(BIG),
        "response sha256"
    );
}

#[tokio::test]
async fn response_reaches_the_client_while_the_backend_holds_the_rest() {
    let be = Backend::start("B").await;
    let (_dir, gw) = gateway_to(&be).await;
    let mut c = Client::connect(gw.addr()).await;

    let req = c.build(
        Method::GET,
        &format!("/s/stream-down?bytes={BIG}&hold=1"),
        &[],
        full(""),
    );
    let resp = within(
        "response head while the backend holds the body",
        c.send(req).await.unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers().get("x-backend").unwrap(), "B");
    let mut body = resp.into_body();
    let mut hasher = Sha256::new();

    // The backend has sent exactly one chunk and waits for release(): the client must get it.
    let got = within(
        "the first 64 KiB while the backend holds the rest (is the gateway buffering responses?)",
        read_until(&mut body, &mut hasher, 0, CHUNK),
    )
    .await;
    assert_eq!(got, CHUNK, "bytes before release");

    be.release();
    let got = within(
        "the rest of the response",
        read_until(&mut body, &mut hasher, got, usize::MAX),
    )
    .await;
    assert_eq!(got, BIG, "response length");
    assert_eq!(
        format!("{:x}", hasher.finalize()),
        pattern_sha256(BIG),
        "response sha256"
    );
}

#[tokio::test]
async fn ten_megabyte_request_passes_through_intact() {
    let be = Backend::start("B").await;
    let (_dir, gw) = gateway_to(&be).await;
    let mut c = Client::connect(gw.addr()).await;

    let payload = pattern(0, BIG);
    let want_sha = pattern_sha256(BIG);
    let r = c
        .request(
            Method::POST,
            "/s/upload",
            &[("content-type", "application/octet-stream")],
            payload,
        )
        .await
        .unwrap();
    assert_eq!(r.status, 200, "body: {}", r.text());
    assert_eq!(r.json()["body_len"], BIG, "length the backend read");
    assert_eq!(
        r.json()["sha256"],
        want_sha.as_str(),
        "sha256 the backend read"
    );
    assert!(matches!(
        be.next_upload_event().await,
        UploadEvent::FirstChunk(_)
    ));
    assert_eq!(
        be.next_upload_event().await,
        UploadEvent::Done {
            total: BIG,
            sha256: want_sha
        }
    );
}

/// Sends a BIG body whose first chunk is available and whose rest is held back until the
/// backend has reported that the first chunk arrived.
async fn upload_is_streamed(extra_headers: &[(&str, &str)]) {
    let be = Backend::start("B").await;
    let (_dir, gw) = gateway_to(&be).await;
    let mut c = Client::connect(gw.addr()).await;

    let (tx, body) = channel_body(4);
    let mut headers = vec![("content-type", "application/octet-stream")];
    headers.extend_from_slice(extra_headers);
    let req = c.build(Method::POST, "/s/upload", &headers, body.boxed());
    let pending = tokio::spawn(c.send(req).await.unwrap());

    tx.send(pattern(0, CHUNK)).await.unwrap();
    match be.next_upload_event().await {
        UploadEvent::FirstChunk(n) => assert!(n > 0 && n <= CHUNK, "first chunk of {n} bytes"),
        other => panic!("expected the first chunk at the backend, got {other:?}"),
    }

    // Only now does the rest of the body exist.
    let mut off = CHUNK;
    while off < BIG {
        let n = CHUNK.min(BIG - off);
        within("sending the request body", tx.send(pattern(off, n)))
            .await
            .unwrap();
        off += n;
    }
    drop(tx);

    let resp = within("response to the upload", pending)
        .await
        .unwrap()
        .unwrap();
    let r = read_reply(resp).await.unwrap();
    assert_eq!(r.status, 200, "body: {}", r.text());
    let want_sha = pattern_sha256(BIG);
    assert_eq!(
        be.next_upload_event().await,
        UploadEvent::Done {
            total: BIG,
            sha256: want_sha.clone()
        }
    );
    assert_eq!(r.json()["body_len"], BIG);
    assert_eq!(r.json()["sha256"], want_sha.as_str());
}

#[tokio::test]
async fn chunked_request_reaches_the_backend_while_the_client_holds_the_rest() {
    upload_is_streamed(&[]).await;
}

#[tokio::test]
async fn sized_request_reaches_the_backend_while_the_client_holds_the_rest() {
    let len = BIG.to_string();
    upload_is_streamed(&[("content-length", &len)]).await;
}

#[test]
fn pattern_hash_matches_whole_buffer_hash() {
    // The chunked hash helper must agree with hashing the buffer at once.
    let n = 3 * CHUNK + 123;
    assert_eq!(pattern_sha256(n), common::sha256_hex(&pattern(0, n)));
}

//! The patches of `patches/pingora-core` that change cost rather than what goes on the wire, each
//! checked on pingora's own types over real sockets, so that carrying the series to a new pingora
//! release and losing one of them fails here (the wire-visible ones are `framing` and
//! `conformance`).

use crate::common::within;

use pingora::connectors::TransportConnector;
use pingora::http::RequestHeader;
use pingora::protocols::http::v1::client::HttpSession as ClientSession;
use pingora::protocols::http::v1::server::HttpSession as ServerSession;
use pingora::protocols::l4::socket::SocketAddr as PeerAddr;
use pingora::protocols::l4::stream::Stream as L4Stream;
use pingora::protocols::{SocketDigest, Stream};
use pingora::upstreams::peer::{BasicPeer, Peer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A connected pair of real TCP streams on the loopback.
async fn pair() -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (ours, theirs) = within("loopback pair", async {
        tokio::join!(TcpStream::connect(addr), listener.accept())
    })
    .await;
    (ours.unwrap(), theirs.unwrap().0)
}

fn stream(tcp: TcpStream) -> Stream {
    Box::new(L4Stream::from(tcp))
}

/// Patch 0007: a parsed request keeps room for the headers the gateway adds before forwarding
/// (the forwarding headers and the request id), so those inserts do not regrow (reallocate and
/// rehash) its header maps on every request.
#[tokio::test]
async fn a_parsed_request_has_room_for_the_forwarding_headers() {
    let (mut client, server) = pair().await;
    client
        .write_all(b"GET /a HTTP/1.1\r\nHost: gw.test\r\nAccept: */*\r\n\r\n")
        .await
        .unwrap();
    let mut session = ServerSession::new(stream(server));
    within("read the request", session.read_request())
        .await
        .unwrap();
    assert_room_for_eight_more(&session.req_header().headers);
}

/// Two headers were parsed; without the headroom the map is sized for exactly those two.
fn assert_room_for_eight_more(headers: &http::HeaderMap) {
    assert_eq!(headers.len(), 2);
    assert!(
        headers.capacity() >= 2 + 8,
        "room for {} headers",
        headers.capacity()
    );
}

/// Patch 0007, the other direction: a parsed response keeps room for `Date`, `Connection` and
/// the gateway's own response headers.
#[tokio::test]
async fn a_parsed_response_has_room_for_the_headers_the_gateway_adds() {
    let (ours, mut backend) = pair().await;
    let mut session = ClientSession::new(stream(ours));
    let req = RequestHeader::build("GET", b"/", None).unwrap();
    within(
        "write the request",
        session.write_request_header(Box::new(req)),
    )
    .await
    .unwrap();
    let mut buf = [0u8; 256];
    let n = within("backend reads", backend.read(&mut buf))
        .await
        .unwrap();
    assert!(buf[..n].starts_with(b"GET / HTTP/1.1\r\n"));
    backend
        .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nServer: t\r\n\r\nok")
        .await
        .unwrap();
    within("read the response", session.read_response())
        .await
        .unwrap();
    assert_room_for_eight_more(&session.resp_header().unwrap().headers);
}

/// Patch 0008: a pooled connection is matched to its peer by the address recorded when it was
/// connected, not by a `getpeername` on every checkout. The test tells the two apart by
/// recording an address that is not the socket's peer: pingora as released asks the kernel and
/// refuses the connection; the patched pool trusts the record. A connection recorded to another
/// peer is still never handed out (the guard against a reuse-hash collision).
#[tokio::test]
async fn a_pooled_connection_is_matched_by_its_recorded_address() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let real = listener.local_addr().unwrap();
    let accepting = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = listener.accept().await {
            held.push(s);
        }
    });
    // Nothing listens there: only its address is used.
    let other: std::net::SocketAddr = "127.0.0.1:9".parse().unwrap();
    let real_peer = BasicPeer::new(&real.to_string());
    let other_peer = BasicPeer::new(&other.to_string());
    let connector = TransportConnector::new(None);

    // Recorded truthfully, offered to the other peer: refused.
    let (s, reused) = within("connect", connector.get_stream(&real_peer))
        .await
        .unwrap();
    assert!(!reused);
    connector.release_stream(s, other_peer.reuse_hash(), None);
    assert!(
        within("checkout", connector.reused_stream(&other_peer))
            .await
            .is_none(),
        "a connection to {real} was handed out for {other}"
    );

    // Recorded as the other peer's: the record is what the patched pool reads.
    let (mut s, _) = within("connect", connector.get_stream(&real_peer))
        .await
        .unwrap();
    let digest = SocketDigest::from_raw_fd(s.id());
    digest.peer_addr.set(Some(PeerAddr::Inet(other))).unwrap();
    s.set_socket_digest(digest);
    let fd = s.id();
    connector.release_stream(s, other_peer.reuse_hash(), None);
    let back = within("checkout", connector.reused_stream(&other_peer))
        .await
        .expect("the pool asked the kernel for the peer's address instead of reading its record");
    assert_eq!(back.id(), fd);
    accepting.abort();
}

/// Patch 0001 of `patches/pingora-proxy`: the hop-by-hop fields are looked for in one pass over
/// the request's names and removed only when one is there. Both sides of that test: a request
/// carrying every hop-by-hop field (and a field its `Connection` nominates) reaches the backend
/// without any of them, and a request carrying none keeps all of its own.
#[tokio::test]
async fn hop_by_hop_fields_are_removed_and_only_they() {
    use crate::hardening::raw;
    use serde_json::Value;
    use std::time::Duration;

    let (_be, _dir, gw) = crate::framing::gateway().await;
    let seen = |request: &'static [u8]| {
        let addr = gw.addr();
        async move {
            let exchange = raw(addr, request, Some(1), Duration::from_secs(10)).await;
            let response = &exchange.responses[0];
            assert_eq!(
                response.status,
                200,
                "{}",
                String::from_utf8_lossy(&response.body)
            );
            let echo: Value = serde_json::from_slice(&response.body).unwrap();
            echo["headers"].as_object().unwrap().clone()
        }
    };

    let hop = seen(
        b"GET /s/a HTTP/1.1\r\nHost: gw.test\r\nConnection: keep-alive, x-nominated\r\n\
          Keep-Alive: timeout=5\r\nProxy-Connection: keep-alive\r\nTE: trailers\r\n\
          Trailer: x-t\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n\
          Proxy-Authorization: Basic eDp5\r\nX-Nominated: 1\r\nX-Kept: 2\r\n\r\n",
    )
    .await;
    for gone in [
        "keep-alive",
        "proxy-connection",
        "te",
        "trailer",
        "upgrade",
        "http2-settings",
        "proxy-authorization",
        "x-nominated",
    ] {
        assert!(!hop.contains_key(gone), "{gone} was forwarded: {hop:?}");
    }
    assert_eq!(hop["x-kept"], "2", "{hop:?}");

    let plain = seen(
        b"GET /s/a HTTP/1.1\r\nHost: gw.test\r\nAccept: */*\r\nX-Kept: 2\r\n\
          X-Also: 3\r\nCache-Control: no-cache\r\n\r\n",
    )
    .await;
    for (name, value) in [
        ("accept", "*/*"),
        ("x-kept", "2"),
        ("x-also", "3"),
        ("cache-control", "no-cache"),
    ] {
        assert_eq!(plain[name], value, "{plain:?}");
    }
}

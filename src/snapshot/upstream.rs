//! Where an integration sends requests: prebuilt pingora peers grouped into versions, and the
//! weighted choice of a version. Everything here is built when the snapshot is compiled (names
//! resolved, peers constructed); a request only picks and clones.

use super::picker::WeightedPicker;
use super::sticky::{hash, StickyKey};
use pingora::upstreams::peer::HttpPeer;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// One version of a backend (or the single endpoint of an `http://` URI): its targets,
/// round-robined.
#[derive(Debug)]
pub struct Version {
    /// `v1`, `v2`, ... for backends; `-` for a plain `http://` endpoint.
    pub name: Arc<str>,
    peers: Box<[HttpPeer]>,
    /// The `Host` header sent to each target.
    host_headers: Box<[Arc<str>]>,
    next: AtomicUsize,
}

/// Builds a peer from an address resolved at compile time (never `HttpPeer::new` on a name:
/// that resolves DNS and unwraps). Timeouts are set per request from the integration.
pub fn build_peer(addr: SocketAddr, tls: bool, sni: &str) -> HttpPeer {
    let mut peer = HttpPeer::new(addr, tls, sni.to_string());
    // Idle pooled connections are closed before typical backend keep-alive timeouts (60 s+),
    // so a reused connection is rarely one the backend is closing.
    peer.options.idle_timeout = Some(Duration::from_secs(50));
    peer
}

impl Version {
    pub fn new(name: &str, targets: Vec<(HttpPeer, Arc<str>)>) -> Version {
        let (peers, host_headers): (Vec<_>, Vec<_>) = targets.into_iter().unzip();
        Version {
            name: name.into(),
            peers: peers.into(),
            host_headers: host_headers.into(),
            next: AtomicUsize::new(0),
        }
    }

    /// The next target in round-robin order. Returns its index so a retry can move on from it.
    pub fn next_target(&self) -> usize {
        if self.peers.len() == 1 {
            return 0;
        }
        self.next.fetch_add(1, Ordering::Relaxed) % self.peers.len()
    }

    pub fn target_count(&self) -> usize {
        self.peers.len()
    }

    pub fn peer(&self, i: usize) -> &HttpPeer {
        &self.peers[i % self.peers.len()]
    }

    pub fn host_header(&self, i: usize) -> &Arc<str> {
        &self.host_headers[i % self.host_headers.len()]
    }

    pub fn addresses(&self) -> impl Iterator<Item = String> + '_ {
        self.peers.iter().map(|p| p._address.to_string())
    }
}

/// An alias (weights over versions) or a single version.
#[derive(Debug)]
pub struct Selector {
    versions: Box<[Arc<Version>]>,
    picker: WeightedPicker,
    /// Pick by a hash of this request key (salted with `salt`) instead of chance.
    sticky: Option<(StickyKey, Box<str>)>,
}

impl Selector {
    pub fn single(version: Arc<Version>) -> Selector {
        Selector {
            versions: Box::new([version]),
            picker: WeightedPicker::single(),
            sticky: None,
        }
    }

    /// `None` when every weight is zero (validation reports that first).
    pub fn weighted(entries: Vec<(Arc<Version>, u32)>) -> Option<Selector> {
        let weights: Vec<u32> = entries.iter().map(|(_, w)| *w).collect();
        let picker = WeightedPicker::new(&weights)?;
        Some(Selector {
            versions: entries.into_iter().map(|(v, _)| v).collect(),
            picker,
            sticky: None,
        })
    }

    /// Makes the choice follow a hash of `key` (salted with `salt`, e.g. the alias name).
    pub fn with_sticky(mut self, key: StickyKey, salt: &str) -> Selector {
        self.sticky = Some((key, salt.into()));
        self
    }

    /// Picks the version for one request; retries keep it. Sticky selectors hash the request's
    /// key when it has one.
    pub fn pick(&self, headers: &http::HeaderMap) -> &Arc<Version> {
        if self.versions.len() > 1 {
            if let Some((key, salt)) = &self.sticky {
                if let Some(v) = key.value(headers) {
                    let i = self.picker.pick_with(hash(salt, v) % self.picker.total());
                    return &self.versions[i];
                }
            }
        }
        &self.versions[self.picker.pick()]
    }

    pub fn versions(&self) -> &[Arc<Version>] {
        &self.versions
    }
}

//! Part of the second stage of the data flow (`snapshot`): where an integration sends requests:
//! prebuilt pingora peers grouped into versions, and the weighted choice of a version. Everything
//! here is built when the snapshot is compiled (names resolved, peers constructed); a request only
//! picks and clones.

use super::health::{self, HealthCheck, TargetHealth};
use super::picker::WeightedPicker;
use super::sticky::{hash, StickyKey};
use pingora::upstreams::peer::HttpPeer;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// One version of a backend (or the single endpoint of an `http://` URI): its targets,
/// round-robined.
#[derive(Debug)]
pub struct Version {
    /// `v1`, `v2`, ... for backends; `-` for a plain `http://` endpoint.
    pub name: Arc<str>,
    peers: Box<[HttpPeer]>,
    /// The `Host` header sent to each target.
    host_headers: Box<[Arc<str>]>,
    /// Passive and active health of each target, shared across snapshots.
    health: Box<[Arc<TargetHealth>]>,
    /// Active health checking, when configured.
    pub health_check: Option<HealthCheck>,
    next: AtomicUsize,
}

/// Builds a peer from an address resolved at compile time (never `HttpPeer::new` on a name:
/// that resolves DNS and unwraps). Timeouts are set per request from the integration.
/// `tls`: `Some` for TLS upstreams; `sni` is then also the name the certificate must carry.
pub fn build_peer(addr: SocketAddr, tls: Option<&crate::tls::PeerTls>, sni: &str) -> HttpPeer {
    let mut peer = HttpPeer::new(addr, tls.is_some(), sni.to_string());
    if let Some(t) = tls {
        peer.options.verify_cert = t.verify;
        peer.options.verify_hostname = t.verify;
        peer.options.ca = t.trust.ca.clone();
        peer.group_key = t.trust.group_key;
    }
    // No idle timeout on pooled connections: pingora watches each idle one and drops it as soon
    // as the backend closes it, and a timeout would cost a timer on every request's release.
    peer
}

impl Version {
    /// `health`: where the health of each target is kept across snapshots.
    pub fn new(
        name: &str,
        targets: Vec<(HttpPeer, Arc<str>)>,
        health: &health::Registry,
    ) -> Version {
        let (peers, host_headers): (Vec<HttpPeer>, Vec<_>) = targets.into_iter().unzip();
        let health = peers
            .iter()
            .filter_map(|p| p._address.as_inet().copied())
            .map(|a| health.of(a))
            .collect::<Vec<_>>();
        Version {
            name: name.into(),
            peers: peers.into(),
            host_headers: host_headers.into(),
            health: health.into(),
            health_check: None,
            next: AtomicUsize::new(0),
        }
    }

    pub fn with_health_check(mut self, check: Option<HealthCheck>) -> Version {
        self.health_check = check;
        self
    }

    /// The next available target in round-robin order (skipping ejected and unhealthy ones; if
    /// none is available, the next one anyway: failing open beats refusing every request).
    /// Returns its index so a retry can move on from it.
    pub fn next_target(&self) -> usize {
        let n = self.peers.len();
        if n == 1 {
            return 0;
        }
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        (0..n)
            .map(|k| (start + k) % n)
            .find(|i| self.available(*i))
            .unwrap_or(start % n)
    }

    /// The target after `i` for a retry: the next available one that is not `i`.
    pub fn retry_target(&self, i: usize) -> usize {
        let n = self.peers.len();
        (1..n)
            .map(|k| (i + k) % n)
            .find(|j| self.available(*j))
            .unwrap_or((i + 1) % n.max(1))
    }

    fn available(&self, i: usize) -> bool {
        self.health.get(i).is_none_or(|h| h.available())
    }

    /// Skips target `i` for a while after a failed connection.
    pub fn eject(&self, i: usize) {
        if let Some(h) = self.health.get(i) {
            if self.peers.len() > 1 {
                h.eject();
            }
        }
    }

    pub fn health(&self) -> &[Arc<TargetHealth>] {
        &self.health
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

//! Beside the data flow, used by `snapshot::compile` (the only step that reads the files it
//! names) and `app`: TLS, with rustls and ring (pingora's `rustls` feature), the certificates of
//! TLS listeners and the trust of TLS upstreams.
//!
//! - Listeners: [`ListenerCert`] is the listener's rustls certificate resolver. It holds the
//!   parsed chain and key, and [`CertWatchService`] re-reads the PEM files every few seconds (and
//!   on SIGHUP): new contents that parse and match are swapped in for the next handshakes; bad
//!   contents are logged and the last good certificate stays. Connections already open keep
//!   theirs.
//! - Upstreams: [`UpstreamTrust`] is what `https://` integrations and TLS backend versions are
//!   verified against, built when a snapshot is compiled; [`PeerTls`] is what a peer gets.
//!
//! File paths are resolved against the configuration directory by [`config_path`].

use arc_swap::ArcSwap;
use async_trait::async_trait;
use pingora::protocols::tls::CaType;
use pingora::server::ShutdownWatch;
use pingora::services::background::BackgroundService;
use pingora::utils::tls::{parse_x509, WrappedX509};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How often listener certificate files are checked for new contents.
pub const CERT_POLL: Duration = Duration::from_secs(2);

/// `path` as written in gateway.yaml: absolute, or relative to the configuration directory.
pub fn config_path(dir: &Path, path: &str) -> PathBuf {
    let p = Path::new(path);
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        dir.join(p)
    }
}

fn read(path: &Path) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
}

/// Every certificate of a PEM text, each checked to be X.509 DER; at least one.
fn parse_certs(pem: &[u8], path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{}: not a PEM certificate file: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!(
            "{}: no certificate (-----BEGIN CERTIFICATE-----) found",
            path.display()
        ));
    }
    for (i, c) in certs.iter().enumerate() {
        if let Err(e) = x509_parser::parse_x509_certificate(c.as_ref()) {
            return Err(format!(
                "{}: certificate {} is not valid X.509: {e}",
                path.display(),
                i + 1
            ));
        }
    }
    Ok(certs)
}

fn parse_key(pem: &[u8], path: &Path) -> Result<PrivateKeyDer<'static>, String> {
    PrivateKeyDer::from_pem_slice(pem).map_err(|e| match e {
        rustls::pki_types::pem::Error::NoItemsFound => format!(
            "{}: no private key (-----BEGIN PRIVATE KEY-----, RSA or EC) found",
            path.display()
        ),
        e => format!("{}: not a PEM private key: {e}", path.display()),
    })
}

/// A certificate chain and its private key from PEM texts: both parse, the key is usable for
/// TLS and belongs to the first (leaf) certificate.
fn certified_key(
    cert_pem: &[u8],
    cert: &Path,
    key_pem: &[u8],
    key: &Path,
) -> Result<CertifiedKey, String> {
    let chain = parse_certs(cert_pem, cert)?;
    let key_der = parse_key(key_pem, key)?;
    let provider = rustls::crypto::ring::default_provider();
    CertifiedKey::from_der(chain, key_der, &provider).map_err(|e| match e {
        rustls::Error::InconsistentKeys(_) => format!(
            "{} does not belong to the certificate in {}",
            key.display(),
            cert.display()
        ),
        e => format!("{}: unusable private key: {e}", key.display()),
    })
}

/// Reads and checks a listener's certificate chain and key.
pub fn load_certified_key(cert: &Path, key: &Path) -> Result<CertifiedKey, String> {
    certified_key(&read(cert)?, cert, &read(key)?, key)
}

/// The certificate of one TLS listener, swapped in place when its files change.
#[derive(Debug)]
pub struct ListenerCert {
    pub cert: PathBuf,
    pub key: PathBuf,
    current: ArcSwap<CertifiedKey>,
    /// sha256 of the contents last tried, good or bad: a broken file is reported once.
    last_tried: Mutex<[u8; 32]>,
}

fn fingerprint(cert_pem: &[u8], key_pem: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update((cert_pem.len() as u64).to_le_bytes());
    h.update(cert_pem);
    h.update(key_pem);
    h.finalize().into()
}

/// What [`ListenerCert::refresh`] found.
#[derive(Debug, PartialEq, Eq)]
pub enum Refresh {
    Unchanged,
    Replaced,
}

impl ListenerCert {
    pub fn load(cert: PathBuf, key: PathBuf) -> Result<ListenerCert, String> {
        let (cert_pem, key_pem) = (read(&cert)?, read(&key)?);
        let ck = certified_key(&cert_pem, &cert, &key_pem, &key)?;
        Ok(ListenerCert {
            current: ArcSwap::from_pointee(ck),
            last_tried: Mutex::new(fingerprint(&cert_pem, &key_pem)),
            cert,
            key,
        })
    }

    /// Re-reads both files. New contents that parse and match replace the certificate;
    /// new contents that don't are an error (once per distinct contents) and change nothing.
    pub fn refresh(&self) -> Result<Refresh, String> {
        let (cert_pem, key_pem) = (read(&self.cert)?, read(&self.key)?);
        let fp = fingerprint(&cert_pem, &key_pem);
        {
            let mut last = self
                .last_tried
                .lock()
                .map_err(|_| "certificate state poisoned".to_string())?;
            if *last == fp {
                return Ok(Refresh::Unchanged);
            }
            *last = fp;
        }
        let ck = certified_key(&cert_pem, &self.cert, &key_pem, &self.key)?;
        self.current.store(Arc::new(ck));
        Ok(Refresh::Replaced)
    }

    /// The leaf certificate being served now (DER).
    pub fn leaf(&self) -> Option<Vec<u8>> {
        self.current.load().cert.first().map(|c| c.to_vec())
    }
}

impl ResolvesServerCert for ListenerCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current.load_full())
    }
}

/// Builds the pingora TLS settings of a listener: the reloading certificate and ALPN h2 then
/// http/1.1 (HTTP/2 for clients that offer it).
pub fn listener_settings(
    cert: Arc<ListenerCert>,
) -> pingora::Result<pingora::listeners::tls::TlsSettings> {
    // With a resolver, the paths given here are never read.
    let mut settings = pingora::listeners::tls::TlsSettings::intermediate("", "")?;
    settings.set_cert_resolver(cert);
    settings.enable_h2();
    Ok(settings)
}

/// Checks the certificate files of every TLS listener: every [`CERT_POLL`], and at once on
/// SIGHUP. Runs as a pingora background service.
pub struct CertWatchService {
    pub certs: Vec<Arc<ListenerCert>>,
    pub poll_every: Duration,
}

impl CertWatchService {
    pub fn new(certs: Vec<Arc<ListenerCert>>) -> CertWatchService {
        CertWatchService {
            certs,
            poll_every: CERT_POLL,
        }
    }

    async fn refresh_all(&self) {
        let certs = self.certs.clone();
        let done = tokio::task::spawn_blocking(move || {
            for c in &certs {
                match c.refresh() {
                    Ok(Refresh::Unchanged) => {}
                    Ok(Refresh::Replaced) => tracing::info!(
                        cert = %c.cert.display(),
                        key = %c.key.display(),
                        "listener certificate reloaded"
                    ),
                    Err(e) => tracing::error!(
                        "listener certificate not reloaded, still serving the previous one: {e}"
                    ),
                }
            }
        })
        .await;
        if let Err(e) = done {
            tracing::error!("certificate reload task failed: {e}");
        }
    }
}

#[async_trait]
impl BackgroundService for CertWatchService {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        if self.certs.is_empty() {
            return;
        }
        let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
            .map_err(|e| tracing::warn!("certificates: cannot handle SIGHUP: {e}"))
            .ok();
        let mut poll = tokio::time::interval(self.poll_every);
        poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = shutdown.changed() => break,
                _ = poll.tick() => self.refresh_all().await,
                Some(()) = async { match hup.as_mut() { Some(h) => h.recv().await, None => std::future::pending().await } } => {
                    self.refresh_all().await;
                }
            }
        }
    }
}

/// What TLS upstreams are verified against: `None` is pingora's default store (the system's
/// roots, loaded at start); otherwise the CA list every TLS peer carries.
#[derive(Debug, Clone, Default)]
pub struct UpstreamTrust {
    pub ca: Option<Arc<CaType>>,
    /// Identifies the CA list, so pooled connections verified under another list (before a
    /// reload that changed it) are not reused for peers that must use this one.
    pub group_key: u64,
}

/// TLS of one upstream peer.
#[derive(Debug, Clone)]
pub struct PeerTls {
    /// Certificate chain and host name (SNI) verification.
    pub verify: bool,
    pub trust: UpstreamTrust,
}

impl PeerTls {
    /// A rustls client configuration that verifies like pingora does for this peer (the same
    /// CAs; nothing with `verify: false`), for connections stagecraft opens itself, such as
    /// health checks: `pingora::tls::TlsConnector::from(config).connect(name, tcp)`, with the
    /// name the peer's SNI. Build it once per snapshot: it may read the system's roots.
    pub fn client_config(&self) -> Result<Arc<rustls::ClientConfig>, String> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(&[&rustls::version::TLS12, &rustls::version::TLS13])
            .map_err(|e| e.to_string())?;
        let config = if self.verify {
            let mut roots = rustls::RootCertStore::empty();
            match &self.trust.ca {
                Some(ca) => {
                    for c in ca.iter() {
                        let der = CertificateDer::from(c.borrow_raw_cert().clone());
                        roots.add(der).map_err(|e| e.to_string())?;
                    }
                }
                None => {
                    let native = pingora::tls::load_native_certs()
                        .map_err(|e| format!("cannot load the system's CA certificates: {e}"))?;
                    roots.add_parsable_certificates(native);
                }
            }
            builder.with_root_certificates(roots).with_no_client_auth()
        } else {
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(NoVerify(provider)))
                .with_no_client_auth()
        };
        Ok(Arc::new(config))
    }
}

/// `verify: false`: any certificate, but the handshake signatures still have to be right.
#[derive(Debug)]
struct NoVerify(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for NoVerify {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &rustls::pki_types::ServerName<'_>,
        _ocsp: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// The CA certificates of a PEM file: at least one, each usable as a trust anchor.
pub fn load_ca_file(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = parse_certs(&read(path)?, path)?;
    for (i, c) in certs.iter().enumerate() {
        if let Err(e) = rustls::RootCertStore::empty().add(c.clone()) {
            return Err(format!(
                "{}: certificate {} cannot be a trusted CA: {e}",
                path.display(),
                i + 1
            ));
        }
    }
    Ok(certs)
}

impl UpstreamTrust {
    /// `ca`: the certificates of the extra CA file (see [`load_ca_file`]).
    /// `system_roots`: also trust the system's roots (the usual case).
    pub fn build(
        ca: Option<Vec<CertificateDer<'static>>>,
        system_roots: bool,
    ) -> Result<UpstreamTrust, String> {
        let Some(mut ders) = ca else {
            if !system_roots {
                return Err("system_roots: false needs a ca file to trust".into());
            }
            return Ok(UpstreamTrust::default());
        };
        if system_roots {
            let native = pingora::tls::load_native_certs()
                .map_err(|e| format!("cannot load the system's CA certificates: {e}"))?;
            // pingora adds every listed certificate to a store per connection and fails the
            // connection on one it rejects: keep only those rustls and x509-parser accept.
            ders.extend(native.into_iter().filter(|c| {
                rustls::RootCertStore::empty().add(c.clone()).is_ok()
                    && x509_parser::parse_x509_certificate(c.as_ref()).is_ok()
            }));
        }
        let mut h = Sha256::new();
        for d in &ders {
            h.update((d.len() as u64).to_le_bytes());
            h.update(d.as_ref());
        }
        let digest = h.finalize();
        let mut key = [0u8; 8];
        key.copy_from_slice(&digest[..8]);
        let ca: Arc<CaType> = ders
            .iter()
            .map(|d| WrappedX509::new(d.to_vec(), parse_x509))
            .collect::<Vec<_>>()
            .into();
        Ok(UpstreamTrust {
            ca: Some(ca),
            group_key: u64::from_le_bytes(key),
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    fn self_signed(name: &str) -> (String, String) {
        let ck = rcgen::generate_simple_self_signed(vec![name.to_string()]).unwrap();
        (ck.cert.pem(), ck.signing_key.serialize_pem())
    }

    #[test]
    fn loads_and_reports_bad_files() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = self_signed("a.test");
        let (_, other_key) = self_signed("b.test");
        let c = write(dir.path(), "c.pem", &cert);
        let k = write(dir.path(), "k.pem", &key);
        let k2 = write(dir.path(), "k2.pem", &other_key);
        let junk = write(dir.path(), "junk.pem", "hello\n");
        assert!(load_certified_key(&c, &k).is_ok());
        let e = load_certified_key(&c, &k2).unwrap_err();
        assert!(e.contains("does not belong"), "{e}");
        let e = load_certified_key(&junk, &k).unwrap_err();
        assert!(e.contains("no certificate"), "{e}");
        let e = load_certified_key(&c, &junk).unwrap_err();
        assert!(e.contains("no private key"), "{e}");
        let e = load_certified_key(&dir.path().join("missing.pem"), &k).unwrap_err();
        assert!(e.contains("cannot read"), "{e}");
        // A key file is not a CA file.
        assert!(load_ca_file(&k).is_err());
        assert_eq!(load_ca_file(&c).unwrap().len(), 1);
    }

    #[test]
    fn refresh_swaps_only_good_new_contents() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = self_signed("a.test");
        let c = write(dir.path(), "c.pem", &cert);
        let k = write(dir.path(), "k.pem", &key);
        let lc = ListenerCert::load(c.clone(), k.clone()).unwrap();
        let first = lc.leaf().unwrap();
        assert_eq!(lc.refresh().unwrap(), Refresh::Unchanged);
        // A half-written update (new cert, old key) is refused and the old one kept.
        let (cert2, key2) = self_signed("b.test");
        write(dir.path(), "c.pem", &cert2);
        assert!(lc.refresh().is_err());
        assert_eq!(lc.leaf().unwrap(), first);
        write(dir.path(), "k.pem", &key2);
        assert_eq!(lc.refresh().unwrap(), Refresh::Replaced);
        assert_ne!(lc.leaf().unwrap(), first);
    }

    /// One handshake of `client` with a rustls server presenting `cert`/`key` (PEM).
    async fn handshake(client: Arc<rustls::ClientConfig>, cert: &str, key: &str) -> bool {
        let chain = CertificateDer::pem_slice_iter(cert.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .unwrap();
        let key = PrivateKeyDer::from_pem_slice(key.as_bytes()).unwrap();
        let server = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let accept = tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            let _ = pingora::tls::TlsAcceptor::from(Arc::new(server))
                .accept(tcp)
                .await;
        });
        let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        let name = rustls::pki_types::ServerName::try_from("a.test").unwrap();
        let ok = pingora::tls::TlsConnector::from(client)
            .connect(name, tcp)
            .await
            .is_ok();
        let _ = accept.await;
        ok
    }

    #[tokio::test]
    async fn client_config_verifies_like_the_peer() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = self_signed("a.test");
        let (stranger, stranger_key) = self_signed("a.test");
        // The self-signed certificate is its own CA.
        let ca = write(dir.path(), "ca.pem", &cert);
        let trust = UpstreamTrust::build(Some(load_ca_file(&ca).unwrap()), false).unwrap();
        let verified = PeerTls {
            verify: true,
            trust: trust.clone(),
        }
        .client_config()
        .unwrap();
        assert!(handshake(verified.clone(), &cert, &key).await);
        assert!(!handshake(verified, &stranger, &stranger_key).await);
        let unverified = PeerTls {
            verify: false,
            trust,
        }
        .client_config()
        .unwrap();
        assert!(handshake(unverified, &stranger, &stranger_key).await);
    }

    #[test]
    fn upstream_trust() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, _) = self_signed("ca.test");
        let ca = write(dir.path(), "ca.pem", &cert);
        let only = UpstreamTrust::build(Some(load_ca_file(&ca).unwrap()), false).unwrap();
        assert_eq!(only.ca.as_ref().unwrap().len(), 1);
        let with_system = UpstreamTrust::build(Some(load_ca_file(&ca).unwrap()), true).unwrap();
        // The CA, plus whatever roots this machine has.
        assert!(with_system.ca.as_ref().unwrap().len() >= only.ca.as_ref().unwrap().len());
        assert!(UpstreamTrust::build(None, true).unwrap().ca.is_none());
        assert!(UpstreamTrust::build(None, false).is_err());
    }
}

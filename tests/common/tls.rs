//! TLS test kit: a throwaway PKI made with rcgen at test time, an HTTPS client over
//! tokio-rustls (HTTP/1.1 or HTTP/2 by ALPN), an HTTPS echo backend, and a gateway started
//! with a gateway.yaml the test writes itself (TLS listeners, `upstream_tls`).

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::fs::File;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderMap, Method, Request, Response, StatusCode, Version};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose,
    SanType,
};
use tempfile::TempDir;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio_rustls::rustls::{self, ClientConfig, RootCertStore, ServerConfig};
use tokio_rustls::{TlsAcceptor, TlsConnector};

use super::client::{full, try_get, Body, Reply};
use super::config::ConfigDir;
use super::{patience, reserve_ports, DEADLINE, POLL_INTERVAL};

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A test certificate authority.
pub struct TestCa {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

/// A certificate chain (leaf, then the CA) and its key, in PEM.
#[derive(Clone, Debug)]
pub struct Leaf {
    pub cert_pem: String,
    pub key_pem: String,
}

impl TestCa {
    pub fn new(name: &str) -> TestCa {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let issuer = CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();
        TestCa { issuer }
    }

    pub fn pem(&self) -> String {
        self.issuer.pem()
    }

    /// A server certificate for `names`: DNS names, or IP addresses (IP SANs).
    pub fn leaf(&self, names: &[&str]) -> Leaf {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params
            .distinguished_name
            .push(DnType::CommonName, names.first().copied().unwrap_or("test"));
        for n in names {
            params.subject_alt_names.push(match n.parse::<IpAddr>() {
                Ok(ip) => SanType::IpAddress(ip),
                Err(_) => SanType::DnsName((*n).try_into().unwrap()),
            });
        }
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &*self.issuer).unwrap();
        Leaf {
            cert_pem: format!("{}{}", cert.pem(), self.pem()),
            key_pem: key.serialize_pem(),
        }
    }
}

impl Leaf {
    /// Writes `NAME.crt` and `NAME.key` into `dir`.
    pub fn write(&self, dir: &Path, name: &str) {
        std::fs::create_dir_all(dir).unwrap();
        std::fs::write(dir.join(format!("{name}.crt")), &self.cert_pem).unwrap();
        std::fs::write(dir.join(format!("{name}.key")), &self.key_pem).unwrap();
    }

    /// The leaf certificate (DER), to compare with what a server presents.
    pub fn leaf_der(&self) -> Vec<u8> {
        CertificateDer::pem_slice_iter(self.cert_pem.as_bytes())
            .next()
            .unwrap()
            .unwrap()
            .to_vec()
    }

    fn server_config(&self, alpn: &[&[u8]]) -> ServerConfig {
        let chain = CertificateDer::pem_slice_iter(self.cert_pem.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .unwrap();
        let key = PrivateKeyDer::from_pem_slice(self.key_pem.as_bytes()).unwrap();
        let mut cfg = ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .unwrap();
        cfg.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        cfg
    }
}

/// A client TLS configuration trusting only `ca_pem`, offering `alpn` (e.g. `[b"h2",
/// b"http/1.1"]`; empty: no ALPN).
pub fn client_config(ca_pem: &str, alpn: &[&[u8]]) -> Arc<ClientConfig> {
    let mut roots = RootCertStore::empty();
    for c in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots.add(c.unwrap()).unwrap();
    }
    let mut cfg = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    cfg.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Arc::new(cfg)
}

/// A response over TLS, with the protocol it came by.
#[derive(Debug)]
pub struct TlsReply {
    pub version: Version,
    /// The ALPN protocol the server chose.
    pub alpn: Option<Vec<u8>>,
    /// The leaf certificate the server presented (DER).
    pub peer_leaf: Vec<u8>,
    pub reply: Reply,
}

/// The TLS handshake alone: the server's leaf certificate (DER) and the ALPN it chose.
pub async fn handshake(
    addr: SocketAddr,
    server_name: &str,
    cfg: Arc<ClientConfig>,
) -> Result<(Vec<u8>, Option<Vec<u8>>), String> {
    let tcp = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
    let name = ServerName::try_from(server_name.to_string()).map_err(|e| e.to_string())?;
    let tls = TlsConnector::from(cfg)
        .connect(name, tcp)
        .await
        .map_err(|e| format!("TLS handshake with {addr} as {server_name}: {e}"))?;
    let conn = tls.get_ref().1;
    let leaf = conn
        .peer_certificates()
        .and_then(|c| c.first())
        .map(|c| c.to_vec())
        .unwrap_or_default();
    Ok((leaf, conn.alpn_protocol().map(<[u8]>::to_vec)))
}

/// One request on a new TLS connection to `addr`, verifying the server as `server_name`. The
/// protocol follows ALPN: HTTP/2 when the server chose `h2`, else HTTP/1.1. `authority` is the
/// `Host` (HTTP/1.1) or `:authority` (HTTP/2).
pub async fn https_request(
    addr: SocketAddr,
    server_name: &str,
    cfg: Arc<ClientConfig>,
    method: Method,
    authority: &str,
    path: &str,
    body: Bytes,
) -> Result<TlsReply, String> {
    let fut = async {
        let tcp = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
        let name = ServerName::try_from(server_name.to_string()).map_err(|e| e.to_string())?;
        let tls = TlsConnector::from(cfg)
            .connect(name, tcp)
            .await
            .map_err(|e| format!("TLS handshake with {addr} as {server_name}: {e}"))?;
        let (_, conn) = tls.get_ref();
        let alpn = conn.alpn_protocol().map(<[u8]>::to_vec);
        let peer_leaf = conn
            .peer_certificates()
            .and_then(|c| c.first())
            .map(|c| c.to_vec())
            .unwrap_or_default();
        let io = TokioIo::new(tls);
        let resp = if alpn.as_deref() == Some(b"h2") {
            let (mut sender, conn) =
                hyper::client::conn::http2::handshake::<_, _, Body>(TokioExecutor::new(), io)
                    .await
                    .map_err(|e| format!("h2 handshake: {e}"))?;
            tokio::spawn(conn);
            let req = Request::builder()
                .method(method)
                .version(Version::HTTP_2)
                .uri(format!("https://{authority}{path}"))
                .body(full(body))
                .map_err(|e| e.to_string())?;
            sender.send_request(req).await.map_err(|e| e.to_string())?
        } else {
            let (mut sender, conn) = hyper::client::conn::http1::handshake::<_, Body>(io)
                .await
                .map_err(|e| format!("http/1.1 handshake: {e}"))?;
            tokio::spawn(conn);
            let req = Request::builder()
                .method(method)
                .uri(path)
                .header("host", authority)
                .body(full(body))
                .map_err(|e| e.to_string())?;
            sender.send_request(req).await.map_err(|e| e.to_string())?
        };
        let version = resp.version();
        let (parts, body) = resp.into_parts();
        let body = body
            .collect()
            .await
            .map_err(|e| format!("reading the body: {e}"))?
            .to_bytes();
        Ok(TlsReply {
            version,
            alpn,
            peer_leaf,
            reply: Reply {
                status: parts.status,
                headers: parts.headers,
                body,
            },
        })
    };
    let deadline = patience(DEADLINE);
    match tokio::time::timeout(deadline, fut).await {
        Ok(r) => r,
        Err(_) => Err(format!("no response from {addr} within {deadline:?}")),
    }
}

/// What an [`HttpsBackend`] saw of one request.
#[derive(Clone, Debug)]
pub struct SeenRequest {
    /// The SNI the client sent (none for IP addresses).
    pub sni: Option<String>,
    pub path: String,
    pub headers: BTreeMap<String, String>,
}

/// An HTTPS (HTTP/1.1) echo server: answers 200 with `x-backend: NAME` and the echo JSON
/// `{"name", "path", "sni", "headers"}`, and records every request.
pub struct HttpsBackend {
    addr: SocketAddr,
    seen: Arc<Mutex<Vec<SeenRequest>>>,
    accept: JoinHandle<()>,
}

impl HttpsBackend {
    /// Listens on `ip:0` with the certificate `leaf`.
    pub async fn start(name: &str, ip: IpAddr, leaf: &Leaf) -> HttpsBackend {
        let listener = TcpListener::bind(SocketAddr::new(ip, 0)).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let acceptor = TlsAcceptor::from(Arc::new(leaf.server_config(&[b"http/1.1"])));
        let seen: Arc<Mutex<Vec<SeenRequest>>> = Arc::default();
        let name = name.to_string();
        let seen2 = seen.clone();
        let accept = tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    return;
                };
                let (acceptor, name, seen) = (acceptor.clone(), name.clone(), seen2.clone());
                tokio::spawn(async move {
                    // A client that rejects our certificate ends here.
                    let Ok(tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let sni = tls.get_ref().1.server_name().map(str::to_string);
                    let svc = service_fn(move |req: Request<Incoming>| {
                        let (name, seen, sni) = (name.clone(), seen.clone(), sni.clone());
                        async move {
                            let mut headers = BTreeMap::new();
                            for (k, v) in req.headers() {
                                headers.insert(
                                    k.as_str().to_string(),
                                    v.to_str().unwrap_or("").to_string(),
                                );
                            }
                            let path = req.uri().path().to_string();
                            seen.lock().unwrap().push(SeenRequest {
                                sni: sni.clone(),
                                path: path.clone(),
                                headers: headers.clone(),
                            });
                            let body = serde_json::json!({
                                "name": name, "path": path, "sni": sni, "headers": headers,
                            });
                            Ok::<_, Infallible>(
                                Response::builder()
                                    .status(StatusCode::OK)
                                    .header("content-type", "application/json")
                                    .header("x-backend", name.as_str())
                                    .body(full(body.to_string()))
                                    .unwrap(),
                            )
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(tls), svc)
                        .await;
                });
            }
        });
        HttpsBackend { addr, seen, accept }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Every request answered so far.
    pub fn seen(&self) -> Vec<SeenRequest> {
        self.seen.lock().unwrap().clone()
    }
}

impl Drop for HttpsBackend {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

/// The address `localhost` resolves to first, as the gateway resolves targets (so a backend
/// bound there is what `https://localhost:PORT` reaches).
pub fn localhost_ip() -> IpAddr {
    ("localhost", 0)
        .to_socket_addrs()
        .unwrap()
        .next()
        .unwrap()
        .ip()
}

/// A gateway started on a gateway.yaml the test writes: `yaml(ports)` gets fresh ports (the
/// first is the admin listener, which must be in the file) and returns the whole file.
/// Killed on drop; its output is printed if the test panics.
pub struct TlsGateway {
    child: Mutex<Child>,
    pub ports: Vec<u16>,
    logs: TempDir,
}

impl TlsGateway {
    /// Starts with `n` fresh ports and waits until `/readyz` answers and every port accepts.
    pub async fn start(dir: &ConfigDir, n: usize, yaml: impl Fn(&[u16]) -> String) -> TlsGateway {
        for attempt in 1..=3 {
            let ports = reserve_ports(n);
            std::fs::write(dir.path().join("gateway.yaml"), yaml(&ports)).unwrap();
            let logs = tempfile::Builder::new()
                .prefix("stagecraft-logs-")
                .tempdir()
                .unwrap();
            let child = Command::new(env!("CARGO_BIN_EXE_stagecraft"))
                .arg("run")
                .arg("--config")
                .arg(dir.path())
                .env("STAGECRAFT_LOG", "info")
                .stdin(Stdio::null())
                .stdout(File::create(logs.path().join("stdout")).unwrap())
                .stderr(File::create(logs.path().join("stderr")).unwrap())
                .spawn()
                .unwrap();
            let gw = TlsGateway {
                child: Mutex::new(child),
                ports,
                logs,
            };
            if gw.wait_ready().await {
                return gw;
            }
            let exited = gw.child.lock().unwrap().try_wait().ok().flatten();
            match exited {
                Some(status) if attempt < 3 => {
                    eprintln!("gateway exited with {status}; retrying\n{}", gw.logs())
                }
                _ => panic!("gateway not ready\n{}", gw.logs()),
            }
        }
        unreachable!("the last attempt returns or panics")
    }

    async fn wait_ready(&self) -> bool {
        let admin = self.addr(0);
        let start = Instant::now();
        while start.elapsed() < patience(Duration::from_secs(30)) {
            if self
                .child
                .lock()
                .unwrap()
                .try_wait()
                .ok()
                .flatten()
                .is_some()
            {
                return false;
            }
            let ready = try_get(admin, "/readyz")
                .await
                .is_some_and(|r| r.status == 200);
            let mut all = ready;
            for p in &self.ports[1..] {
                all = all && TcpStream::connect(("127.0.0.1", *p)).await.is_ok();
            }
            if all {
                return true;
            }
            tokio::time::sleep(POLL_INTERVAL).await;
        }
        false
    }

    /// `127.0.0.1:ports[i]`.
    pub fn addr(&self, i: usize) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.ports[i]))
    }

    pub fn logs(&self) -> String {
        let read = |name: &str| {
            String::from_utf8_lossy(&std::fs::read(self.logs.path().join(name)).unwrap_or_default())
                .into_owned()
        };
        format!(
            "----- gateway stdout -----\n{}\n----- gateway stderr -----\n{}\n-----",
            read("stdout"),
            read("stderr")
        )
    }
}

impl Drop for TlsGateway {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("{}", self.logs());
        }
        if let Ok(mut c) = self.child.lock() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// The header map of a reply, for assertions on what the gateway answered.
pub fn header<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

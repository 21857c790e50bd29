//! Part of the first stage of the data flow: the addresses gateway.yaml names, parsed once when
//! it is read: listen and admin addresses (`ip:port`) and backend targets (`host:port`, the host
//! an IP address or a DNS name that `snapshot::compile` resolves).

use super::typed::Syntax;
use std::net::SocketAddr;

/// A proxy listener's address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListenAddr(pub SocketAddr);

impl Syntax for ListenAddr {
    fn parse(text: &str) -> Result<ListenAddr, String> {
        text.parse().map(ListenAddr).map_err(|_| {
            format!("invalid listen address {text:?}: expected \"ip:port\", e.g. \"0.0.0.0:8080\"")
        })
    }
}

/// The admin listener's address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AdminAddr(pub SocketAddr);

impl Syntax for AdminAddr {
    fn parse(text: &str) -> Result<AdminAddr, String> {
        text.parse()
            .map(AdminAddr)
            .map_err(|_| format!("invalid admin address {text:?}: expected \"ip:port\""))
    }
}

/// One target of a backend version: `host:port`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// An IP address (without the brackets of `[::1]`) or a DNS name: what is resolved, and the
    /// name a TLS target's certificate must carry.
    pub host: String,
    pub port: u16,
    /// The address itself when the host is an IP address: nothing to resolve.
    pub ip: Option<SocketAddr>,
}

impl Syntax for Target {
    /// The error names only the target: the backend and version it belongs to are added when
    /// the file is read (see `GatewayFile::explain`).
    fn parse(text: &str) -> Result<Target, String> {
        if let Ok(a) = text.parse::<SocketAddr>() {
            let host = text.rsplit_once(':').map_or(text, |(h, _)| h);
            return Ok(Target {
                host: host
                    .trim_start_matches('[')
                    .trim_end_matches(']')
                    .to_string(),
                port: a.port(),
                ip: Some(a),
            });
        }
        let bad = || format!("invalid target {text:?}");
        let (host, port) = text.rsplit_once(':').ok_or_else(bad)?;
        let port = port
            .parse::<u16>()
            .ok()
            .filter(|p| *p != 0)
            .ok_or_else(bad)?;
        if host.is_empty()
            || !host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
        {
            return Err(bad());
        }
        Ok(Target {
            host: host.to_string(),
            port,
            ip: None,
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn targets() {
        let t = |s: &str| <Target as Syntax>::parse(s);
        assert_eq!(
            t("127.0.0.1:9001").unwrap(),
            Target {
                host: "127.0.0.1".into(),
                port: 9001,
                ip: Some(([127, 0, 0, 1], 9001).into()),
            }
        );
        assert_eq!(t("[::1]:9001").unwrap().host, "::1");
        assert_eq!(t("localhost:80").unwrap().host, "localhost");
        assert_eq!(t("localhost:80").unwrap().ip, None);
        for bad in ["localhost", "host:0", "a b:1", ":80"] {
            assert_eq!(t(bad).unwrap_err(), format!("invalid target {bad:?}"));
        }
    }

    #[test]
    fn listen_and_admin_addresses() {
        assert!(<ListenAddr as Syntax>::parse("0.0.0.0:8080").is_ok());
        assert!(<ListenAddr as Syntax>::parse("nope")
            .unwrap_err()
            .starts_with("invalid listen address \"nope\""));
        assert!(<AdminAddr as Syntax>::parse("localhost:1")
            .unwrap_err()
            .starts_with("invalid admin address"));
    }
}

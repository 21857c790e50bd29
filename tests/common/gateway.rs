//! The gateway under test: `stagecraft run --config DIR` as a child process.

use std::fs::File;
use std::net::SocketAddr;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tempfile::TempDir;
use tokio::net::TcpStream;

use super::client::{try_get, Reply};
use super::config::ConfigDir;
use super::{patience, reserve_ports, POLL_INTERVAL};

/// How long a gateway may take to become ready (a cold debug build on a loaded CI machine);
/// scaled by [`patience`].
const READY_DEADLINE: Duration = Duration::from_secs(30);
/// How long one readiness probe may take before it counts as a failed one.
const PROBE_DEADLINE: Duration = Duration::from_secs(2);
const START_ATTEMPTS: usize = 3;

/// A running gateway. Killed with SIGKILL on drop; its output is printed if the test panics.
pub struct Gateway {
    child: Mutex<Child>,
    pid: u32,
    addr: SocketAddr,
    admin: SocketAddr,
    /// stdout/stderr files, kept outside the config dir so that log writes never look
    /// like configuration changes to the watcher.
    logs: TempDir,
}

enum NotReady {
    Exited(ExitStatus),
    Timeout,
}

impl Gateway {
    /// Writes gateway.yaml with fresh ports, starts the binary and waits until `/readyz`
    /// answers 200 and the listener accepts connections. A start that fails (e.g. a port
    /// taken between reservation and bind) is retried with new ports.
    pub async fn start(dir: &ConfigDir) -> Gateway {
        for attempt in 1..=START_ATTEMPTS {
            let ports = reserve_ports(2);
            let (port, admin_port) = (ports[0], ports[1]);
            dir.write_gateway(port, admin_port);
            let gw = Self::spawn(dir, port, admin_port);
            match gw.wait_ready().await {
                Ok(()) => return gw,
                Err(NotReady::Exited(status)) if attempt < START_ATTEMPTS => {
                    eprintln!(
                        "gateway attempt {attempt} exited with {status} before ready; retrying with new ports\n{}",
                        gw.logs()
                    );
                }
                Err(NotReady::Exited(status)) => {
                    panic!("gateway exited with {status} before ready, {START_ATTEMPTS} attempts")
                }
                Err(NotReady::Timeout) => {
                    panic!("gateway not ready within {:?}", patience(READY_DEADLINE))
                }
            }
        }
        unreachable!("the last attempt returns or panics")
    }

    fn spawn(dir: &ConfigDir, port: u16, admin_port: u16) -> Gateway {
        Self::spawn_with(dir, port, admin_port, &[])
    }

    /// `stagecraft run --config DIR EXTRA...` with its output in a fresh log folder.
    fn spawn_with(dir: &ConfigDir, port: u16, admin_port: u16, extra: &[&str]) -> Gateway {
        let logs = tempfile::Builder::new()
            .prefix("stagecraft-logs-")
            .tempdir()
            .expect("create log dir");
        let stdout = File::create(logs.path().join("stdout")).expect("create stdout log");
        let stderr = File::create(logs.path().join("stderr")).expect("create stderr log");
        let child = Command::new(env!("CARGO_BIN_EXE_stagecraft"))
            .arg("run")
            .arg("--config")
            .arg(dir.path())
            .args(extra)
            .env("STAGECRAFT_LOG", "info")
            .envs(dir.env())
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            .spawn()
            .expect("spawn stagecraft");
        Gateway {
            pid: child.id(),
            child: Mutex::new(child),
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            admin: SocketAddr::from(([127, 0, 0, 1], admin_port)),
            logs,
        }
    }

    async fn wait_ready(&self) -> Result<(), NotReady> {
        let start = Instant::now();
        while start.elapsed() < patience(READY_DEADLINE) {
            if let Some(status) = self.exit_status() {
                return Err(NotReady::Exited(status));
            }
            let probe = async {
                let ready = try_get(self.admin, "/readyz")
                    .await
                    .is_some_and(|r| r.status == 200);
                ready && TcpStream::connect(self.addr).await.is_ok()
            };
            if let Ok(true) = tokio::time::timeout(patience(PROBE_DEADLINE), probe).await {
                return Ok(());
            }
            tokio::time::sleep(POLL_INTERVAL).await;
        }
        Err(NotReady::Timeout)
    }

    /// The HTTP listener.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The admin listener (/healthz, /readyz, /config, /metrics).
    pub fn admin(&self) -> SocketAddr {
        self.admin
    }

    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// `Some(status)` once the process has exited.
    pub fn exit_status(&self) -> Option<ExitStatus> {
        self.child.lock().unwrap().try_wait().ok().flatten()
    }

    pub fn is_running(&self) -> bool {
        self.exit_status().is_none()
    }

    /// Sends SIGHUP (asks for a reload).
    pub fn hup(&self) {
        let status = Command::new("kill")
            .args(["-HUP", &self.pid.to_string()])
            .status()
            .expect("run kill -HUP");
        assert!(status.success(), "kill -HUP {} failed: {status}", self.pid);
    }

    /// GET on the admin listener; `None` on a transport error.
    pub async fn admin_get(&self, path: &str) -> Option<Reply> {
        try_get(self.admin, path).await
    }

    /// Everything the gateway printed so far (the last 64 KiB of each stream).
    pub fn logs(&self) -> String {
        let tail = |name: &str| {
            let text = std::fs::read(self.logs.path().join(name)).unwrap_or_default();
            let start = text.len().saturating_sub(64 * 1024);
            String::from_utf8_lossy(&text[start..]).into_owned()
        };
        format!(
            "----- gateway pid {} stdout -----\n{}\n----- gateway stderr -----\n{}\n----- end of gateway output -----",
            self.pid,
            tail("stdout"),
            tail("stderr")
        )
    }
}

/// Process control for the lifecycle tests: signals, waiting for the exit, binary upgrades.
impl Gateway {
    /// Sends `kill -SIG PID` (`sig` without the `SIG` prefix: `TERM`, `INT`, `QUIT`, `USR1`).
    pub fn signal(&self, sig: &str) {
        let status = Command::new("kill")
            .args([&format!("-{sig}"), &self.pid.to_string()])
            .status()
            .expect("run kill");
        assert!(
            status.success(),
            "kill -{sig} {} failed: {status}",
            self.pid
        );
    }

    /// Polls the process every 10 ms until it exits (`Some(status)`) or [`patience`]`(deadline)`
    /// passes (`None`). The exit is seen at most one poll interval after it happens.
    pub async fn wait_exit(&self, deadline: Duration) -> Option<ExitStatus> {
        let deadline = patience(deadline);
        let start = Instant::now();
        loop {
            if let Some(status) = self.exit_status() {
                return Some(status);
            }
            if start.elapsed() >= deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Everything the gateway wrote to stdout so far (access logs with no `path`).
    pub fn stdout(&self) -> String {
        let text = std::fs::read(self.logs.path().join("stdout")).unwrap_or_default();
        String::from_utf8_lossy(&text).into_owned()
    }

    /// Starts `stagecraft run --config DIR --upgrade` on the same directory and ports: the new
    /// process waits at gateway.yaml's `upgrade_sock` for this one's listening sockets, which
    /// this one sends on SIGQUIT. Returns at once, without waiting for anything.
    pub fn spawn_upgrade(&self, dir: &ConfigDir) -> Gateway {
        Self::spawn_with(dir, self.addr.port(), self.admin.port(), &["--upgrade"])
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("{}", self.logs());
        }
        // SIGKILL, no graceful shutdown and no waiting: tests must not hang on teardown.
        if let Ok(mut child) = self.child.lock() {
            let _ = child.kill();
            let _ = child.try_wait();
        }
    }
}

//! Beside the data flow: per-stage access logs. A stage's `access_log: {format, path}` is parsed
//! with the configuration into a list of literal pieces and `$context` fields (AWS names,
//! `config::access_log`); each request formats one line in the `logging` phase and hands it to a
//! writer thread through a bounded channel, so writing never blocks a request (a full channel drops
//! the line and counts it). The writer reopens a file on SIGUSR1 or when the file was moved away
//! (log rotation). The writer thread and its channel are process-global on purpose: one thread
//! serves every stage of every snapshot, and lines queued by the requests of an old snapshot still
//! get written after a reload.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

pub use crate::config::access_log::{Field, Format, Piece, DEFAULT_FORMAT};

impl Format {
    /// One line (with its newline) for one request.
    pub fn line(&self, values: &dyn Fn(&Field, &mut String)) -> String {
        let mut out = String::with_capacity(256);
        let mut v = String::new();
        for p in self.pieces() {
            match p {
                Piece::Text(t) => out.push_str(t),
                Piece::Field(f) => {
                    v.clear();
                    values(f, &mut v);
                    if v.is_empty() {
                        // AWS writes "-" for a missing value.
                        out.push('-');
                    } else if self.is_json() {
                        json_escape_into(&v, &mut out);
                    } else {
                        out.push_str(&v);
                    }
                }
            }
        }
        out.push('\n');
        out
    }
}

fn json_escape_into(s: &str, out: &mut String) {
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
}

/// Where a stage's lines go.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Destination {
    Stdout,
    File(PathBuf),
}

/// A stage's compiled access log.
#[derive(Debug)]
pub struct AccessLog {
    pub format: Format,
    pub destination: Arc<Destination>,
}

impl AccessLog {
    /// Queues a line; never blocks. A full queue drops the line and counts it.
    pub fn write(&self, line: String) {
        let Some(tx) = writer() else {
            DROPPED.fetch_add(1, Ordering::Relaxed);
            return;
        };
        match tx.try_send((self.destination.clone(), line)) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                DROPPED.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

/// Lines dropped because the writer could not keep up.
pub static DROPPED: AtomicU64 = AtomicU64::new(0);

/// Set by SIGUSR1: reopen every file at the next write.
static REOPEN: AtomicBool = AtomicBool::new(false);

pub fn request_reopen() {
    REOPEN.store(true, Ordering::Release);
}

const QUEUE: usize = 65_536;

type Line = (Arc<Destination>, String);

/// The writer thread, started on first use (after any daemon fork).
fn writer() -> Option<&'static SyncSender<Line>> {
    static TX: OnceLock<Option<SyncSender<Line>>> = OnceLock::new();
    TX.get_or_init(|| {
        let (tx, rx) = sync_channel::<Line>(QUEUE);
        std::thread::Builder::new()
            .name("stagecraft-access-log".into())
            .spawn(move || write_loop(rx))
            .map_err(|e| tracing::error!("cannot start the access-log writer: {e}"))
            .ok()?;
        Some(tx)
    })
    .as_ref()
}

/// Waits until every line queued so far is written (used at shutdown and by tests).
pub fn flush() {
    let Some(tx) = writer() else { return };
    let (done_tx, done_rx) = sync_channel::<()>(1);
    FLUSH_ACK.get_or_init(|| std::sync::Mutex::new(None));
    if let Some(slot) = FLUSH_ACK.get() {
        if let Ok(mut s) = slot.lock() {
            *s = Some(done_tx);
        }
    }
    if tx
        .send((Arc::new(Destination::Stdout), String::new()))
        .is_ok()
    {
        let _ = done_rx.recv_timeout(Duration::from_secs(5));
    }
}

static FLUSH_ACK: OnceLock<std::sync::Mutex<Option<SyncSender<()>>>> = OnceLock::new();

struct OpenFile {
    out: BufWriter<File>,
    /// (device, inode) of what we have open, to notice rotation by rename.
    id: (u64, u64),
}

fn open(path: &PathBuf) -> std::io::Result<OpenFile> {
    let f = OpenOptions::new().create(true).append(true).open(path)?;
    let m = f.metadata()?;
    Ok(OpenFile {
        out: BufWriter::with_capacity(64 * 1024, f),
        id: (m.dev(), m.ino()),
    })
}

fn write_loop(rx: Receiver<Line>) {
    let mut w = Writer {
        files: std::collections::HashMap::new(),
        stdout: BufWriter::with_capacity(64 * 1024, std::io::stdout()),
    };
    let mut last_check = Instant::now();
    loop {
        let first = match rx.recv_timeout(Duration::from_millis(200)) {
            Ok(m) => Some(m),
            Err(RecvTimeoutError::Timeout) => None,
            Err(RecvTimeoutError::Disconnected) => return,
        };
        // Rotation: SIGUSR1, or the path now names another file (or none), checked once a second.
        if REOPEN.swap(false, Ordering::AcqRel) {
            w.files.clear();
        } else if last_check.elapsed() >= Duration::from_secs(1) {
            last_check = Instant::now();
            w.files.retain(|path, f| match std::fs::metadata(path) {
                Ok(m) => (m.dev(), m.ino()) == f.id,
                Err(_) => false,
            });
        }
        // Write everything queued, then flush once: one syscall per burst, not per line.
        let mut ack = false;
        if let Some(m) = first {
            ack |= w.write(m);
            while let Ok(m) = rx.try_recv() {
                ack |= w.write(m);
            }
        }
        w.flush();
        if ack {
            if let Some(Ok(mut slot)) = FLUSH_ACK.get().map(|s| s.lock()) {
                if let Some(tx) = slot.take() {
                    let _ = tx.send(());
                }
            }
        }
    }
}

struct Writer {
    files: std::collections::HashMap<PathBuf, OpenFile>,
    stdout: BufWriter<std::io::Stdout>,
}

impl Writer {
    /// Writes one line; returns true for a flush request (an empty line).
    fn write(&mut self, (dest, line): Line) -> bool {
        if line.is_empty() {
            return true;
        }
        let result = match &*dest {
            Destination::Stdout => self.stdout.write_all(line.as_bytes()),
            Destination::File(path) => {
                if !self.files.contains_key(path) {
                    match open(path) {
                        Ok(f) => {
                            self.files.insert(path.clone(), f);
                        }
                        Err(e) => {
                            tracing::warn!(path = %path.display(), "cannot open the access log: {e}");
                            DROPPED.fetch_add(1, Ordering::Relaxed);
                            return false;
                        }
                    }
                }
                match self.files.get_mut(path) {
                    Some(f) => f.out.write_all(line.as_bytes()),
                    None => Ok(()),
                }
            }
        };
        if let Err(e) = result {
            tracing::warn!("writing the access log: {e}");
        }
        false
    }

    fn flush(&mut self) {
        let _ = self.stdout.flush();
        for f in self.files.values_mut() {
            let _ = f.out.flush();
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn values(f: &Field, out: &mut String) {
        match f {
            Field::RequestId => out.push_str("r-1"),
            Field::Status => out.push_str("200"),
            Field::UserAgent => out.push_str("curl \"x\""),
            _ => {}
        }
    }

    #[test]
    fn formats_aws_variables() {
        let f =
            Format::parse("$context.requestId ${context.status} [$context.httpMethod] $5").unwrap();
        assert_eq!(f.line(&values), "r-1 200 [-] $5\n");
    }

    #[test]
    fn json_formats_escape_values() {
        let f = Format::parse(r#"{"id":"$context.requestId","ua":"$context.identity.userAgent"}"#)
            .unwrap();
        assert_eq!(
            f.line(&values),
            "{\"id\":\"r-1\",\"ua\":\"curl \\\"x\\\"\"}\n"
        );
        let d = Format::parse(DEFAULT_FORMAT).unwrap();
        let line = d.line(&values);
        assert!(line.starts_with("{\"requestId\":\"r-1\""), "{line}");
    }
}

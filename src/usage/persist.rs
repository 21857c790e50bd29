//! Part of the usage store (`usage`): the local store's counters on disk, in
//! `STATE_DIR/usage-counters.json`, written atomically once a second when a count changed and
//! when the process exits, read at start. So a reload keeps every count (they live in
//! `snapshot::Carried`), a graceful restart loses none, and a crash loses about a second.
//!
//! A binary upgrade runs two processes for a while: the new one reads the file at start while
//! the old one still counts. The new one therefore adds what an *older* process wrote after
//! that (its counts grow by exactly the requests it served meanwhile), and ignores what a newer
//! one writes; the old one never reads again. Each request is counted once either way.

use crate::snapshot::quota::{CounterId, Counters};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

pub const FILE: &str = "usage-counters.json";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub plan: String,
    pub key: String,
    pub period: String,
    pub offset: u32,
    pub period_id: u32,
    pub used: u64,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct StateFile {
    /// Which process wrote it, and when that process started (nanoseconds since the epoch).
    pub instance: String,
    pub started: u64,
    pub counters: Vec<Entry>,
}

/// Reads a state file (`stagecraft usage` reads it too).
pub fn read(path: &Path) -> Result<Option<StateFile>, String> {
    match std::fs::read_to_string(path) {
        Ok(text) => serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| format!("{}: {e}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("{}: {e}", path.display())),
    }
}

impl Entry {
    /// The counter this entry counts for (`None`: a period this version does not know).
    pub fn id(&self) -> Option<CounterId> {
        let period = match self.period.as_str() {
            "day" => "day",
            "week" => "week",
            "month" => "month",
            _ => return None,
        };
        Some(CounterId {
            plan: self.plan.clone(),
            key: self.key.clone(),
            period,
            offset: self.offset,
        })
    }
}

pub struct Persister {
    counters: Arc<Counters>,
    path: PathBuf,
    instance: String,
    started: u64,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// What this process last took from an older process's file, per counter.
    adopted: HashMap<CounterId, (u32, u64)>,
    /// What this process last wrote (nothing new: nothing to write).
    written: Vec<Entry>,
}

impl Persister {
    pub fn new(counters: Arc<Counters>, state_dir: &Path) -> Persister {
        let started = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        Persister {
            counters,
            path: state_dir.join(FILE),
            instance: format!("{}-{started}", std::process::id()),
            started,
            state: Mutex::new(State::default()),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Loads the counts saved by the previous process, if any: how many counters.
    pub fn restore(&self) -> Result<usize, String> {
        let file = match read(&self.path) {
            Ok(Some(file)) => file,
            Ok(None) => return Ok(0),
            Err(e) => {
                // Kept aside rather than overwritten by the next save.
                let aside = self.path.with_extension("json.unreadable");
                return Err(match std::fs::rename(&self.path, &aside) {
                    Ok(()) => format!("{e}; moved to {}", aside.display()),
                    Err(_) => e,
                });
            }
        };
        let mut st = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let mut n = 0;
        for e in &file.counters {
            let Some(id) = e.id() else { continue };
            self.counters.counter(id.clone()).add(e.period_id, e.used);
            st.adopted.insert(id, (e.period_id, e.used));
            n += 1;
        }
        Ok(n)
    }

    /// Adds what an older process counted since the last look, then writes every count if one
    /// changed. Blocking file I/O: call it from a thread or a background task, never a request.
    pub fn save(&self) -> Result<(), String> {
        let mut st = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if let Ok(Some(file)) = read(&self.path) {
            if file.instance != self.instance && file.started < self.started {
                for e in &file.counters {
                    let Some(id) = e.id() else { continue };
                    let before = st.adopted.get(&id).copied();
                    let delta = match before {
                        Some((p, n)) if p == e.period_id => e.used.saturating_sub(n),
                        _ => e.used,
                    };
                    if delta > 0 {
                        self.counters.counter(id.clone()).add(e.period_id, delta);
                    }
                    st.adopted.insert(id, (e.period_id, e.used));
                }
            }
        }
        let entries: Vec<Entry> = self
            .counters
            .all()
            .into_iter()
            .filter_map(|(id, c)| {
                let (period_id, used) = c.get();
                (used > 0).then(|| Entry {
                    plan: id.plan,
                    key: id.key,
                    period: id.period.to_string(),
                    offset: id.offset,
                    period_id,
                    used,
                })
            })
            .collect();
        if entries == st.written {
            return Ok(());
        }
        let file = StateFile {
            instance: self.instance.clone(),
            started: self.started,
            counters: entries.clone(),
        };
        write_atomically(&self.path, &file)?;
        st.written = entries;
        Ok(())
    }
}

fn write_atomically(path: &Path, file: &StateFile) -> Result<(), String> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let tmp = dir.join(format!(".{FILE}.{}", std::process::id()));
    let text = serde_json::to_vec_pretty(file).map_err(|e| e.to_string())?;
    let mut f = std::fs::File::create(&tmp).map_err(|e| format!("{}: {e}", tmp.display()))?;
    f.write_all(&text)
        .and_then(|()| f.sync_data())
        .map_err(|e| format!("{}: {e}", tmp.display()))?;
    std::fs::rename(&tmp, path).map_err(|e| format!("{}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn id(key: &str) -> CounterId {
        CounterId {
            plan: "gold".into(),
            key: key.into(),
            period: "day",
            offset: 0,
        }
    }

    #[test]
    fn a_restart_keeps_every_count() {
        let dir = tempfile::tempdir().unwrap();
        let a = Arc::new(Counters::default());
        a.counter(id("acme")).add(9, 5);
        Persister::new(a, dir.path()).save().unwrap();
        let b = Arc::new(Counters::default());
        assert_eq!(Persister::new(b.clone(), dir.path()).restore().unwrap(), 1);
        assert_eq!(b.counter(id("acme")).used(9), 5);
    }

    #[test]
    fn an_upgrade_adds_what_the_old_process_counted_after_the_new_one_started() {
        let dir = tempfile::tempdir().unwrap();
        let old_counts = Arc::new(Counters::default());
        let old = Persister::new(old_counts.clone(), dir.path());
        old_counts.counter(id("acme")).add(9, 10);
        old.save().unwrap();
        std::thread::sleep(std::time::Duration::from_millis(2));
        let new_counts = Arc::new(Counters::default());
        let new = Persister::new(new_counts.clone(), dir.path());
        new.restore().unwrap();
        // Both serve for a while: 3 more on the old side, 4 on the new.
        old_counts.counter(id("acme")).add(9, 3);
        new_counts.counter(id("acme")).add(9, 4);
        new.save().unwrap();
        old.save().unwrap(); // the old one exits, overwriting the file
        new.save().unwrap();
        assert_eq!(new_counts.counter(id("acme")).used(9), 17);
        new.save().unwrap(); // nothing new: no double count
        assert_eq!(new_counts.counter(id("acme")).used(9), 17);
        let file = read(&dir.path().join(FILE)).unwrap().unwrap();
        assert_eq!(file.counters[0].used, 17);
    }
}

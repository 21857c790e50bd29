//! Part of `release`, beside the data flow: the three ways the lifecycle commands touch the disk:
//! one lock per configuration directory (held for a whole read-modify-write, so concurrent commands
//! never lose each other's update), atomic replacement of a file (the proxy never reads half of
//! one), and atomic creation of a file that must not exist yet (two deploys never take the same
//! id).

use super::Error;
use std::fs::{File, OpenOptions};
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

/// `DIR/.stagecraft.lock`: hidden and not YAML, so the proxy never takes it for configuration.
pub const LOCK_FILE: &str = ".stagecraft.lock";

/// An exclusive advisory lock on the configuration directory, released on drop (or when the
/// process dies, so a killed command never leaves the directory locked).
#[derive(Debug)]
pub struct DirLock {
    _file: File,
}

impl DirLock {
    pub fn acquire(dir: &Path) -> Result<DirLock, Error> {
        let path = dir.join(LOCK_FILE);
        let file = OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| Error::io(&path, e))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                // Another command is mid-write; say why we wait rather than look hung.
                eprintln!(
                    "waiting for {} (another stagecraft command is writing)",
                    path.display()
                );
                file.lock().map_err(|e| Error::io(&path, e))?;
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(Error::io(&path, e)),
        }
        Ok(DirLock { _file: file })
    }
}

/// A name in the same folder (so the rename is atomic) that the watcher ignores (leading `.`)
/// and that no other process of ours uses at the same time (pid and a counter).
fn temp_path(path: &Path) -> PathBuf {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    path.with_file_name(format!(".{name}.{}.{n}.tmp", std::process::id()))
}

fn write_synced(path: &Path, text: &str) -> std::io::Result<()> {
    let mut f = OpenOptions::new().write(true).create_new(true).open(path)?;
    f.write_all(text.as_bytes())?;
    f.sync_all()
}

/// Makes a rename or link durable. Best effort: some filesystems cannot fsync a directory, and
/// the file itself is already complete and synced.
fn sync_dir(path: &Path) {
    if let Some(parent) = path.parent() {
        if let Ok(d) = File::open(parent) {
            let _ = d.sync_all();
        }
    }
}

fn with_temp<T>(
    path: &Path,
    text: &str,
    finish: impl FnOnce(&Path) -> std::io::Result<T>,
) -> Result<T, Error> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
    }
    let tmp = temp_path(path);
    let result = write_synced(&tmp, text).and_then(|()| finish(&tmp));
    // After a rename the temporary name is gone; after a link or a failure it must go.
    let _ = std::fs::remove_file(&tmp);
    let value = result.map_err(|e| Error::io(path, e))?;
    sync_dir(path);
    Ok(value)
}

/// Replaces `path` with `text` atomically: temporary file, fsync, rename.
pub fn write_atomic(path: &Path, text: &str) -> Result<(), Error> {
    with_temp(path, text, |tmp| std::fs::rename(tmp, path))
}

/// Creates `path` with `text` only if it does not exist yet; `Ok(false)` when it does. The file
/// appears complete: it is written under a temporary name and hard-linked into place, since
/// link(2), like `O_EXCL`, fails when the name is taken. Where links are not supported the
/// fallback is `create_new` on the final name, which the proxy may read half-written (it then
/// keeps its snapshot and reloads on the next event).
pub fn create_new(path: &Path, text: &str) -> Result<bool, Error> {
    let linked = with_temp(path, text, |tmp| match std::fs::hard_link(tmp, path) {
        Ok(()) => Ok(Some(true)),
        Err(e) if e.kind() == ErrorKind::AlreadyExists => Ok(Some(false)),
        Err(_) => Ok(None),
    })?;
    match linked {
        Some(created) => Ok(created),
        None => match write_synced(path, text) {
            Ok(()) => {
                sync_dir(path);
                Ok(true)
            }
            Err(e) if e.kind() == ErrorKind::AlreadyExists => Ok(false),
            Err(e) => Err(Error::io(path, e)),
        },
    }
}

/// The file `DIR/FOLDER/NAME.yaml`, or `NAME.yml` when only that exists.
pub fn config_file(dir: &Path, folder: &str, name: &str) -> (String, PathBuf) {
    let yml = format!("{folder}/{name}.yml");
    if !dir.join(format!("{folder}/{name}.yaml")).exists() && dir.join(&yml).exists() {
        return (yml.clone(), dir.join(yml));
    }
    let rel = format!("{folder}/{name}.yaml");
    let path = dir.join(&rel);
    (rel, path)
}

/// The text of a file, `None` when it does not exist.
/// The `NAME` of every `FOLDER/NAME.yaml` (or `.yml`), sorted; none when there is no folder.
pub fn names(dir: &Path, folder: &str) -> Result<Vec<String>, Error> {
    let path = dir.join(folder);
    let mut names: Vec<String> = match std::fs::read_dir(&path) {
        Ok(entries) => entries
            .filter_map(Result::ok)
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|n| !n.starts_with('.'))
            .filter_map(|n| {
                n.strip_suffix(".yaml")
                    .or_else(|| n.strip_suffix(".yml"))
                    .map(str::to_string)
            })
            .collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(Error::io(&path, e)),
    };
    names.sort();
    names.dedup();
    Ok(names)
}

pub fn read_optional(path: &Path) -> Result<Option<String>, Error> {
    match std::fs::read_to_string(path) {
        Ok(t) => Ok(Some(t)),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io(path, e)),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn create_new_never_replaces_and_leaves_no_temporary_files() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("d/x.yaml");
        assert!(create_new(&p, "one").unwrap());
        assert!(!create_new(&p, "two").unwrap());
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "one");
        write_atomic(&p, "three").unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "three");
        let names: Vec<_> = std::fs::read_dir(dir.path().join("d"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["x.yaml"]);
    }

    #[test]
    fn the_lock_is_exclusive_and_released_on_drop() {
        let dir = tempfile::tempdir().unwrap();
        let held = DirLock::acquire(dir.path()).unwrap();
        let other = File::open(dir.path().join(LOCK_FILE)).unwrap();
        assert!(other.try_lock().is_err());
        drop(held);
        assert!(other.try_lock().is_ok());
    }
}

//! [`WriterLock`]: one writer per SQLite store.
//!
//! SQLite serialises statements, not controllers: two `charter run` on one file would
//! each recover the other's live executions. The process that runs the loop (or
//! startup recovery) on a file therefore holds an exclusive lock on `FILE.lock` next to
//! it for as long as it lives — an `flock` on Unix, released by the kernel when the
//! process ends however it ends, so a `kill -9` never leaves a stale lock behind. The
//! file holds the holder's identity (pid, host, start time, command) for the message a
//! second process prints when it is refused.
//!
//! The lock file is never removed: removing it while another process is opening it
//! would let two processes lock two different files of the same name.

use crate::error::StoreError;
use charter_model::Timestamp;
use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// How much of a lock file is read for the holder's identity.
const MAX_IDENTITY_BYTES: u64 = 4096;

/// An exclusive lock on a store's lock file, held until dropped.
#[derive(Debug)]
pub struct WriterLock {
    path: PathBuf,
    /// Holds the lock: closing the file releases it.
    _file: File,
}

impl WriterLock {
    /// The lock file of the database at `db`: `db` with `.lock` appended.
    pub fn path_for(db: &Path) -> PathBuf {
        let mut name = db.as_os_str().to_owned();
        name.push(".lock");
        PathBuf::from(name)
    }

    /// Take the lock of the database at `db`, or fail naming the process that holds it.
    pub fn acquire(db: &Path) -> Result<WriterLock, StoreError> {
        let path = Self::path_for(db);
        let io = |source| StoreError::Lock {
            path: path.clone(),
            source,
        };
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                return Err(StoreError::Locked {
                    db: db.to_path_buf(),
                    holder: read_identity(&mut file),
                    path,
                });
            }
            Err(TryLockError::Error(e)) => return Err(io(e)),
        }
        file.set_len(0).map_err(io)?;
        file.seek(SeekFrom::Start(0)).map_err(io)?;
        file.write_all(identity().as_bytes()).map_err(io)?;
        file.sync_all().map_err(io)?;
        Ok(WriterLock { path, _file: file })
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// This process, as a second process is told about it.
fn identity() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "unknown host".into());
    let command: Vec<String> = std::env::args().collect();
    format!(
        "pid {} on {host}, started {}, command `{}`\n",
        std::process::id(),
        Timestamp::now_wall(),
        command.join(" ").replace(['\n', '\r'], " ")
    )
}

/// What the lock file says about its holder (bounded, one line).
fn read_identity(file: &mut File) -> String {
    let mut text = String::new();
    let read = file
        .seek(SeekFrom::Start(0))
        .and_then(|_| file.take(MAX_IDENTITY_BYTES).read_to_string(&mut text));
    match read {
        Ok(_) if !text.trim().is_empty() => text.trim().replace(['\n', '\r'], " "),
        _ => "a process that has not written its identity yet".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_on_one_file_is_refused_with_the_holder()
    -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let db = dir.path().join("k.db");
        let held = WriterLock::acquire(&db)?;
        assert_eq!(held.path(), dir.path().join("k.db.lock"));
        let err = match WriterLock::acquire(&db) {
            Ok(_) => return Err("a second lock was granted".into()),
            Err(e) => e.to_string(),
        };
        assert!(
            err.contains(&format!("pid {}", std::process::id())),
            "{err}"
        );
        assert!(err.contains("k.db.lock"), "{err}");
        drop(held);
        WriterLock::acquire(&db)?;
        Ok(())
    }
}

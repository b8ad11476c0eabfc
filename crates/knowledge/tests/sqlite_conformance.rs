//! The conformance suite (`conformance/mod.rs`) against [`SqliteStore`], each test on a
//! database file of its own in a temporary directory.

mod conformance;

use async_trait::async_trait;
use charter_knowledge::{SqliteStore, Store};
use conformance::{Backend, BoxError};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use tempfile::TempDir;

struct Sqlite {
    path: PathBuf,
    dir: Mutex<Option<TempDir>>,
}

#[async_trait(?Send)]
impl Backend for Sqlite {
    async fn open(&self) -> Result<Arc<dyn Store>, BoxError> {
        Ok(Arc::new(SqliteStore::open(&self.path).await?))
    }

    async fn destroy(&self) {
        let dir = self.dir.lock().map(|mut d| d.take()).unwrap_or(None);
        drop(dir);
    }
}

async fn fresh() -> Result<Option<Arc<dyn Backend>>, BoxError> {
    let dir = tempfile::tempdir()?;
    Ok(Some(Arc::new(Sqlite {
        path: dir.path().join("charter.db"),
        dir: Mutex::new(Some(dir)),
    })))
}

conformance_tests!(fresh);

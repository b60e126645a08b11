//! The `Store` contract on SQLite: each case on a fresh database file.

use std::sync::Arc;

use kiln_store::Store;
use kiln_store_sqlite::SqliteStore;

async fn open() -> (tempfile::TempDir, Arc<dyn Store>) {
    let dir = tempfile::tempdir().expect("temporary directory");
    let store = SqliteStore::open(&dir.path().join("kiln.db"))
        .await
        .expect("open the store");
    (dir, Arc::new(store))
}

kiln_store_conformance::suite!(open());

//! The test PostgreSQL cluster that `scripts/test.sh` starts: a fresh database per server.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};

/// The admin URL of the test cluster; tests that need PostgreSQL fail without it.
pub fn admin_url() -> String {
    std::env::var("KILN_TEST_POSTGRES_URL").unwrap_or_else(|_| {
        panic!(
            "KILN_TEST_POSTGRES_URL is not set: run the tests with `bash scripts/test.sh`, which \
             starts a throwaway PostgreSQL cluster (or `source scripts/postgres-cluster.sh start`)"
        )
    })
}

/// Whether the integration suites run against PostgreSQL (`KILN_TEST_STORE=postgres`)
/// rather than the embedded SQLite default.
pub fn suites_use_postgres() -> bool {
    match std::env::var("KILN_TEST_STORE").as_deref() {
        Ok("postgres") => true,
        Ok("sqlite") | Err(_) => false,
        Ok(other) => panic!("KILN_TEST_STORE must be sqlite or postgres, not {other}"),
    }
}

/// Creates an empty database on the test cluster and returns its URL.
pub fn fresh_database_url() -> String {
    let admin = admin_url();
    // Each test runs in a process of its own (nextest); databases are left in the cluster, so
    // a random part keeps a later run's reused process id from meeting an earlier database.
    static CREATED: AtomicU32 = AtomicU32::new(0);
    let name = format!(
        "kiln_test_{}_{}_{:08x}",
        std::process::id(),
        CREATED.fetch_add(1, Ordering::Relaxed),
        rand::random::<u32>()
    );
    let output = Command::new("psql")
        .args([&admin, "-v", "ON_ERROR_STOP=1", "-qc"])
        .arg(format!("CREATE DATABASE {name}"))
        .output()
        .expect("running psql");
    assert!(
        output.status.success(),
        "creating database {name}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    match admin.rsplit_once('/') {
        Some((server, _)) => format!("{server}/{name}"),
        None => panic!("KILN_TEST_POSTGRES_URL has no database part: {admin}"),
    }
}

/// The database of the servers on `data_dir`, created for the first of them.
pub fn database_of(data_dir: &Path) -> String {
    static DATABASES: Mutex<BTreeMap<PathBuf, String>> = Mutex::new(BTreeMap::new());
    DATABASES
        .lock()
        .unwrap()
        .entry(data_dir.to_path_buf())
        .or_insert_with(fresh_database_url)
        .clone()
}

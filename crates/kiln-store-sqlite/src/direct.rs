//! Point reads on the calling thread, for the badge endpoint: each thread that asks gets its own
//! read-only connection (rusqlite, on the same SQLite library as sqlx), so a read is a few
//! microseconds of work where a hand-off to sqlx's worker thread and back waits for both
//! threads to be scheduled. WAL readers never wait for the writer, and a busy database is
//! reported rather than waited for, so a read never holds its thread.

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use kiln_domain::build::BuildStatus;
use kiln_domain::refs::GitRef;
use rusqlite::{Connection, OpenFlags, OptionalExtension};

use kiln_store::records::build_status;
use kiln_store::{StoreError, StoreResult};

/// The latest status among a ref's builds of the current source, as in `latest_status_for_ref`.
pub(super) const LATEST_STATUS_FOR_REF: &str = "SELECT status FROM builds
    WHERE account_id = ? AND project_name = ? AND ref_kind = ? AND ref_name = ? AND source_epoch = ?
    AND project_generation = 0 ORDER BY start_time DESC, build_number DESC LIMIT 1";

/// Most connections one thread keeps (one per open database; more only in tests).
const MAX_CONNECTIONS_PER_THREAD: usize = 8;

thread_local! {
    /// This thread's read-only connections, by database.
    static CONNECTIONS: RefCell<HashMap<u64, Connection>> = RefCell::new(HashMap::new());
}

/// Direct reads of one database file.
pub(super) struct DirectReads {
    path: PathBuf,
    /// Tells this database's connections apart from others' in the thread-local map.
    id: u64,
}

impl DirectReads {
    pub(super) fn new(path: &Path) -> DirectReads {
        static NEXT_ID: AtomicU64 = AtomicU64::new(0);
        DirectReads {
            path: path.to_path_buf(),
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
        }
    }

    pub(super) fn latest_status_for_ref(
        &self,
        account_id: &str,
        project_name: &str,
        git_ref: &GitRef,
        source_epoch: i64,
    ) -> StoreResult<Option<BuildStatus>> {
        let (kind, name) = git_ref.kind_and_name();
        let status: Option<String> = self.with_connection(|conn| {
            conn.prepare_cached(LATEST_STATUS_FOR_REF)?
                .query_row(
                    (account_id, project_name, kind, name, source_epoch),
                    |row| row.get(0),
                )
                .optional()
        })?;
        status.as_deref().map(build_status).transpose()
    }

    fn with_connection<T>(
        &self,
        read: impl FnOnce(&Connection) -> rusqlite::Result<T>,
    ) -> StoreResult<T> {
        CONNECTIONS.with(|cell| {
            let mut connections = cell.borrow_mut();
            if !connections.contains_key(&self.id) {
                if connections.len() >= MAX_CONNECTIONS_PER_THREAD {
                    connections.clear();
                }
                let conn = Connection::open_with_flags(
                    &self.path,
                    OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
                )
                .map_err(direct_error)?;
                conn.busy_timeout(std::time::Duration::ZERO)
                    .map_err(direct_error)?;
                connections.insert(self.id, conn);
            }
            match connections.get(&self.id) {
                Some(conn) => read(conn).map_err(direct_error),
                None => Err(StoreError::Direct("no connection".into())),
            }
        })
    }
}

fn direct_error(e: rusqlite::Error) -> StoreError {
    StoreError::Direct(e.to_string())
}

#[cfg(test)]
mod tests {
    use kiln_domain::build::{BuildRecord, BuildStatus, PhaseType};
    use kiln_domain::refs::GitRef;
    use kiln_domain::start::StartBuildInput;
    use kiln_store::{ClaimRequest, Store};

    use crate::SqliteStore;
    use crate::tests::record;

    #[tokio::test]
    async fn direct_reads_see_each_committed_status() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("kiln.db"))
            .await
            .unwrap();
        let mut project = record("111111111111", "a", 1.0);
        project.settings.source = serde_json::from_value(serde_json::json!(
            {"type": "GITHUB", "location": "https://git.example.com/a.git"}
        ))
        .unwrap();
        store.create_project(&project).await.unwrap();
        let main = GitRef::Branch("main".into());
        let direct = |store: &SqliteStore| {
            store
                .latest_status_for_ref_now("111111111111", "a", &main, 0)
                .unwrap()
                .unwrap()
        };
        assert_eq!(direct(&store), None);
        let mut build = BuildRecord {
            account_id: project.account_id.clone(),
            project_name: project.name.clone(),
            uuid: "5b2a7c0e-0000-4000-8000-000000000001".into(),
            build_number: 0,
            status: BuildStatus::InProgress,
            current_phase: PhaseType::Queued,
            phases: Vec::new(),
            start_time: 10.0,
            end_time: None,
            initiator: "test".into(),
            settings: StartBuildInput::default().resolve(&project).unwrap(),
            resolved_source_version: None,
            git_ref: Some(main.clone()),
            source_epoch: 0,
            artifacts: None,
            secondary_artifacts: Vec::new(),
            exported_environment_variables: Vec::new(),
            idempotency_token: None,
            trigger_variables: Vec::new(),
            report_arns: Vec::new(),
            auto_retry: Default::default(),
            agent: None,
            commit: None,
            retry_of: None,
            repository_page: None,
        };
        store.insert_build(&mut build, 0.0).await.unwrap();
        assert_eq!(direct(&store), Some(BuildStatus::InProgress));
        let claimed = store
            .claim_builds(&ClaimRequest {
                owner: "test",
                now: 10.0,
                lease_seconds: 30.0,
                capacity: 1,
                account_limit: None,
                minute_seconds: 60.0,
                fleet: kiln_store::ClaimFleet::OnDemand { overflow: &[] },
            })
            .await
            .unwrap();
        build.status = BuildStatus::Succeeded;
        store
            .save_leased_build(&build, &claimed[0].lease)
            .await
            .unwrap();
        // The same thread's connection, read again after the write: never a stale snapshot.
        assert_eq!(direct(&store), Some(BuildStatus::Succeeded));
        assert_eq!(
            direct(&store),
            store
                .latest_status_for_ref("111111111111", "a", &main, 0)
                .await
                .unwrap()
        );
        let other_source = store
            .latest_status_for_ref_now("111111111111", "a", &main, 1)
            .unwrap()
            .unwrap();
        assert_eq!(other_source, None, "builds of an older source do not count");
    }
}

//! Build logs as files in a `logs` directory beside the database: `<uuid>.log`. One process
//! uses an SQLite store, and it runs the builds too, so its runner writes each log straight
//! into the store's file ([`kiln_store::Store::log_file`]) instead of having every byte copied
//! into the database before the build may complete (docs/logs-and-badges-across-replicas.md
//! has the measurements behind this). Files are opened through a capability on the directory,
//! so the kernel keeps every open inside it whatever name comes in.

use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use cap_std::ambient_authority;
use std::os::unix::fs::DirBuilderExt;

use cap_std::fs::{Dir, OpenOptions, OpenOptionsExt};
use kiln_store::{Store, StoreError, StoreResult, is_foreign_key_violation, sql_int};
use sqlx::{QueryBuilder, Sqlite, SqlitePool};

use crate::SqliteStore;

/// The directory of log files and a capability to open files only inside it.
#[derive(Clone)]
pub(crate) struct LogFiles {
    path: PathBuf,
    dir: Arc<Dir>,
}

impl LogFiles {
    /// The `logs` directory beside the database file, created if missing.
    pub(crate) fn open(database: &Path) -> StoreResult<Self> {
        let path = database
            .parent()
            .unwrap_or_else(|| Path::new("."))
            .join("logs");
        // Private, as the data dir's own `logs` (a database elsewhere gets its own).
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&path)
            .map_err(unavailable)?;
        let dir = Dir::open_ambient_dir(&path, ambient_authority()).map_err(unavailable)?;
        Ok(LogFiles {
            path,
            dir: Arc::new(dir),
        })
    }

    /// Where the build's log file is, for a well-formed build id.
    pub(crate) fn path_of(&self, uuid: &str) -> Option<PathBuf> {
        file_name(uuid).map(|name| self.path.join(name))
    }

    /// Writes the part of `data` (which starts at `start_offset`) that lies past the file's
    /// end; bytes already there stay. Returns whether the file grew.
    pub(crate) async fn append(
        &self,
        uuid: &str,
        start_offset: u64,
        data: Vec<u8>,
    ) -> StoreResult<bool> {
        let Some(name) = file_name(uuid) else {
            return Err(StoreError::NotFound);
        };
        let dir = Arc::clone(&self.dir);
        blocking(move || {
            let mut options = OpenOptions::new();
            options.create(true).write(true).mode(0o600);
            let mut file = dir.open_with(&name, &options)?;
            let size = file.metadata()?.len();
            let end = start_offset.saturating_add(data.len() as u64);
            if end <= size {
                return Ok(false);
            }
            if start_offset > size {
                return Err(std::io::Error::other(format!(
                    "a log piece at byte {start_offset} would leave a gap after byte {size}"
                )));
            }
            let skip = usize::try_from(size - start_offset).unwrap_or(usize::MAX);
            file.seek(SeekFrom::Start(size))?;
            file.write_all(data.get(skip..).unwrap_or_default())?;
            Ok(true)
        })
        .await
    }

    /// Up to `max_bytes` of the log from `offset`; none for a build without a log file.
    pub(crate) async fn read(
        &self,
        uuid: &str,
        offset: u64,
        max_bytes: usize,
    ) -> StoreResult<Vec<u8>> {
        let Some(name) = file_name(uuid) else {
            return Ok(Vec::new());
        };
        let dir = Arc::clone(&self.dir);
        blocking(move || {
            let mut file = match dir.open(&name) {
                Ok(file) => file,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
                Err(e) => return Err(e),
            };
            let size = file.metadata()?.len();
            if offset >= size || max_bytes == 0 {
                return Ok(Vec::new());
            }
            let wanted = (size - offset).min(max_bytes as u64);
            let mut bytes = Vec::with_capacity(usize::try_from(wanted).unwrap_or(0));
            file.seek(SeekFrom::Start(offset))?;
            file.take(wanted).read_to_end(&mut bytes)?;
            Ok(bytes)
        })
        .await
    }

    /// The log file's length; 0 for a build without one.
    pub(crate) async fn size(&self, uuid: &str) -> StoreResult<u64> {
        let Some(name) = file_name(uuid) else {
            return Ok(0);
        };
        let dir = Arc::clone(&self.dir);
        blocking(move || match dir.metadata(&name) {
            Ok(meta) => Ok(meta.len()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(0),
            Err(e) => Err(e),
        })
        .await
    }

    /// Removes the build's log file, if any.
    pub(crate) async fn remove(&self, uuid: &str) -> StoreResult<()> {
        let Some(name) = file_name(uuid) else {
            return Ok(());
        };
        let dir = Arc::clone(&self.dir);
        blocking(move || match dir.remove_file(&name) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        })
        .await
    }
}

/// Moves the log pieces that migration 0010's layout kept in the database (its table renamed by
/// 0011) into the files, a piece at a time, then drops the table. Idempotent: a piece whose
/// bytes a file already holds (the runner wrote them there too) changes nothing, so a start
/// that stops halfway does the rest next time.
pub(crate) async fn move_database_pieces_to_files(
    pool: &SqlitePool,
    files: &LogFiles,
) -> StoreResult<()> {
    let pending: Option<i64> = sqlx::query_scalar(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'build_log_pieces_to_move'",
    )
    .fetch_optional(pool)
    .await?;
    if pending.is_none() {
        return Ok(());
    }
    let mut after = (String::new(), -1_i64);
    loop {
        let piece: Option<(String, i64, i64, Vec<u8>)> = sqlx::query_as(
            "SELECT uuid, start_offset, raw_length, data FROM build_log_pieces_to_move
             WHERE (uuid, start_offset) > (?, ?) ORDER BY uuid, start_offset LIMIT 1",
        )
        .bind(&after.0)
        .bind(after.1)
        .fetch_optional(pool)
        .await?;
        let Some((uuid, start, raw_length, data)) = piece else {
            break;
        };
        let bytes = kiln_store::unpack_log_piece(&data, u64::try_from(raw_length).unwrap_or(0))?;
        files
            .append(&uuid, u64::try_from(start).unwrap_or(0), bytes)
            .await?;
        after = (uuid, start);
    }
    sqlx::query("DROP TABLE build_log_pieces_to_move")
        .execute(pool)
        .await?;
    Ok(())
}

/// `<uuid>.log` for an id of the form Kiln gives builds (a hyphenated UUID); `None` otherwise.
fn file_name(uuid: &str) -> Option<String> {
    let well_formed = uuid.len() == 36
        && uuid.char_indices().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => c == '-',
            _ => c.is_ascii_hexdigit(),
        });
    well_formed.then(|| format!("{uuid}.log"))
}

async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> std::io::Result<T> + Send + 'static,
) -> StoreResult<T> {
    match tokio::task::spawn_blocking(work).await {
        Ok(result) => result.map_err(unavailable),
        Err(e) => Err(StoreError::Unavailable(Box::new(e))),
    }
}

/// A log file that cannot be read or written is storage that is not there right now (a full
/// disk, an IO error): the API answers 503, as for the database.
fn unavailable(e: std::io::Error) -> StoreError {
    StoreError::Unavailable(Box::new(e))
}

/// Appends to a build's log (see `Store::append_log`).
pub(crate) async fn append(
    store: &SqliteStore,
    uuid: &str,
    start_offset: u64,
    data: &[u8],
) -> StoreResult<()> {
    if data.is_empty() {
        return Ok(());
    }
    let grew = match store
        .log_files
        .append(uuid, start_offset, data.to_vec())
        .await
    {
        Ok(grew) => grew,
        // A piece refused for a build that is gone is refused as NotFound, as a late shipper
        // of a deleted build expects.
        Err(_) if !build_exists(&store.pool, uuid).await? => return Err(StoreError::NotFound),
        Err(err) => return Err(err),
    };
    // Checked once, after the write (a loud log has hundreds of pieces): a build that is gone,
    // or was deleted meanwhile, takes the file with it.
    if !build_exists(&store.pool, uuid).await? {
        store.log_files.remove(uuid).await?;
        return Err(StoreError::NotFound);
    }
    if grew {
        store.log_grew(uuid);
    }
    Ok(())
}

async fn build_exists(pool: &SqlitePool, uuid: &str) -> StoreResult<bool> {
    let found: Option<i64> = sqlx::query_scalar("SELECT 1 FROM builds WHERE uuid = ?")
        .bind(uuid)
        .fetch_optional(pool)
        .await?;
    Ok(found.is_some())
}

/// The stored line marks of a build's log, in block order (see `Store::log_line_marks`).
pub(crate) async fn line_marks(pool: &SqlitePool, uuid: &str) -> StoreResult<Vec<u64>> {
    let marks: Vec<i64> = sqlx::query_scalar(
        "SELECT line_breaks FROM build_log_line_marks WHERE uuid = ? ORDER BY block",
    )
    .bind(uuid)
    .fetch_all(pool)
    .await?;
    Ok(marks
        .into_iter()
        .map(|m| u64::try_from(m).unwrap_or(0))
        .collect())
}

/// Stores line marks from `first_block` on, keeping those already there.
pub(crate) async fn add_line_marks(
    pool: &SqlitePool,
    uuid: &str,
    first_block: u64,
    marks: &[u64],
) -> StoreResult<()> {
    // Three parameters a row, well under SQLite's limit of 32,766 a statement.
    for (batch, rows) in marks.chunks(1000).enumerate() {
        let first = first_block + (batch * 1000) as u64;
        let mut insert = QueryBuilder::<Sqlite>::new(
            "INSERT OR IGNORE INTO build_log_line_marks (uuid, block, line_breaks) ",
        );
        insert.push_values(rows.iter().enumerate(), |mut row, (i, &mark)| {
            row.push_bind(uuid)
                .push_bind(sql_int(first + i as u64))
                .push_bind(sql_int(mark));
        });
        match insert.build().execute(pool).await {
            Ok(_) => {}
            Err(e) if is_foreign_key_violation(&e) => return Err(StoreError::NotFound),
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_build_ids_name_log_files() {
        let id = "0f8fad5b-d9cb-469f-a165-70867728950e";
        assert_eq!(
            file_name(id).as_deref(),
            Some("0f8fad5b-d9cb-469f-a165-70867728950e.log")
        );
        for bad in [
            "",
            "../../etc/passwd",
            "0f8fad5b-d9cb-469f-a165-70867728950",
            "0f8fad5b-d9cb-469f-a165-70867728950e/",
            "0f8fad5b/d9cb-469f-a165-70867728950e",
            "0f8fad5b-d9cb-469f-a165-70867728950g",
            "no-such-build",
        ] {
            assert_eq!(file_name(bad), None, "{bad}");
        }
    }

    #[tokio::test]
    async fn appends_keep_what_is_there_and_refuse_gaps() {
        let dir = tempfile::tempdir().unwrap();
        let files = LogFiles::open(&dir.path().join("kiln.db")).unwrap();
        let id = "0f8fad5b-d9cb-469f-a165-70867728950e";
        assert!(files.append(id, 0, b"first ".to_vec()).await.unwrap());
        let mode = |p: &Path| {
            use std::os::unix::fs::PermissionsExt;
            std::fs::metadata(p).unwrap().permissions().mode() & 0o777
        };
        assert_eq!(mode(&dir.path().join("logs")), 0o700);
        assert_eq!(mode(&files.path_of(id).unwrap()), 0o600);
        assert!(!files.append(id, 0, b"other ".to_vec()).await.unwrap());
        assert!(files.append(id, 3, b"st second".to_vec()).await.unwrap());
        assert_eq!(files.read(id, 0, 100).await.unwrap(), b"first second");
        assert!(files.append(id, 100, b"gap".to_vec()).await.is_err());
        assert_eq!(files.size(id).await.unwrap(), 12);
        files.remove(id).await.unwrap();
        assert_eq!(files.size(id).await.unwrap(), 0);
        assert!(files.read(id, 0, 100).await.unwrap().is_empty());
    }

    /// A store that kept its logs in the database (0010) finds them in files after 0011.
    #[tokio::test]
    async fn pieces_from_the_database_move_into_files() {
        use kiln_store::Store;
        use kiln_store_conformance::fixtures::{ACCOUNT, project, queued_build};

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kiln.db");
        let store = crate::SqliteStore::open(&path).await.unwrap();
        store
            .create_project(&project(ACCOUNT, "p", 1.0))
            .await
            .unwrap();
        let mut build = queued_build(ACCOUNT, "p", 1, None);
        store.insert_build(&mut build, 0.0).await.unwrap();
        // As 0010 left them, renamed by 0011; the runner's file had only the first piece.
        sqlx::query(
            "CREATE TABLE build_log_pieces_to_move (uuid TEXT NOT NULL, start_offset INTEGER \
             NOT NULL, raw_length INTEGER NOT NULL, data BLOB NOT NULL, \
             PRIMARY KEY (uuid, start_offset))",
        )
        .execute(&store.pool)
        .await
        .unwrap();
        for (offset, piece) in [(0_i64, &b"first "[..]), (6, b"second\n")] {
            sqlx::query("INSERT INTO build_log_pieces_to_move VALUES (?, ?, ?, ?)")
                .bind(&build.uuid)
                .bind(offset)
                .bind(piece.len() as i64)
                .bind(kiln_store::pack_log_piece(piece))
                .execute(&store.pool)
                .await
                .unwrap();
        }
        std::fs::write(
            dir.path().join("logs").join(format!("{}.log", build.uuid)),
            "first ",
        )
        .unwrap();
        drop(store);

        let store = crate::SqliteStore::open(&path).await.unwrap();
        assert_eq!(
            store.read_log(&build.uuid, 0, 100).await.unwrap(),
            b"first second\n"
        );
        let left: Option<i64> = sqlx::query_scalar(
            "SELECT 1 FROM sqlite_master WHERE name = 'build_log_pieces_to_move'",
        )
        .fetch_optional(&store.pool)
        .await
        .unwrap();
        assert_eq!(left, None, "the table is dropped once moved");
    }
}

//! Which store Kiln keeps its state in: `--database-url` (`KILN_DATABASE_URL`, `database_url`
//! in kiln.toml). PostgreSQL (`postgres://`, `postgresql://`) is the store that several replicas
//! share; SQLite (`sqlite://PATH`, or nothing: `<data-dir>/kiln.db`) the embedded default.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, bail};
use kiln_store::Store;
use kiln_store_postgres::PgStore;
use kiln_store_sqlite::SqliteStore;

#[derive(PartialEq)]
pub enum Database {
    Sqlite(PathBuf),
    /// The connection URL, which may hold a password: never printed.
    Postgres(String),
}

impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Database::Sqlite(path) => f.debug_tuple("Sqlite").field(path).finish(),
            Database::Postgres(_) => f.write_str("Postgres(<url>)"),
        }
    }
}

impl Database {
    /// The database `url` names; none is SQLite in `data_dir`.
    pub fn from_url(url: Option<&str>, data_dir: &Path) -> anyhow::Result<Database> {
        let default = || Database::Sqlite(data_dir.join("kiln.db"));
        let Some(url) = url.filter(|url| !url.is_empty()) else {
            return Ok(default());
        };
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(Database::Postgres(url.to_owned()));
        }
        match url.strip_prefix("sqlite://") {
            Some("") => Ok(default()),
            Some(path) => Ok(Database::Sqlite(PathBuf::from(path))),
            None => bail!(
                "database URL {:?} must start with postgres://, postgresql:// or sqlite://",
                url.split_once("://").map_or(url, |(scheme, _)| scheme)
            ),
        }
    }

    /// Whether other replicas may share this database (and so must share artifacts too).
    pub fn is_shared(&self) -> bool {
        matches!(self, Database::Postgres(_))
    }

    /// Opens the store, running its migrations.
    pub async fn open(&self) -> anyhow::Result<Arc<dyn Store>> {
        Ok(match self {
            Database::Sqlite(path) => Arc::new(
                SqliteStore::open(path)
                    .await
                    .with_context(|| format!("opening the database {}", path.display()))?,
            ),
            Database::Postgres(url) => Arc::new(
                PgStore::connect(url)
                    .await
                    .context("connecting to the PostgreSQL database")?,
            ),
        })
    }
}

/// With a shared database, artifacts must be where every replica can read them: a build's
/// artifacts written to one replica's disk would be missing from every other replica.
pub fn check_artifacts_shared(
    database: &Database,
    local_artifacts: bool,
    allow_local_artifacts: bool,
) -> anyhow::Result<()> {
    if database.is_shared() && local_artifacts && !allow_local_artifacts {
        bail!(
            "refusing to store artifacts on the local disk with PostgreSQL: replicas share the \
             database, and a build's artifacts written to one replica's disk cannot be read \
             through any other replica. Configure [artifacts] with an S3-compatible store, or \
             start with --allow-local-artifacts (KILN_ALLOW_LOCAL_ARTIFACTS=true, or \
             allow_local_artifacts = true in kiln.toml) when this is the only replica"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_choose_the_store() {
        let data_dir = Path::new("/var/lib/kiln");
        let in_data_dir = Database::Sqlite(data_dir.join("kiln.db"));
        assert_eq!(Database::from_url(None, data_dir).unwrap(), in_data_dir);
        assert_eq!(Database::from_url(Some(""), data_dir).unwrap(), in_data_dir);
        assert_eq!(
            Database::from_url(Some("sqlite://"), data_dir).unwrap(),
            in_data_dir
        );
        assert_eq!(
            Database::from_url(Some("sqlite:///srv/kiln.db"), data_dir).unwrap(),
            Database::Sqlite("/srv/kiln.db".into())
        );
        for url in [
            "postgres://kiln:secret@db:5432/kiln",
            "postgresql://kiln@db/kiln?sslmode=require",
        ] {
            let database = Database::from_url(Some(url), data_dir).unwrap();
            assert_eq!(database, Database::Postgres(url.into()));
            assert!(!format!("{database:?}").contains("secret"));
        }
        let err = Database::from_url(Some("mysql://kiln:secret@db/kiln"), data_dir).unwrap_err();
        assert!(err.to_string().contains("\"mysql\""), "{err}");
        assert!(!err.to_string().contains("secret"), "{err}");
    }

    #[test]
    fn a_shared_database_refuses_local_artifacts_unless_allowed() {
        let postgres = Database::Postgres("postgres://db/kiln".into());
        let sqlite = Database::Sqlite("kiln.db".into());
        let err = check_artifacts_shared(&postgres, true, false).unwrap_err();
        assert!(err.to_string().contains("cannot be read"), "{err}");
        assert!(check_artifacts_shared(&postgres, true, true).is_ok());
        assert!(check_artifacts_shared(&postgres, false, false).is_ok());
        assert!(check_artifacts_shared(&sqlite, true, false).is_ok());
    }
}

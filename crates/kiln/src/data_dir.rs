//! The data directory is Kiln's alone: builds of the local executor that run as users of their
//! own may pass through it to their work directory, and nothing else. Modes are set on every
//! start, so data dirs made by earlier versions are closed too.

use std::io::ErrorKind;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::database::Database;

/// Traversable, not listable: a build reaches its own work directory by its full path.
const TRAVERSE_ONLY: u32 = 0o711;
const PRIVATE_DIR: u32 = 0o700;
const PRIVATE_FILE: u32 = 0o600;

/// Directories inside the data dir, with their modes.
const DIRECTORIES: &[(&str, u32)] = &[
    ("logs", PRIVATE_DIR),
    ("artifacts", PRIVATE_DIR),
    // Each build's directory inside is its own (0700, owned by the build's user).
    ("work", TRAVERSE_ONLY),
];

/// Files Kiln keeps at the top of the data dir. SQLite creates `-wal` and `-shm` with the mode
/// of the database file.
const FILES: &[&str] = &["kiln.db", "kiln.db-wal", "kiln.db-shm", "credentials.toml"];

/// Creates the data dir and its directories with their modes, creates the SQLite database file
/// private when `database` is one (PostgreSQL keeps nothing here), closes existing files, and
/// returns the data dir's real path.
pub fn prepare(data_dir: &Path, database: &Database) -> anyhow::Result<PathBuf> {
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("creating data dir {}", data_dir.display()))?;
    let data_dir = &std::fs::canonicalize(data_dir)
        .with_context(|| format!("resolving data dir {}", data_dir.display()))?;
    set_mode(data_dir, TRAVERSE_ONLY)?;
    for (name, mode) in DIRECTORIES {
        let dir = data_dir.join(name);
        match std::fs::create_dir(&dir) {
            Err(err) if err.kind() != ErrorKind::AlreadyExists => {
                return Err(err).with_context(|| format!("creating {}", dir.display()));
            }
            _ => set_mode(&dir, *mode)?,
        }
    }
    // The database is created private, before SQLite makes it with the default mode.
    if let Database::Sqlite(file) = database {
        std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .mode(PRIVATE_FILE)
            .open(file)
            .with_context(|| format!("creating {}", file.display()))?;
    }
    for name in FILES {
        let path = data_dir.join(name);
        if std::fs::symlink_metadata(&path).is_ok_and(|meta| meta.is_file()) {
            set_mode(&path, PRIVATE_FILE)?;
        }
    }
    Ok(data_dir.clone())
}

/// Sets `path`'s mode, unless it is a symlink (whose target is not Kiln's to change).
fn set_mode(path: &Path, mode: u32) -> anyhow::Result<()> {
    let meta =
        std::fs::symlink_metadata(path).with_context(|| format!("reading {}", path.display()))?;
    if meta.file_type().is_symlink() {
        return Ok(());
    }
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .with_context(|| format!("setting the mode of {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sqlite_file_is_created_private_and_only_for_sqlite() {
        let root = tempfile::tempdir().unwrap();
        let data_dir = root.path().join("data");
        let sqlite = Database::from_url(None, &data_dir).unwrap();
        let real = prepare(&data_dir, &sqlite).unwrap();
        let mode = std::fs::metadata(real.join("kiln.db"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, PRIVATE_FILE);

        let other_dir = root.path().join("other");
        let postgres = Database::from_url(Some("postgres://kiln@db/kiln"), &other_dir).unwrap();
        let real = prepare(&other_dir, &postgres).unwrap();
        assert!(real.join("work").is_dir());
        assert!(
            !real.join("kiln.db").exists(),
            "no SQLite file under PostgreSQL"
        );
    }
}

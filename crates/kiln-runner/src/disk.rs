//! The free-space reserve of Kiln's data directory. Builds fill the same file system as the
//! database, so they are stopped, and no new one starts, while free space is below the reserve:
//! what is left keeps the API's writes working.

use std::fmt;
use std::path::{Path, PathBuf};

/// The default reserve: 1 GiB, or 5% of the file system when that is smaller.
pub const DEFAULT_RESERVE_BYTES: u64 = 1024 * 1024 * 1024;
const DEFAULT_RESERVE_PERCENT: u64 = 5;
/// No reserve is smaller: below this, a file system is full for every practical purpose.
pub const MIN_RESERVE_BYTES: u64 = 1024 * 1024;

/// The reserve of one directory's file system.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiskReserve {
    dir: PathBuf,
    /// Configured bytes; `None` for the default.
    bytes: Option<u64>,
}

impl DiskReserve {
    /// The reserve of `dir`'s file system: `bytes` (at least [`MIN_RESERVE_BYTES`]) or the
    /// default.
    pub fn new(dir: impl Into<PathBuf>, bytes: Option<u64>) -> Self {
        Self {
            dir: dir.into(),
            bytes,
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// `Err` when the free space is below the reserve. A file system that cannot be examined
    /// passes: the writes that then fail say why.
    pub fn check(&self) -> Result<(), DiskFull> {
        let Ok(stats) = rustix::fs::statvfs(&self.dir) else {
            return Ok(());
        };
        // What an unprivileged writer may still use (root's reserved blocks excluded).
        let available = stats.f_bavail.saturating_mul(stats.f_frsize);
        let size = stats.f_blocks.saturating_mul(stats.f_frsize);
        let reserve = self
            .bytes
            .unwrap_or_else(|| DEFAULT_RESERVE_BYTES.min(size / 100 * DEFAULT_RESERVE_PERCENT))
            .max(MIN_RESERVE_BYTES);
        if available < reserve {
            Err(DiskFull {
                dir: self.dir.clone(),
                available,
                reserve,
            })
        } else {
            Ok(())
        }
    }
}

/// Free space below the reserve, as build contexts and Kiln's log report it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "disk full: the data dir {} has {} free, below its reserve of {} (disk_reserve_bytes)",
    dir.display(),
    Bytes(*available),
    Bytes(*reserve)
)]
pub struct DiskFull {
    pub dir: PathBuf,
    pub available: u64,
    pub reserve: u64,
}

/// A byte count for people: `1048576 bytes (1.0 MiB)`, or `512 bytes`.
#[derive(Debug, Clone, Copy)]
pub struct Bytes(pub u64);

impl fmt::Display for Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
        let mut scaled = self.0 as f64;
        let mut unit = None;
        for name in UNITS {
            if scaled < 1024.0 {
                break;
            }
            scaled /= 1024.0;
            unit = Some(name);
        }
        match unit {
            Some(unit) => write!(f, "{} bytes ({scaled:.1} {unit})", self.0),
            None => write!(f, "{} bytes", self.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_read_as_people_write_them() {
        assert_eq!(Bytes(512).to_string(), "512 bytes");
        assert_eq!(Bytes(1024 * 1024).to_string(), "1048576 bytes (1.0 MiB)");
        assert_eq!(
            Bytes(3 * 1024 * 1024 * 1024 / 2).to_string(),
            "1610612736 bytes (1.5 GiB)"
        );
    }

    #[test]
    fn a_reserve_larger_than_the_disk_is_full_and_a_tiny_one_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let full = DiskReserve::new(dir.path(), Some(u64::MAX))
            .check()
            .unwrap_err();
        assert_eq!(full.reserve, u64::MAX);
        assert!(
            full.to_string().starts_with("disk full: the data dir "),
            "{full}"
        );
        DiskReserve::new(dir.path(), Some(0)).check().unwrap();
    }

    #[test]
    fn an_unreadable_dir_does_not_stop_builds() {
        DiskReserve::new("/no/such/dir", Some(u64::MAX))
            .check()
            .unwrap();
    }
}

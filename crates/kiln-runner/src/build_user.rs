//! A user of its own for each build of the local executor when Kiln runs as root, like systemd's
//! `DynamicUser`: a uid (with the gid of the same number) taken from a configured range while
//! the build runs. No `/etc/passwd` entry is needed. The build's directory is handed over to that
//! uid, its commands drop to it before `exec`, and when the build ends every process of the uid
//! is killed before the uid goes back to the pool. So a build cannot read Kiln's files (the data
//! dir is Kiln's alone) nor another build's.

use std::collections::HashSet;
use std::path::Path;
use std::str::FromStr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use rustix::process::{Pid, Signal, geteuid, kill_process};

/// How long ending a uid's processes may take before the uid is given up (not reused).
const KILL_DEADLINE: Duration = Duration::from_secs(5);
const KILL_POLL: Duration = Duration::from_millis(10);

/// A range of uids for builds, `first-last` inclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UidRange {
    first: u32,
    last: u32,
}

impl UidRange {
    /// `2000000000-2000065535`: far above the uids distributions give to people and services
    /// (and above systemd's `DynamicUser` and container ranges).
    pub const DEFAULT: UidRange = UidRange {
        first: 2_000_000_000,
        last: 2_000_065_535,
    };

    pub fn contains(&self, uid: u32) -> bool {
        (self.first..=self.last).contains(&uid)
    }

    fn len(&self) -> u32 {
        self.last - self.first + 1
    }
}

impl std::fmt::Display for UidRange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}", self.first, self.last)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum UidRangeError {
    #[error("uid range {0:?} must be FIRST-LAST, e.g. 2000000000-2000065535")]
    Syntax(String),
    #[error(
        "uid range {0} must not include 0 (root) or 4294967295, and FIRST must not exceed LAST"
    )]
    Invalid(String),
}

impl FromStr for UidRange {
    type Err = UidRangeError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let syntax = || UidRangeError::Syntax(text.chars().take(64).collect());
        let (first, last) = text.trim().split_once('-').ok_or_else(syntax)?;
        let first: u32 = first.trim().parse().map_err(|_| syntax())?;
        let last: u32 = last.trim().parse().map_err(|_| syntax())?;
        if first == 0 || last == u32::MAX || first > last {
            return Err(UidRangeError::Invalid(format!("{first}-{last}")));
        }
        Ok(UidRange { first, last })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum BuildUserError {
    #[error("every uid of the build range {0} is in use")]
    Exhausted(UidRange),
    #[error("cannot hand the build directory {} to its user: {source}", path.display())]
    HandOver {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
}

/// Whether Kiln runs as root, and so gives each local build a user of its own.
pub fn kiln_is_root() -> bool {
    geteuid().is_root()
}

/// The uids builds may take, and those taken.
#[derive(Debug)]
pub struct BuildUserPool {
    range: UidRange,
    in_use: Mutex<HashSet<u32>>,
    /// Where the next search starts, so a uid is reused as late as possible: what a build left in
    /// world-writable places (`/tmp`) stays its own for as long as the range allows.
    next: AtomicU32,
}

impl BuildUserPool {
    pub fn new(range: UidRange) -> Arc<Self> {
        // Each start begins somewhere else in the range, so a restart does not hand out again
        // the uids the last run used first.
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        Arc::new(Self {
            range,
            in_use: Mutex::new(HashSet::new()),
            next: AtomicU32::new(seed % range.len()),
        })
    }

    pub fn range(&self) -> UidRange {
        self.range
    }

    /// Takes a uid that no running build holds and no process runs as (a leftover of a build
    /// from before a crash, or another program).
    pub fn allocate(self: &Arc<Self>) -> Result<BuildUser, BuildUserError> {
        let busy = uids_with_processes();
        let mut in_use = self.in_use.lock().unwrap_or_else(PoisonError::into_inner);
        let len = u64::from(self.range.len());
        let start = u64::from(self.next.load(Ordering::Relaxed));
        for step in 0..len {
            // Below `len`, which is a u32.
            let offset = u32::try_from((start + step) % len).unwrap_or_default();
            let uid = self.range.first + offset;
            if in_use.contains(&uid) || busy.contains(&uid) {
                continue;
            }
            in_use.insert(uid);
            let next = u32::try_from((u64::from(offset) + 1) % len).unwrap_or_default();
            self.next.store(next, Ordering::Relaxed);
            return Ok(BuildUser {
                uid,
                pool: Arc::clone(self),
            });
        }
        Err(BuildUserError::Exhausted(self.range))
    }

    fn release(&self, uid: u32) {
        self.in_use
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&uid);
    }
}

/// One build's uid, held until dropped. Dropping it kills whatever still runs as the uid; the
/// uid returns to the pool only once nothing does.
#[derive(Debug)]
pub struct BuildUser {
    uid: u32,
    pool: Arc<BuildUserPool>,
}

impl BuildUser {
    pub fn uid(&self) -> u32 {
        self.uid
    }

    /// The build's group: the number of its uid, with no other member.
    pub fn gid(&self) -> u32 {
        self.uid
    }

    /// Kills every process of the build's user, whatever process group or session it moved to.
    pub async fn end_all_processes(&self) {
        let uid = self.uid;
        let _ = tokio::task::spawn_blocking(move || kill_all_processes_of(uid)).await;
    }
}

impl Drop for BuildUser {
    fn drop(&mut self) {
        if kill_all_processes_of(self.uid) {
            self.pool.release(self.uid);
        } else {
            tracing::warn!(
                uid = self.uid,
                "processes of a finished build's user survived SIGKILL; the uid is not reused"
            );
        }
    }
}

/// Gives `dir` and everything in it to `uid`:`gid` and makes `dir` private to them. Symlinks
/// are changed themselves, never what they point to, and are not descended into. Called before
/// any of the build's commands run, so nothing moves under the walk.
pub fn hand_over(dir: &Path, uid: u32, gid: u32) -> Result<(), BuildUserError> {
    use std::os::unix::fs::PermissionsExt;
    let failed = |path: &Path, source| BuildUserError::HandOver {
        path: path.to_owned(),
        source,
    };
    for entry in walkdir::WalkDir::new(dir).follow_links(false) {
        let entry = entry.map_err(|err| failed(dir, err.into()))?;
        std::os::unix::fs::lchown(entry.path(), Some(uid), Some(gid))
            .map_err(|err| failed(entry.path(), err))?;
    }
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
        .map_err(|err| failed(dir, err))
}

/// Kills every process whose real, effective or saved uid is `uid`, until none is left (those
/// killed cannot fork any more, so this ends even for a fork bomb). Returns whether none is
/// left. Refuses root and Kiln's own uid.
pub fn kill_all_processes_of(uid: u32) -> bool {
    if uid == 0 || uid == geteuid().as_raw() {
        return false;
    }
    let deadline = Instant::now() + KILL_DEADLINE;
    loop {
        let pids = processes_of(uid);
        if pids.is_empty() {
            return true;
        }
        for pid in pids {
            // It may have exited meanwhile.
            let _ = kill_process(pid, Signal::KILL);
        }
        if Instant::now() > deadline {
            return processes_of(uid).is_empty();
        }
        std::thread::sleep(KILL_POLL);
    }
}

/// The live (not zombie) processes running as `uid`.
fn processes_of(uid: u32) -> Vec<Pid> {
    process_owners()
        .filter(|(_, uids)| uids.contains(&uid))
        .map(|(pid, _)| pid)
        .collect()
}

fn uids_with_processes() -> HashSet<u32> {
    process_owners().flat_map(|(_, uids)| uids).collect()
}

/// Every live process with its real, effective and saved uids, from `/proc/<pid>/status`.
fn process_owners() -> impl Iterator<Item = (Pid, [u32; 3])> {
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let pid = Pid::from_raw(entry.file_name().to_str()?.parse().ok()?)?;
            let status = std::fs::read_to_string(entry.path().join("status")).ok()?;
            parse_status(&status).map(|uids| (pid, uids))
        })
}

/// The uids of a `/proc/<pid>/status` text; `None` for a zombie (it runs nothing and goes once
/// its parent, killed too, is gone) or text that cannot be read.
fn parse_status(status: &str) -> Option<[u32; 3]> {
    let mut uids = None;
    for line in status.lines() {
        if let Some(state) = line.strip_prefix("State:")
            && state.trim_start().starts_with('Z')
        {
            return None;
        }
        if let Some(values) = line.strip_prefix("Uid:") {
            let mut fields = values.split_whitespace().map(|f| f.parse::<u32>().ok());
            uids = Some([fields.next()??, fields.next()??, fields.next()??]);
        }
    }
    uids
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_parse_and_refuse_root() {
        assert_eq!(
            "2000000000-2000065535".parse::<UidRange>().unwrap(),
            UidRange::DEFAULT
        );
        assert_eq!(UidRange::DEFAULT.to_string(), "2000000000-2000065535");
        assert!(" 5 - 9 ".parse::<UidRange>().unwrap().contains(9));
        for bad in ["", "5", "a-b", "0-10", "10-5", "1-4294967295", "-1-5"] {
            assert!(bad.parse::<UidRange>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn status_gives_uids_and_skips_zombies() {
        let live = "Name:\tsh\nState:\tS (sleeping)\nUid:\t5\t6\t7\t8\n";
        assert_eq!(parse_status(live), Some([5, 6, 7]));
        let zombie = "Name:\tsh\nState:\tZ (zombie)\nUid:\t5\t5\t5\t5\n";
        assert_eq!(parse_status(zombie), None);
        assert_eq!(parse_status("Uid:\tx\n"), None);
    }

    #[test]
    fn allocation_skips_taken_uids_and_reuses_late() {
        let pool = BuildUserPool::new("3000000000-3000000002".parse().unwrap());
        let a = pool.allocate().unwrap();
        let b = pool.allocate().unwrap();
        assert_ne!(a.uid(), b.uid());
        let a_uid = a.uid();
        drop(a);
        let c = pool.allocate().unwrap();
        assert_ne!(c.uid(), a_uid, "the next uid comes before a released one");
        let d = pool.allocate().unwrap();
        assert_eq!(d.uid(), a_uid);
        assert!(matches!(pool.allocate(), Err(BuildUserError::Exhausted(_))));
    }

    #[test]
    fn neither_root_nor_kiln_is_ever_killed() {
        assert!(!kill_all_processes_of(0));
        assert!(!kill_all_processes_of(geteuid().as_raw()));
    }
}

//! Opening files that a build can change, with the kernel keeping every open beneath a
//! directory.
//!
//! A build owns the files of its work directory (under Docker, its container writes them as
//! root through the bind mount), so between the moment Kiln chooses a path and the moment it
//! opens it, any component can become a symbolic link to somewhere else. Checking a path and
//! then opening it is therefore never enough. Here, a directory is opened once as a
//! [`cap_std::fs::Dir`] and everything beneath it is opened relative to that handle: on Linux,
//! cap-std resolves through `openat2` with `RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS`, so the
//! kernel refuses any resolution that would leave the directory (absolute links, `..` above
//! it, `/proc` magic links), whatever the build does meanwhile (see
//! `docs/confined-file-access.md`).
//!
//! Files are opened non-blocking and without acquiring a terminal, then checked to be regular
//! files, so a FIFO or a device node planted by a build can neither hang Kiln nor be read.

use std::fs::File;
use std::io::{self, Read, Write};
use std::path::Path;

use cap_fs_ext::{DirExt, FollowSymlinks, OpenOptionsFollowExt, OpenOptionsSyncExt};
use cap_std::fs::{OpenOptions, OpenOptionsExt};

pub use cap_std::fs::Dir;

/// Whether the last component of a path may be a symbolic link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Follow {
    /// Follow links, as long as each resolution stays beneath the directory.
    Beneath,
    /// Refuse a link as the last component (links earlier in the path still resolve beneath).
    Never,
}

/// Opens a directory Kiln made (a build's work directory) by its path, refusing a symbolic
/// link as its last component. The components above it must be Kiln's, out of any build's
/// reach: this is the one open that trusts a path.
pub fn open_ambient_dir(path: &Path) -> io::Result<Dir> {
    let path = std::path::absolute(path)?;
    match (path.parent(), path.file_name()) {
        (Some(parent), Some(name)) => open_dir(
            &Dir::open_ambient_dir(parent, cap_std::ambient_authority())?,
            name,
        ),
        _ => Dir::open_ambient_dir(&path, cap_std::ambient_authority()),
    }
}

/// Opens the directory `name` inside `parent`, refusing a symbolic link there: a build that
/// replaces its `src` with a link to `/` gets an error, not the host's root.
pub fn open_dir(parent: &Dir, name: impl AsRef<Path>) -> io::Result<Dir> {
    let name = name.as_ref();
    parent.open_dir_nofollow(name).map_err(|err| {
        // The kernel says "not a directory" for a link; say what it is (`ELOOP`, as `open`
        // with `O_NOFOLLOW` does), for the build's log. The refusal itself is the kernel's.
        if parent
            .symlink_metadata(name)
            .is_ok_and(|meta| meta.is_symlink())
        {
            io::Error::from_raw_os_error(rustix::io::Errno::LOOP.raw_os_error())
        } else {
            err
        }
    })
}

/// [`open_dir`] of a directory Kiln made inside a directory Kiln made, by path.
pub fn open_dir_in(parent: &Path, name: impl AsRef<Path>) -> io::Result<Dir> {
    open_dir(&open_ambient_dir(parent)?, name)
}

/// Creates the directory `path` (and the directories above it) if missing, then opens it as
/// [`open_ambient_dir`] does.
pub fn create_ambient_dir(path: &Path) -> io::Result<Dir> {
    std::fs::create_dir_all(path)?;
    open_ambient_dir(path)
}

/// Opens the regular file at `path` beneath `dir` for reading. Anything else (a directory, a
/// FIFO, a device, a socket, or a link when `follow` is [`Follow::Never`]) is refused.
pub fn open_regular(dir: &Dir, path: impl AsRef<Path>, follow: Follow) -> io::Result<File> {
    let mut options = OpenOptions::new();
    options
        .read(true)
        .follow(match follow {
            Follow::Beneath => FollowSymlinks::Yes,
            Follow::Never => FollowSymlinks::No,
        })
        // A FIFO would block the open until a writer comes; a terminal could become Kiln's.
        .nonblock(true)
        .custom_flags(no_controlling_terminal());
    let file = dir.open_with(path, &options)?.into_std();
    if !file.metadata()?.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a regular file",
        ));
    }
    Ok(file)
}

fn no_controlling_terminal() -> i32 {
    // The flag's bits fit in an `i32` (`custom_flags` takes the C `int`).
    i32::try_from(rustix::fs::OFlags::NOCTTY.bits()).unwrap_or(0)
}

/// Reads at most `limit` bytes of the regular file at `path` beneath `dir` (callers pass one
/// more than they accept, to tell a file that is too large). `None` when there is no file.
pub fn read_regular(
    dir: &Dir,
    path: impl AsRef<Path>,
    follow: Follow,
    limit: u64,
) -> io::Result<Option<Vec<u8>>> {
    let file = match open_regular(dir, path, follow) {
        Ok(file) => file,
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(err) => return Err(err),
    };
    let mut contents = Vec::new();
    file.take(limit).read_to_end(&mut contents)?;
    Ok(Some(contents))
}

/// Writes `contents` to a new file `name` in `dir`, removing what was there first. The file is
/// created exclusively (`O_CREAT | O_EXCL`, which never follows a link): if a build puts
/// something back between the removal and the creation, this fails rather than write
/// through it.
pub fn replace_file(dir: &Dir, name: impl AsRef<Path>, contents: &[u8]) -> io::Result<()> {
    let name = name.as_ref();
    match dir.remove_file(name) {
        Err(err) if err.kind() != io::ErrorKind::NotFound => return Err(err),
        _ => {}
    }
    let mut options = OpenOptions::new();
    options
        .write(true)
        .create_new(true)
        .follow(FollowSymlinks::No);
    let mut file = dir.open_with(name, &options)?;
    file.write_all(contents)
}

/// Creates the new file `name` in `dir` for writing: exclusively (`O_CREAT | O_EXCL`, which
/// never follows a link), so nothing already there is written through.
pub fn create_new_file(dir: &Dir, name: impl AsRef<Path>) -> io::Result<File> {
    let mut options = OpenOptions::new();
    options
        .write(true)
        .create_new(true)
        .follow(FollowSymlinks::No);
    Ok(dir.open_with(name, &options)?.into_std())
}

/// Appends `contents` to the regular file `name` in `dir`, creating it if missing; a link or
/// anything but a regular file there is refused.
pub fn append_to_file(dir: &Dir, name: impl AsRef<Path>, contents: &[u8]) -> io::Result<()> {
    let mut options = OpenOptions::new();
    options
        .append(true)
        .create(true)
        .follow(FollowSymlinks::No)
        .nonblock(true)
        .custom_flags(no_controlling_terminal());
    let mut file = dir.open_with(name, &options)?.into_std();
    if !file.metadata()?.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a regular file",
        ));
    }
    file.write_all(contents)
}

/// Removes the file or link `name` in `dir` if it exists (a link is removed, never followed).
pub fn remove_file(dir: &Dir, name: impl AsRef<Path>) -> io::Result<()> {
    match dir.remove_file_or_symlink(name) {
        Err(err) if err.kind() != io::ErrorKind::NotFound => Err(err),
        _ => Ok(()),
    }
}

/// Whether an open was refused because it would have left the directory: cap-std reports its
/// own refusals (and the kernel's `EXDEV` from `RESOLVE_BENEATH`) as permission errors that
/// carry no OS error code, unlike a real `EACCES`.
pub fn is_escape(err: &io::Error) -> bool {
    err.kind() == io::ErrorKind::PermissionDenied && err.raw_os_error().is_none()
}

/// Whether an open was refused because the last component is a link (`O_NOFOLLOW`).
pub fn is_link_refused(err: &io::Error) -> bool {
    err.raw_os_error() == Some(rustix::io::Errno::LOOP.raw_os_error())
}

/// Why an open beneath a directory failed, for a build's log.
pub fn describe(err: &io::Error) -> String {
    if is_escape(err) {
        "it leads outside the directory".to_owned()
    } else if is_link_refused(err) {
        "it is a symbolic link".to_owned()
    } else {
        err.to_string()
    }
}

/// Makes every directory beneath `dir` (itself included) writable by its owner, so that a
/// tree a build made read-only can be removed. Best effort; links are never followed out of
/// `dir`, and a deep tree is walked without recursion.
pub fn make_dirs_writable(dir: &Dir) {
    let writable = || cap_std::fs::Permissions::from_std(owner_rwx());
    let _ = dir.set_permissions(".", writable());
    let mut pending = vec![std::path::PathBuf::new()];
    while let Some(relative) = pending.pop() {
        let opened = if relative.as_os_str().is_empty() {
            dir.try_clone()
        } else {
            dir.open_dir_nofollow(&relative)
        };
        let Ok(opened) = opened else { continue };
        let Ok(entries) = opened.entries() else {
            continue;
        };
        for entry in entries.flatten() {
            if entry.file_type().is_ok_and(|kind| kind.is_dir()) {
                let child = relative.join(entry.file_name());
                let _ = dir.set_permissions(&child, writable());
                pending.push(child);
            }
        }
    }
}

fn owner_rwx() -> std::fs::Permissions {
    use std::os::unix::fs::PermissionsExt;
    std::fs::Permissions::from_mode(0o700)
}

#[cfg(test)]
mod tests;

//! Walking the source directory through its handle: every directory is listed through a
//! descriptor opened beneath the root, and a symbolic link is followed only by asking the
//! kernel to resolve it beneath the root (see [`crate::confined`]), never by looking at a path.

use std::path::{Path, PathBuf};

use cap_fs_ext::DirExt;
use cap_std::fs::MetadataExt;

use super::ArtifactError;
use crate::confined::{self, Dir};

/// Most entries one collection looks at: links can make a small tree look huge.
pub(super) const MAX_WALK_ENTRIES: usize = 1_000_000;
/// Deepest directory nesting walked (each level holds a directory handle open).
pub(super) const MAX_WALK_DEPTH: usize = 128;

/// What an entry of the tree is, as collection sees it.
#[derive(Debug)]
pub(super) enum Kind {
    /// A regular file, or a link the kernel resolved beneath the root to one.
    File,
    /// A symbolic link kept as a link (`enable-symlinks`).
    Link,
    /// A directory, or a link resolving beneath the root to one (walked into).
    Dir,
    /// Something that cannot be part of an artifact, and why.
    LeftOut(String),
}

#[derive(Debug)]
pub(super) struct Entry {
    /// Relative to the root.
    pub source: PathBuf,
    /// Relative to the directory being walked, `/`-separated (what globs match).
    pub relative: String,
    pub kind: Kind,
}

type Visit<'v> = dyn FnMut(Entry) -> Result<(), ArtifactError> + 'v;

pub(super) struct Walker<'a> {
    root: &'a Dir,
    keep_links: bool,
    visited: usize,
}

/// The directory being listed: where it is, and the directories it is inside (by device and
/// inode), to stop at a link back to one of them.
struct Level<'p> {
    source: &'p Path,
    relative: &'p str,
    ancestors: &'p mut Vec<(u64, u64)>,
}

impl<'a> Walker<'a> {
    pub(super) fn new(root: &'a Dir, keep_links: bool) -> Self {
        Self {
            root,
            keep_links,
            visited: 0,
        }
    }

    /// Whether `path` (relative to the root) is a directory, links resolved beneath the root.
    pub(super) fn is_dir(&self, path: &Path) -> bool {
        self.root.metadata(path).is_ok_and(|meta| meta.is_dir())
    }

    /// Calls `visit` for every entry beneath `base` (relative to the root), depth first, in
    /// name order. Loops through links are not entered twice; dangling links, links leading out
    /// of the root, FIFOs and devices come as [`Kind::LeftOut`].
    pub(super) fn walk(&mut self, base: &Path, visit: &mut Visit<'_>) -> Result<(), ArtifactError> {
        let dir = if base.as_os_str().is_empty() {
            self.root.try_clone()
        } else {
            self.root.open_dir(base)
        }
        .map_err(|source| ArtifactError::Io {
            path: base.to_owned(),
            source,
        })?;
        let mut ancestors = Vec::new();
        if let Ok(meta) = dir.dir_metadata() {
            ancestors.push((meta.dev(), meta.ino()));
        }
        self.walk_dir(
            &dir,
            Level {
                source: base,
                relative: "",
                ancestors: &mut ancestors,
            },
            visit,
        )
    }

    fn walk_dir(
        &mut self,
        dir: &Dir,
        level: Level<'_>,
        visit: &mut Visit<'_>,
    ) -> Result<(), ArtifactError> {
        if level.ancestors.len() > MAX_WALK_DEPTH {
            return Err(ArtifactError::TreeTooLarge);
        }
        let io_error = |source| ArtifactError::Io {
            path: level.source.to_owned(),
            source,
        };
        let mut names = Vec::new();
        for entry in dir.entries().map_err(io_error)? {
            let entry = entry.map_err(io_error)?;
            self.visited += 1;
            if self.visited > MAX_WALK_ENTRIES {
                return Err(ArtifactError::TreeTooLarge);
            }
            names.push(entry.file_name());
        }
        names.sort();
        for name in names {
            let source = level.source.join(&name);
            let Some(name_text) = name.to_str() else {
                return Err(ArtifactError::NonUtf8Path(source));
            };
            let relative = if level.relative.is_empty() {
                name_text.to_owned()
            } else {
                format!("{}/{name_text}", level.relative)
            };
            // The entry itself, never followed: `dir` is a descriptor, `name` one component.
            let meta = match dir.symlink_metadata(&name) {
                Ok(meta) => meta,
                // Removed since it was listed.
                Err(err) if err.kind() == std::io::ErrorKind::NotFound => continue,
                Err(err) => {
                    return Err(ArtifactError::Io {
                        path: source,
                        source: err,
                    });
                }
            };
            let (kind, subdir) = if meta.is_symlink() {
                self.classify_link(&source)
            } else if meta.is_dir() {
                (Kind::Dir, Some(dir.open_dir_nofollow(&name)))
            } else if meta.is_file() {
                (Kind::File, None)
            } else {
                (Kind::LeftOut("it is not a regular file".to_owned()), None)
            };
            visit(Entry {
                source: source.clone(),
                relative: relative.clone(),
                kind,
            })?;
            let Some(subdir) = subdir else { continue };
            // Replaced since it was looked at: the kernel refused what it became.
            let Ok(subdir) = subdir else { continue };
            let Ok(meta) = subdir.dir_metadata() else {
                continue;
            };
            let identity = (meta.dev(), meta.ino());
            if level.ancestors.contains(&identity) {
                continue;
            }
            level.ancestors.push(identity);
            let walked = self.walk_dir(
                &subdir,
                Level {
                    source: &source,
                    relative: &relative,
                    ancestors: &mut *level.ancestors,
                },
                visit,
            );
            level.ancestors.pop();
            walked?;
        }
        Ok(())
    }

    /// A link is kept (`enable-symlinks`) or resolved by the kernel beneath the root; a
    /// directory it leads to is opened through the same resolution.
    fn classify_link(&self, source: &Path) -> (Kind, Option<std::io::Result<Dir>>) {
        if self.keep_links {
            return (Kind::Link, None);
        }
        match self.root.metadata(source) {
            Ok(target) if target.is_dir() => (Kind::Dir, Some(self.root.open_dir(source))),
            Ok(target) if target.is_file() => (Kind::File, None),
            Ok(_) => (
                Kind::LeftOut("it leads to something that is not a regular file".to_owned()),
                None,
            ),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => (
                Kind::LeftOut("it is a link that leads nowhere".to_owned()),
                None,
            ),
            Err(err) if confined::is_link_refused(&err) => {
                (Kind::LeftOut("it is a loop of links".to_owned()), None)
            }
            Err(err) => (Kind::LeftOut(confined::describe(&err)), None),
        }
    }
}

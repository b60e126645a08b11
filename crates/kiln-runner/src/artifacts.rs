//! Build artifacts, as the buildspec `artifacts` section and the project's `ProjectArtifacts`
//! describe them: select files from the source directory, package them (ZIP or as they are) and
//! upload them to an object store under CodeBuild's key layout.
//!
//! The build can change its source directory at any moment, so files are selected and read
//! only through a handle on it ([`crate::confined`]): each selected file is kept as a path
//! relative to that handle and opened beneath it, by the kernel, when it is read.

mod gzip_object;
pub use gzip_object::GzipObject;
mod relay;
pub use relay::describe as describe_transport_error;
mod store;
mod walk;

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::{BufReader, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use globset::{Glob, GlobBuilder, GlobMatcher, GlobSet, GlobSetBuilder};
use md5::Md5;
use sha2::{Digest, Sha256};

use crate::confined::{self, Dir, Follow};
pub use relay::{RelayError, RelayStore};
pub(crate) use store::upload_file;
pub use store::{ArtifactStore, ArtifactStoreConfig, UploadedArtifact};
use walk::{Kind, Walker};

/// Most files one artifact may hold.
pub const MAX_ARTIFACT_FILES: usize = 100_000;
/// Longest S3 object key.
const MAX_KEY_LEN: usize = 1024;
/// Longest glob pattern accepted.
const MAX_PATTERN_LEN: usize = 1024;

/// Which files make up an artifact (buildspec `artifacts`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ArtifactSelection {
    /// Globs relative to the base directory: `**/*`, `dir/*`, `dir/**/*`.
    pub files: Vec<String>,
    /// Directory (or glob of directories) whose contents, not itself, are packaged.
    pub base_directory: Option<String>,
    /// Store every file at the top level of the artifact.
    pub discard_paths: bool,
    /// Globs relative to the base directory of files to leave out.
    pub exclude_paths: Vec<String>,
    /// Keep symbolic links as links (`enable-symlinks`, for ZIP packaging) instead of following
    /// them.
    pub enable_symlinks: bool,
}

/// One file of an artifact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArtifactFile {
    /// Path relative to the source directory, opened beneath it when the file is read.
    pub source: PathBuf,
    /// Relative path inside the artifact, `/`-separated.
    pub archive_path: String,
    /// A symbolic link, stored in the ZIP as a link (`enable-symlinks`).
    pub is_link: bool,
}

/// What [`collect`] selected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Collected {
    pub files: Vec<ArtifactFile>,
    /// Selected paths that were left out, each with the reason (a link leading out of the
    /// source directory or nowhere, a FIFO, a device), for the build log.
    pub left_out: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Packaging {
    Zip,
    None,
}

/// A packaged artifact, ready for upload.
#[derive(Debug)]
pub enum Package {
    Zip(ZipPackage),
    /// Uploaded one object per file, under the artifact key as a prefix; each file is opened
    /// beneath `root` when it is uploaded.
    Files {
        root: Arc<Dir>,
        files: Vec<ArtifactFile>,
    },
}

/// A ZIP archive in a temporary file (removed on drop).
#[derive(Debug)]
pub struct ZipPackage {
    file: tempfile::NamedTempFile,
    pub size: u64,
    /// Lower-case hex digests of the archive (`BuildArtifacts.sha256sum` / `md5sum`).
    pub sha256: String,
    pub md5: String,
}

impl ZipPackage {
    pub fn path(&self) -> &Path {
        self.file.path()
    }
}

/// Where an artifact goes (`ProjectArtifacts` of type S3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArtifactTarget {
    /// The bucket (`location`).
    pub bucket: String,
    pub path: Option<String>,
    /// `namespaceType: BUILD_ID`.
    pub namespace_build_id: bool,
    /// The object (ZIP) or folder (NONE) name; `/` stores at the path itself.
    pub name: String,
    /// Let the buildspec's `artifacts.name` replace `name`.
    pub override_artifact_name: bool,
    pub packaging_zip: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum ArtifactError {
    #[error("no matching artifact paths found")]
    NoMatchingPaths,
    #[error("no matching base directory path found for {0:?}")]
    BaseDirectoryNotFound(String),
    #[error("artifacts.files must list at least one pattern")]
    NoPatterns,
    #[error("invalid artifact pattern {pattern:?}: {reason}")]
    InvalidPattern { pattern: String, reason: String },
    #[error("more than {MAX_ARTIFACT_FILES} artifact files")]
    TooManyFiles,
    #[error("two artifact files would both be stored as {0:?}")]
    DuplicateArchivePath(String),
    #[error("artifact file name {} is not valid UTF-8", .0.display())]
    NonUtf8Path(PathBuf),
    #[error(
        "the source directory holds more than {} entries, or directories nested deeper than {}",
        walk::MAX_WALK_ENTRIES,
        walk::MAX_WALK_DEPTH
    )]
    TreeTooLarge,
    #[error("cannot open the source directory: {0}")]
    SourceDirectory(String),
    #[error("artifact file {} was not read: {reason}", path.display())]
    Unreadable { path: PathBuf, reason: String },
    #[error("invalid artifact location: {0}")]
    InvalidTarget(String),
    #[error("I/O error on {}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("could not write the ZIP archive: {0}")]
    Zip(#[from] zip::result::ZipError),
    #[error("artifact upload failed: {0}")]
    Store(#[from] object_store::Error),
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> ArtifactError + '_ {
    move |source| ArtifactError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Selects the artifact files beneath `root` (the source directory) as CodeBuild does. Every
/// look at the tree goes through `root`, so nothing outside it is ever listed or taken:
/// patterns cannot leave it, and links are followed only where the kernel finds them to stay
/// beneath it (others are left out, and named in [`Collected::left_out`] when selected).
pub fn collect(root: &Dir, spec: &ArtifactSelection) -> Result<Collected, ArtifactError> {
    if spec.files.is_empty() {
        return Err(ArtifactError::NoPatterns);
    }
    let files = glob_set(&spec.files)?;
    let excludes = glob_set(&spec.exclude_paths)?;
    let mut walker = Walker::new(root, spec.enable_symlinks);
    let bases = match spec.base_directory.as_deref().map(str::trim) {
        None => vec![PathBuf::new()],
        Some(base) if names_the_source_directory(base) => vec![PathBuf::new()],
        Some(base) => base_directories(&mut walker, base)?,
    };
    let mut selected = BTreeMap::new();
    let mut left_out = BTreeSet::new();
    for base in &bases {
        walker.walk(base, &mut |entry| {
            if !files.is_match(&entry.relative) || excludes.is_match(&entry.relative) {
                return Ok(());
            }
            let is_link = match entry.kind {
                Kind::File => false,
                Kind::Link => true,
                Kind::Dir => return Ok(()),
                Kind::LeftOut(reason) => {
                    left_out.insert(format!("{}: {reason}", entry.source.display()));
                    return Ok(());
                }
            };
            let archive_path = if spec.discard_paths {
                entry
                    .relative
                    .rsplit('/')
                    .next()
                    .unwrap_or(&entry.relative)
                    .to_owned()
            } else {
                entry.relative
            };
            if selected.contains_key(&archive_path) {
                return Err(ArtifactError::DuplicateArchivePath(archive_path));
            }
            if selected.len() == MAX_ARTIFACT_FILES {
                return Err(ArtifactError::TooManyFiles);
            }
            selected.insert(archive_path, (entry.source, is_link));
            Ok(())
        })?;
    }
    if selected.is_empty() {
        return Err(ArtifactError::NoMatchingPaths);
    }
    Ok(Collected {
        files: selected
            .into_iter()
            .map(|(archive_path, (source, is_link))| ArtifactFile {
                source,
                archive_path,
                is_link,
            })
            .collect(),
        left_out: left_out.into_iter().collect(),
    })
}

/// Checks a pattern stays inside its directory and normalises a leading `./`.
fn checked_pattern(pattern: &str) -> Result<&str, ArtifactError> {
    let invalid = |reason: &str| ArtifactError::InvalidPattern {
        pattern: pattern.chars().take(200).collect(),
        reason: reason.to_owned(),
    };
    let trimmed = pattern.trim();
    let mut stripped = trimmed;
    while let Some(rest) = stripped.strip_prefix("./") {
        stripped = rest;
    }
    if stripped.is_empty() {
        return Err(invalid("is empty"));
    }
    if stripped.len() > MAX_PATTERN_LEN {
        return Err(invalid("is too long"));
    }
    if stripped.starts_with('/') {
        return Err(invalid("must be relative"));
    }
    if stripped.split('/').any(|part| part == "..") {
        return Err(invalid("must not contain '..'"));
    }
    if stripped.chars().any(char::is_control) {
        return Err(invalid("must not contain control characters"));
    }
    Ok(stripped)
}

/// `*` stays within one path component, `**` crosses them.
fn glob(pattern: &str) -> Result<Glob, ArtifactError> {
    let checked = checked_pattern(pattern)?;
    GlobBuilder::new(checked)
        .literal_separator(true)
        .build()
        .map_err(|err| ArtifactError::InvalidPattern {
            pattern: pattern.chars().take(200).collect(),
            reason: err.kind().to_string(),
        })
}

fn glob_set(patterns: &[String]) -> Result<GlobSet, ArtifactError> {
    let mut builder = GlobSetBuilder::new();
    for pattern in patterns {
        builder.add(glob(pattern)?);
    }
    builder
        .build()
        .map_err(|err| ArtifactError::InvalidPattern {
            pattern: String::new(),
            reason: err.to_string(),
        })
}

fn is_glob(pattern: &str) -> bool {
    pattern.contains(['*', '?', '[', '{'])
}

/// Whether `base_directory` is the source directory itself: empty, `.`, `./`, `./.` …
fn names_the_source_directory(base_directory: &str) -> bool {
    !base_directory.starts_with('/')
        && base_directory
            .split('/')
            .all(|part| part.is_empty() || part == ".")
}

/// The directories `base_directory` names (relative to the root): one literal path, or every
/// directory matching a glob.
fn base_directories(
    walker: &mut Walker<'_>,
    base_directory: &str,
) -> Result<Vec<PathBuf>, ArtifactError> {
    let not_found =
        || ArtifactError::BaseDirectoryNotFound(base_directory.chars().take(200).collect());
    let pattern = checked_pattern(base_directory)?.trim_end_matches('/');
    let bases = if is_glob(pattern) {
        let matcher: GlobMatcher = glob(pattern)?.compile_matcher();
        let mut bases = Vec::new();
        walker.walk(Path::new(""), &mut |entry| {
            if matches!(entry.kind, Kind::Dir) && matcher.is_match(&entry.relative) {
                bases.push(entry.source);
            }
            Ok(())
        })?;
        bases
    } else if walker.is_dir(Path::new(pattern)) {
        vec![PathBuf::from(pattern)]
    } else {
        Vec::new()
    };
    if bases.is_empty() {
        Err(not_found())
    } else {
        Ok(bases)
    }
}

/// Packages the files: a deflated ZIP written to a temporary file, or the files as they are
/// (read at upload). Every file is opened beneath `root` at the moment it is read, so a file
/// swapped for a link out of the tree after selection is refused by the kernel, never read.
/// Blocking (file I/O); call it from `spawn_blocking` in async code.
pub fn package(
    root: &Dir,
    files: &[ArtifactFile],
    packaging: Packaging,
) -> Result<Package, ArtifactError> {
    match packaging {
        Packaging::None => Ok(Package::Files {
            root: Arc::new(root.try_clone().map_err(io_error(Path::new(".")))?),
            files: files.to_vec(),
        }),
        Packaging::Zip => write_zip(root, files).map(Package::Zip),
    }
}

/// Opens an artifact file beneath the root for reading, as late as possible.
pub(crate) fn open_artifact_file(root: &Dir, file: &ArtifactFile) -> Result<File, ArtifactError> {
    confined::open_regular(root, &file.source, Follow::Beneath).map_err(|err| {
        ArtifactError::Unreadable {
            path: file.source.clone(),
            reason: confined::describe(&err),
        }
    })
}

fn write_zip(root: &Dir, files: &[ArtifactFile]) -> Result<ZipPackage, ArtifactError> {
    let temp = tempfile::Builder::new()
        .prefix("kiln-artifact-")
        .suffix(".zip")
        .tempfile()
        .map_err(io_error(&std::env::temp_dir()))?;
    let handle = temp.reopen().map_err(io_error(temp.path()))?;
    let mut zip = zip::ZipWriter::new(handle);
    for file in files {
        if file.is_link {
            let target =
                root.read_link_contents(&file.source)
                    .map_err(|err| ArtifactError::Unreadable {
                        path: file.source.clone(),
                        reason: confined::describe(&err),
                    })?;
            let target = target
                .to_str()
                .ok_or_else(|| ArtifactError::NonUtf8Path(target.clone()))?;
            zip.add_symlink(
                file.archive_path.as_str(),
                target,
                zip::write::SimpleFileOptions::default(),
            )?;
            continue;
        }
        let mut source = open_artifact_file(root, file)?;
        let meta = source.metadata().map_err(io_error(&file.source))?;
        let mut options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated)
            .unix_permissions(meta.permissions().mode() & 0o777)
            .large_file(meta.len() >= u64::from(u32::MAX));
        if let Some(modified) = meta.modified().ok().and_then(zip_time) {
            options = options.last_modified_time(modified);
        }
        zip.start_file(file.archive_path.as_str(), options)?;
        std::io::copy(&mut source, &mut zip).map_err(io_error(&file.source))?;
    }
    let mut written = zip.finish()?;
    written.flush().map_err(io_error(temp.path()))?;
    let (size, sha256, md5) = digests(temp.path())?;
    Ok(ZipPackage {
        file: temp,
        size,
        sha256,
        md5,
    })
}

fn zip_time(time: std::time::SystemTime) -> Option<zip::DateTime> {
    let t = ::time::OffsetDateTime::from(time);
    zip::DateTime::from_date_and_time(
        u16::try_from(t.year()).ok()?,
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
    )
    .ok()
}

/// Size, SHA-256 and MD5 of a file, read in chunks.
fn digests(path: &Path) -> Result<(u64, String, String), ArtifactError> {
    let mut reader = BufReader::new(File::open(path).map_err(io_error(path))?);
    let mut sha256 = Sha256::new();
    let mut md5 = Md5::new();
    let mut size = 0u64;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = reader.read(&mut buf).map_err(io_error(path))?;
        if n == 0 {
            break;
        }
        sha256.update(&buf[..n]);
        md5.update(&buf[..n]);
        size += n as u64;
    }
    Ok((
        size,
        hex::encode(sha256.finalize()),
        hex::encode(md5.finalize()),
    ))
}

/// The object key (ZIP) or key prefix (NONE) of an artifact, as CodeBuild lays it out:
/// `[<s3-prefix>/][<path>/][<build uuid>/]<name>`, where the buildspec `s3-prefix` applies only
/// with the `BUILD_ID` namespace and a name of `/` means "no name segment".
pub fn artifact_key(
    target: &ArtifactTarget,
    build_uuid: &str,
    buildspec_name: Option<&str>,
    buildspec_s3_prefix: Option<&str>,
) -> Result<String, ArtifactError> {
    validate_bucket(&target.bucket)?;
    let name = match buildspec_name.map(str::trim) {
        Some(name) if target.override_artifact_name && !name.is_empty() => name,
        _ => target.name.trim(),
    };
    let mut parts = Vec::new();
    if target.namespace_build_id
        && let Some(prefix) = buildspec_s3_prefix
    {
        parts.push(key_part("s3-prefix", prefix)?);
    }
    if let Some(path) = &target.path {
        parts.push(key_part("path", path)?);
    }
    if target.namespace_build_id {
        parts.push(key_part("build id", build_uuid)?);
    }
    if name != "/" {
        parts.push(key_part("name", name)?);
    }
    let key = parts
        .into_iter()
        .filter(|part| !part.is_empty())
        .collect::<Vec<_>>()
        .join("/");
    check_key_len(&key)?;
    if key.is_empty() && target.packaging_zip {
        return Err(ArtifactError::InvalidTarget(
            "a ZIP artifact needs a name or a path".to_owned(),
        ));
    }
    Ok(key)
}

/// An S3 key is at most 1024 bytes.
pub(crate) fn check_key_len(key: &str) -> Result<(), ArtifactError> {
    if key.len() > MAX_KEY_LEN {
        return Err(ArtifactError::InvalidTarget(
            "the key is longer than 1024 bytes".to_owned(),
        ));
    }
    Ok(())
}

/// One part of a key: relative, `/`-separated, no empty, `.` or `..` segment.
pub(crate) fn key_part<'a>(what: &str, value: &'a str) -> Result<&'a str, ArtifactError> {
    let invalid = |reason: &str| ArtifactError::InvalidTarget(format!("{what} {reason}"));
    if value.starts_with('/') {
        return Err(invalid("must not start with '/'"));
    }
    let value = value.trim_end_matches('/');
    if value.chars().any(char::is_control) {
        return Err(invalid("must not contain control characters"));
    }
    if !value.is_empty()
        && value
            .split('/')
            .any(|segment| segment.is_empty() || segment == "." || segment == "..")
    {
        return Err(invalid("must not contain empty, '.' or '..' segments"));
    }
    Ok(value)
}

/// S3 bucket naming rules; they also keep a bucket a single safe directory name.
pub fn validate_bucket(bucket: &str) -> Result<(), ArtifactError> {
    let valid = (3..=63).contains(&bucket.len())
        && bucket
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
        && bucket.starts_with(|c: char| c.is_ascii_alphanumeric())
        && bucket.ends_with(|c: char| c.is_ascii_alphanumeric())
        && !bucket.contains("..");
    if valid {
        Ok(())
    } else {
        Err(ArtifactError::InvalidTarget(format!(
            "{:?} is not a valid bucket name",
            bucket.chars().take(100).collect::<String>()
        )))
    }
}

#[cfg(test)]
mod confinement_tests;
#[cfg(test)]
mod glob_proptests;
#[cfg(test)]
mod relay_tests;
#[cfg(test)]
mod tests;

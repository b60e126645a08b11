//! Project caches (docs/cache.md): where a project's custom cache lives (a directory of the
//! host that runs the build, or the artifact store at the project's `cache.location`), how its
//! entries are named, and the shell commands that pack and unpack them inside the build's own
//! environment.
//!
//! Every location includes the account, the project and the project's cache generation
//! (`Store::project_cache_generation`), so no project restores another's cache and an
//! InvalidateProjectCache makes every host miss. Archives are packed and unpacked by `tar`
//! running as the build itself (its user, or inside its container): an entry can land only where
//! the build's own commands could write.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use kiln_domain::project::ProjectCache;
use object_store::ObjectStore;
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjectPath;

use crate::artifacts::ArtifactStore;

/// The default of `max_cache_archive_bytes`: the largest archive saved or restored.
pub const DEFAULT_MAX_CACHE_ARCHIVE_BYTES: u64 = 2 * 1024 * 1024 * 1024;

/// The cache mode of the buildspec's `cache.paths` under a LOCAL cache.
pub const LOCAL_CUSTOM_CACHE: &str = "LOCAL_CUSTOM_CACHE";
/// The cache mode that keeps a mirror of the source repository on the host.
pub const LOCAL_SOURCE_CACHE: &str = "LOCAL_SOURCE_CACHE";
/// The cache mode that keeps `/var/lib/docker` of privileged containers in a volume.
pub const LOCAL_DOCKER_LAYER_CACHE: &str = "LOCAL_DOCKER_LAYER_CACHE";

/// What a build needs to know of caches beyond its settings.
#[derive(Debug, Clone)]
pub struct CacheSettings {
    /// Where LOCAL caches live on the host that runs the build (`<data dir>/cache`, or the
    /// agent's `<work dir>/cache`). Kiln's own: no build writes there.
    pub local_root: PathBuf,
    /// The project's cache generation when the build was claimed; `None` when it could not be
    /// read (the build then uses no cache: it could be one an invalidation ended).
    pub generation: Option<i64>,
    /// The largest archive saved or restored (`max_cache_archive_bytes`).
    pub max_archive_bytes: u64,
}

impl CacheSettings {
    pub fn new(local_root: PathBuf, generation: Option<i64>, max_archive_bytes: u64) -> Self {
        Self {
            local_root,
            generation,
            max_archive_bytes,
        }
    }
}

/// Who a cache belongs to.
#[derive(Debug, Clone, Copy)]
pub struct CacheOwner<'a> {
    pub account_id: &'a str,
    pub project_name: &'a str,
    pub generation: i64,
}

impl CacheOwner<'_> {
    /// `<account>/<project>/g<generation>`: account ids are digits, project names
    /// `[A-Za-z0-9][A-Za-z0-9_-]*`, so each is one path segment.
    fn scope(&self) -> String {
        format!(
            "{}/{}/g{}",
            self.account_id, self.project_name, self.generation
        )
    }
}

/// The kinds a project's `cache` can be, as the runner acts on them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CacheKind {
    None,
    Local { modes: Vec<String> },
    S3 { bucket: String, prefix: String },
}

impl CacheKind {
    pub fn of(cache: Option<&ProjectCache>) -> Self {
        let Some(cache) = cache else {
            return Self::None;
        };
        match cache.cache_type.as_deref() {
            Some("LOCAL") => Self::Local {
                modes: cache.modes.clone().unwrap_or_default(),
            },
            Some("S3") => {
                let location = cache.location.as_deref().unwrap_or_default();
                let location = location.strip_prefix("arn:aws:s3:::").unwrap_or(location);
                let (bucket, prefix) = location.split_once('/').unwrap_or((location, ""));
                Self::S3 {
                    bucket: bucket.to_owned(),
                    prefix: prefix.trim_matches('/').to_owned(),
                }
            }
            _ => Self::None,
        }
    }

    pub fn has_mode(&self, mode: &str) -> bool {
        matches!(self, Self::Local { modes } if modes.iter().any(|m| m == mode))
    }

    /// Whether the buildspec's `cache.paths` are cached.
    pub fn caches_paths(&self) -> bool {
        matches!(self, Self::S3 { .. }) || self.has_mode(LOCAL_CUSTOM_CACHE)
    }
}

/// Where a project's custom cache entries are kept.
pub struct CacheLocation {
    pub store: Arc<dyn ObjectStore>,
    /// The entries of this owner and generation are under it.
    pub prefix: ObjectPath,
    /// Older generations of the owner, on a LOCAL cache: removed when seen.
    pub stale_local: Option<(PathBuf, i64)>,
    /// For the log: `local cache` or `s3://bucket/prefix`.
    pub described: String,
    /// Whether archives are gzipped: S3 ones, which cross the network; not LOCAL ones, where
    /// gzip (about 23 MB/s on one core) would cost far more than the disk it saves.
    pub compressed: bool,
}

/// The location of `kind`'s custom cache for `owner`, or why there is none.
pub fn locate(
    kind: &CacheKind,
    owner: CacheOwner<'_>,
    settings: &CacheSettings,
    artifacts: &ArtifactStore,
) -> Result<CacheLocation, String> {
    match kind {
        CacheKind::None => Err("the project has no cache".to_owned()),
        CacheKind::Local { .. } => {
            let root = settings.local_root.join("custom");
            std::fs::create_dir_all(&root)
                .map_err(|err| format!("cannot create {}: {err}", root.display()))?;
            let store = LocalFileSystem::new_with_prefix(&root).map_err(|err| err.to_string())?;
            let project_dir = root.join(owner.account_id).join(owner.project_name);
            Ok(CacheLocation {
                store: Arc::new(store),
                prefix: parse(&owner.scope())?,
                stale_local: Some((project_dir, owner.generation)),
                described: "local cache".to_owned(),
                compressed: false,
            })
        }
        CacheKind::S3 { bucket, prefix } => {
            let store = artifacts.bucket(bucket).map_err(|err| err.to_string())?;
            let path = format!(
                "{}/g{}",
                project_prefix(prefix, owner.account_id, owner.project_name),
                owner.generation
            );
            Ok(CacheLocation {
                store,
                described: format!("s3://{bucket}/{path}"),
                prefix: parse(&path)?,
                stale_local: None,
                compressed: true,
            })
        }
    }
}

/// Deletes the objects of `account_id`'s project `project_name` from generations before
/// `current` in the S3 cache `kind` (after an InvalidateProjectCache); how many were deleted.
/// A LOCAL cache's older generations are removed by the next build of the project on each
/// host instead.
pub async fn delete_older_generations(
    artifacts: &ArtifactStore,
    kind: &CacheKind,
    account_id: &str,
    project_name: &str,
    current: i64,
) -> Result<usize, String> {
    use futures::StreamExt;
    use object_store::ObjectStoreExt;
    let CacheKind::S3 { bucket, prefix } = kind else {
        return Ok(0);
    };
    let store = artifacts.bucket(bucket).map_err(|err| err.to_string())?;
    let project = parse(&project_prefix(prefix, account_id, project_name))?;
    let mut listing = store.list(Some(&project));
    let mut deleted = 0;
    while let Some(meta) = listing.next().await {
        let meta = meta.map_err(|err| err.to_string())?;
        let older = meta
            .location
            .prefix_match(&project)
            .and_then(|mut parts| parts.next())
            .and_then(|part| part.as_ref().strip_prefix('g')?.parse::<i64>().ok())
            .is_some_and(|generation| generation < current);
        if older {
            store
                .delete(&meta.location)
                .await
                .map_err(|err| err.to_string())?;
            deleted += 1;
        }
    }
    Ok(deleted)
}

/// `[<prefix>/]kiln-cache/<account>/<project>`: every generation of a project's S3 cache.
fn project_prefix(prefix: &str, account_id: &str, project_name: &str) -> String {
    let mut path = String::new();
    if !prefix.is_empty() {
        path.push_str(prefix);
        path.push('/');
    }
    path.push_str(&format!("kiln-cache/{account_id}/{project_name}"));
    path
}

fn parse(path: &str) -> Result<ObjectPath, String> {
    ObjectPath::parse(path).map_err(|err| format!("invalid cache location {path}: {err}"))
}

/// Removes the directories of generations before `current` under a LOCAL cache's project
/// directory (`g<n>`); best effort.
pub fn remove_stale_generations(project_dir: &Path, current: i64) {
    let Ok(entries) = std::fs::read_dir(project_dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let older = name
            .to_str()
            .and_then(|n| n.strip_prefix('g'))
            .and_then(|n| n.parse::<i64>().ok())
            .is_some_and(|n| n < current);
        if older {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// A project's Docker layer cache (LOCAL_DOCKER_LAYER_CACHE): a named volume of the Docker
/// Engine, mounted at `/var/lib/docker` in the project's privileged build containers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerCache {
    /// Names the account and project without saying them (a digest), so names stay short.
    pub owner: String,
    pub generation: i64,
}

impl LayerCache {
    pub fn of(owner: CacheOwner<'_>) -> Self {
        use sha2::Digest;
        let digest = sha2::Sha256::digest(format!("{}/{}", owner.account_id, owner.project_name));
        Self {
            owner: hex::encode(&digest[..16]),
            generation: owner.generation,
        }
    }

    pub fn volume_name(&self) -> String {
        format!("kiln-layers-{}-g{}", self.owner, self.generation)
    }
}

/// The entry a key names: `default` without a key (one cache per project), else `k-` and the
/// key's bytes in hex (hex keeps prefixes: a fallback key's hex is a prefix of the hex of the
/// keys it matches).
pub fn entry_name(key: Option<&str>) -> String {
    match key {
        None => "default".to_owned(),
        Some(key) => format!("k-{}", hex::encode(key)),
    }
}

/// The key an entry name stands for (`None` for `default` or a name Kiln did not make).
pub fn entry_key(entry: &str) -> Option<String> {
    let bytes = hex::decode(entry.strip_prefix("k-")?).ok()?;
    String::from_utf8(bytes).ok()
}

/// What an entry holds: the paths relative to `CODEBUILD_SRC_DIR`, and absolute paths (under
/// Docker), each as one archive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArchiveRoot {
    Source,
    FileSystem,
}

impl ArchiveRoot {
    pub const ALL: [ArchiveRoot; 2] = [ArchiveRoot::Source, ArchiveRoot::FileSystem];

    pub fn object_name(self, compressed: bool) -> &'static str {
        match (self, compressed) {
            (Self::Source, false) => "src.tar",
            (Self::Source, true) => "src.tar.gz",
            (Self::FileSystem, false) => "root.tar",
            (Self::FileSystem, true) => "root.tar.gz",
        }
    }

    /// The directory the archive's members are relative to, as a shell word.
    fn shell_dir(self) -> &'static str {
        match self {
            Self::Source => "\"$CODEBUILD_SRC_DIR\"",
            Self::FileSystem => "/",
        }
    }
}

/// The buildspec's `cache.paths` sorted by where they are archived from; `skipped` says which
/// were left out and why.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct CachePaths {
    /// Shell words (globs left unquoted), relative to `CODEBUILD_SRC_DIR`.
    pub source: Vec<String>,
    /// Shell words relative to `/`.
    pub file_system: Vec<String>,
    pub skipped: Vec<String>,
}

impl CachePaths {
    /// `in_container`: the build runs in a container, where absolute paths are its own.
    pub fn sort(paths: &[String], in_container: bool) -> Self {
        let mut sorted = Self::default();
        for path in paths {
            let trimmed = path.trim();
            if trimmed.is_empty() {
                continue;
            }
            let Some(absolute) = trimmed.strip_prefix('/') else {
                let operand = tar_operand(trimmed);
                if operand.split('/').any(|c| c == "..") {
                    sorted.skipped.push(format!(
                        "Skipping cache path {trimmed}: it climbs out of the source directory"
                    ));
                } else {
                    sorted.source.push(glob_word(&operand));
                }
                continue;
            };
            if !in_container {
                sorted.skipped.push(format!(
                    "Skipping cache path {trimmed}: absolute paths are cached only in a container (the Docker executor); the local executor never reads or writes the host's own directories"
                ));
                continue;
            }
            let operand = tar_operand(absolute.trim_start_matches('/'));
            if operand == "." || operand.split('/').any(|c| c == "..") {
                sorted.skipped.push(format!(
                    "Skipping cache path {trimmed}: it names the whole file system"
                ));
                continue;
            }
            sorted.file_system.push(glob_word(&operand));
        }
        sorted
    }

    pub fn of(&self, root: ArchiveRoot) -> &[String] {
        match root {
            ArchiveRoot::Source => &self.source,
            ArchiveRoot::FileSystem => &self.file_system,
        }
    }
}

/// What `tar` is given for a cache path: a directory for `dir/**/*` or `dir/**` (its whole
/// tree), `.` for `**/*`, the path itself otherwise (a shell glob, where `**` matches as `*`).
fn tar_operand(path: &str) -> String {
    let mut path = path;
    for suffix in ["/**/*", "/**"] {
        if let Some(stripped) = path.strip_suffix(suffix) {
            path = stripped;
            break;
        }
    }
    match path {
        "**/*" | "**" | "" | "." | "./" => ".".to_owned(),
        other => other.trim_end_matches('/').to_owned(),
    }
}

/// `path` as one shell word, `./`-prefixed (never an option), with every character quoted but
/// the glob characters `*`, `?`, `[` and `]`.
fn glob_word(path: &str) -> String {
    let mut word = String::from("./");
    let mut literal = String::new();
    let flush = |word: &mut String, literal: &mut String| {
        if !literal.is_empty() {
            word.push_str(&shell_quote(literal));
            literal.clear();
        }
    };
    for c in path.trim_start_matches("./").chars() {
        if matches!(c, '*' | '?' | '[' | ']') {
            flush(&mut word, &mut literal);
            word.push(c);
        } else {
            literal.push(c);
        }
    }
    flush(&mut word, &mut literal);
    word
}

/// `text` as one single-quoted shell word.
pub fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', "'\\''"))
}

/// The command that packs `words` (matched from `root`'s directory) into `archive` (gzipped
/// when `compressed`), in a subshell so the build's session keeps its directory and variables.
/// Nothing matching, it writes no archive and succeeds.
pub fn save_command(
    root: ArchiveRoot,
    words: &[String],
    archive: &Path,
    compressed: bool,
) -> String {
    let archive = shell_quote(&archive.to_string_lossy());
    format!(
        "( cd {dir} || exit 1; set --; for p in {words}; do if [ -e \"$p\" ] || [ -L \"$p\" ]; then set -- \"$@\" \"$p\"; fi; done; rm -f {archive}; if [ $# -gt 0 ]; then tar -c{z}f {archive} \"$@\"; fi )",
        dir = root.shell_dir(),
        words = words.join(" "),
        z = if compressed { "z" } else { "" },
    )
}

/// The command that unpacks `archive` (gzipped when `compressed`) into `root`'s directory,
/// without restoring owners.
pub fn restore_command(root: ArchiveRoot, archive: &Path, compressed: bool) -> String {
    format!(
        "( mkdir -p {dir} && tar -x{z}o -f {archive} -C {dir} )",
        dir = root.shell_dir(),
        archive = shell_quote(&archive.to_string_lossy()),
        z = if compressed { "z" } else { "" },
    )
}

/// `bytes` for the log: `12.3 MiB`.
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_names_keep_prefixes_and_round_trip() {
        assert_eq!(entry_name(None), "default");
        let key = entry_name(Some("npm-abc"));
        assert!(key.starts_with(&entry_name(Some("npm-"))));
        assert_eq!(entry_key(&key).as_deref(), Some("npm-abc"));
        assert_eq!(entry_key("default"), None);
        assert_eq!(entry_key("k-zz"), None);
    }

    #[test]
    fn paths_become_tar_operands() {
        let paths: Vec<String> = [
            "node_modules/**/*",
            "**/*",
            "build/*.o",
            "/root/.m2/**/*",
            "it's here/**",
            "/",
            "/../etc",
            "../elsewhere/**/*",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        let sorted = CachePaths::sort(&paths, true);
        assert_eq!(
            sorted.source,
            [
                "./'node_modules'",
                "./'.'",
                "./'build/'*'.o'",
                "./'it'\\''s here'"
            ]
        );
        assert_eq!(sorted.file_system, ["./'root/.m2'"]);
        assert_eq!(sorted.skipped.len(), 3, "{sorted:?}");
        let local = CachePaths::sort(&paths, false);
        assert!(local.file_system.is_empty());
        assert!(local.skipped[0].contains("/root/.m2/**/*"), "{local:?}");
    }

    #[test]
    fn s3_locations_split_bucket_and_prefix() {
        let cache = ProjectCache {
            cache_type: Some("S3".to_owned()),
            location: Some("bucket/some/prefix/".to_owned()),
            ..ProjectCache::default()
        };
        assert_eq!(
            CacheKind::of(Some(&cache)),
            CacheKind::S3 {
                bucket: "bucket".to_owned(),
                prefix: "some/prefix".to_owned()
            }
        );
        assert_eq!(
            project_prefix("some/prefix", "1", "p"),
            "some/prefix/kiln-cache/1/p"
        );
        assert_eq!(project_prefix("", "1", "p"), "kiln-cache/1/p");
    }

    #[test]
    fn sizes_read_well() {
        assert_eq!(human_size(10), "10 B");
        assert_eq!(human_size(200 * 1024 * 1024), "200.0 MiB");
    }
}

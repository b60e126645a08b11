//! The project's custom cache (docs/cache.md): the buildspec's `cache.paths` restored at the
//! end of DOWNLOAD_SOURCE and saved in UPLOAD_ARTIFACTS. A cache that cannot be restored or
//! saved is a warning in the log, never a failed build (as on CodeBuild).

use std::path::PathBuf;

use futures::StreamExt;
use kiln_buildspec::{CacheAction, CacheSpec};
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt};
use tokio::io::AsyncWriteExt;

use super::Run;
use super::interrupt::{Interrupt, output_not_open};
use crate::cache::{
    self, ArchiveRoot, CacheKind, CacheLocation, CacheOwner, CachePaths, LOCAL_CUSTOM_CACHE,
    LOCAL_DOCKER_LAYER_CACHE, LayerCache,
};
use crate::confined::{self, Follow};
use crate::executor::Environment;
use crate::shell::CommandOutcome;

/// The archive being restored or saved, inside the work directory (outside the source).
const CACHE_ARCHIVE: &str = "cache-archive.tar";

/// Where Kiln's helper commands for the build's shell are, inside the work directory.
pub(super) const HELPERS_DIR: &str = "helpers";

/// CodeBuild's `codebuild-hash-files PATTERN…`: one SHA-256 of the matching files' contents,
/// in the order the shell lists them (for cache keys: `npm-$(codebuild-hash-files
/// package-lock.json)`).
const HASH_FILES_SCRIPT: &str = "#!/bin/sh\nfor f in \"$@\"; do if [ -f \"$f\" ]; then cat \"$f\"; fi; done | sha256sum | cut -c1-64\n";

/// Writes the helper commands into `work_dir` (at PROVISIONING, before the build has run
/// anything; they become the build's with its work directory).
pub(super) fn install_helpers(work_dir: &std::path::Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let dir = work_dir.join(HELPERS_DIR);
    std::fs::create_dir_all(&dir)?;
    let script = dir.join("codebuild-hash-files");
    std::fs::write(&script, HASH_FILES_SCRIPT)?;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755))?;
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755))
}

/// Why a cache step stopped: logged as a warning.
type CacheError = String;

/// The entry found for a restore, and how it matched.
struct FoundEntry {
    name: String,
    matched: String,
}

impl Run<'_> {
    fn in_container(&self) -> bool {
        self.environment
            .as_ref()
            .is_some_and(Environment::is_container)
    }

    /// The buildspec's `cache` when the project caches its paths; with `explain`, logs why
    /// not otherwise.
    fn custom_cache(&self, explain: bool) -> Option<(CacheKind, CacheSpec)> {
        let kind = CacheKind::of(self.record.settings.cache.as_ref());
        let spec = self.buildspec.as_ref().and_then(|b| b.cache.clone());
        match (&kind, spec) {
            (CacheKind::None, Some(_)) => {
                if explain {
                    self.log.line(
                        "The buildspec's cache is not used: the project's cache type is NO_CACHE",
                    );
                }
                None
            }
            (CacheKind::Local { .. }, Some(_)) if !kind.caches_paths() => {
                if explain {
                    self.log.line(&format!(
                        "The buildspec's cache paths are not cached: the project's LOCAL cache does not have the mode {LOCAL_CUSTOM_CACHE}"
                    ));
                }
                None
            }
            (_, Some(spec)) => Some((kind, spec)),
            (kind, None) => {
                if explain && kind.caches_paths() {
                    self.log.line(
                        "The project caches the buildspec's cache paths, but the buildspec has no cache section: nothing is cached",
                    );
                }
                None
            }
        }
    }

    /// The project's Docker layer cache, when it has the mode and the build is privileged
    /// (only a privileged container can run a Docker daemon of its own).
    pub(super) fn layer_cache(&self) -> Option<LayerCache> {
        let kind = CacheKind::of(self.record.settings.cache.as_ref());
        if !kind.has_mode(LOCAL_DOCKER_LAYER_CACHE)
            || self.record.settings.environment.privileged_mode != Some(true)
        {
            return None;
        }
        Some(LayerCache::of(CacheOwner {
            account_id: &self.record.account_id,
            project_name: &self.record.project_name,
            generation: self.cache.generation?,
        }))
    }

    /// The project's source cache directory on this host (LOCAL_SOURCE_CACHE), its older
    /// generations removed; `None` without the mode.
    pub(super) async fn source_cache_dir(&self) -> Option<std::path::PathBuf> {
        let kind = CacheKind::of(self.record.settings.cache.as_ref());
        if !kind.has_mode(cache::LOCAL_SOURCE_CACHE) {
            return None;
        }
        let generation = self.cache.generation?;
        let project_dir = self
            .cache
            .local_root
            .join("source")
            .join(&self.record.account_id)
            .join(&self.record.project_name);
        let stale = project_dir.clone();
        let _ = tokio::task::spawn_blocking(move || {
            cache::remove_stale_generations(&stale, generation)
        })
        .await;
        Some(project_dir.join(format!("g{generation}")))
    }

    /// Says in the log when a LOCAL cache mode the project has does nothing for this build,
    /// and why (once the environment is provisioned).
    pub(super) fn explain_local_caches(&self) {
        let kind = CacheKind::of(self.record.settings.cache.as_ref());
        if kind.has_mode(cache::LOCAL_SOURCE_CACHE) && self.cache.generation.is_none() {
            self.log.line(&format!(
                "Warning: cache mode {} has no effect: the project's cache generation could not be read from the store",
                cache::LOCAL_SOURCE_CACHE
            ));
        }
        if kind.has_mode(LOCAL_DOCKER_LAYER_CACHE) {
            let why = if !self.in_container() {
                Some("the build runs on the local executor, not in a container of its own")
            } else if self.record.settings.environment.privileged_mode != Some(true) {
                Some(
                    "the build is not privileged (privilegedMode), so it cannot run a Docker daemon",
                )
            } else if self.cache.generation.is_none() {
                Some("the project's cache generation could not be read from the store")
            } else {
                None
            };
            if let Some(why) = why {
                self.log.line(&format!(
                    "Warning: cache mode {LOCAL_DOCKER_LAYER_CACHE} has no effect: {why}"
                ));
            }
        }
    }

    fn cache_location(&self, kind: &CacheKind) -> Result<CacheLocation, CacheError> {
        let generation = self
            .cache
            .generation
            .ok_or("the project's cache generation could not be read from the store")?;
        let owner = CacheOwner {
            account_id: &self.record.account_id,
            project_name: &self.record.project_name,
            generation,
        };
        cache::locate(kind, owner, &self.cache, &self.artifact_store)
    }

    /// The entry name of the buildspec's `key`, expanded by the build's shell (as on
    /// CodeBuild: `npm-$(sha256sum package-lock.json)`); `default` without a key.
    async fn cache_key(&mut self, spec: &CacheSpec) -> Result<Option<String>, Interrupt> {
        match spec.key.clone() {
            Some(key) => Ok(Some(self.expand_in_shell(key, "cache key").await?)),
            None => Ok(None),
        }
    }

    /// At the end of DOWNLOAD_SOURCE, before INSTALL.
    pub(super) async fn restore_cache(&mut self) -> Result<(), Interrupt> {
        let Some((kind, spec)) = self.custom_cache(true) else {
            return Ok(());
        };
        if spec.action == Some(CacheAction::Save) {
            self.log
                .line("Not restoring the cache: the buildspec's cache action is save");
            return Ok(());
        }
        for skipped in CachePaths::sort(&spec.paths, self.in_container()).skipped {
            self.log.line(&skipped);
        }
        let key = self.cache_key(&spec).await?;
        let cancel = self.cancel.clone();
        let outcome = tokio::select! {
            outcome = self.restore_entry(&kind, key.as_deref(), &spec.fallback_keys) => Some(outcome),
            () = cancel.cancelled() => None,
        };
        let Some(outcome) = outcome else {
            return Err(self.interruption());
        };
        match outcome {
            Ok(()) => Ok(()),
            Err(CacheFailure::Interrupted) => Err(self.interruption()),
            Err(CacheFailure::Warning(warning)) => {
                self.remove_cache_archive().await;
                self.log
                    .line(&format!("Warning: cannot restore the cache: {warning}"));
                Ok(())
            }
        }
    }

    async fn restore_entry(
        &mut self,
        kind: &CacheKind,
        key: Option<&str>,
        fallback_keys: &[String],
    ) -> Result<(), CacheFailure> {
        let location = self.cache_location(kind)?;
        if let Some((project_dir, current)) = location.stale_local.clone() {
            // Generations an InvalidateProjectCache left behind on this host.
            let _ = tokio::task::spawn_blocking(move || {
                cache::remove_stale_generations(&project_dir, current)
            })
            .await;
        }
        let looked_for = key.map_or("the project's cache (no key)".to_owned(), |k| {
            format!("key {k}")
        });
        self.log.line(&format!(
            "Restoring cache from {}: {looked_for}",
            location.described
        ));
        let Some(found) = find_entry(&location, key, fallback_keys).await? else {
            self.log
                .line(&format!("Cache miss: nothing cached for {looked_for}"));
            return Ok(());
        };
        let mut restored = 0;
        for root in ArchiveRoot::ALL {
            if root == ArchiveRoot::FileSystem && !self.in_container() {
                continue;
            }
            let object = archive_object(&location, &found.name, root);
            let Some(size) = self.download_archive(&location, &object).await? else {
                continue;
            };
            let archive = self.work_dir.join(CACHE_ARCHIVE);
            if !self
                .run_cache_command(&cache::restore_command(root, &archive, location.compressed))
                .await?
            {
                return Err(CacheFailure::Warning(
                    "tar could not unpack the archive (see above)".to_owned(),
                ));
            }
            self.remove_cache_archive().await;
            restored += size;
        }
        self.log.line(&format!(
            "Cache restored ({}): {} ({})",
            found.matched,
            location.described,
            cache::human_size(restored)
        ));
        Ok(())
    }

    /// Writes `object` to the work directory's [`CACHE_ARCHIVE`], for the build's user to
    /// read; `None` when the entry has no such archive.
    async fn download_archive(
        &self,
        location: &CacheLocation,
        object: &ObjectPath,
    ) -> Result<Option<u64>, CacheFailure> {
        let got = match location.store.get(object).await {
            Ok(got) => got,
            Err(object_store::Error::NotFound { .. }) => return Ok(None),
            Err(err) => return Err(CacheFailure::Warning(err.to_string())),
        };
        let limit = self.cache.max_archive_bytes;
        if got.meta.size > limit {
            return Err(CacheFailure::Warning(format!(
                "the archive is {} bytes, over max_cache_archive_bytes ({limit})",
                got.meta.size
            )));
        }
        let owner = self
            .environment
            .as_ref()
            .and_then(Environment::build_user)
            .map(|user| (user.uid(), user.gid()));
        let work_dir = self.work_dir.clone();
        // No command of the build has run yet; still, the file is created exclusively and
        // beneath the work directory, never through a link.
        let file = tokio::task::spawn_blocking(move || -> std::io::Result<std::fs::File> {
            let dir = confined::open_ambient_dir(&work_dir)?;
            confined::remove_file(&dir, CACHE_ARCHIVE)?;
            let file = confined::create_new_file(&dir, CACHE_ARCHIVE)?;
            if let Some((uid, gid)) = owner {
                std::os::unix::fs::fchown(&file, Some(uid), Some(gid))?;
            }
            Ok(file)
        })
        .await
        .map_err(|err| CacheFailure::Warning(err.to_string()))?
        .map_err(|err| CacheFailure::Warning(format!("cannot write the archive: {err}")))?;
        let mut file = tokio::fs::File::from_std(file);
        let mut stream = got.into_stream();
        let mut written: u64 = 0;
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|err| CacheFailure::Warning(err.to_string()))?;
            written += chunk.len() as u64;
            if written > limit {
                return Err(CacheFailure::Warning(format!(
                    "the archive is over max_cache_archive_bytes ({limit})"
                )));
            }
            file.write_all(&chunk)
                .await
                .map_err(|err| CacheFailure::Warning(format!("cannot write the archive: {err}")))?;
        }
        file.flush()
            .await
            .map_err(|err| CacheFailure::Warning(format!("cannot write the archive: {err}")))?;
        Ok(Some(written))
    }

    /// In UPLOAD_ARTIFACTS, after the artifacts.
    pub(super) async fn save_cache(&mut self) -> Result<(), Interrupt> {
        let Some((kind, spec)) = self.custom_cache(false) else {
            return Ok(());
        };
        if spec.action == Some(CacheAction::Restore) {
            self.log
                .line("Not saving the cache: the buildspec's cache action is restore");
            return Ok(());
        }
        let key = self.cache_key(&spec).await?;
        let paths = CachePaths::sort(&spec.paths, self.in_container());
        let cancel = self.cancel.clone();
        let outcome = tokio::select! {
            outcome = self.save_entry(&kind, key.as_deref(), &paths) => Some(outcome),
            () = cancel.cancelled() => None,
        };
        let Some(outcome) = outcome else {
            return Err(self.interruption());
        };
        self.remove_cache_archive().await;
        match outcome {
            Ok(()) => Ok(()),
            Err(CacheFailure::Interrupted) => Err(self.interruption()),
            Err(CacheFailure::Warning(warning)) => {
                self.log
                    .line(&format!("Warning: cannot save the cache: {warning}"));
                Ok(())
            }
        }
    }

    async fn save_entry(
        &mut self,
        kind: &CacheKind,
        key: Option<&str>,
        paths: &CachePaths,
    ) -> Result<(), CacheFailure> {
        let location = self.cache_location(kind)?;
        let entry = cache::entry_name(key);
        let archive = self.work_dir.join(CACHE_ARCHIVE);
        let mut saved = 0;
        let mut any = false;
        for root in ArchiveRoot::ALL {
            let object = archive_object(&location, &entry, root);
            let words = paths.of(root);
            let uploaded = if words.is_empty() {
                None
            } else {
                if !self
                    .run_cache_command(&cache::save_command(
                        root,
                        words,
                        &archive,
                        location.compressed,
                    ))
                    .await?
                {
                    return Err(CacheFailure::Warning(
                        "tar could not pack the cache paths (see above)".to_owned(),
                    ));
                }
                let uploaded = self.upload_archive(&location, &object).await?;
                self.remove_cache_archive().await;
                uploaded
            };
            match uploaded {
                Some(size) => {
                    saved += size;
                    any = true;
                }
                // Nothing to keep from this root: an older archive of it must not come back.
                None => match location.store.delete(&object).await {
                    Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                    Err(err) => return Err(CacheFailure::Warning(err.to_string())),
                },
            }
        }
        let named = key.map_or("the project's cache (no key)".to_owned(), |k| {
            format!("key {k}")
        });
        if any {
            self.log.line(&format!(
                "Cache saved: {named} to {} ({})",
                location.described,
                cache::human_size(saved)
            ));
        } else {
            self.log.line(&format!(
                "Cache not saved: the cache paths matched nothing ({named})"
            ));
        }
        Ok(())
    }

    /// Uploads the work directory's [`CACHE_ARCHIVE`] (which the build's own `tar` wrote, so
    /// it is read beneath the work directory and never through a link) to `object`; `None`
    /// when there is none.
    async fn upload_archive(
        &self,
        location: &CacheLocation,
        object: &ObjectPath,
    ) -> Result<Option<u64>, CacheFailure> {
        let work_dir = self.work_dir.clone();
        let opened = tokio::task::spawn_blocking(move || {
            let dir = confined::open_ambient_dir(&work_dir)?;
            match confined::open_regular(&dir, CACHE_ARCHIVE, Follow::Never) {
                Ok(file) => Ok(Some(file)),
                Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(err) => Err(err),
            }
        })
        .await
        .map_err(|err| CacheFailure::Warning(err.to_string()))?
        .map_err(|err| CacheFailure::Warning(format!("cannot read the archive: {err}")))?;
        let Some(file) = opened else {
            return Ok(None);
        };
        let size = file
            .metadata()
            .map_err(|err| CacheFailure::Warning(err.to_string()))?
            .len();
        let limit = self.cache.max_archive_bytes;
        if size > limit {
            return Err(CacheFailure::Warning(format!(
                "the archive is {size} bytes, over max_cache_archive_bytes ({limit})"
            )));
        }
        // At most `limit` bytes, even if the build's processes still write to the file.
        let file = tokio::io::AsyncReadExt::take(tokio::fs::File::from_std(file), limit);
        crate::artifacts::upload_file(&location.store, object, file, &PathBuf::from(CACHE_ARCHIVE))
            .await
            .map_err(|err| CacheFailure::Warning(err.to_string()))?;
        Ok(Some(size))
    }

    /// Runs a cache command in the build's shell (its user, its container); whether it
    /// succeeded.
    async fn run_cache_command(&mut self, command: &str) -> Result<bool, CacheFailure> {
        let Some(shell) = self.shell.as_mut() else {
            return Err(CacheFailure::Warning(
                "the build's shell is not running".to_owned(),
            ));
        };
        let output = self
            .log
            .output()
            .ok_or_else(output_not_open)
            .map_err(|_| CacheFailure::Interrupted)?;
        match shell.run(command, output, &self.cancel).await {
            Ok(CommandOutcome::Exited(0)) => Ok(true),
            Ok(CommandOutcome::Cancelled) => Err(CacheFailure::Interrupted),
            Ok(_) => Ok(false),
            Err(err) => Err(CacheFailure::Warning(err.to_string())),
        }
    }

    async fn remove_cache_archive(&self) {
        let work_dir = self.work_dir.clone();
        let _ = tokio::task::spawn_blocking(move || {
            confined::remove_file(&confined::open_ambient_dir(&work_dir)?, CACHE_ARCHIVE)
        })
        .await;
    }
}

/// Why a cache step stopped.
enum CacheFailure {
    /// The build was stopped (or timed out) meanwhile.
    Interrupted,
    /// Logged as a warning; the build goes on.
    Warning(CacheError),
}

impl From<CacheError> for CacheFailure {
    fn from(warning: CacheError) -> Self {
        Self::Warning(warning)
    }
}

/// The entry of `key` (its own, else the latest matching the first fallback key that matches
/// any, as prefixes), or the project's one entry without a key.
async fn find_entry(
    location: &CacheLocation,
    key: Option<&str>,
    fallback_keys: &[String],
) -> Result<Option<FoundEntry>, CacheFailure> {
    let exact = cache::entry_name(key);
    if entry_exists(location, &exact).await? {
        let matched = key.map_or("no key".to_owned(), |k| format!("key {k}"));
        return Ok(Some(FoundEntry {
            name: exact,
            matched,
        }));
    }
    // Fallback keys are ignored without a key, as on CodeBuild.
    if key.is_none() || fallback_keys.is_empty() {
        return Ok(None);
    }
    let mut entries: Vec<(String, i64)> = Vec::new();
    let mut listing = location.store.list(Some(&location.prefix));
    while let Some(meta) = listing.next().await {
        let meta = meta.map_err(|err| CacheFailure::Warning(err.to_string()))?;
        let Some(name) = meta
            .location
            .prefix_match(&location.prefix)
            .and_then(|mut parts| parts.next())
            .map(|part| part.as_ref().to_owned())
        else {
            continue;
        };
        let modified = meta.last_modified.timestamp_micros();
        match entries.iter_mut().find(|(n, _)| *n == name) {
            Some((_, latest)) => *latest = (*latest).max(modified),
            None => entries.push((name, modified)),
        }
    }
    for fallback in fallback_keys {
        let best = entries
            .iter()
            .filter(|(name, _)| {
                cache::entry_key(name).is_some_and(|k| k.starts_with(fallback.as_str()))
            })
            .max_by_key(|(_, modified)| *modified);
        if let Some((name, _)) = best {
            let matched = format!(
                "fallback key {fallback} matched key {}",
                cache::entry_key(name).unwrap_or_default()
            );
            return Ok(Some(FoundEntry {
                name: name.clone(),
                matched,
            }));
        }
    }
    Ok(None)
}

async fn entry_exists(location: &CacheLocation, entry: &str) -> Result<bool, CacheFailure> {
    for root in ArchiveRoot::ALL {
        let object = archive_object(location, entry, root);
        match location.store.head(&object).await {
            Ok(_) => return Ok(true),
            Err(object_store::Error::NotFound { .. }) => {}
            Err(err) => return Err(CacheFailure::Warning(err.to_string())),
        }
    }
    Ok(false)
}

/// The object of `entry`'s archive of `root`.
fn archive_object(location: &CacheLocation, entry: &str, root: ArchiveRoot) -> ObjectPath {
    location
        .prefix
        .clone()
        .join(entry)
        .join(root.object_name(location.compressed))
}

//! LOCAL_SOURCE_CACHE (docs/cache.md): a bare mirror of a project's source repository on the
//! host that runs its builds. Each checkout first updates the mirror (a fetch of only what it
//! lacks), borrows its objects (git alternates) so the checkout's own fetch has nothing left to
//! transfer, then copies what it uses into its own repository and stops borrowing, so the
//! build never reads, nor can change, the mirror. Kiln's own directory; the build's user has
//! no access to it.

use std::path::{Path, PathBuf};

use super::{Git, SourceError};

/// The mirror of `location` in a project's source cache directory (one per location, so an
/// overridden location never mixes its refs with the project's).
pub(super) fn mirror_dir(project_generation_dir: &Path, location: &str) -> PathBuf {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(location.as_bytes());
    project_generation_dir.join(format!("{}.git", hex::encode(&digest[..16])))
}

/// Makes or updates the mirror at `mirror` from `location`.
pub(super) async fn update(
    git: &Git<'_>,
    mirror: &Path,
    location: &str,
) -> Result<(), SourceError> {
    if !mirror.join("HEAD").is_file() {
        std::fs::create_dir_all(mirror)?;
        git.run(
            "init mirror",
            mirror,
            &["init", "-q", "--bare", "--template="],
        )
        .await?;
    }
    git.run(
        "fetch into the mirror",
        mirror,
        &[
            "-c",
            "gc.auto=0",
            "-c",
            "maintenance.auto=false",
            "fetch",
            "--quiet",
            "--prune",
            "--no-tags",
            "--",
            location,
            "+refs/heads/*:refs/heads/*",
            "+refs/tags/*:refs/tags/*",
        ],
    )
    .await
    .map(drop)
}

/// Lets the checkout at `dest` use the mirror's objects.
pub(super) fn borrow(dest: &Path, mirror: &Path) -> Result<(), SourceError> {
    let info = dest.join(".git").join("objects").join("info");
    std::fs::create_dir_all(&info)?;
    let objects = std::path::absolute(mirror.join("objects"))?;
    std::fs::write(
        info.join("alternates"),
        format!("{}\n", objects.to_string_lossy()),
    )?;
    Ok(())
}

/// Copies what the checkout uses from the mirror into its own repository and stops borrowing
/// (what `git clone --dissociate` does).
pub(super) async fn dissociate(git: &Git<'_>, dest: &Path) -> Result<(), SourceError> {
    git.run(
        "repack",
        dest,
        &["-c", "gc.auto=0", "repack", "-a", "-d", "-q"],
    )
    .await?;
    std::fs::remove_file(
        dest.join(".git")
            .join("objects")
            .join("info")
            .join("alternates"),
    )?;
    Ok(())
}

//! Finding and parsing the build's buildspec (codebuild.md §3.1): inline YAML from the build
//! settings, or a file inside the source directory (`buildspec.yml` by default).

use std::path::{Component, Path, PathBuf};

use kiln_buildspec::{Buildspec, MAX_BUILDSPEC_BYTES};
use kiln_domain::build::{PhaseContext, context_codes};
use tokio::io::AsyncReadExt;

const DEFAULT_FILE: &str = "buildspec.yml";

/// Where the buildspec comes from.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Location<'a> {
    Inline(&'a str),
    /// A path relative to the source directory.
    File(&'a str),
}

/// Reads a `buildspec` setting as CodeBuild does: YAML if it spans lines or starts with
/// `version:`, else a path; blank means the default file.
pub(super) fn locate(setting: Option<&str>) -> Location<'_> {
    match setting.filter(|s| !s.trim().is_empty()) {
        None => Location::File(DEFAULT_FILE),
        Some(text) if text.contains('\n') || text.trim_start().starts_with("version:") => {
            Location::Inline(text)
        }
        Some(path) => Location::File(path.trim()),
    }
}

fn yaml_error(message: impl Into<String>) -> PhaseContext {
    PhaseContext::new(context_codes::YAML_FILE_ERROR, message)
}

/// Resolves `relative` inside `src_dir`, refusing anything that would leave it (`..`, absolute
/// paths, symlinks pointing outside). `Ok(None)` when the file does not exist.
pub(super) fn resolve_inside(
    src_dir: &Path,
    relative: &str,
) -> Result<Option<PathBuf>, PhaseContext> {
    let escapes = || {
        yaml_error(format!(
            "buildspec path {relative} must stay inside the source directory"
        ))
    };
    if relative.starts_with("arn:") {
        return Err(PhaseContext::new(
            context_codes::CLIENT_ERROR,
            "buildspec files stored in S3 are not supported by Kiln; use a path in the source or inline YAML",
        ));
    }
    let path = Path::new(relative);
    if path
        .components()
        .any(|c| !matches!(c, Component::Normal(_) | Component::CurDir))
    {
        return Err(escapes());
    }
    let candidate = src_dir.join(path);
    let real = match std::fs::canonicalize(&candidate) {
        Ok(real) => real,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(err) => {
            return Err(yaml_error(format!(
                "cannot read buildspec {relative}: {err}"
            )));
        }
    };
    let root = std::fs::canonicalize(src_dir)
        .map_err(|err| yaml_error(format!("cannot read the source directory: {err}")))?;
    if !real.starts_with(&root) {
        return Err(escapes());
    }
    Ok(Some(real))
}

/// Reads at most one byte more than a buildspec may have, so the parser reports the size.
pub(super) async fn read(path: &Path, relative: &str) -> Result<String, PhaseContext> {
    let cannot_read =
        |err: std::io::Error| yaml_error(format!("cannot read buildspec {relative}: {err}"));
    let file = tokio::fs::File::open(path).await.map_err(cannot_read)?;
    if !file.metadata().await.map_err(cannot_read)?.is_file() {
        return Err(yaml_error(format!("buildspec {relative} is not a file")));
    }
    let mut bytes = Vec::new();
    file.take(MAX_BUILDSPEC_BYTES as u64 + 1)
        .read_to_end(&mut bytes)
        .await
        .map_err(cannot_read)?;
    String::from_utf8(bytes).map_err(|_| yaml_error("the buildspec is not valid UTF-8"))
}

pub(super) fn parse(yaml: &str) -> Result<Buildspec, PhaseContext> {
    kiln_buildspec::parse(yaml).map_err(|err| yaml_error(err.context_message()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_are_inline_yaml_or_paths() {
        assert_eq!(locate(None), Location::File("buildspec.yml"));
        assert_eq!(locate(Some("  ")), Location::File("buildspec.yml"));
        assert_eq!(locate(Some("ci/spec.yml")), Location::File("ci/spec.yml"));
        assert_eq!(
            locate(Some("version: 0.2")),
            Location::Inline("version: 0.2")
        );
        let multi = "phases:\n  build:\n    commands: [make]\nversion: 0.2\n";
        assert_eq!(locate(Some(multi)), Location::Inline(multi));
    }

    #[test]
    fn paths_cannot_leave_the_source() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("src");
        std::fs::create_dir(&src).unwrap();
        std::fs::write(dir.path().join("outside.yml"), "version: 0.2").unwrap();
        std::fs::write(src.join("inside.yml"), "version: 0.2").unwrap();
        std::os::unix::fs::symlink(dir.path().join("outside.yml"), src.join("link.yml")).unwrap();

        assert!(resolve_inside(&src, "inside.yml").unwrap().is_some());
        assert!(resolve_inside(&src, "./inside.yml").unwrap().is_some());
        assert_eq!(resolve_inside(&src, "missing.yml").unwrap(), None);
        for bad in [
            "../outside.yml",
            "/etc/passwd",
            "link.yml",
            "a/../../outside.yml",
        ] {
            let err = resolve_inside(&src, bad).unwrap_err();
            assert_eq!(err.status_code, context_codes::YAML_FILE_ERROR, "{bad}");
        }
        let s3 = resolve_inside(&src, "arn:aws:s3:::bucket/buildspec.yml").unwrap_err();
        assert_eq!(s3.status_code, context_codes::CLIENT_ERROR);
    }
}

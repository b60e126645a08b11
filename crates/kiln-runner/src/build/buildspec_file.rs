//! Finding and parsing the build's buildspec (docs/builds.md §2): inline YAML from the build
//! settings, or a file inside the source directory (`buildspec.yml` by default).

use std::path::{Component, Path};

use kiln_buildspec::{Buildspec, MAX_BUILDSPEC_BYTES};
use kiln_domain::build::{PhaseContext, context_codes};

use crate::confined::{self, Follow};

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

/// Reads the buildspec file at `relative` in the source directory of `work_dir`; `Ok(None)`
/// when there is none. The source directory is opened beneath the work directory (never
/// through a link) and the file beneath it, so `..`, absolute paths and links leading out
/// of the source are refused by the kernel. Reads at most one byte more than a buildspec may
/// have, so the parser reports the size. Blocking.
pub(super) fn read(work_dir: &Path, relative: &str) -> Result<Option<String>, PhaseContext> {
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
    if Path::new(relative)
        .components()
        .any(|c| !matches!(c, Component::Normal(_) | Component::CurDir))
    {
        return Err(escapes());
    }
    let root = confined::open_dir_in(work_dir, super::SOURCE_DIR).map_err(|err| {
        yaml_error(format!(
            "cannot read the source directory: {}",
            confined::describe(&err)
        ))
    })?;
    let limit = MAX_BUILDSPEC_BYTES as u64 + 1;
    let bytes = match confined::read_regular(&root, relative, Follow::Beneath, limit) {
        Ok(Some(bytes)) => bytes,
        Ok(None) => return Ok(None),
        Err(err) if confined::is_escape(&err) => return Err(escapes()),
        Err(err) if err.kind() == std::io::ErrorKind::InvalidInput => {
            return Err(yaml_error(format!("buildspec {relative} is not a file")));
        }
        Err(err) => {
            return Err(yaml_error(format!(
                "cannot read buildspec {relative}: {err}"
            )));
        }
    };
    String::from_utf8(bytes)
        .map(Some)
        .map_err(|_| yaml_error("the buildspec is not valid UTF-8"))
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
        std::fs::create_dir(src.join("ci")).unwrap();
        std::fs::write(dir.path().join("outside.yml"), "version: 0.2").unwrap();
        std::fs::write(src.join("inside.yml"), "version: 0.2").unwrap();
        std::os::unix::fs::symlink(dir.path().join("outside.yml"), src.join("link.yml")).unwrap();
        std::os::unix::fs::symlink("../../outside.yml", src.join("ci/up.yml")).unwrap();
        std::os::unix::fs::symlink("../inside.yml", src.join("ci/alias.yml")).unwrap();

        for good in ["inside.yml", "./inside.yml", "ci/alias.yml"] {
            assert_eq!(
                read(dir.path(), good).unwrap().as_deref(),
                Some("version: 0.2"),
                "{good}"
            );
        }
        assert_eq!(read(dir.path(), "missing.yml").unwrap(), None);
        for bad in [
            "../outside.yml",
            "/etc/passwd",
            "link.yml",
            "ci/up.yml",
            "a/../../outside.yml",
        ] {
            let err = read(dir.path(), bad).unwrap_err();
            assert_eq!(err.status_code, context_codes::YAML_FILE_ERROR, "{bad}");
            assert!(err.message.contains("must stay inside"), "{bad}: {err:?}");
        }
        let not_a_file = read(dir.path(), "ci").unwrap_err();
        assert!(
            not_a_file.message.contains("is not a file"),
            "{not_a_file:?}"
        );
        let s3 = read(dir.path(), "arn:aws:s3:::bucket/buildspec.yml").unwrap_err();
        assert_eq!(s3.status_code, context_codes::CLIENT_ERROR);

        // A source directory replaced by a link is not read through.
        std::fs::rename(&src, dir.path().join("src_real")).unwrap();
        std::os::unix::fs::symlink(dir.path().join("src_real"), &src).unwrap();
        let err = read(dir.path(), "inside.yml").unwrap_err();
        assert!(err.message.contains("source directory"), "{err:?}");
    }
}

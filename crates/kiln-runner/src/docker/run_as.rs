//! Buildspec `run-as` in a build container (docs/buildspec.md, "run-as"): commands run as a
//! user of the image, which Docker resolves at each exec (`docker exec --user`). Before the first
//! command as a user, Kiln asks the image who that user is; for a user other than root it then,
//! as root in the container, gives that user what the shell session needs:
//!
//! * the build's files in its work directory (sources, secondary sources…): owned by the user,
//!   so what it makes in `CODEBUILD_SRC_DIR` is its own and it can change what was checked out;
//! * the work directory itself and the shell's state directory: they stay Kiln's, with the
//!   user's group given traversal (0710) and, for the state directory, writing with the sticky
//!   bit (1770), so the user can save the session's state yet never remove or replace the
//!   scripts Kiln writes there (which a later phase may run as root);
//! * the output pipe: writable by the user's group (0620).
//!
//! Nothing is opened to other users: on the host, as always with bind mounts, only the numeric
//! uid and gid of the `run-as` user gain access, and only inside the build's own directory,
//! which Kiln's private data directory keeps out of reach. Root needs nothing, and a switch back
//! to root changes nothing.

use std::path::Path;

use bollard::Docker;

use super::exec::run_captured;

/// Longest user name accepted (`useradd` allows 32 characters).
const MAX_USER_NAME_CHARS: usize = 32;

/// Prints `uid gid` of the user the shell runs as, with `sh` builtins only (an image need not
/// have `id`).
const PROBE_SCRIPT: &str = "while read -r key value rest; do case $key in \
     Uid:) uid=$value ;; Gid:) gid=$value ;; esac; done </proc/self/status; echo \"$uid $gid\"";

/// Run as root: `$1` uid, `$2` gid, `$3` work directory, `$4` state directory, `$5` output
/// pipe. Links are changed themselves (`-h`), never what they point to.
const HAND_OVER_SCRIPT: &str = r#"set -e
uid=$1 gid=$2 work=$3 state=$4 pipe=$5
chgrp "$gid" "$work" "$state" "$pipe"
chmod 0710 "$work"
chmod 1770 "$state"
chmod 0620 "$pipe"
for entry in "$work"/* "$work"/.[!.]* "$work"/..?*; do
  [ -e "$entry" ] || [ -L "$entry" ] || continue
  [ "$entry" = "$state" ] || [ "$entry" = "$pipe" ] || chown -R -h "$uid:$gid" "$entry"
done
"#;

/// Where a build's session lives, as the container sees it (the same paths as on the host).
pub(super) struct BuildPaths<'a> {
    pub(super) work_dir: &'a Path,
    pub(super) state_dir: &'a Path,
    pub(super) output_path: &'a Path,
}

/// Makes the container ready to run the build's commands as `user`; why not, in words, when
/// it cannot (the Engine's own message for a user the image does not have).
pub(super) async fn prepare(
    docker: &Docker,
    container: &str,
    user: &str,
    paths: &BuildPaths<'_>,
) -> Result<(), String> {
    if !is_user_name(user) {
        return Err(format!(
            "{user:?} is not a Linux user name (letters, digits, `.`, `_` and `-`, at most {MAX_USER_NAME_CHARS})"
        ));
    }
    let probe = vec![
        "/bin/sh".to_owned(),
        "-c".to_owned(),
        PROBE_SCRIPT.to_owned(),
    ];
    let (status, output) = run_captured(docker, container, user, probe)
        .await
        .map_err(|err| err.to_string())?;
    let answer = String::from_utf8_lossy(&output);
    if status != 0 {
        return Err(failure(&answer, status));
    }
    let (uid, gid) = parse_ids(&answer).ok_or_else(|| {
        format!(
            "the image gave no uid and gid for it (its shell printed {:?})",
            answer.trim()
        )
    })?;
    if uid == 0 {
        return Ok(());
    }
    let mut hand_over = vec![
        "/bin/sh".to_owned(),
        "-c".to_owned(),
        HAND_OVER_SCRIPT.to_owned(),
        "kiln-run-as".to_owned(),
        uid.to_string(),
        gid.to_string(),
    ];
    hand_over.extend(
        [paths.work_dir, paths.state_dir, paths.output_path]
            .iter()
            .map(|path| path.to_string_lossy().into_owned()),
    );
    let (status, output) = run_captured(docker, container, "0", hand_over)
        .await
        .map_err(|err| err.to_string())?;
    if status != 0 {
        return Err(format!(
            "cannot give the build's directory to uid {uid}, gid {gid}: {}",
            failure(&String::from_utf8_lossy(&output), status)
        ));
    }
    Ok(())
}

/// A helper exec's failure: what it printed, or its status if nothing.
fn failure(output: &str, status: i64) -> String {
    let output = output.trim();
    if output.is_empty() {
        format!("exit status {status}")
    } else {
        output.to_owned()
    }
}

/// Whether `name` can name a Linux user (or be a numeric uid) for `docker exec --user`: no `:`
/// (which would name a group too), nothing an option parser could take for an option.
fn is_user_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|first| first.is_ascii_alphanumeric() || first == '_' || first == '.')
        && name.chars().count() <= MAX_USER_NAME_CHARS
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

/// The `uid gid` line of [`PROBE_SCRIPT`].
fn parse_ids(answer: &str) -> Option<(u32, u32)> {
    let mut fields = answer.split_whitespace();
    let uid = fields.next()?.parse().ok()?;
    let gid = fields.next()?.parse().ok()?;
    fields.next().is_none().then_some((uid, gid))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_names() {
        for good in [
            "builder",
            "root",
            "1000",
            "_apt",
            "a.b-c",
            "x".repeat(32).as_str(),
        ] {
            assert!(is_user_name(good), "{good}");
        }
        for bad in [
            "",
            "-u",
            "builder:root",
            "a b",
            "a/b",
            "é",
            "x".repeat(33).as_str(),
        ] {
            assert!(!is_user_name(bad), "{bad}");
        }
    }

    #[test]
    fn probe_answers() {
        assert_eq!(parse_ids("1000 1001\n"), Some((1000, 1001)));
        assert_eq!(parse_ids("0 0"), Some((0, 0)));
        for bad in ["", "1000", "1000 x", " \n", "1 2 3"] {
            assert_eq!(parse_ids(bad), None, "{bad:?}");
        }
    }
}

//! Artifact globs (`files`, `base-directory`, `exclude-paths`) against hostile input: no panic,
//! bounded time, and every selected file beneath the source directory.

use std::io::Read as _;
use std::os::unix::fs::symlink;
use std::sync::OnceLock;
use std::time::Duration;

use kiln_hostile_input::{config, timed};
use proptest::prelude::*;

use super::*;

const MARKER: &[u8] = b"KILN-PROPTEST-OUTSIDE";
/// Far above what a collection of this small tree takes, far below a hang.
const TIME_LIMIT: Duration = Duration::from_secs(5);

/// A source tree with nested directories, dot files, links inside, links out of the tree, a
/// loop and a dangling link, beside a directory holding the marker.
struct Tree {
    _dir: tempfile::TempDir,
    root: Dir,
}

fn tree() -> &'static Tree {
    static TREE: OnceLock<Tree> = OnceLock::new();
    TREE.get_or_init(|| {
        let dir = tempfile::tempdir().expect("tempdir");
        let outside = dir.path().join("outside");
        let src = dir.path().join("src");
        for sub in ["a/b/c", "a/.hidden", "x y/z", "[br]", "{c}"] {
            std::fs::create_dir_all(src.join(sub)).expect("mkdir");
        }
        std::fs::create_dir(&outside).expect("mkdir");
        std::fs::write(outside.join("secret"), MARKER).expect("write");
        for file in [
            "top.txt",
            ".dot",
            "a/one.txt",
            "a/b/two.log",
            "a/b/c/three",
            "a/.hidden/four",
            "x y/z/five.txt",
            "[br]/six",
            "{c}/seven",
            "*",
            "?",
        ] {
            std::fs::write(src.join(file), file).expect("write");
        }
        let links: [(&Path, &str); 7] = [
            (Path::new("../a"), "a/b/up"),
            (Path::new("a/one.txt"), "alias"),
            (&outside, "out"),
            (Path::new("../../outside/secret"), "a/escape"),
            (Path::new("/etc/passwd"), "passwd"),
            (Path::new("."), "a/b/c/loop"),
            (Path::new("nowhere"), "dangling"),
        ];
        for (target, link) in links {
            symlink(target, src.join(link)).expect("symlink");
        }
        let root = confined::open_ambient_dir(&src).expect("open");
        Tree { _dir: dir, root }
    })
}

/// Pattern pieces a person or an attacker might write.
fn piece() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("*".to_owned()),
        Just("**".to_owned()),
        Just("?".to_owned()),
        Just("/".to_owned()),
        Just("./".to_owned()),
        Just("..".to_owned()),
        Just("../".to_owned()),
        Just(".".to_owned()),
        Just("{".to_owned()),
        Just("}".to_owned()),
        Just(",".to_owned()),
        Just("[".to_owned()),
        Just("]".to_owned()),
        Just("[!a]".to_owned()),
        Just("\\".to_owned()),
        Just("a".to_owned()),
        Just("b".to_owned()),
        Just("out".to_owned()),
        Just("passwd".to_owned()),
        Just("loop".to_owned()),
        Just(".txt".to_owned()),
        Just("x y".to_owned()),
        Just("/etc".to_owned()),
        Just("/proc/self/root".to_owned()),
        Just("\u{0}".to_owned()),
        Just("\u{7f}".to_owned()),
        Just("é".to_owned()),
        "[a-z.*?/]{1,4}",
        any::<String>().prop_map(|s| s.chars().take(8).collect()),
    ]
}

/// Patterns that select something in the tree, links out of it included.
fn plausible() -> impl Strategy<Value = String> {
    prop::sample::select(vec![
        "**/*",
        "*",
        "**",
        "a/**/*",
        "a/*",
        "*.txt",
        "**/*.txt",
        "./a/**/*",
        "out/*",
        "out/**/*",
        "alias",
        "passwd",
        "a/escape",
        "a/b/up/**/*",
        "**/loop/**/*",
        "x y/**/*",
        "[[]br]/*",
        "{a,x y}/**/*",
        "?",
        "\\*",
        "dangling",
        "a/b/c/loop/loop/*",
        "**/.*",
        ".*",
    ])
    .prop_map(str::to_owned)
}

fn pattern() -> impl Strategy<Value = String> {
    prop_oneof![
        12 => plausible(),
        4 => (plausible(), piece()).prop_map(|(good, bad)| format!("{good}{bad}")),
        4 => prop::collection::vec(piece(), 0..8).prop_map(|pieces| pieces.concat()),
        1 => prop::collection::vec(piece(), 0..4)
            .prop_map(|pieces| pieces.concat().repeat(300)),
        1 => Just("{".repeat(600)),
        1 => Just("**/".repeat(300)),
    ]
}

fn spec() -> impl Strategy<Value = ArtifactSelection> {
    (
        prop::collection::vec(pattern(), 1..4),
        prop::option::of(prop_oneof![
            2 => prop::sample::select(vec!["a", "a/b", "*", "a/*", "out", "a/b/up", "x y", "**"])
                .prop_map(str::to_owned),
            1 => pattern(),
        ]),
        any::<bool>(),
        prop::collection::vec(prop_oneof![3 => plausible(), 1 => pattern()], 0..3),
        any::<bool>(),
    )
        .prop_map(
            |(files, base_directory, discard_paths, exclude_paths, enable_symlinks)| {
                ArtifactSelection {
                    files,
                    base_directory,
                    discard_paths,
                    exclude_paths,
                    enable_symlinks,
                }
            },
        )
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn hostile_globs_select_only_files_beneath_the_root(spec in spec()) {
        let tree = tree();
        let collected = timed(TIME_LIMIT, || collect(&tree.root, &spec))?;
        let Ok(collected) = collected else { return Ok(()) };
        prop_assert!(!collected.files.is_empty());
        for file in &collected.files {
            prop_assert!(
                file.source
                    .components()
                    .all(|c| matches!(c, std::path::Component::Normal(_))),
                "{:?}",
                file.source
            );
            prop_assert!(!file.archive_path.is_empty());
            prop_assert!(!file.archive_path.starts_with('/'));
            prop_assert!(file.archive_path.split('/').all(|part| part != ".."));
            if file.is_link {
                prop_assert!(spec.enable_symlinks);
                continue;
            }
            // What packaging would read is inside the tree.
            let mut content = Vec::new();
            open_artifact_file(&tree.root, file)
                .map_err(|err| TestCaseError::fail(err.to_string()))?
                .read_to_end(&mut content)
                .map_err(|err| TestCaseError::fail(err.to_string()))?;
            prop_assert!(content != MARKER, "{:?} read from outside", file.source);
        }
    }
}

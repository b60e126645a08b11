//! Artifacts against a build that changes its tree while Kiln collects and packages it.

use std::io::Read as _;
use std::os::unix::fs::symlink;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use super::*;

const MARKER: &[u8] = b"KILN-OUTSIDE-MARKER-6b1f0c";

fn open(path: &Path) -> Dir {
    confined::open_ambient_dir(path).unwrap()
}

fn selection(files: &[&str]) -> ArtifactSelection {
    ArtifactSelection {
        files: files.iter().map(|f| (*f).to_owned()).collect(),
        ..ArtifactSelection::default()
    }
}

/// Every entry of a ZIP, decompressed, with whether it is a link.
fn zip_contents(path: &Path) -> Vec<(String, Vec<u8>, bool)> {
    let mut archive = zip::ZipArchive::new(File::open(path).unwrap()).unwrap();
    (0..archive.len())
        .map(|i| {
            let mut entry = archive.by_index(i).unwrap();
            let mut content = Vec::new();
            entry.read_to_end(&mut content).unwrap();
            let name = entry.name().unwrap().into_owned();
            (name, content, entry.is_symlink())
        })
        .collect()
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Outside the source: a directory whose `kiln.db-wal` holds the marker, and the marker file.
fn outside() -> tempfile::TempDir {
    let outside = tempfile::tempdir().unwrap();
    let mut secret = MARKER.repeat(64);
    secret.push(b'\n');
    std::fs::write(outside.path().join("kiln.db-wal"), &secret).unwrap();
    std::fs::write(outside.path().join("secret"), &secret).unwrap();
    outside
}

/// The attack, in a tight loop: while Kiln collects and zips `aaa_big` then
/// `d/kiln.db-wal`, a thread swaps the directory `d` for a link to a directory outside the
/// source, and `f` for a link to a file outside. No byte from outside may ever reach a ZIP.
#[test]
fn swapping_a_directory_for_a_link_during_packaging_never_leaks_outside_bytes() {
    let outside = outside();
    let src = tempfile::tempdir().unwrap();
    let root_path = src.path().to_owned();
    // Large enough that zipping it takes a while, so the swaps land during packaging.
    let big: Vec<u8> = (0..128 * 1024u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    std::fs::write(root_path.join("aaa_big"), &big).unwrap();
    std::fs::create_dir(root_path.join("d")).unwrap();
    std::fs::write(root_path.join("d/kiln.db-wal"), "fake\n").unwrap();
    std::fs::write(root_path.join("f"), "fake\n").unwrap();

    let stop = AtomicBool::new(false);
    let swaps = AtomicUsize::new(0);
    let (mut zipped, mut refused) = (0, 0);
    std::thread::scope(|scope| {
        scope.spawn(|| {
            let (d, d_real) = (root_path.join("d"), root_path.join("d_real"));
            let (f, f_real) = (root_path.join("f"), root_path.join("f_real"));
            while !stop.load(Ordering::Relaxed) {
                std::fs::rename(&d, &d_real).unwrap();
                symlink(outside.path(), &d).unwrap();
                std::fs::rename(&f, &f_real).unwrap();
                symlink(outside.path().join("secret"), &f).unwrap();
                // The attacker's timing: each state lasts a little, so Kiln meets both.
                std::thread::sleep(Duration::from_micros(200));
                std::fs::remove_file(&d).unwrap();
                std::fs::rename(&d_real, &d).unwrap();
                std::fs::remove_file(&f).unwrap();
                std::fs::rename(&f_real, &f).unwrap();
                swaps.fetch_add(1, Ordering::Relaxed);
                std::thread::sleep(Duration::from_micros(200));
            }
        });
        let started = Instant::now();
        let root = open(&root_path);
        let spec = selection(&["aaa_big", "d/kiln.db-wal", "f"]);
        for packaging in [Packaging::Zip, Packaging::None]
            .into_iter()
            .cycle()
            .take(120)
        {
            if started.elapsed() > Duration::from_secs(20) {
                break;
            }
            let Ok(collected) = collect(&root, &spec) else {
                refused += 1;
                continue;
            };
            for file in &collected.files {
                assert!(file.source.is_relative(), "{file:?}");
            }
            match package(&root, &collected.files, packaging) {
                Ok(Package::Zip(zip)) => {
                    zipped += 1;
                    for (name, content, _) in zip_contents(zip.path()) {
                        assert!(!contains(&content, MARKER), "{name} holds outside bytes");
                    }
                }
                Ok(Package::Files { root, files }) => {
                    // What an upload would read, opened the same way at the same moment.
                    for file in &files {
                        match open_artifact_file(&root, file) {
                            Ok(mut opened) => {
                                let mut content = Vec::new();
                                opened.read_to_end(&mut content).unwrap();
                                assert!(!contains(&content, MARKER), "{file:?} read outside");
                            }
                            Err(ArtifactError::Unreadable { .. }) => refused += 1,
                            Err(err) => panic!("{err}"),
                        }
                    }
                }
                Err(ArtifactError::Unreadable { reason, .. }) => {
                    assert!(!reason.is_empty());
                    refused += 1;
                }
                Err(err) => panic!("unexpected error: {err}"),
            }
        }
        stop.store(true, Ordering::Relaxed);
    });
    eprintln!(
        "{zipped} packaged, {refused} refused, {} swaps",
        swaps.load(Ordering::Relaxed)
    );
    // The race was really run: the tree changed under Kiln, and Kiln saw it.
    assert!(swaps.load(Ordering::Relaxed) > 10, "the swapper barely ran");
    assert!(
        refused > 0,
        "no open was ever refused: the swaps never landed"
    );
    assert!(zipped > 0, "no ZIP was ever written");
}

#[test]
fn symlinks_never_escape_the_source_directory() {
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("secret"), "secret").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    for (path, content) in [("a.txt", "a"), ("dir/c.txt", "c"), ("dir/sub/d.txt", "d")] {
        std::fs::create_dir_all(root.join(path).parent().unwrap()).unwrap();
        std::fs::write(root.join(path), content).unwrap();
    }
    symlink("/etc/passwd", root.join("passwd")).unwrap();
    symlink(outside.path(), root.join("outside")).unwrap();
    symlink(outside.path().join("secret"), root.join("dir/secret")).unwrap();
    symlink("../../a.txt", root.join("dir/sub/up.txt")).unwrap();
    symlink("../../../etc/passwd", root.join("dir/sub/escape")).unwrap();
    symlink("dir", root.join("inside")).unwrap();
    // Absolute links are never followed, even to inside the tree: the kernel resolves them
    // from the host's root (a container's link means the container's root).
    symlink(root.join("dir"), root.join("absolute_inside")).unwrap();
    symlink("a.txt", root.join("alias.txt")).unwrap();
    symlink(".", root.join("dir/loop")).unwrap();
    symlink("missing", root.join("dangling")).unwrap();

    let collected = collect(&open(root), &selection(&["**/*"])).unwrap();
    let paths: Vec<&str> = collected
        .files
        .iter()
        .map(|f| f.archive_path.as_str())
        .collect();
    for escaped in [
        "passwd",
        "outside/secret",
        "dir/secret",
        "dir/sub/escape",
        "dangling",
        "absolute_inside/c.txt",
    ] {
        assert!(!paths.contains(&escaped), "{escaped} in {paths:?}");
    }
    for followed in [
        "inside/c.txt",
        "inside/sub/d.txt",
        "alias.txt",
        "dir/sub/up.txt",
    ] {
        assert!(paths.contains(&followed), "{followed} not in {paths:?}");
    }
    assert_eq!(
        collected.left_out,
        [
            "absolute_inside: it leads outside the directory",
            "dangling: it is a link that leads nowhere",
            "dir/secret: it leads outside the directory",
            "dir/sub/escape: it leads outside the directory",
            // The same links, reached through `inside`.
            "inside/secret: it leads outside the directory",
            "inside/sub/escape: it leads outside the directory",
            "outside: it leads outside the directory",
            "passwd: it leads outside the directory",
        ]
    );
    let alias = collected
        .files
        .iter()
        .find(|f| f.archive_path == "alias.txt")
        .unwrap();
    assert_eq!(alias.source, Path::new("alias.txt"));

    // A base directory that is a symlink out of the tree is not found.
    let mut spec = selection(&["**/*"]);
    spec.base_directory = Some("outside".into());
    assert!(matches!(
        collect(&open(root), &spec),
        Err(ArtifactError::BaseDirectoryNotFound(_))
    ));
    // Nor is one whose glob only a link out of the tree matches.
    spec.base_directory = Some("outs*".into());
    assert!(matches!(
        collect(&open(root), &spec),
        Err(ArtifactError::BaseDirectoryNotFound(_))
    ));
}

#[test]
fn enable_symlinks_stores_links_as_links() {
    let outside = outside();
    let src = tempfile::tempdir().unwrap();
    let root_path = src.path();
    std::fs::create_dir(root_path.join("dir")).unwrap();
    std::fs::write(root_path.join("dir/a.txt"), "a").unwrap();
    symlink("dir/a.txt", root_path.join("alias")).unwrap();
    symlink("dir", root_path.join("dirlink")).unwrap();
    symlink(outside.path().join("secret"), root_path.join("escape")).unwrap();
    let root = open(root_path);
    let spec = ArtifactSelection {
        enable_symlinks: true,
        ..selection(&["**/*"])
    };
    let collected = collect(&root, &spec).unwrap();
    let kinds: Vec<(&str, bool)> = collected
        .files
        .iter()
        .map(|f| (f.archive_path.as_str(), f.is_link))
        .collect();
    // A directory link is kept as a link and not walked into.
    assert_eq!(
        kinds,
        [
            ("alias", true),
            ("dir/a.txt", false),
            ("dirlink", true),
            ("escape", true)
        ]
    );
    let Package::Zip(zip) = package(&root, &collected.files, Packaging::Zip).unwrap() else {
        panic!("expected a zip");
    };
    let outside_target = outside.path().join("secret").display().to_string();
    let entries = zip_contents(zip.path());
    assert_eq!(
        entries,
        [
            ("alias".to_owned(), b"dir/a.txt".to_vec(), true),
            ("dir/a.txt".to_owned(), b"a".to_vec(), false),
            ("dirlink".to_owned(), b"dir".to_vec(), true),
            ("escape".to_owned(), outside_target.into_bytes(), true),
        ]
    );
    for (_, content, _) in &entries {
        assert!(!contains(content, MARKER));
    }

    // Without enable-symlinks, links inside are followed and the one out of the tree is not.
    let collected = collect(&root, &selection(&["**/*"])).unwrap();
    let paths: Vec<&str> = collected
        .files
        .iter()
        .map(|f| f.archive_path.as_str())
        .collect();
    assert_eq!(paths, ["alias", "dir/a.txt", "dirlink/a.txt"]);
    assert_eq!(
        collected.left_out,
        ["escape: it leads outside the directory"]
    );
    let Package::Zip(zip) = package(&root, &collected.files, Packaging::Zip).unwrap() else {
        panic!("expected a zip");
    };
    assert!(zip_contents(zip.path()).iter().all(|(_, _, link)| !link));
}

/// A link that escapes, selected by name, is never followed; one that stays inside is, even
/// through `..`.
#[test]
fn links_are_followed_only_while_they_stay_inside() {
    let outside = outside();
    let src = tempfile::tempdir().unwrap();
    let root_path = src.path();
    std::fs::create_dir_all(root_path.join("a/b")).unwrap();
    std::fs::write(root_path.join("top.txt"), "top").unwrap();
    symlink("../../top.txt", root_path.join("a/b/up.txt")).unwrap();
    symlink("../../../secret", root_path.join("a/b/out.txt")).unwrap();
    symlink(outside.path(), root_path.join("a/outdir")).unwrap();
    symlink("/proc/self/root/etc/passwd", root_path.join("magic")).unwrap();
    let root = open(root_path);

    let collected = collect(
        &root,
        &selection(&["a/b/up.txt", "a/b/out.txt", "a/outdir/secret", "magic"]),
    )
    .unwrap();
    assert_eq!(collected.files.len(), 1);
    assert_eq!(collected.files[0].archive_path, "a/b/up.txt");
    assert_eq!(
        collected.left_out,
        [
            "a/b/out.txt: it leads outside the directory",
            "magic: it leads outside the directory"
        ]
    );
    let Package::Zip(zip) = package(&root, &collected.files, Packaging::Zip).unwrap() else {
        panic!("expected a zip");
    };
    assert_eq!(
        zip_contents(zip.path()),
        [("a/b/up.txt".to_owned(), b"top".to_vec(), false)]
    );
}

/// A file selected while it was a regular file, then replaced by a link out of the tree or by
/// a FIFO, is refused when packaging opens it.
#[test]
fn a_file_replaced_after_selection_is_refused_at_packaging() {
    let outside = outside();
    let src = tempfile::tempdir().unwrap();
    let root_path = src.path();
    std::fs::create_dir(root_path.join("d")).unwrap();
    std::fs::write(root_path.join("d/kiln.db-wal"), "fake").unwrap();
    std::fs::write(root_path.join("pipe"), "fake").unwrap();
    let root = open(root_path);
    let collected = collect(&root, &selection(&["d/kiln.db-wal", "pipe"])).unwrap();
    assert_eq!(collected.files.len(), 2);

    std::fs::rename(root_path.join("d"), root_path.join("d_real")).unwrap();
    symlink(outside.path(), root_path.join("d")).unwrap();
    for packaging in [Packaging::Zip, Packaging::None] {
        let err = match package(&root, &collected.files, packaging) {
            Ok(Package::Files { root, files }) => open_artifact_file(&root, &files[0]).unwrap_err(),
            Ok(Package::Zip(_)) => panic!("zipped through a link"),
            Err(err) => err,
        };
        assert_eq!(
            err.to_string(),
            "artifact file d/kiln.db-wal was not read: it leads outside the directory"
        );
    }

    std::fs::remove_file(root_path.join("d")).unwrap();
    std::fs::rename(root_path.join("d_real"), root_path.join("d")).unwrap();
    std::fs::remove_file(root_path.join("pipe")).unwrap();
    rustix::fs::mkfifoat(
        rustix::fs::CWD,
        root_path.join("pipe"),
        rustix::fs::Mode::from_raw_mode(0o600),
    )
    .unwrap();
    let err = package(&root, &collected.files, Packaging::Zip).unwrap_err();
    assert_eq!(
        err.to_string(),
        "artifact file pipe was not read: not a regular file"
    );
}

use std::os::unix::fs::symlink;

use super::*;

/// `root/` holding `inside.txt`, `sub/deep.txt`; `outside/secret` beside it.
fn fixture() -> (tempfile::TempDir, Dir) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    std::fs::create_dir_all(root.join("sub")).unwrap();
    std::fs::create_dir(dir.path().join("outside")).unwrap();
    std::fs::write(root.join("inside.txt"), "inside").unwrap();
    std::fs::write(root.join("sub/deep.txt"), "deep").unwrap();
    std::fs::write(dir.path().join("outside/secret"), "secret").unwrap();
    let opened = open_ambient_dir(&root).unwrap();
    (dir, opened)
}

fn read(dir: &Dir, path: &str, follow: Follow) -> io::Result<Option<Vec<u8>>> {
    read_regular(dir, path, follow, 1024)
}

#[test]
fn links_are_followed_only_beneath_the_directory() {
    let (tmp, root) = fixture();
    let base = tmp.path().join("root");
    symlink("inside.txt", base.join("alias")).unwrap();
    symlink("../inside.txt", base.join("sub/up")).unwrap();
    symlink("../outside/secret", base.join("relative_escape")).unwrap();
    symlink(tmp.path().join("outside/secret"), base.join("absolute")).unwrap();
    symlink(base.join("inside.txt"), base.join("absolute_inside")).unwrap();
    symlink("/proc/self/root/etc/passwd", base.join("magic")).unwrap();
    symlink(tmp.path().join("outside"), base.join("outdir")).unwrap();

    assert_eq!(
        read(&root, "alias", Follow::Beneath).unwrap().unwrap(),
        b"inside"
    );
    assert_eq!(
        read(&root, "sub/up", Follow::Beneath).unwrap().unwrap(),
        b"inside"
    );
    for escaping in [
        "relative_escape",
        "absolute",
        "absolute_inside",
        "magic",
        "outdir/secret",
        "../outside/secret",
        "/etc/passwd",
    ] {
        let err = read(&root, escaping, Follow::Beneath).unwrap_err();
        assert!(is_escape(&err), "{escaping}: {err:?}");
        assert_eq!(describe(&err), "it leads outside the directory");
    }
    let err = read(&root, "alias", Follow::Never).unwrap_err();
    assert!(is_link_refused(&err), "{err:?}");
    assert_eq!(read(&root, "missing", Follow::Never).unwrap(), None);
}

#[test]
fn only_regular_files_are_read() {
    let (tmp, root) = fixture();
    let base = tmp.path().join("root");
    rustix::fs::mkfifoat(
        rustix::fs::CWD,
        base.join("fifo"),
        rustix::fs::Mode::from_raw_mode(0o600),
    )
    .unwrap();
    for not_regular in ["fifo", "sub"] {
        let err = read(&root, not_regular, Follow::Beneath).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{not_regular}");
    }
    // Read up to the limit, no further.
    let limited = read_regular(&root, "inside.txt", Follow::Never, 3).unwrap();
    assert_eq!(limited.unwrap(), b"ins");
}

#[test]
fn a_directory_replaced_by_a_link_is_refused() {
    let (tmp, _) = fixture();
    let work = tmp.path().join("work");
    std::fs::create_dir(&work).unwrap();
    symlink("/", work.join("src")).unwrap();
    let err = open_dir_in(&work, "src").unwrap_err();
    assert!(
        is_link_refused(&err) || err.kind() == io::ErrorKind::NotADirectory,
        "{err:?}"
    );
    // The work directory itself, by path, must not be a link either.
    let err = open_ambient_dir(&work.join("src")).unwrap_err();
    assert!(
        is_link_refused(&err) || err.kind() == io::ErrorKind::NotADirectory,
        "{err:?}"
    );

    std::fs::remove_file(work.join("src")).unwrap();
    std::fs::create_dir(work.join("src")).unwrap();
    std::fs::write(work.join("src/f"), "f").unwrap();
    let src = open_dir_in(&work, "src").unwrap();
    assert_eq!(read(&src, "f", Follow::Never).unwrap().unwrap(), b"f");
}

#[test]
fn writes_never_go_through_a_link() {
    let (tmp, root) = fixture();
    let base = tmp.path().join("root");
    let victim = tmp.path().join("outside/secret");
    symlink(&victim, base.join("state")).unwrap();
    replace_file(&root, "state", b"new").unwrap();
    assert_eq!(std::fs::read(&victim).unwrap(), b"secret");
    assert!(
        !std::fs::symlink_metadata(base.join("state"))
            .unwrap()
            .is_symlink()
    );
    assert_eq!(std::fs::read(base.join("state")).unwrap(), b"new");

    symlink(&victim, base.join("appended")).unwrap();
    let err = append_to_file(&root, "appended", b"1\n").unwrap_err();
    assert!(is_link_refused(&err), "{err:?}");
    assert_eq!(std::fs::read(&victim).unwrap(), b"secret");
    append_to_file(&root, "log", b"1\n").unwrap();
    append_to_file(&root, "log", b"2\n").unwrap();
    assert_eq!(std::fs::read(base.join("log")).unwrap(), b"1\n2\n");

    remove_file(&root, "appended").unwrap();
    remove_file(&root, "appended").unwrap();
    assert!(victim.exists());
}

#[test]
fn read_only_trees_become_removable() {
    use std::os::unix::fs::PermissionsExt;
    let (tmp, _) = fixture();
    let tree = tmp.path().join("tree");
    std::fs::create_dir_all(tree.join("a/b/c")).unwrap();
    std::fs::write(tree.join("a/b/c/f"), "f").unwrap();
    // A link out of the tree must not be touched.
    let outside = tmp.path().join("outside");
    std::fs::set_permissions(&outside, std::fs::Permissions::from_mode(0o555)).unwrap();
    symlink(&outside, tree.join("a/out")).unwrap();
    for dir in ["a/b/c", "a/b", "a"] {
        std::fs::set_permissions(tree.join(dir), std::fs::Permissions::from_mode(0o500)).unwrap();
    }
    make_dirs_writable(&open_ambient_dir(&tree).unwrap());
    std::fs::remove_dir_all(&tree).unwrap();
    let mode = std::fs::metadata(&outside).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o555);
    std::fs::set_permissions(&outside, std::fs::Permissions::from_mode(0o755)).unwrap();
}

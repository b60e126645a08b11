use std::io::{Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use object_store::ObjectStoreExt;
use secrecy::SecretString;

use super::*;

/// a.txt b.log .hidden run.sh dir/c.txt dir/sub/d.txt other/e.txt
fn tree() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    for (path, content) in [
        ("a.txt", "a"),
        ("b.log", "b"),
        (".hidden", "h"),
        ("run.sh", "#!/bin/sh\necho hi\n"),
        ("dir/c.txt", "c"),
        ("dir/sub/d.txt", "d"),
        ("other/e.txt", "e"),
    ] {
        let path = root.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, content).unwrap();
    }
    std::fs::set_permissions(root.join("run.sh"), std::fs::Permissions::from_mode(0o755)).unwrap();
    dir
}

fn selection(files: &[&str]) -> ArtifactSelection {
    ArtifactSelection {
        files: files.iter().map(|f| (*f).to_owned()).collect(),
        ..ArtifactSelection::default()
    }
}

fn open(path: &Path) -> Dir {
    confined::open_ambient_dir(path).unwrap()
}

fn collect_in(path: &Path, spec: &ArtifactSelection) -> Result<Collected, ArtifactError> {
    collect(&open(path), spec)
}

fn archive_paths(files: &[ArtifactFile]) -> Vec<&str> {
    files.iter().map(|f| f.archive_path.as_str()).collect()
}

#[test]
fn glob_semantics() {
    let dir = tree();
    let all = [
        ".hidden",
        "a.txt",
        "b.log",
        "dir/c.txt",
        "dir/sub/d.txt",
        "other/e.txt",
        "run.sh",
    ];
    let cases: &[(&[&str], &[&str])] = &[
        (&["**/*"], &all),
        (&["*"], &[".hidden", "a.txt", "b.log", "run.sh"]),
        (&["*.txt"], &["a.txt"]),
        (&["dir/*"], &["dir/c.txt"]),
        (&["dir/**/*"], &["dir/c.txt", "dir/sub/d.txt"]),
        (&["./dir/*"], &["dir/c.txt"]),
        (
            &["**/*.txt"],
            &["a.txt", "dir/c.txt", "dir/sub/d.txt", "other/e.txt"],
        ),
        (&["*/*.txt"], &["dir/c.txt", "other/e.txt"]),
        (&["dir/sub/d.txt", "b.log"], &["b.log", "dir/sub/d.txt"]),
        (&["{a,b}.*"], &["a.txt", "b.log"]),
    ];
    for (patterns, expected) in cases {
        let files = collect_in(dir.path(), &selection(patterns)).unwrap().files;
        assert_eq!(archive_paths(&files), *expected, "{patterns:?}");
        for file in &files {
            assert_eq!(file.source, Path::new(&file.archive_path));
            assert!(!file.is_link);
        }
    }
}

#[test]
fn base_directory_packages_contents_not_the_directory() {
    let dir = tree();
    let mut spec = selection(&["**/*"]);
    spec.base_directory = Some("dir".into());
    let files = collect_in(dir.path(), &spec).unwrap().files;
    assert_eq!(archive_paths(&files), ["c.txt", "sub/d.txt"]);
    assert_eq!(files[0].source, Path::new("dir/c.txt"));

    spec.base_directory = Some("./dir/".into());
    assert_eq!(
        archive_paths(&collect_in(dir.path(), &spec).unwrap().files),
        ["c.txt", "sub/d.txt"]
    );

    // `.` and its spellings are the source directory itself: sources stay plain paths.
    let whole = {
        let mut whole = selection(&["**/*"]);
        whole.base_directory = None;
        collect_in(dir.path(), &whole).unwrap().files
    };
    for itself in [".", "./", "./.", " . "] {
        let mut spec = selection(&["**/*"]);
        spec.base_directory = Some(itself.into());
        let files = collect_in(dir.path(), &spec).unwrap().files;
        assert_eq!(archive_paths(&files), archive_paths(&whole), "{itself:?}");
        assert!(
            files.iter().all(|f| !f.source.starts_with(".")),
            "{itself:?}: {:?}",
            files[0].source
        );
    }

    // A glob base may match several directories; only directories count.
    spec.base_directory = Some("*".into());
    spec.files = vec!["*.txt".into()];
    assert_eq!(
        archive_paths(&collect_in(dir.path(), &spec).unwrap().files),
        ["c.txt", "e.txt"]
    );
    spec.base_directory = Some("di*".into());
    assert_eq!(
        archive_paths(&collect_in(dir.path(), &spec).unwrap().files),
        ["c.txt"]
    );

    for missing in ["nope", "a.txt", "no*"] {
        spec.base_directory = Some(missing.into());
        let err = collect_in(dir.path(), &spec).unwrap_err();
        assert!(
            matches!(err, ArtifactError::BaseDirectoryNotFound(_)),
            "{missing}: {err}"
        );
    }
}

#[test]
fn discard_paths_flattens() {
    let dir = tree();
    let mut spec = selection(&["**/*.txt"]);
    spec.discard_paths = true;
    let files = collect_in(dir.path(), &spec).unwrap().files;
    assert_eq!(archive_paths(&files), ["a.txt", "c.txt", "d.txt", "e.txt"]);

    std::fs::write(dir.path().join("dir/a.txt"), "clash").unwrap();
    let err = collect_in(dir.path(), &spec).unwrap_err();
    assert!(
        matches!(&err, ArtifactError::DuplicateArchivePath(p) if p == "a.txt"),
        "{err}"
    );
}

#[test]
fn exclude_paths_are_relative_to_the_base() {
    let dir = tree();
    let mut spec = selection(&["**/*"]);
    spec.exclude_paths = vec!["**/.*".into(), "dir/sub/**".into(), "*.log".into()];
    let files = collect_in(dir.path(), &spec).unwrap().files;
    assert_eq!(
        archive_paths(&files),
        ["a.txt", "dir/c.txt", "other/e.txt", "run.sh"]
    );

    spec.base_directory = Some("dir".into());
    spec.exclude_paths = vec!["sub/*".into()];
    assert_eq!(
        archive_paths(&collect_in(dir.path(), &spec).unwrap().files),
        ["c.txt"]
    );
    // `*` does not cross directories.
    spec.exclude_paths = vec!["*.txt".into()];
    assert_eq!(
        archive_paths(&collect_in(dir.path(), &spec).unwrap().files),
        ["sub/d.txt"]
    );
}

#[test]
fn rejects_patterns_leaving_the_directory() {
    let dir = tree();
    for bad in ["../x", "/etc/*", "dir/../../x", "", "   ", "a\u{1}b"] {
        let err = collect_in(dir.path(), &selection(&[bad])).unwrap_err();
        assert!(
            matches!(err, ArtifactError::InvalidPattern { .. }),
            "{bad:?}: {err}"
        );
    }
    let mut spec = selection(&["**/*"]);
    spec.base_directory = Some("../".into());
    assert!(matches!(
        collect_in(dir.path(), &spec),
        Err(ArtifactError::InvalidPattern { .. })
    ));
    spec.base_directory = None;
    spec.exclude_paths = vec!["/abs".into()];
    assert!(matches!(
        collect_in(dir.path(), &spec),
        Err(ArtifactError::InvalidPattern { .. })
    ));
    assert!(matches!(
        collect_in(dir.path(), &selection(&[])),
        Err(ArtifactError::NoPatterns)
    ));
}

#[test]
fn no_match_is_an_error() {
    let dir = tree();
    let err = collect_in(dir.path(), &selection(&["*.jar", "target/**/*"])).unwrap_err();
    assert!(matches!(err, ArtifactError::NoMatchingPaths));
    assert_eq!(err.to_string(), "no matching artifact paths found");
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

#[test]
fn zip_holds_the_selected_files() {
    let dir = tree();
    let files = collect_in(dir.path(), &selection(&["**/*"])).unwrap().files;
    let Package::Zip(zip) = package(&open(dir.path()), &files, Packaging::Zip).unwrap() else {
        panic!("expected a zip");
    };
    let bytes = std::fs::read(zip.path()).unwrap();
    assert_eq!(zip.size, bytes.len() as u64);
    assert_eq!(zip.sha256, sha256_hex(&bytes));
    assert_eq!(zip.md5, hex::encode(Md5::digest(&bytes)));

    let mut archive = zip::ZipArchive::new(File::open(zip.path()).unwrap()).unwrap();
    let mut names: Vec<String> = archive
        .file_names()
        .map(|name| name.unwrap().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, archive_paths(&files));
    let mut entry = archive.by_name("dir/sub/d.txt").unwrap();
    assert_eq!(entry.compression(), zip::CompressionMethod::Deflated);
    let mut content = String::new();
    entry.read_to_string(&mut content).unwrap();
    assert_eq!(content, "d");
    drop(entry);
    let script = archive.by_name("run.sh").unwrap();
    assert_eq!(script.unix_mode().map(|m| m & 0o777), Some(0o755));

    let path = zip.path().to_owned();
    drop(zip);
    assert!(!path.exists(), "the temporary ZIP is removed on drop");
}

#[test]
fn packaging_none_keeps_files() {
    let dir = tree();
    let files = collect_in(dir.path(), &selection(&["dir/**/*"]))
        .unwrap()
        .files;
    let Package::Files { files: kept, .. } =
        package(&open(dir.path()), &files, Packaging::None).unwrap()
    else {
        panic!("expected files");
    };
    assert_eq!(kept, files);
}

fn target(path: Option<&str>, namespace: bool, name: &str) -> ArtifactTarget {
    ArtifactTarget {
        bucket: "my-bucket".into(),
        path: path.map(str::to_owned),
        namespace_build_id: namespace,
        name: name.into(),
        override_artifact_name: false,
        packaging_zip: true,
    }
}

#[test]
fn artifact_keys_follow_codebuild_layout() {
    let uuid = "0cfbb6ec-3db9-4e8c-992b-1ab28EXAMPLE";
    let cases = [
        (
            target(Some("MyArtifacts"), true, "MyArtifact.zip"),
            None,
            None,
            format!("MyArtifacts/{uuid}/MyArtifact.zip"),
        ),
        (
            target(Some("MyArtifacts"), false, "MyArtifact.zip"),
            None,
            None,
            "MyArtifacts/MyArtifact.zip".to_owned(),
        ),
        (target(None, false, "out"), None, None, "out".to_owned()),
        (
            target(Some("MyArtifacts"), true, "/"),
            None,
            None,
            format!("MyArtifacts/{uuid}"),
        ),
        (
            target(Some("a/b/"), true, "x.zip"),
            None,
            Some("pre/fix"),
            format!("pre/fix/a/b/{uuid}/x.zip"),
        ),
        // s3-prefix only applies with the BUILD_ID namespace.
        (
            target(None, false, "x.zip"),
            None,
            Some("pre"),
            "x.zip".to_owned(),
        ),
        // The buildspec name counts only when the project allows overriding.
        (
            target(None, false, "x.zip"),
            Some("builds/7/y.zip"),
            None,
            "x.zip".to_owned(),
        ),
        (
            ArtifactTarget {
                override_artifact_name: true,
                ..target(None, true, "x.zip")
            },
            Some("builds/7/y.zip"),
            None,
            format!("{uuid}/builds/7/y.zip"),
        ),
        (
            ArtifactTarget {
                override_artifact_name: true,
                ..target(None, false, "x.zip")
            },
            Some("  "),
            None,
            "x.zip".to_owned(),
        ),
    ];
    for (target, name, prefix, expected) in cases {
        assert_eq!(
            artifact_key(&target, uuid, name, prefix).unwrap(),
            expected,
            "{target:?}"
        );
    }
    let none_at_root = ArtifactTarget {
        packaging_zip: false,
        ..target(None, false, "/")
    };
    assert_eq!(artifact_key(&none_at_root, uuid, None, None).unwrap(), "");
}

#[test]
fn artifact_keys_reject_escapes() {
    let uuid = "u";
    let bad = [
        target(Some("../up"), false, "x"),
        target(Some("/abs"), false, "x"),
        target(Some("a//b"), false, "x"),
        target(None, false, "a/../b"),
        target(None, false, "/x"),
        target(None, false, "./x"),
        target(None, false, "x\u{1}y"),
        target(None, false, "/"),
        ArtifactTarget {
            bucket: "../etc".into(),
            ..target(None, false, "x")
        },
    ];
    for target in bad {
        let err = artifact_key(&target, uuid, None, None).unwrap_err();
        assert!(matches!(err, ArtifactError::InvalidTarget(_)), "{target:?}");
    }
    let name_escape = ArtifactTarget {
        override_artifact_name: true,
        ..target(None, false, "x")
    };
    assert!(artifact_key(&name_escape, uuid, Some("../../x"), None).is_err());
    assert!(artifact_key(&target(None, true, "x"), "../u", None, None).is_err());
}

#[test]
fn bucket_names() {
    for good in ["abc", "my-bucket.artifacts", "b0"] {
        assert_eq!(validate_bucket(good).is_ok(), good.len() >= 3, "{good}");
    }
    for bad in [
        "ab",
        "Upper",
        "-lead",
        "trail-",
        "a..b",
        "a/b",
        "a_b",
        ".",
        "..",
        &"a".repeat(64),
    ] {
        assert!(validate_bucket(bad).is_err(), "{bad}");
    }
}

async fn read_object(store: &ArtifactStore, bucket: &str, key: &str) -> Vec<u8> {
    let path = object_store::path::Path::parse(key).unwrap();
    let got = store.bucket(bucket).unwrap().get(&path).await.unwrap();
    got.bytes().await.unwrap().to_vec()
}

#[tokio::test]
async fn uploads_to_a_local_store() {
    let dir = tree();
    let root = tempfile::tempdir().unwrap();
    let store = ArtifactStore::new(ArtifactStoreConfig::Local {
        root: root.path().to_owned(),
    });
    let files = collect_in(dir.path(), &selection(&["**/*.txt"]))
        .unwrap()
        .files;

    let zip = package(&open(dir.path()), &files, Packaging::Zip).unwrap();
    let uploaded = store
        .upload("my-bucket", "builds/u1/out.zip", &zip)
        .await
        .unwrap();
    assert_eq!(
        uploaded.location,
        "arn:aws:s3:::my-bucket/builds/u1/out.zip"
    );
    let on_disk = std::fs::read(root.path().join("my-bucket/builds/u1/out.zip")).unwrap();
    assert_eq!(Some(sha256_hex(&on_disk)), uploaded.sha256sum);
    assert_eq!(
        read_object(&store, "my-bucket", "builds/u1/out.zip").await,
        on_disk
    );

    let loose = package(&open(dir.path()), &files, Packaging::None).unwrap();
    let uploaded = store.upload("my-bucket", "loose", &loose).await.unwrap();
    assert_eq!(uploaded.location, "arn:aws:s3:::my-bucket/loose");
    assert_eq!(uploaded.sha256sum, None);
    assert_eq!(
        read_object(&store, "my-bucket", "loose/dir/sub/d.txt").await,
        b"d"
    );
    assert_eq!(
        std::fs::read_to_string(root.path().join("my-bucket/loose/other/e.txt")).unwrap(),
        "e"
    );

    let err = store.upload("../escape", "k", &loose).await.unwrap_err();
    assert!(matches!(err, ArtifactError::InvalidTarget(_)), "{err}");
}

/// moto's S3 server on a loopback port, stopped on drop.
struct Moto {
    child: Child,
    port: u16,
}

impl Moto {
    fn start() -> Option<Self> {
        let importable = Command::new("python3")
            .args(["-c", "import moto.server"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !importable {
            return None;
        }
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new("python3")
            .args([
                "-m",
                "moto.server",
                "-H",
                "127.0.0.1",
                "-p",
                &port.to_string(),
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let moto = Self { child, port };
        for _ in 0..200 {
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Some(moto);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("moto server did not start on port {port}");
    }

    fn create_bucket(&self, bucket: &str) {
        let mut conn = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        write!(
            conn,
            "PUT /{bucket} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            self.port
        )
        .unwrap();
        let mut response = String::new();
        conn.read_to_string(&mut response).unwrap();
        assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn uploads_to_s3_compatible_store() {
    // The test must not pass by not running: scripts/test.sh installs moto.
    let moto = Moto::start()
        .expect("python3 cannot import moto: pip install 'moto[server]' (scripts/test.sh does)");
    moto.create_bucket("kiln-artifacts");
    let store = ArtifactStore::new(ArtifactStoreConfig::S3 {
        endpoint: Some(format!("http://127.0.0.1:{}", moto.port)),
        region: "us-east-1".into(),
        access_key_id: "testing".into(),
        secret_access_key: SecretString::from("testing"),
        allow_http: true,
    });
    let dir = tree();
    // Larger than the 10 MiB upload buffer, so it goes up as a multipart upload.
    let big: Vec<u8> = (0..11 * 1024 * 1024u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(dir.path().join("dir/big.bin"), &big).unwrap();

    let target = ArtifactTarget {
        bucket: "kiln-artifacts".into(),
        path: Some("proj".into()),
        namespace_build_id: true,
        name: "out.zip".into(),
        override_artifact_name: false,
        packaging_zip: true,
    };
    let key = artifact_key(&target, "uuid-1", None, None).unwrap();
    let files = collect_in(dir.path(), &selection(&["**/*.txt"]))
        .unwrap()
        .files;
    let zip = package(&open(dir.path()), &files, Packaging::Zip).unwrap();
    let uploaded = store.upload(&target.bucket, &key, &zip).await.unwrap();
    assert_eq!(
        uploaded.location,
        "arn:aws:s3:::kiln-artifacts/proj/uuid-1/out.zip"
    );
    let fetched = read_object(&store, "kiln-artifacts", &key).await;
    assert_eq!(Some(sha256_hex(&fetched)), uploaded.sha256sum);

    let files = collect_in(dir.path(), &selection(&["dir/**/*"]))
        .unwrap()
        .files;
    let loose = package(&open(dir.path()), &files, Packaging::None).unwrap();
    store
        .upload("kiln-artifacts", "loose", &loose)
        .await
        .unwrap();
    assert_eq!(
        read_object(&store, "kiln-artifacts", "loose/dir/c.txt").await,
        b"c"
    );
    assert!(read_object(&store, "kiln-artifacts", "loose/dir/big.bin").await == big);

    let err = store
        .upload("no-such-bucket", "k", &loose)
        .await
        .unwrap_err();
    assert!(matches!(err, ArtifactError::Store(_)), "{err}");
}

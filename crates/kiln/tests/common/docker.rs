//! The machine's Docker Engine, for the tests of the Docker executor. The engine cannot pull, so
//! the images builds run in are made here with `docker import` of a root file system holding
//! Debian's static busybox and, for the build image, the host's own `bash` and `git` with the
//! libraries they load.

use std::path::Path;
use std::process::Command;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use super::wait_until;

/// A file only the test images have, and what it holds.
pub const IMAGE_MARKER: &str = "etc/kiln-test-image";
pub const IMAGE_MARKER_TEXT: &str = "kiln busybox\n";
/// How long a stopped, timed-out or crashed build's container may outlive it.
pub const REMOVAL_DEADLINE: Duration = Duration::from_secs(15);

/// An image to import for the tests.
pub struct TestImage {
    pub name: &'static str,
    /// Host programs copied in (with their shared libraries), beside busybox.
    pub host_programs: &'static [&'static str],
    /// Executable scripts written in: (path inside the image, text).
    pub scripts: &'static [(&'static str, &'static str)],
}

/// Busybox alone: its `sh` is the only shell, so a build shows it uses the image's tools.
pub const BUSYBOX_IMAGE: TestImage = TestImage {
    name: "kiln-test-busybox:latest",
    host_programs: &[],
    scripts: &[],
};

/// Busybox with `bash` (CodeBuild's default shell) and `git`, as CodeBuild's standard images
/// have them, so the builds suite runs unchanged inside it.
pub const BUILD_IMAGE: TestImage = TestImage {
    name: "kiln-test-build:latest",
    host_programs: &["/bin/bash", "/usr/bin/git"],
    scripts: &[],
};

/// Panics unless the machine's Docker Engine answers: the Docker tests must not pass by not
/// running. `KILN_SKIP_DOCKER_TESTS=1` skips them instead, saying so, on a machine without one.
pub fn engine_available(test: &str) -> bool {
    let answered = Command::new("docker")
        .args(["info", "--format", "{{.ServerVersion}}"])
        .output()
        .is_ok_and(|o| o.status.success());
    if answered {
        return true;
    }
    if std::env::var("KILN_SKIP_DOCKER_TESTS").as_deref() == Ok("1") {
        eprintln!("SKIPPED {test}: KILN_SKIP_DOCKER_TESTS=1 and `docker info` failed");
        return false;
    }
    panic!("{test}: `docker info` failed; set KILN_SKIP_DOCKER_TESTS=1 to skip the Docker tests");
}

/// Runs `docker ARGS` and returns its trimmed stdout; panics when it fails.
pub fn docker(args: &[&str]) -> String {
    let output = Command::new("docker")
        .args(args)
        .output()
        .expect("running docker");
    assert!(
        output.status.success(),
        "docker {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_string()
}

/// Images already checked or made by this test process.
static READY: Mutex<Vec<&'static str>> = Mutex::new(Vec::new());

/// Imports `image` unless the engine has it.
pub fn ensure_image(image: &TestImage) {
    let mut ready = READY.lock().unwrap_or_else(|p| p.into_inner());
    if ready.contains(&image.name) {
        return;
    }
    let present = Command::new("docker")
        .args(["image", "inspect", image.name])
        .output()
        .is_ok_and(|o| o.status.success());
    if !present {
        import(image);
    }
    ready.push(image.name);
}

fn import(image: &TestImage) {
    let root = tempfile::tempdir().unwrap();
    let bin = root.path().join("bin");
    for dir in ["bin", "etc", "tmp", "root"] {
        std::fs::create_dir_all(root.path().join(dir)).unwrap();
    }
    std::fs::copy("/bin/busybox", bin.join("busybox"))
        .expect("install busybox-static: apt-get install -y busybox-static");
    let applets = Command::new("/bin/busybox").arg("--list").output().unwrap();
    for applet in String::from_utf8(applets.stdout).unwrap().lines() {
        if applet != "busybox" {
            std::os::unix::fs::symlink("busybox", bin.join(applet)).unwrap();
        }
    }
    for program in image.host_programs {
        copy_into(root.path(), Path::new(program));
        for library in shared_libraries(program) {
            copy_into(root.path(), Path::new(&library));
        }
    }
    for (path, text) in image.scripts {
        use std::os::unix::fs::PermissionsExt;
        let target = root.path().join(path.trim_start_matches('/'));
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        std::fs::write(&target, text).unwrap();
        std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    std::fs::write(root.path().join(IMAGE_MARKER), IMAGE_MARKER_TEXT).unwrap();
    let tar = root.path().with_extension("tar");
    let packed = Command::new("tar")
        .arg("-C")
        .arg(root.path())
        .arg("-cf")
        .arg(&tar)
        .arg(".")
        .status()
        .unwrap();
    assert!(packed.success());
    docker(&["import", tar.to_str().unwrap(), image.name]);
    std::fs::remove_file(&tar).unwrap();
}

/// Copies the file at host `path` (following links) to the same path under `root`.
fn copy_into(root: &Path, path: &Path) {
    let target = root.join(path.strip_prefix("/").unwrap());
    std::fs::create_dir_all(target.parent().unwrap()).unwrap();
    std::fs::copy(path, &target).unwrap_or_else(|e| panic!("copying {}: {e}", path.display()));
}

/// The absolute paths of the shared libraries (and loader) `program` loads, as `ldd` lists them.
fn shared_libraries(program: &str) -> Vec<String> {
    let output = Command::new("ldd").arg(program).output().unwrap();
    assert!(output.status.success(), "ldd {program}: {output:?}");
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| {
            // `libz.so.1 => /lib/…/libz.so.1 (0x…)` or `/lib64/ld-linux-x86-64.so.2 (0x…)`.
            let path = line.split("=>").last()?.split_whitespace().next()?;
            path.starts_with('/').then(|| path.to_string())
        })
        .collect()
}

/// A Kiln instance name no other server of any test run uses, so one server's reaping at start
/// never removes another's containers.
pub fn unique_instance() -> String {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!(
        "kiln-e2e-{}-{}-{nanos}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// The `[docker]` table of a `kiln.toml` for a test server: its own instance label, and the
/// managed image the tests' projects name mapped to `image`.
pub fn server_config(image: &TestImage) -> String {
    format!(
        "[docker]\ninstance = \"{}\"\n[docker.images]\n\"aws/codebuild/standard:7.0\" = \"{}\"\n",
        unique_instance(),
        image.name
    )
}

/// A test server on the Docker executor with its own instance label, whose projects'
/// managed image is `image` (made first).
pub fn docker_server_builder(image: &TestImage) -> super::KilnServerBuilder {
    ensure_image(image);
    super::KilnServer::builder()
        .args(["--executor", "docker"])
        .config(server_config(image))
}

/// The ids of every container, running or not, labelled as the build's.
pub fn containers_of(uuid: &str) -> Vec<String> {
    docker(&[
        "ps",
        "-a",
        "-q",
        "--filter",
        &format!("label=kiln.build={uuid}"),
    ])
    .lines()
    .map(ToString::to_string)
    .collect()
}

pub fn wait_no_container(uuid: &str) {
    wait_until(REMOVAL_DEADLINE, "the build's container to go", || {
        containers_of(uuid).is_empty()
    });
}

//! Whole builds that turn their source directory into a link to somewhere else.

use super::*;

#[tokio::test]
async fn a_source_directory_replaced_by_a_link_is_refused_for_artifacts() {
    let mut harness = Harness::new(Some(
        "version: 0.2\nphases:\n  build:\n    commands:\n      - cd .. && mv src src_real && ln -s / src\n\
         artifacts:\n  files:\n    - etc/passwd\n    - '**/kiln.db*'\n",
    ));
    harness.settings.artifacts = kiln_domain::project::ProjectArtifacts {
        name: Some("stolen.zip".to_owned()),
        packaging: Some("ZIP".to_owned()),
        ..s3_artifacts("artifact-bucket")
    };
    let done = harness.run().await;
    assert_eq!(
        done.status_of(Build),
        Some(BuildStatus::Succeeded),
        "{}",
        done.log
    );
    assert_eq!(done.status_of(UploadArtifacts), Some(BuildStatus::Failed));
    let context = done.context_of(UploadArtifacts);
    assert_eq!(context.status_code, "CLIENT_ERROR");
    assert_eq!(
        context.message,
        "cannot open the source directory: it is a symbolic link"
    );
    assert_eq!(done.record.artifacts, None);
    assert!(!harness.store_root().join("artifact-bucket").exists());
}

#[tokio::test]
async fn artifacts_keep_links_as_links_with_enable_symlinks() {
    let mut harness = Harness::new(Some(
        "version: 0.2\nphases:\n  build:\n    commands:\n      - ln -s out/a.txt alias && ln -s /etc/passwd passwd\n\
         artifacts:\n  files:\n    - alias\n    - passwd\n    - out/a.txt\n  enable-symlinks: yes\n",
    ));
    harness.settings.artifacts = kiln_domain::project::ProjectArtifacts {
        name: Some("links.zip".to_owned()),
        packaging: Some("ZIP".to_owned()),
        ..s3_artifacts("artifact-bucket")
    };
    let done = harness.run().await;
    assert_eq!(done.record.status, BuildStatus::Succeeded, "{}", done.log);
    assert!(!done.log.contains("not supported by Kiln"), "{}", done.log);
    let zip_path = harness.store_root().join("artifact-bucket/links.zip");
    let mut archive = zip::ZipArchive::new(std::fs::File::open(&zip_path).unwrap()).unwrap();
    let links: Vec<(String, bool)> = (0..archive.len())
        .map(|i| {
            let entry = archive.by_index(i).unwrap();
            (entry.name().unwrap().into_owned(), entry.is_symlink())
        })
        .collect();
    assert_eq!(
        links,
        [
            ("alias".to_owned(), true),
            ("out/a.txt".to_owned(), false),
            ("passwd".to_owned(), true)
        ]
    );
    // The link's target is stored, never what it points at.
    assert_eq!(
        zip_entries(&zip_path),
        [
            ("alias".to_owned(), "out/a.txt".to_owned()),
            ("out/a.txt".to_owned(), "a\n".to_owned()),
            ("passwd".to_owned(), "/etc/passwd".to_owned()),
        ]
    );

    // Without it, the link inside is followed and the one out of the tree is left out.
    let mut harness = Harness::new(Some(
        "version: 0.2\nphases:\n  build:\n    commands:\n      - ln -s out/a.txt alias && ln -s /etc/passwd passwd\n\
         artifacts:\n  files:\n    - alias\n    - passwd\n",
    ));
    harness.settings.artifacts = kiln_domain::project::ProjectArtifacts {
        name: Some("followed.zip".to_owned()),
        packaging: Some("ZIP".to_owned()),
        ..s3_artifacts("artifact-bucket")
    };
    let done = harness.run().await;
    assert_eq!(done.record.status, BuildStatus::Succeeded, "{}", done.log);
    assert!(
        done.log
            .contains("Warning: left out of the artifact: passwd: it leads outside the directory"),
        "{}",
        done.log
    );
    assert_eq!(
        zip_entries(&harness.store_root().join("artifact-bucket/followed.zip")),
        [("alias".to_owned(), "a\n".to_owned())]
    );
}

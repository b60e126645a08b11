//! Artifact downloads: the objects a build uploaded, read back from the artifact store, for
//! the build's own account only and never outside the build's artifact key. A ZIP artifact is
//! served whole, and each of its files from inside it.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use kiln_domain::shapes::Build;
use object_store::ObjectStoreExt;
use object_store::path::Path as ObjectPath;

use super::builds::{build_not_found, get_build};
use super::session::Session;
use super::view;
use super::zip_entries::{self, ArchiveObject, ZipEntryError};
use crate::state::AppState;

/// Most files listed for one artifact.
const MAX_LISTED_FILES: usize = 500;

/// A file the build page links to.
pub struct ArtifactLink {
    pub label: String,
    pub url: String,
    pub size: String,
}

/// One artifact as the build page lists it: a ZIP archive (downloadable whole) or a folder of
/// files, and the files in it.
pub struct ArtifactGroup {
    /// The artifact's key in its bucket.
    pub label: String,
    /// The whole archive's download; empty for a folder of files.
    pub archive_url: String,
    pub archive_size: String,
    /// Its files, by path within the artifact.
    pub files: Vec<ArtifactLink>,
    /// Why the files are not all listed (too many, an unreadable archive); empty when they are.
    pub note: String,
}

/// The `location` of the build's primary and secondary artifacts, in that order.
pub fn locations(build: &Build) -> Vec<Option<String>> {
    std::iter::once(&build.artifacts)
        .chain(&build.secondary_artifacts)
        .map(|a| a.location.clone().filter(|l| !l.is_empty()))
        .collect()
}

/// `arn:aws:s3:::bucket/key` as (bucket, key); only artifacts with a key are served.
fn bucket_and_key(location: &str) -> Option<(&str, &str)> {
    let (bucket, key) = location.strip_prefix("arn:aws:s3:::")?.split_once('/')?;
    (!bucket.is_empty() && !key.is_empty()).then_some((bucket, key))
}

/// A path segment, percent-encoded for a URL.
fn encode_segment(segment: &str) -> String {
    segment
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// A `/`-separated path, each segment percent-encoded.
fn encode_path(path: &str) -> String {
    path.split('/')
        .map(encode_segment)
        .collect::<Vec<_>>()
        .join("/")
}

fn human_size(bytes: u64) -> String {
    match bytes {
        b if b < 1024 => format!("{b} B"),
        b if b < 1024 * 1024 => format!("{:.1} KiB", b as f64 / 1024.0),
        b => format!("{:.1} MiB", b as f64 / (1024.0 * 1024.0)),
    }
}

/// Every artifact of the build that the store still has, each with its files, below the
/// build page's address `page_url`.
pub async fn groups(state: &AppState, page_url: &str, build: &Build) -> Vec<ArtifactGroup> {
    let mut groups = Vec::new();
    for (index, location) in locations(build).iter().enumerate() {
        let Some((bucket, key)) = location.as_deref().and_then(bucket_and_key) else {
            continue;
        };
        let (Ok(store), Ok(path)) = (
            state.builds.artifact_store().bucket(bucket),
            ObjectPath::parse(key),
        ) else {
            continue;
        };
        let base = format!("{page_url}/artifacts/{index}");
        let file_link = |name: &str, size: u64| ArtifactLink {
            label: name.to_string(),
            url: format!("{base}/{}", encode_path(name)),
            size: human_size(size),
        };
        let mut group = ArtifactGroup {
            label: key.to_string(),
            archive_url: String::new(),
            archive_size: String::new(),
            files: Vec::new(),
            note: String::new(),
        };
        // A ZIP artifact is one object at the key; files are objects below it.
        if let Ok(meta) = store.head(&path).await {
            group.archive_url.clone_from(&base);
            group.archive_size = human_size(meta.size);
            let archive = ArchiveObject {
                store,
                path,
                size: meta.size,
            };
            match zip_entries::list(archive, MAX_LISTED_FILES + 1).await {
                Ok(files) => {
                    group.files = files
                        .iter()
                        .map(|(name, size)| file_link(name, *size))
                        .collect();
                }
                Err(err) => {
                    tracing::debug!(error = %err, "cannot list a ZIP artifact");
                    group.note = format!("Its files cannot be listed: {err}.");
                }
            }
        } else {
            let prefix = format!("{}/", path.as_ref());
            let mut listing = store.list(Some(&path)).take(MAX_LISTED_FILES + 1);
            while let Some(Ok(meta)) = listing.next().await {
                if let Some(relative) = meta.location.as_ref().strip_prefix(&prefix) {
                    group.files.push(file_link(relative, meta.size));
                }
            }
            if group.files.is_empty() {
                continue;
            }
        }
        if group.files.len() > MAX_LISTED_FILES {
            group.files.truncate(MAX_LISTED_FILES);
            group.note = format!("Only the first {MAX_LISTED_FILES} files are listed.");
        }
        group.files.sort_by(|a, b| a.label.cmp(&b.label));
        groups.push(group);
    }
    groups
}

pub async fn download_archive(
    State(state): State<Arc<AppState>>,
    session: Session,
    Path((project, uuid, index)): Path<(String, String, usize)>,
) -> Response {
    download(&state, &session, &project, &uuid, index, None).await
}

pub async fn download_file(
    State(state): State<Arc<AppState>>,
    session: Session,
    Path((project, uuid, index, file)): Path<(String, String, usize, String)>,
) -> Response {
    download(&state, &session, &project, &uuid, index, Some(&file)).await
}

/// The download's file name: the last segment of `path`, made of safe characters; a whole ZIP
/// artifact's ends with `.zip` (artifact names often have none).
fn attachment_name(path: &str, zip_archive: bool) -> String {
    let name = path.rsplit('/').next().unwrap_or("artifact");
    let clean: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-._".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    let clean = if clean.is_empty() {
        "artifact".to_string()
    } else {
        clean
    };
    if zip_archive && !clean.to_ascii_lowercase().ends_with(".zip") {
        format!("{clean}.zip")
    } else {
        clean
    }
}

async fn download(
    state: &AppState,
    session: &Session,
    project: &str,
    uuid: &str,
    index: usize,
    file: Option<&str>,
) -> Response {
    let build = match get_build(state, session, project, uuid).await {
        Ok(Some(build)) => build,
        Ok(None) => return build_not_found(session),
        Err(err) => return view::api_error_page(session, &err),
    };
    serve(state, Some(session), &build, index, file).await
}

/// A file of `build`'s artifact `index` (the whole artifact when `file` is `None`); error pages
/// carry the navigation of `session`.
pub(super) async fn serve(
    state: &AppState,
    session: Option<&Session>,
    build: &Build,
    index: usize,
    file: Option<&str>,
) -> Response {
    let missing = || {
        view::not_found_page(
            session,
            "Artifact not found",
            "This build has no such artifact file.",
        )
    };
    let locations = locations(build);
    let Some((bucket, key)) = locations
        .get(index)
        .and_then(|l| l.as_deref())
        .and_then(bucket_and_key)
    else {
        return missing();
    };
    // `ObjectPath::parse` refuses `.`, `..` and empty segments, so the joined path stays
    // below the artifact's key.
    let object = match file {
        None => ObjectPath::parse(key),
        Some(file) => ObjectPath::parse(format!("{key}/{file}")),
    };
    let Ok(object) = object else {
        return missing();
    };
    let Ok(key_path) = ObjectPath::parse(key) else {
        return missing();
    };
    let inside = match file {
        None => object == key_path,
        Some(_) => object
            .as_ref()
            .starts_with(&format!("{}/", key_path.as_ref())),
    };
    if !inside {
        return missing();
    }
    let Ok(store) = state.builds.artifact_store().bucket(bucket) else {
        return missing();
    };
    // A file of a ZIP artifact: the object at the key is the archive.
    if let Some(file) = file
        && let Ok(meta) = store.head(&key_path).await
    {
        let archive = ArchiveObject {
            store,
            path: key_path,
            size: meta.size,
        };
        return match zip_entries::open_entry(archive, file.to_string()).await {
            Ok((size, body)) => attachment(body, size, file, false),
            Err(ZipEntryError::NotFound) => missing(),
            Err(err) => {
                tracing::info!(error = %err, "cannot serve a file from a ZIP artifact");
                view::error_page(
                    session,
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "File unavailable",
                    &format!("{err}. Download the whole archive instead."),
                )
            }
        };
    }
    let found = match store.get(&object).await {
        Ok(found) => found,
        Err(object_store::Error::NotFound { .. }) => return missing(),
        Err(err) => {
            tracing::error!(error = %err, "cannot read an artifact");
            return view::error_page(
                session,
                StatusCode::BAD_GATEWAY,
                "Artifact unavailable",
                "The artifact store could not be read.",
            );
        }
    };
    let size = found.meta.size;
    // The object at the artifact's key itself is a ZIP archive; files are below it.
    attachment(
        Body::from_stream(found.into_stream()),
        size,
        object.as_ref(),
        file.is_none(),
    )
}

/// A download: never shown inline, never sniffed, never cached.
fn attachment(body: Body, size: u64, path: &str, zip_archive: bool) -> Response {
    let mut response = (StatusCode::OK, body).into_response();
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(size));
    if let Ok(disposition) = HeaderValue::from_str(&format!(
        "attachment; filename=\"{}\"",
        attachment_name(path, zip_archive)
    )) {
        h.insert(header::CONTENT_DISPOSITION, disposition);
    }
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("sandbox; default-src 'none'"),
    );
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-store"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_and_names() {
        assert_eq!(
            bucket_and_key("arn:aws:s3:::b/k/x.zip"),
            Some(("b", "k/x.zip"))
        );
        assert_eq!(bucket_and_key("arn:aws:s3:::b"), None);
        assert_eq!(bucket_and_key("s3://b/k"), None);
        assert_eq!(encode_segment("a b%.txt"), "a%20b%25.txt");
        assert_eq!(encode_path("d ir/x?.txt"), "d%20ir/x%3F.txt");
        assert_eq!(
            attachment_name("k/dir/my \"file\".txt", false),
            "my__file_.txt"
        );
        assert_eq!(attachment_name("k/demo", true), "demo.zip");
        assert_eq!(attachment_name("k/demo.ZIP", true), "demo.ZIP");
        assert_eq!(human_size(2048), "2.0 KiB");
    }

    #[test]
    fn object_paths_stay_below_the_key() {
        assert!(ObjectPath::parse("key/../secret").is_err());
        assert!(ObjectPath::parse("key/./x").is_err());
        assert!(ObjectPath::parse("key//x").is_err());
    }
}

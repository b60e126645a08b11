//! Where artifacts are uploaded: a local directory per bucket, an S3-compatible service, or
//! (on an agent) the Kiln server, which writes them to its own store ([`super::relay`]).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use futures::{StreamExt, TryStreamExt};
use object_store::ObjectStore;
use object_store::aws::AmazonS3Builder;
use object_store::buffered::BufWriter;
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjectPath;
use secrecy::{ExposeSecret, SecretString};
use tokio::io::AsyncWriteExt;

use super::relay::RelayStore;
use super::{ArtifactError, ArtifactFile, Package, io_error, open_artifact_file, validate_bucket};
use crate::confined::Dir;

/// How many files of an unpackaged artifact are uploaded at once.
const UPLOAD_CONCURRENCY: usize = 4;

#[derive(Debug, Clone)]
pub enum ArtifactStoreConfig {
    /// Bucket `b` is the directory `root/b` (created on first upload).
    Local { root: PathBuf },
    S3 {
        /// Custom endpoint (MinIO, Garage, …); `None` for AWS.
        endpoint: Option<String>,
        region: String,
        access_key_id: String,
        secret_access_key: SecretString,
        allow_http: bool,
    },
    /// Through the Kiln server an agent works for, one store per build: every object is a
    /// `PUT {server}/agent/v1/builds/{build_uuid}/artifacts/{bucket}/{key}` with the agent's
    /// token and session (docs/agents.md, "Artifacts through the server").
    Relay {
        /// The server's base URL, as the agent reaches it (`https://kiln.example`).
        server: String,
        token: SecretString,
        session: String,
        build_uuid: String,
    },
}

impl ArtifactStoreConfig {
    /// Artifacts of build `build_uuid` through `server`, for the agent with `token` and
    /// `session`.
    pub fn relay(
        server: impl Into<String>,
        token: SecretString,
        session: impl Into<String>,
        build_uuid: impl Into<String>,
    ) -> Self {
        ArtifactStoreConfig::Relay {
            server: server.into(),
            token,
            session: session.into(),
            build_uuid: build_uuid.into(),
        }
    }
}

/// Uploads packaged artifacts.
#[derive(Debug, Clone)]
pub struct ArtifactStore {
    config: ArtifactStoreConfig,
}

/// What the build record shows of an uploaded artifact (`BuildArtifacts`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadedArtifact {
    /// `arn:aws:s3:::<bucket>/<key>`.
    pub location: String,
    /// Set for a ZIP artifact only, as in CodeBuild.
    pub sha256sum: Option<String>,
    pub md5sum: Option<String>,
}

impl ArtifactStore {
    pub fn new(config: ArtifactStoreConfig) -> Self {
        Self { config }
    }

    /// The store of one bucket.
    pub fn bucket(&self, bucket: &str) -> Result<Arc<dyn ObjectStore>, ArtifactError> {
        validate_bucket(bucket)?;
        match &self.config {
            ArtifactStoreConfig::Local { root } => {
                let dir = root.join(bucket);
                std::fs::create_dir_all(&dir).map_err(io_error(&dir))?;
                Ok(Arc::new(LocalFileSystem::new_with_prefix(&dir)?))
            }
            ArtifactStoreConfig::S3 {
                endpoint,
                region,
                access_key_id,
                secret_access_key,
                allow_http,
            } => {
                let mut builder = AmazonS3Builder::new()
                    .with_bucket_name(bucket)
                    .with_region(region)
                    .with_access_key_id(access_key_id)
                    .with_secret_access_key(secret_access_key.expose_secret())
                    .with_allow_http(*allow_http);
                if let Some(endpoint) = endpoint {
                    builder = builder.with_endpoint(endpoint);
                }
                Ok(Arc::new(builder.build()?))
            }
            ArtifactStoreConfig::Relay {
                server,
                token,
                session,
                build_uuid,
            } => {
                let store =
                    RelayStore::new(server, token.clone(), session.clone(), build_uuid, bucket)
                        .map_err(object_store::Error::from)?;
                Ok(Arc::new(store))
            }
        }
    }

    /// Uploads `package` to `bucket` at `key` (see [`super::artifact_key`]): a ZIP as one
    /// object, files as objects under `key/`. Reads files in chunks, never whole.
    pub async fn upload(
        &self,
        bucket: &str,
        key: &str,
        package: &Package,
    ) -> Result<UploadedArtifact, ArtifactError> {
        let store = self.bucket(bucket)?;
        let location = if key.is_empty() {
            format!("arn:aws:s3:::{bucket}")
        } else {
            format!("arn:aws:s3:::{bucket}/{key}")
        };
        match package {
            Package::Zip(zip) => {
                if key.is_empty() {
                    return Err(ArtifactError::InvalidTarget(
                        "a ZIP artifact needs a non-empty key".to_owned(),
                    ));
                }
                let archive = tokio::fs::File::open(zip.path())
                    .await
                    .map_err(io_error(zip.path()))?;
                upload_file(&store, &object_path(key)?, archive, zip.path()).await?;
                Ok(UploadedArtifact {
                    location,
                    sha256sum: Some(zip.sha256.clone()),
                    md5sum: Some(zip.md5.clone()),
                })
            }
            Package::Files { root, files } => {
                let uploads = files
                    .iter()
                    .map(|file| file_object(key, file).map(|path| (path, file)))
                    .collect::<Result<Vec<_>, _>>()?;
                futures::stream::iter(uploads)
                    .map(|(path, file)| {
                        let store = &store;
                        async move {
                            let source = open_beneath(root, file).await?;
                            upload_file(store, &path, source, &file.source).await
                        }
                    })
                    .buffer_unordered(UPLOAD_CONCURRENCY)
                    .try_collect::<()>()
                    .await?;
                Ok(UploadedArtifact {
                    location,
                    sha256sum: None,
                    md5sum: None,
                })
            }
        }
    }
}

pub(super) fn object_path(key: &str) -> Result<ObjectPath, ArtifactError> {
    ObjectPath::parse(key).map_err(|err| ArtifactError::InvalidTarget(err.to_string()))
}

fn file_object(key: &str, file: &ArtifactFile) -> Result<ObjectPath, ArtifactError> {
    if key.is_empty() {
        object_path(&file.archive_path)
    } else {
        object_path(&format!("{key}/{}", file.archive_path))
    }
}

/// Opens an artifact file beneath its root, at the moment it is uploaded.
async fn open_beneath(
    root: &Arc<Dir>,
    file: &ArtifactFile,
) -> Result<tokio::fs::File, ArtifactError> {
    let (root, file) = (Arc::clone(root), file.clone());
    let path = file.source.clone();
    match tokio::task::spawn_blocking(move || open_artifact_file(&root, &file)).await {
        Ok(opened) => opened.map(tokio::fs::File::from_std),
        Err(err) => Err(ArtifactError::Io {
            path,
            source: std::io::Error::other(err),
        }),
    }
}

/// Streams a file (`source` names it in errors) into one object (multipart above the buffer
/// size).
pub(crate) async fn upload_file(
    store: &Arc<dyn ObjectStore>,
    path: &ObjectPath,
    mut file: impl tokio::io::AsyncRead + Unpin,
    source: &Path,
) -> Result<(), ArtifactError> {
    let mut writer = BufWriter::new(Arc::clone(store), path.clone());
    if let Err(err) = tokio::io::copy(&mut file, &mut writer).await {
        // Best effort: a failed multipart upload should not leave parts behind. (Only valid
        // before shutdown: `BufWriter::abort` panics once shutdown has started.)
        let _ = writer.abort().await;
        return Err(upload_error(err, source));
    }
    writer
        .shutdown()
        .await
        .map_err(|err| upload_error(err, source))
}

/// `BufWriter` reports store failures as I/O errors wrapping the `object_store::Error`.
fn upload_error(err: std::io::Error, source: &Path) -> ArtifactError {
    match err.downcast::<object_store::Error>() {
        Ok(store) => ArtifactError::Store(store),
        Err(err) => ArtifactError::Io {
            path: source.to_owned(),
            source: err,
        },
    }
}

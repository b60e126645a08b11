//! One object written as gzip while its bytes come in (the `s3Logs` copy of a build log,
//! docs/cloudwatch-logs.md): compressed a piece at a time and streamed to the store, so a
//! large log is never held whole.

use std::io::Write;
use std::sync::Arc;

use flate2::Compression;
use flate2::write::GzEncoder;
use object_store::buffered::BufWriter;
use tokio::io::AsyncWriteExt;

use super::ArtifactError;
use super::store::{ArtifactStore, object_path};

/// A gzip object being written; nothing is visible at its key until [`GzipObject::finish`].
pub struct GzipObject {
    encoder: GzEncoder<Vec<u8>>,
    writer: BufWriter,
}

impl ArtifactStore {
    /// Starts object `key` of `bucket`, to be written as gzip.
    pub fn gzip_object(&self, bucket: &str, key: &str) -> Result<GzipObject, ArtifactError> {
        let store = self.bucket(bucket)?;
        Ok(GzipObject {
            encoder: GzEncoder::new(Vec::new(), Compression::default()),
            writer: BufWriter::new(Arc::clone(&store), object_path(key)?),
        })
    }
}

impl GzipObject {
    /// Compresses `bytes` and sends on what the encoder has made.
    pub async fn write(&mut self, bytes: &[u8]) -> Result<(), ArtifactError> {
        self.encoder.write_all(bytes).map_err(compress_error)?;
        let packed = std::mem::take(self.encoder.get_mut());
        self.send(&packed).await
    }

    /// Ends the gzip stream and completes the object.
    pub async fn finish(mut self) -> Result<(), ArtifactError> {
        let encoder = std::mem::replace(
            &mut self.encoder,
            GzEncoder::new(Vec::new(), Compression::default()),
        );
        let rest = encoder.finish().map_err(compress_error)?;
        self.send(&rest).await?;
        self.writer.shutdown().await.map_err(store_error)
    }

    async fn send(&mut self, packed: &[u8]) -> Result<(), ArtifactError> {
        if let Err(err) = self.writer.write_all(packed).await {
            // Best effort: a failed multipart upload should not leave parts behind.
            let _ = self.writer.abort().await;
            return Err(store_error(err));
        }
        Ok(())
    }
}

fn compress_error(err: std::io::Error) -> ArtifactError {
    ArtifactError::Store(object_store::Error::Generic {
        store: "gzip",
        source: Box::new(err),
    })
}

/// `BufWriter` reports store failures as I/O errors wrapping the `object_store::Error`.
fn store_error(err: std::io::Error) -> ArtifactError {
    match err.downcast::<object_store::Error>() {
        Ok(store) => ArtifactError::Store(store),
        Err(err) => compress_error(err),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // Test code: a failed step fails the test.
mod tests {
    use std::io::Read;

    use super::super::{ArtifactStore, ArtifactStoreConfig};

    #[tokio::test]
    async fn writes_what_gunzips_to_the_bytes() {
        let root = tempfile::tempdir().unwrap();
        let store = ArtifactStore::new(ArtifactStoreConfig::Local {
            root: root.path().to_owned(),
        });
        let mut object = store.gzip_object("logs", "ci/build.gz").unwrap();
        let line = b"[Container] 2026/11/30 12:00:00.000000 line\n".repeat(1000);
        object.write(&line).await.unwrap();
        object.write(b"end\n").await.unwrap();
        object.finish().await.unwrap();
        let packed = std::fs::read(root.path().join("logs/ci/build.gz")).unwrap();
        let mut text = Vec::new();
        flate2::read::GzDecoder::new(&packed[..])
            .read_to_end(&mut text)
            .unwrap();
        assert_eq!(text, [line, b"end\n".to_vec()].concat());
    }
}

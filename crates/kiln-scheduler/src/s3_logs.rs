//! `logsConfig.s3Logs`: at the end of a build, before its final state is saved, the server
//! copies the whole stored log, gzipped, to `<location>/<build uuid>.gz` in the artifact store
//! (docs/cloudwatch-logs.md). One place for both kinds of build: those this server ran and
//! those an agent ran, whose log the server holds by the time the agent saves the last state.

use kiln_domain::build::BuildRecord;
use kiln_runner::artifacts::ArtifactError;
use kiln_store::{MAX_LOG_CHUNK_BYTES, StoreError};

use crate::BuildManager;

#[derive(Debug, thiserror::Error)]
enum CopyError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Upload(#[from] ArtifactError),
}

impl BuildManager {
    /// Copies the build's log to its `s3Logs` location, if it has one. A failed copy is
    /// reported in the server's log; the build's outcome stands.
    pub(crate) async fn copy_log_to_s3(&self, record: &BuildRecord) {
        let Some(target) = record.s3_log_target() else {
            return;
        };
        match self.copy_log(record, &target.bucket, &target.key).await {
            Ok(size) => {
                tracing::info!(build = %record.id(), bucket = %target.bucket, key = %target.key, size, "build log copied to s3Logs")
            }
            Err(e) => {
                tracing::warn!(build = %record.id(), bucket = %target.bucket, key = %target.key, error = %e, "cannot copy the build log to s3Logs")
            }
        }
    }

    async fn copy_log(
        &self,
        record: &BuildRecord,
        bucket: &str,
        key: &str,
    ) -> Result<u64, CopyError> {
        let size = self.store.log_size(&record.uuid).await?;
        let mut object = self.settings.artifact_store.gzip_object(bucket, key)?;
        let mut offset = 0;
        while offset < size {
            let want = usize::try_from(size - offset)
                .unwrap_or(usize::MAX)
                .min(MAX_LOG_CHUNK_BYTES);
            let piece = self.store.read_log(&record.uuid, offset, want).await?;
            if piece.is_empty() {
                break;
            }
            object.write(&piece).await?;
            offset += piece.len() as u64;
        }
        object.finish().await?;
        Ok(offset)
    }
}

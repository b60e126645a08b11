//! Files inside a ZIP artifact, read straight from the artifact store: the zip reader seeks
//! through ranged reads, so only the archive's directory and the one file asked for are fetched.
//!
//! Archives come from builds, so everything is bounded: the bytes read to open the directory
//! (which bounds the entries held in memory), the entries listed, and the bytes a file may
//! decompress to (never more than its declared size).

use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::body::Body;
use bytes::Bytes;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt};
use tokio::runtime::Handle;
use tokio::sync::{mpsc, oneshot};
use zip::ZipArchive;

/// Most bytes fetched to open an archive (its end record and central directory): about 40,000
/// entries with short names.
const MAX_DIRECTORY_BYTES: u64 = 4 * 1024 * 1024;
/// Largest file served from inside an archive, decompressed.
pub const MAX_ENTRY_BYTES: u64 = 1024 * 1024 * 1024;
/// Bytes fetched from the store per ranged read.
const FETCH_BYTES: usize = 256 * 1024;
/// Bytes per chunk of a served file.
const CHUNK_BYTES: usize = 64 * 1024;
/// Chunks read ahead of the client.
const CHUNKS_AHEAD: usize = 4;

#[derive(Debug, thiserror::Error)]
pub enum ZipEntryError {
    #[error("no such file in the archive")]
    NotFound,
    #[error("the file is {0} bytes, more than the {MAX_ENTRY_BYTES} served from inside an archive")]
    TooLarge(u64),
    #[error("the archive cannot be read: {0}")]
    Unreadable(String),
}

/// An archive object in the store.
#[derive(Clone)]
pub struct ArchiveObject {
    pub store: Arc<dyn ObjectStore>,
    pub path: ObjectPath,
    pub size: u64,
}

/// The files of an archive (name, decompressed size), in archive order, up to `limit`.
pub async fn list(
    archive: ArchiveObject,
    limit: usize,
) -> Result<Vec<(String, u64)>, ZipEntryError> {
    let handle = Handle::current();
    tokio::task::spawn_blocking(move || {
        let zip = open(&archive, handle)?;
        let files = (0..zip.len())
            .filter_map(|i| zip.by_index_data(i).ok())
            .filter(|entry| !entry.is_dir())
            .filter_map(|entry| Some((entry.name().ok()?.into_owned(), entry.size())))
            .take(limit)
            .collect();
        Ok(files)
    })
    .await
    .map_err(|e| ZipEntryError::Unreadable(e.to_string()))?
}

/// One file of an archive: its decompressed size and a body that streams it.
pub async fn open_entry(
    archive: ArchiveObject,
    name: String,
) -> Result<(u64, Body), ZipEntryError> {
    let handle = Handle::current();
    let (found_tx, found_rx) = oneshot::channel();
    let (chunk_tx, mut chunk_rx) = mpsc::channel::<io::Result<Bytes>>(CHUNKS_AHEAD);
    tokio::task::spawn_blocking(move || {
        let mut zip = match open(&archive, handle) {
            Ok(zip) => zip,
            Err(e) => {
                let _ = found_tx.send(Err(e));
                return;
            }
        };
        let Some(index) = zip.index_for_name(&name) else {
            let _ = found_tx.send(Err(ZipEntryError::NotFound));
            return;
        };
        let entry = match zip.by_index(index) {
            Ok(entry) if entry.is_dir() => {
                let _ = found_tx.send(Err(ZipEntryError::NotFound));
                return;
            }
            Ok(entry) => entry,
            Err(e) => {
                let _ = found_tx.send(Err(ZipEntryError::Unreadable(e.to_string())));
                return;
            }
        };
        let size = entry.size();
        if size > MAX_ENTRY_BYTES {
            let _ = found_tx.send(Err(ZipEntryError::TooLarge(size)));
            return;
        }
        if found_tx.send(Ok(size)).is_err() {
            return;
        }
        // Never more than the declared size, however much the data would inflate to.
        stream_chunks(entry.take(size), size, &chunk_tx);
    });
    let size = found_rx
        .await
        .map_err(|_| ZipEntryError::Unreadable("the reader stopped".into()))??;
    let body = Body::from_stream(futures::stream::poll_fn(move |cx| chunk_rx.poll_recv(cx)));
    Ok((size, body))
}

/// Sends `reader`'s bytes in chunks until it ends or the client goes; an error (or fewer bytes
/// than declared) ends the body with an error, so the client sees the download fail.
fn stream_chunks(mut reader: impl Read, declared: u64, chunks: &mpsc::Sender<io::Result<Bytes>>) {
    let mut sent = 0u64;
    loop {
        let mut buf = vec![0; CHUNK_BYTES];
        let n = match reader.read(&mut buf) {
            Ok(0) if sent < declared => {
                let short =
                    io::Error::new(io::ErrorKind::UnexpectedEof, "archive entry ended early");
                let _ = chunks.blocking_send(Err(short));
                return;
            }
            Ok(0) => return,
            Ok(n) => n,
            Err(e) => {
                let _ = chunks.blocking_send(Err(e));
                return;
            }
        };
        buf.truncate(n);
        sent += n as u64;
        if chunks.blocking_send(Ok(Bytes::from(buf))).is_err() {
            return;
        }
    }
}

/// Opens the archive's directory, fetching at most [`MAX_DIRECTORY_BYTES`] for it.
fn open(
    archive: &ArchiveObject,
    handle: Handle,
) -> Result<ZipArchive<BufReader<RangeReader>>, ZipEntryError> {
    let budget = Arc::new(AtomicU64::new(MAX_DIRECTORY_BYTES));
    let reader = RangeReader {
        archive: archive.clone(),
        position: 0,
        budget: Arc::clone(&budget),
        handle,
    };
    let zip = ZipArchive::new(BufReader::with_capacity(FETCH_BYTES, reader))
        .map_err(|e| ZipEntryError::Unreadable(e.to_string()))?;
    // Reading a file afterwards is bounded by the file's own size.
    budget.store(u64::MAX, Ordering::Relaxed);
    Ok(zip)
}

/// `Read + Seek` over an object through ranged reads, for the blocking zip reader. Runs on a
/// blocking thread, waiting on the runtime for each read.
struct RangeReader {
    archive: ArchiveObject,
    position: u64,
    /// Bytes that may still be fetched.
    budget: Arc<AtomicU64>,
    handle: Handle,
}

impl Read for RangeReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let end = self
            .archive
            .size
            .min(self.position.saturating_add(buf.len() as u64));
        if end <= self.position {
            return Ok(0);
        }
        let wanted = end - self.position;
        let left = self.budget.load(Ordering::Relaxed);
        if wanted > left {
            return Err(io::Error::other(
                "the archive's directory is too large to open here",
            ));
        }
        self.budget.store(left - wanted, Ordering::Relaxed);
        let bytes = self
            .handle
            .block_on(
                self.archive
                    .store
                    .get_range(&self.archive.path, self.position..end),
            )
            .map_err(io::Error::other)?;
        let n = bytes.len().min(buf.len());
        buf[..n].copy_from_slice(&bytes[..n]);
        self.position += n as u64;
        Ok(n)
    }
}

impl Seek for RangeReader {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let target = match to {
            SeekFrom::Start(n) => Some(n),
            SeekFrom::End(d) => self.archive.size.checked_add_signed(d),
            SeekFrom::Current(d) => self.position.checked_add_signed(d),
        };
        self.position = target
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "seek before the start"))?;
        Ok(self.position)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use object_store::PutPayload;
    use object_store::memory::InMemory;
    use std::io::Write;
    use zip::write::SimpleFileOptions;

    fn zip_of(files: &[(&str, &[u8])]) -> Vec<u8> {
        let mut writer = zip::ZipWriter::new(io::Cursor::new(Vec::new()));
        for (name, data) in files {
            writer
                .start_file(*name, SimpleFileOptions::default())
                .unwrap();
            writer.write_all(data).unwrap();
        }
        writer.finish().unwrap().into_inner()
    }

    async fn stored(bytes: Vec<u8>) -> ArchiveObject {
        let store = Arc::new(InMemory::new());
        let path = ObjectPath::from("k/a.zip");
        let size = bytes.len() as u64;
        store.put(&path, PutPayload::from(bytes)).await.unwrap();
        ArchiveObject { store, path, size }
    }

    async fn read_body(body: Body) -> Result<Vec<u8>, axum::Error> {
        axum::body::to_bytes(body, usize::MAX)
            .await
            .map(|b| b.to_vec())
    }

    #[tokio::test]
    async fn lists_and_serves_files_and_nothing_else() {
        let big = vec![b'x'; 300_000];
        let archive = stored(zip_of(&[("dir/a.txt", b"alpha"), ("b.bin", &big)])).await;
        assert_eq!(
            list(archive.clone(), 10).await.unwrap(),
            [("dir/a.txt".to_string(), 5), ("b.bin".to_string(), 300_000)]
        );
        assert_eq!(list(archive.clone(), 1).await.unwrap().len(), 1);
        let (size, body) = open_entry(archive.clone(), "dir/a.txt".into())
            .await
            .unwrap();
        assert_eq!(size, 5);
        assert_eq!(read_body(body).await.unwrap(), b"alpha");
        let (_, body) = open_entry(archive.clone(), "b.bin".into()).await.unwrap();
        assert_eq!(read_body(body).await.unwrap(), big);
        for missing in ["", "dir", "dir/", "c.txt", "../b.bin", "/b.bin", "B.BIN"] {
            assert!(
                matches!(
                    open_entry(archive.clone(), missing.into()).await,
                    Err(ZipEntryError::NotFound)
                ),
                "{missing}"
            );
        }
    }

    #[tokio::test]
    async fn garbage_is_unreadable_not_a_panic() {
        for bytes in [Vec::new(), b"PK\x05\x06".to_vec(), vec![0; 100_000]] {
            let archive = stored(bytes).await;
            assert!(matches!(
                list(archive.clone(), 10).await,
                Err(ZipEntryError::Unreadable(_))
            ));
            assert!(matches!(
                open_entry(archive, "a".into()).await,
                Err(ZipEntryError::Unreadable(_))
            ));
        }
    }

    #[tokio::test]
    async fn a_huge_directory_is_not_opened() {
        let names: Vec<String> = (0..18_000).map(|i| format!("f{i:0>250}")).collect();
        let files: Vec<(&str, &[u8])> = names.iter().map(|n| (n.as_str(), &b""[..])).collect();
        let archive = stored(zip_of(&files)).await;
        assert!(matches!(
            list(archive, 10).await,
            Err(ZipEntryError::Unreadable(_))
        ));
    }

    /// The archive with the central directory's uncompressed size of its first entry set to
    /// `declared`.
    fn with_declared_size(mut bytes: Vec<u8>, declared: u32) -> Vec<u8> {
        let header = bytes.windows(4).position(|w| w == b"PK\x01\x02").unwrap();
        bytes[header + 24..header + 28].copy_from_slice(&declared.to_le_bytes());
        bytes
    }

    #[tokio::test]
    async fn a_file_is_never_served_beyond_its_declared_size_or_the_cap() {
        let stored_zip = |data: &[u8]| {
            let mut writer = zip::ZipWriter::new(io::Cursor::new(Vec::new()));
            let options =
                SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
            writer.start_file("a", options).unwrap();
            writer.write_all(data).unwrap();
            writer.finish().unwrap().into_inner()
        };
        let archive = stored(with_declared_size(stored_zip(b"0123456789"), 3)).await;
        let (size, body) = open_entry(archive, "a".into()).await.unwrap();
        assert_eq!(size, 3);
        assert_eq!(read_body(body).await.unwrap(), b"012");
        let huge = u32::try_from(MAX_ENTRY_BYTES + 1).unwrap();
        let archive = stored(with_declared_size(stored_zip(b"0123456789"), huge)).await;
        assert!(matches!(
            open_entry(archive, "a".into()).await,
            Err(ZipEntryError::TooLarge(_))
        ));
    }

    #[test]
    fn a_short_entry_ends_the_body_with_an_error() {
        let (tx, mut rx) = mpsc::channel(16);
        stream_chunks(&b"abc"[..], 5, &tx);
        assert_eq!(rx.try_recv().unwrap().unwrap(), Bytes::from_static(b"abc"));
        assert!(rx.try_recv().unwrap().is_err());
    }
}

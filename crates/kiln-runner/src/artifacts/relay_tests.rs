//! The relay store against a small in-process server that plays the Kiln agent endpoint: it
//! records each object it receives whole, each body that broke, and when bytes arrived.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::put;
use futures::StreamExt;
use object_store::buffered::BufWriter;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt};
use secrecy::SecretString;
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use super::*;

const UUID: &str = "5b2a7c0e-0000-4000-8000-000000000001";
const TOKEN: &str = "kiln-agent-token-for-tests";
const SESSION: &str = "session-1";

/// One request as the server saw it.
#[derive(Debug, Clone, Default)]
struct Received {
    bytes: Vec<u8>,
    /// The body ended cleanly (else it broke, and a real server stores nothing).
    whole: bool,
    chunked: bool,
    content_length: Option<u64>,
}

#[derive(Default)]
struct Seen {
    /// By `bucket/key`, in arrival order.
    objects: Mutex<HashMap<String, Received>>,
    /// Bytes received so far per `bucket/key`, updated as they arrive.
    arriving: tokio::sync::watch::Sender<HashMap<String, usize>>,
}

async fn receive(
    State(seen): State<Arc<Seen>>,
    UrlPath((uuid, bucket, key)): UrlPath<(String, String, String)>,
    headers: HeaderMap,
    body: Body,
) -> (StatusCode, String) {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if uuid != UUID
        || header("authorization") != Some(&format!("Bearer {TOKEN}"))
        || header("kiln-agent-session") != Some(SESSION)
    {
        return (StatusCode::FORBIDDEN, "{}".into());
    }
    if key.starts_with("refused/") {
        return (
            StatusCode::FORBIDDEN,
            r#"{"__type":"BuildNotHeldException","message":"this agent does not hold build x"}"#
                .into(),
        );
    }
    let name = format!("{bucket}/{key}");
    let mut received = Received {
        chunked: header("transfer-encoding") == Some("chunked"),
        content_length: header("content-length").and_then(|v| v.parse().ok()),
        ..Received::default()
    };
    let mut stream = body.into_data_stream();
    let mut broke = false;
    while let Some(frame) = stream.next().await {
        match frame {
            Ok(bytes) => {
                received.bytes.extend_from_slice(&bytes);
                let len = received.bytes.len();
                seen.arriving.send_modify(|arriving| {
                    arriving.insert(name.clone(), len);
                });
            }
            Err(_) => {
                broke = true;
                break;
            }
        }
    }
    received.whole = !broke;
    seen.objects
        .lock()
        .unwrap()
        .insert(name.clone(), received.clone());
    seen.arriving.send_modify(|_| {});
    (StatusCode::OK, "{}".into())
}

async fn server() -> (String, Arc<Seen>) {
    let seen = Arc::new(Seen::default());
    let app = Router::new()
        .route(
            "/agent/v1/builds/{uuid}/artifacts/{bucket}/{*key}",
            put(receive),
        )
        .with_state(Arc::clone(&seen));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{address}/"), seen)
}

fn relay(server: &str) -> ArtifactStore {
    ArtifactStore::new(ArtifactStoreConfig::relay(
        server,
        SecretString::from(TOKEN),
        SESSION,
        UUID,
    ))
}

fn object(seen: &Seen, name: &str) -> Received {
    seen.objects
        .lock()
        .unwrap()
        .get(name)
        .cloned()
        .unwrap_or_else(|| panic!("the server has no {name}"))
}

/// Bytes that do not compress and differ from place to place.
fn noise(len: usize) -> Vec<u8> {
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state.to_le_bytes()[0]
        })
        .collect()
}

/// Waits (up to a deadline) until `ready` holds of what has arrived.
async fn wait_for(seen: &Seen, ready: impl Fn(&HashMap<String, usize>) -> bool) {
    let mut arriving = seen.arriving.subscribe();
    tokio::time::timeout(Duration::from_secs(30), arriving.wait_for(|a| ready(a)))
        .await
        .expect("the server did not see the bytes in time")
        .unwrap();
}

#[tokio::test]
async fn files_and_a_zip_arrive_whole_through_the_server() {
    let (url, seen) = server().await;
    let store = relay(&url);
    let dir = tempfile::tempdir().unwrap();
    let big = noise(20 * 1024 * 1024);
    std::fs::create_dir_all(dir.path().join("out")).unwrap();
    std::fs::write(dir.path().join("out/big.bin"), &big).unwrap();
    std::fs::write(dir.path().join("out/small name#1.txt"), b"small").unwrap();
    let files = collect(
        &confined::open_ambient_dir(dir.path()).unwrap(),
        &ArtifactSelection {
            files: vec!["**/*".into()],
            ..ArtifactSelection::default()
        },
    )
    .unwrap()
    .files;
    let root = confined::open_ambient_dir(dir.path()).unwrap();

    let loose = package(&root, &files, Packaging::None).unwrap();
    let uploaded = store
        .upload("my-bucket", "builds/loose", &loose)
        .await
        .unwrap();
    assert_eq!(uploaded.location, "arn:aws:s3:::my-bucket/builds/loose");
    let received = object(&seen, "my-bucket/builds/loose/out/big.bin");
    assert!(received.whole);
    assert!(received.bytes == big, "the big file arrived altered");
    // Larger than the writer's buffer: one streaming request, not one put.
    assert!(received.chunked && received.content_length.is_none());
    let received = object(&seen, "my-bucket/builds/loose/out/small name#1.txt");
    assert_eq!(received.bytes, b"small");
    assert_eq!(received.content_length, Some(5));

    let zip = package(&root, &files, Packaging::Zip).unwrap();
    let uploaded = store
        .upload("my-bucket", "builds/out.zip", &zip)
        .await
        .unwrap();
    let received = object(&seen, "my-bucket/builds/out.zip");
    assert!(received.whole);
    assert_eq!(
        Some(hex::encode(Sha256::digest(&received.bytes))),
        uploaded.sha256sum
    );
    let Package::Zip(archive) = &zip else {
        panic!("not a ZIP package")
    };
    assert_eq!(received.bytes, std::fs::read(archive.path()).unwrap());
}

#[tokio::test]
async fn a_multipart_upload_streams_while_it_is_written() {
    let (url, seen) = server().await;
    let store = relay(&url).bucket("my-bucket").unwrap();
    let path = ObjectPath::parse("streamed/object.bin").unwrap();
    let data = noise(25 * 1024 * 1024);
    let (first, rest) = data.split_at(12 * 1024 * 1024);
    let mut writer = BufWriter::new(Arc::clone(&store), path);
    writer.write_all(first).await.unwrap();
    writer.flush().await.unwrap();
    // The writer has not finished: the server sees the first part all the same.
    wait_for(&seen, |a| {
        a.get("my-bucket/streamed/object.bin")
            .is_some_and(|n| *n > 0)
    })
    .await;
    assert!(
        !seen
            .objects
            .lock()
            .unwrap()
            .contains_key("my-bucket/streamed/object.bin"),
        "the request ended before the object was complete"
    );
    writer.write_all(rest).await.unwrap();
    writer.shutdown().await.unwrap();
    let received = object(&seen, "my-bucket/streamed/object.bin");
    assert!(received.whole && received.chunked);
    assert!(received.bytes == data, "the object arrived altered");
}

#[tokio::test]
async fn an_aborted_or_dropped_upload_never_ends_cleanly() {
    let (url, seen) = server().await;
    let store = relay(&url).bucket("my-bucket").unwrap();
    for (key, drop_it) in [("aborted.bin", false), ("dropped.bin", true)] {
        let mut upload = store
            .put_multipart(&ObjectPath::parse(key).unwrap())
            .await
            .unwrap();
        upload.put_part(vec![7u8; 1024].into()).await.unwrap();
        let name = format!("my-bucket/{key}");
        wait_for(&seen, |a| a.contains_key(&name)).await;
        if drop_it {
            drop(upload);
        } else {
            upload.abort().await.unwrap();
        }
        wait_for(&seen, |_| seen.objects.lock().unwrap().contains_key(&name)).await;
        assert!(!object(&seen, &name).whole, "{key} ended as if whole");
    }
}

#[tokio::test]
async fn the_servers_refusal_reaches_the_uploader() {
    let (url, _seen) = server().await;
    let store = relay(&url);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("small.txt"), b"small").unwrap();
    std::fs::write(dir.path().join("big.bin"), noise(11 * 1024 * 1024)).unwrap();
    let root = confined::open_ambient_dir(dir.path()).unwrap();
    for name in ["small.txt", "big.bin"] {
        let files = vec![ArtifactFile {
            source: name.into(),
            archive_path: name.into(),
            is_link: false,
        }];
        let loose = package(&root, &files, Packaging::None).unwrap();
        let err = store
            .upload("my-bucket", "refused", &loose)
            .await
            .unwrap_err();
        assert!(
            err.to_string().contains("does not hold build"),
            "{name}: {err}"
        );
    }
}

#[tokio::test]
async fn only_writes_are_implemented() {
    let store = relay("http://127.0.0.1:9/").bucket("my-bucket").unwrap();
    let path = ObjectPath::parse("a/b").unwrap();
    let not_implemented =
        |err: object_store::Error| matches!(err, object_store::Error::NotImplemented { .. });
    assert!(not_implemented(store.get(&path).await.unwrap_err()));
    assert!(not_implemented(store.delete(&path).await.unwrap_err()));
    assert!(not_implemented(store.copy(&path, &path).await.unwrap_err()));
    assert!(not_implemented(
        store.list_with_delimiter(None).await.unwrap_err()
    ));
    let listed = store.list(None).next().await.unwrap();
    assert!(not_implemented(listed.unwrap_err()));
    // Nothing listens on port 9: a put fails as a transport error, not a panic.
    let err = store.put(&path, b"x".to_vec().into()).await.unwrap_err();
    assert!(err.to_string().contains("could not be sent"), "{err}");
}

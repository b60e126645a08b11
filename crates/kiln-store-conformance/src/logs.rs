//! Build logs: pieces appended at byte offsets, read back from any offset, by any replica.

use std::sync::Arc;
use std::time::Duration;

use kiln_store::{Store, StoreError, StoreEvent};

use crate::fixtures::{ACCOUNT, insert, project, uuid_of};

/// A log whose every byte differs from its neighbours, so a read from the wrong place shows.
fn log_text(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8).collect()
}

/// A project with builds 1..=n; returns their uuids.
async fn builds(store: &Arc<dyn Store>, n: u64) -> Vec<String> {
    store
        .create_project(&project(ACCOUNT, "p", 1.0))
        .await
        .unwrap();
    let mut uuids = Vec::new();
    for i in 1..=n {
        uuids.push(uuid_of(&insert(store, "p", i).await).to_owned());
    }
    uuids
}

/// Appends `log` in pieces of the given sizes (the last piece takes the rest).
async fn append_in_pieces(store: &Arc<dyn Store>, uuid: &str, log: &[u8], sizes: &[usize]) {
    let mut offset = 0;
    for size in sizes.iter().copied().chain([usize::MAX]) {
        let end = offset + size.min(log.len() - offset);
        if end > offset {
            store
                .append_log(uuid, offset as u64, &log[offset..end])
                .await
                .unwrap();
        }
        offset = end;
    }
}

pub async fn a_log_reads_back_from_any_offset_across_pieces(store: Arc<dyn Store>) {
    let uuids = builds(&store, 2).await;
    let log = log_text(200_000);
    append_in_pieces(&store, &uuids[0], &log, &[1, 7, 1000, 65_539, 3, 100_000]).await;
    assert_eq!(store.log_size(&uuids[0]).await.unwrap(), log.len() as u64);

    // Offsets at, just before and just after each piece boundary, and sizes that end there.
    let boundaries = [0usize, 1, 8, 1008, 66_547, 66_550, 166_550, 200_000];
    for &at in &boundaries {
        for offset in [at.saturating_sub(1), at, at + 1] {
            for size in [1usize, 2, 999, 65_536, 1_000_000] {
                let got = store
                    .read_log(&uuids[0], offset as u64, size)
                    .await
                    .unwrap();
                let start = offset.min(log.len());
                let want = &log[start..(start + size).min(log.len())];
                assert!(
                    got == want,
                    "read of {size} bytes at {offset}: got {} bytes, wanted {}",
                    got.len(),
                    want.len()
                );
            }
        }
    }
    // Reading it all in steps, as a follower does, gives the log byte for byte.
    let mut followed = Vec::new();
    loop {
        let got = store
            .read_log(&uuids[0], followed.len() as u64, 4096)
            .await
            .unwrap();
        if got.is_empty() {
            break;
        }
        followed.extend_from_slice(&got);
    }
    assert!(followed == log, "the followed log differs");

    assert!(store.read_log(&uuids[0], 5, 0).await.unwrap().is_empty());
    // Another build, and a build with no log, have none of it.
    assert!(store.read_log(&uuids[1], 0, 100).await.unwrap().is_empty());
    assert_eq!(store.log_size(&uuids[1]).await.unwrap(), 0);
    assert_eq!(store.log_size("no-such-build").await.unwrap(), 0);
}

pub async fn appending_a_piece_again_changes_nothing(store: Arc<dyn Store>) {
    let uuids = builds(&store, 1).await;
    let uuid = &uuids[0];
    store.append_log(uuid, 0, b"first ").await.unwrap();
    store.append_log(uuid, 6, b"second\n").await.unwrap();
    // A shipper retrying after an unclear failure sends the same piece again.
    store.append_log(uuid, 6, b"second\n").await.unwrap();
    store.append_log(uuid, 0, b"first ").await.unwrap();
    // What is stored at an offset stays, whatever comes for it later.
    store.append_log(uuid, 0, b"other ").await.unwrap();
    assert_eq!(
        store.read_log(uuid, 0, 1024).await.unwrap(),
        b"first second\n"
    );
    assert_eq!(store.log_size(uuid).await.unwrap(), 13);
    store.append_log(uuid, 13, b"third\n").await.unwrap();
    assert_eq!(
        store.read_log(uuid, 10, 1024).await.unwrap(),
        b"nd\nthird\n"
    );
}

pub async fn appending_publishes_log_appended(store: Arc<dyn Store>) {
    let uuids = builds(&store, 1).await;
    let mut feed = store.subscribe();
    store.append_log(&uuids[0], 0, b"hello\n").await.unwrap();
    let heard = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match feed.next().await {
                Some(StoreEvent::LogAppended { uuid }) => return Some(uuid),
                Some(_) => continue,
                None => return None,
            }
        }
    })
    .await
    .expect("LogAppended within 10 s");
    assert_eq!(heard.as_deref(), Some(uuids[0].as_str()));
    // A reader woken by the event reads what was appended.
    assert_eq!(store.read_log(&uuids[0], 0, 100).await.unwrap(), b"hello\n");
}

pub async fn deleting_a_build_deletes_its_log(store: Arc<dyn Store>) {
    let uuids = builds(&store, 2).await;
    let log = log_text(10_000);
    for uuid in &uuids {
        append_in_pieces(&store, uuid, &log, &[4096, 4096]).await;
    }
    assert!(store.delete_build(ACCOUNT, &uuids[0]).await.unwrap());
    assert!(
        store
            .read_log(&uuids[0], 0, 100_000)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(store.log_size(&uuids[0]).await.unwrap(), 0);
    // A shipper still running for the deleted build stores nothing.
    assert!(matches!(
        store.append_log(&uuids[0], 10_000, b"late\n").await,
        Err(StoreError::NotFound)
    ));
    assert_eq!(store.log_size(&uuids[0]).await.unwrap(), 0);
    // The other build keeps its log.
    assert_eq!(store.read_log(&uuids[1], 0, 100_000).await.unwrap(), log);

    // A project's deletion keeps its builds readable by id, and their logs with them.
    assert!(
        store
            .delete_project(ACCOUNT, "p", 9.0)
            .await
            .unwrap()
            .is_some()
    );
    assert_eq!(store.read_log(&uuids[1], 0, 100_000).await.unwrap(), log);
}

//! Line marks of build logs: stored once per block by any reader, and the line numbers and
//! line starts found with them match a count of the whole log.

use std::sync::Arc;

use kiln_store::log_lines::{LINE_MARK_BLOCK, LineMarks};
use kiln_store::{Store, StoreError};

use crate::fixtures::{ACCOUNT, insert, project, uuid_of};

/// A log of lines of many lengths: empty ones, short ones, and one longer than a block.
fn log_of_lines() -> Vec<u8> {
    let mut log = Vec::new();
    for i in 0..6_000u64 {
        let length = match i {
            2_000 => 3 * LINE_MARK_BLOCK as usize / 2,
            _ => (i * 37 % 120) as usize,
        };
        log.extend(std::iter::repeat_n(b'a' + (i % 26) as u8, length));
        log.push(b'\n');
    }
    log.extend_from_slice(b"a last line not ended yet");
    log
}

async fn build_with_log(store: &Arc<dyn Store>, log: &[u8]) -> String {
    store
        .create_project(&project(ACCOUNT, "p", 1.0))
        .await
        .unwrap();
    let uuid = uuid_of(&insert(store, "p", 1).await).to_owned();
    for (i, piece) in log.chunks(100_003).enumerate() {
        store
            .append_log(&uuid, (i * 100_003) as u64, piece)
            .await
            .unwrap();
    }
    uuid
}

pub async fn line_numbers_and_starts_match_a_count_of_the_log(store: Arc<dyn Store>) {
    let log = log_of_lines();
    let uuid = build_with_log(&store, &log).await;
    let size = log.len() as u64;
    let starts: Vec<u64> = std::iter::once(0)
        .chain(
            log.iter()
                .enumerate()
                .filter(|(_, b)| **b == b'\n')
                .map(|(at, _)| at as u64 + 1),
        )
        .collect();

    // A reader that saw part of the log marks its whole blocks; a later one marks the rest.
    let early = LineMarks::load(store.as_ref(), &uuid, size / 2)
        .await
        .unwrap();
    assert_eq!(
        store.log_line_marks(&uuid).await.unwrap().len() as u64,
        size / 2 / LINE_MARK_BLOCK
    );
    assert_eq!(early.line_at(store.as_ref(), 0).await.unwrap(), 1);
    let marks = LineMarks::load(store.as_ref(), &uuid, size).await.unwrap();
    let stored = store.log_line_marks(&uuid).await.unwrap();
    assert_eq!(stored.len() as u64, size / LINE_MARK_BLOCK);
    for (block, mark) in stored.iter().enumerate() {
        let end = (block as u64 + 1) * LINE_MARK_BLOCK;
        let want = log[..end as usize].iter().filter(|b| **b == b'\n').count() as u64;
        assert_eq!(*mark, want, "mark of block {block}");
    }

    // Every line starts where its number says, and each byte is on its line.
    for (index, &start) in starts.iter().enumerate().step_by(23) {
        let number = index as u64 + 1;
        assert_eq!(
            marks.line_start(store.as_ref(), number).await.unwrap(),
            Some(start),
            "start of line {number}"
        );
        assert_eq!(marks.line_at(store.as_ref(), start).await.unwrap(), number);
        if start > 0 {
            assert_eq!(
                marks.line_at(store.as_ref(), start - 1).await.unwrap(),
                number - 1
            );
        }
    }
    let last = starts.len() as u64;
    assert_eq!(
        marks.line_start(store.as_ref(), last).await.unwrap(),
        starts.last().copied()
    );
    assert_eq!(marks.line_at(store.as_ref(), size).await.unwrap(), last);
    // Lines the log does not reach have no start.
    assert_eq!(
        marks.line_start(store.as_ref(), last + 1).await.unwrap(),
        None
    );
    assert_eq!(marks.line_start(store.as_ref(), 0).await.unwrap(), None);
}

pub async fn line_marks_are_kept_once_and_go_with_their_build(store: Arc<dyn Store>) {
    let log = log_of_lines();
    let uuid = build_with_log(&store, &log).await;
    store.add_log_line_marks(&uuid, 0, &[5, 9]).await.unwrap();
    // A mark already stored stays: another reader adding it again changes nothing.
    store.add_log_line_marks(&uuid, 1, &[9, 14]).await.unwrap();
    store.add_log_line_marks(&uuid, 0, &[6]).await.unwrap();
    assert_eq!(store.log_line_marks(&uuid).await.unwrap(), vec![5, 9, 14]);
    assert!(
        store
            .log_line_marks("no-such-build")
            .await
            .unwrap()
            .is_empty()
    );

    assert!(store.delete_build(ACCOUNT, &uuid).await.unwrap());
    assert!(store.log_line_marks(&uuid).await.unwrap().is_empty());
    assert!(matches!(
        store.add_log_line_marks(&uuid, 3, &[20]).await,
        Err(StoreError::NotFound)
    ));
}

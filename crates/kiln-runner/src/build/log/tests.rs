//! The log as Kiln writes it: order, limit, cut.

use super::*;
use tokio_util::sync::CancellationToken;

fn open(dir: &Path, limit: u64) -> (BuildLog, Halt, std::path::PathBuf) {
    let path = dir.join("build.log");
    let halt = Halt::new(CancellationToken::new());
    let limits = BuildLimits {
        max_log_bytes: limit,
        disk_reserve: None,
    };
    let mut log = BuildLog::open(&path, &limits, halt.clone()).unwrap();
    log.open_output(&dir.join("output.fifo")).unwrap();
    (log, halt, path)
}

#[test]
fn output_written_before_a_line_comes_before_it() {
    let dir = tempfile::tempdir().unwrap();
    let (mut log, halt, path) = open(dir.path(), DEFAULT_MAX_LOG_BYTES);
    for round in 0..50 {
        writeln!(log.output().unwrap(), "output {round}").unwrap();
        log.line(&format!("line {round}"));
    }
    log.close_output();
    let text = std::fs::read_to_string(path).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 100);
    for (round, pair) in lines.chunks(2).enumerate() {
        assert_eq!(pair[0], format!("output {round}"));
        assert!(pair[1].ends_with(&format!(" line {round}")), "{}", pair[1]);
    }
    assert_eq!(halt.reason(), None);
}

#[test]
fn output_past_the_limit_is_cut_and_halts_the_build() {
    let dir = tempfile::tempdir().unwrap();
    let limit = MIN_MAX_LOG_BYTES;
    let (mut log, halt, path) = open(dir.path(), limit);
    let chunk = [b'y'; 1000];
    let mut output = log.output().unwrap();
    // Far past the limit: nothing blocks, as the copier drops what is past it.
    for _ in 0..1000 {
        output.write_all(&chunk).unwrap();
    }
    for n in 0..1000 {
        log.line(&format!("closing line {n}"));
    }
    log.close_output();
    assert_eq!(halt.reason(), Some(&HaltReason::LogLimit(limit)));
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.len() as u64 <= limit, "{} bytes", text.len());
    let cut = text
        .find("[Container] ")
        .expect("the cut line follows the output");
    assert_eq!(
        cut as u64,
        limit - CLOSING_ROOM + 1,
        "a newline ends the output"
    );
    assert!(text[cut..].contains("reached its limit of 65536 bytes (64.0 KiB) (max_log_bytes)"));
    assert!(text.contains("closing line 0\n"), "Kiln's last lines fit");
    assert!(
        !text.contains("closing line 999\n"),
        "but not past the limit"
    );
}

#[test]
fn a_log_line_past_the_limit_cuts_too() {
    let dir = tempfile::tempdir().unwrap();
    let halt = Halt::new(CancellationToken::new());
    let limits = BuildLimits {
        max_log_bytes: 0,
        disk_reserve: None,
    };
    let log = BuildLog::open(&dir.path().join("build.log"), &limits, halt.clone()).unwrap();
    let long = "z".repeat(80 * 1024);
    log.line(&long);
    assert_eq!(
        halt.reason(),
        Some(&HaltReason::LogLimit(MIN_MAX_LOG_BYTES))
    );
}

#[test]
fn output_stops_when_the_disk_is_below_its_reserve() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("build.log");
    let halt = Halt::new(CancellationToken::new());
    let limits = BuildLimits {
        max_log_bytes: DEFAULT_MAX_LOG_BYTES,
        // More than any disk has.
        disk_reserve: Some(DiskReserve::new(dir.path(), Some(u64::MAX))),
    };
    let mut log = BuildLog::open(&path, &limits, halt.clone()).unwrap();
    log.open_output(&dir.path().join("output.fifo")).unwrap();
    let chunk = vec![b'd'; 64 * 1024];
    let mut output = log.output().unwrap();
    for _ in 0..128 {
        output.write_all(&chunk).unwrap();
    }
    log.close_output();
    match halt.reason() {
        Some(HaltReason::DiskFull(message)) => {
            assert!(
                message.starts_with("Build stopped: disk full: the data dir"),
                "{message}"
            );
        }
        other => panic!("halted for {other:?}"),
    }
    let size = std::fs::metadata(&path).unwrap().len();
    assert!(
        size <= DISK_CHECK_BYTES + CHUNK_BYTES as u64,
        "{size} bytes"
    );
}

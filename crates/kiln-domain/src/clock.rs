//! The wall clock, as Kiln stores times.

use std::time::{SystemTime, UNIX_EPOCH};

/// Seconds since the Unix epoch, to the millisecond, as CodeBuild reports times.
pub fn now_epoch() -> f64 {
    let millis = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or_default();
    millis as f64 / 1000.0
}

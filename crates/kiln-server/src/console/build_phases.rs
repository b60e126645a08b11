//! The phase table of a build page (and of its live updates): one row per phase, with its
//! status, duration and the reason it failed.

use serde_json::Value;

use super::view;

pub struct PhaseRow {
    pub name: String,
    pub status: String,
    pub status_class: &'static str,
    pub duration: String,
    pub context: String,
}

/// The rows of `build` (the API's `Build` shape).
pub(super) fn phase_rows(build: &Value) -> Vec<PhaseRow> {
    build["phases"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|phase| {
            let status = phase["phaseStatus"].as_str().unwrap_or_default();
            let context = phase["contexts"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|c| {
                    let code = c["statusCode"].as_str().unwrap_or_default();
                    let message = c["message"].as_str().unwrap_or_default();
                    match (code.is_empty(), message.is_empty()) {
                        (true, true) => None,
                        (false, false) => Some(format!("{code}: {message}")),
                        _ => Some(format!("{code}{message}")),
                    }
                })
                .collect::<Vec<_>>()
                .join("; ");
            let name = phase["phaseType"].as_str().unwrap_or_default();
            PhaseRow {
                name: name.to_string(),
                // COMPLETED only marks the end; it has no status of its own.
                status: if name == "COMPLETED" {
                    String::new()
                } else if status.is_empty() {
                    "In progress".to_string()
                } else {
                    view::status_label(status)
                },
                status_class: if status.is_empty() {
                    "busy"
                } else {
                    view::status_class(status)
                },
                duration: phase["durationInSeconds"]
                    .as_f64()
                    .map_or_else(String::new, view::format_duration),
                context,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn phases_read_well() {
        let build = json!({"phases": [
            {"phaseType": "SUBMITTED", "phaseStatus": "SUCCEEDED", "durationInSeconds": 0, "endTime": 1.0},
            {"phaseType": "BUILD", "phaseStatus": "FAILED", "durationInSeconds": 3, "endTime": 4.0,
             "contexts": [{"statusCode": "COMMAND_EXECUTION_ERROR", "message": "exit status 1"}]},
            {"phaseType": "FINALIZING"},
            {"phaseType": "COMPLETED"},
        ]});
        let rows = phase_rows(&build);
        assert_eq!(rows[1].context, "COMMAND_EXECUTION_ERROR: exit status 1");
        assert_eq!(rows[1].status_class, "bad");
        assert_eq!(rows[2].status, "In progress");
        assert_eq!(rows[3].status, "");
    }
}

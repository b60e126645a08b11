//! The phase table of a build page (and of its live updates): one row per phase, with its
//! status, duration and the reason it failed.

use kiln_domain::build::BuildStatus;
use kiln_domain::shapes::Build;

use super::view;

pub struct PhaseRow {
    pub name: String,
    pub status: String,
    pub status_class: &'static str,
    pub duration: String,
    pub context: String,
}

/// The rows of `build`.
pub(super) fn phase_rows(build: &Build) -> Vec<PhaseRow> {
    build
        .phases
        .iter()
        .map(|phase| {
            let status = phase.phase_status.map_or("", BuildStatus::as_str);
            let context = phase
                .contexts
                .iter()
                .flatten()
                .filter_map(|c| {
                    let (code, message) = (&c.status_code, &c.message);
                    match (code.is_empty(), message.is_empty()) {
                        (true, true) => None,
                        (false, false) => Some(format!("{code}: {message}")),
                        _ => Some(format!("{code}{message}")),
                    }
                })
                .collect::<Vec<_>>()
                .join("; ");
            let name = phase.phase_type.as_str();
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
                duration: phase
                    .duration_in_seconds
                    .map_or_else(String::new, |s| view::format_duration(s as f64)),
                context,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::builds::tests::sample_record;
    use super::*;

    #[test]
    fn phases_read_well() {
        use kiln_domain::build::{BuildPhase, PhaseContext, PhaseType};
        let phase = |phase_type, phase_status, end_time, contexts| BuildPhase {
            phase_type,
            phase_status,
            start_time: 1.0,
            end_time,
            contexts,
        };
        let mut record = sample_record();
        record.phases = vec![
            phase(
                PhaseType::Submitted,
                Some(BuildStatus::Succeeded),
                Some(1.0),
                vec![],
            ),
            phase(
                PhaseType::Build,
                Some(BuildStatus::Failed),
                Some(4.0),
                vec![PhaseContext::new(
                    "COMMAND_EXECUTION_ERROR",
                    "exit status 1",
                )],
            ),
            phase(PhaseType::Finalizing, None, None, vec![]),
            phase(PhaseType::Completed, None, None, vec![]),
        ];
        let build = record.to_api("r", "");
        let rows = phase_rows(&build);
        assert_eq!(rows[1].context, "COMMAND_EXECUTION_ERROR: exit status 1");
        assert_eq!(rows[1].status_class, "bad");
        assert_eq!(rows[2].status, "In progress");
        assert_eq!(rows[3].status, "");
    }
}

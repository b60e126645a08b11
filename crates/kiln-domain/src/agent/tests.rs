use super::*;
use crate::build::PhaseContext;

fn stored() -> BuildRecord {
    serde_json::from_value(serde_json::json!({
        "account_id": "111111111111", "project_name": "p", "uuid": "u", "build_number": 3,
        "status": "IN_PROGRESS", "current_phase": "QUEUED",
        "phases": [{"phase_type": "SUBMITTED", "phase_status": "SUCCEEDED", "start_time": 1.0,
                    "end_time": 1.0, "contexts": []},
                   {"phase_type": "QUEUED", "phase_status": null, "start_time": 1.0,
                    "end_time": null, "contexts": []}],
        "start_time": 1.0, "end_time": null, "initiator": "me",
        "settings": serde_json::to_value(crate::start::StartBuildInput::default()
            .resolve(&crate::project::ProjectRecord {
                account_id: "111111111111".into(), name: "p".into(),
                settings: crate::project::ProjectSettings {
                    source: serde_json::from_value(serde_json::json!(
                        {"type": "GITHUB", "location": "https://git.example.com/a.git"}
                    )).unwrap(),
                    ..Default::default()
                },
                badge_enabled: false, badge_token: "t".into(),
                created: 1.0, last_modified: 1.0, source_epoch: 0,
                public: Default::default() }).unwrap()).unwrap(),
        "resolved_source_version": null, "git_ref": null, "source_epoch": 0,
        "artifacts": null, "secondary_artifacts": [], "exported_environment_variables": [],
        "idempotency_token": null
    }))
    .unwrap()
}

#[test]
fn progress_changes_only_what_the_runner_owns() {
    let stored = stored();
    let mut ran = stored.clone();
    ran.end_phase(BuildStatus::Succeeded, None, 2.0);
    ran.begin_phase(PhaseType::Provisioning, 2.0);
    // What an agent must not change: another project, number or account.
    ran.project_name = "other".into();
    ran.account_id = "222222222222".into();
    ran.build_number = 99;
    ran.commit = crate::commit::CommitSummary::parse(b"Ada\0Add the engine");
    let saved = BuildProgress::of(&ran, 7).apply_to(&stored).unwrap();
    assert_eq!(saved.current_phase, PhaseType::Provisioning);
    assert_eq!(saved.commit, ran.commit, "the runner reports the commit");
    assert_eq!(saved.phases.len(), 3);
    assert_eq!(
        (
            saved.project_name.as_str(),
            saved.account_id.as_str(),
            saved.build_number
        ),
        ("p", "111111111111", 3)
    );
}

#[test]
fn progress_cannot_rewrite_saved_phases_or_exceed_bounds() {
    let stored = stored();
    let mut rewritten = stored.clone();
    rewritten.phases[0].contexts = vec![PhaseContext::new("X", "rewritten")];
    assert!(BuildProgress::of(&rewritten, 1).apply_to(&stored).is_err());

    let mut shorter = stored.clone();
    shorter.phases.truncate(1);
    shorter.current_phase = PhaseType::Submitted;
    assert!(BuildProgress::of(&shorter, 1).apply_to(&stored).is_err());

    let mut noisy = stored.clone();
    noisy.end_phase(
        BuildStatus::Failed,
        Some(PhaseContext::new("E", "x".repeat(5000))),
        2.0,
    );
    assert!(BuildProgress::of(&noisy, 1).apply_to(&stored).is_err());

    let mut long_subject = stored.clone();
    long_subject.commit = Some(crate::commit::CommitSummary {
        subject: "s".repeat(5000),
        author: "a".into(),
    });
    assert!(
        BuildProgress::of(&long_subject, 1)
            .apply_to(&stored)
            .is_err()
    );

    let mut inconsistent = stored.clone();
    inconsistent.current_phase = PhaseType::Build;
    assert!(
        BuildProgress::of(&inconsistent, 1)
            .apply_to(&stored)
            .is_err()
    );
}

#[test]
fn registrations_are_checked() {
    let good = Registration {
        name: "gpu-1".into(),
        version: "0.1.0".into(),
        os: "linux".into(),
        arch: "x86_64".into(),
        executor: "local".into(),
        capacity: 2,
        labels: vec!["gpu".into()],
        cpus: 2,
        memory_mib: 1024,
        fleet: None,
    };
    assert_eq!(check_registration(&good), Ok(()));
    for bad in [
        Registration {
            name: String::new(),
            ..good.clone()
        },
        Registration {
            name: "-x".into(),
            ..good.clone()
        },
        Registration {
            name: "a b".into(),
            ..good.clone()
        },
        Registration {
            name: "a".repeat(65),
            ..good.clone()
        },
        Registration {
            capacity: 0,
            ..good.clone()
        },
        Registration {
            capacity: 65,
            ..good.clone()
        },
        Registration {
            arch: "x\n".into(),
            ..good.clone()
        },
        Registration {
            labels: vec![String::new()],
            ..good.clone()
        },
    ] {
        assert!(check_registration(&bad).is_err(), "{bad:?}");
    }
}

//! What the build page tells beyond the API's `Build` shape: the commit (subject, author, its
//! page on the forge), what started the build (by hand, a webhook, a retry), who, and the
//! builds of the project before and after it. Read from the stored build record.

use kiln_domain::build::BuildRecord;
use kiln_domain::commit::RepositoryPage;
use kiln_domain::fleet::FleetRecord;
use kiln_domain::webhook::Forge;
use kiln_store::StoreError;

use crate::state::AppState;

/// Characters of a commit id shown.
const SHORT_SHA: usize = 8;

/// A link: what it says and where it goes.
pub struct Link {
    pub text: String,
    pub url: String,
}

/// The commit a build checked out.
pub struct CommitView {
    pub short_sha: String,
    pub sha: String,
    /// Empty when the runner could not read it (or the build has not checked out yet).
    pub subject: String,
    pub author: String,
    /// The commit's page on its forge; empty when the source is on no forge Kiln knows.
    pub url: String,
    /// The forge's name, for the link's text.
    pub forge: &'static str,
}

/// The commit of `record`, once its source is checked out.
pub fn commit_view(record: &BuildRecord) -> Option<CommitView> {
    let sha = record.resolved_source_version.clone()?;
    let page = repository_page(record);
    let summary = record.commit.clone().unwrap_or_default();
    Some(CommitView {
        short_sha: sha.chars().take(SHORT_SHA).collect(),
        url: page
            .as_ref()
            .map_or_else(String::new, |p| p.commit_url(&sha)),
        forge: page.as_ref().map_or("", |p| p.forge.name()),
        subject: summary.subject,
        author: summary.author,
        sha,
    })
}

/// Where the build's repository lives on the web: as its webhook's payload said, else as its
/// source location says.
fn repository_page(record: &BuildRecord) -> Option<RepositoryPage> {
    record.repository_page.clone().or_else(|| {
        let source = &record.settings.source;
        RepositoryPage::from_source(source.source_type.as_deref(), source.location.as_deref()?)
    })
}

/// What started a build: a sentence, and the thing it names (a build, a pull request).
pub struct TriggerView {
    pub summary: String,
    pub link: Option<Link>,
}

/// The build number and page of another build of the project.
pub struct BuildRef {
    pub number: i64,
    pub url: String,
}

/// The trigger of `record`; `retried` is the build it retries, when it is still stored.
pub fn trigger_view(record: &BuildRecord, retried: Option<&BuildRef>) -> TriggerView {
    let build_link = |r: &BuildRef| Link {
        text: format!("#{}", r.number),
        url: r.url.clone(),
    };
    if record.retry_of.is_some() || record.auto_retry.number > 0 {
        let summary = if record.auto_retry.number > 0 {
            format!(
                "Automatic retry {} of {}, of",
                record.auto_retry.number, record.auto_retry.limit
            )
        } else {
            "Retry of".to_string()
        };
        return match retried {
            Some(r) => TriggerView {
                summary,
                link: Some(build_link(r)),
            },
            None => TriggerView {
                summary: format!("{summary} a build that is no longer stored"),
                link: None,
            },
        };
    }
    let variable = |name: &str| {
        record
            .trigger_variables
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    };
    let Some(event) = variable("CODEBUILD_WEBHOOK_EVENT") else {
        return TriggerView {
            summary: "Started by hand (console, CLI or API)".to_string(),
            link: None,
        };
    };
    let forge = webhook_forge(&record.initiator)
        .or(record.repository_page.as_ref().map(|p| p.forge))
        .map_or("Forge", Forge::name);
    let what = event.replace('_', " ").to_lowercase();
    let pull_request = variable("CODEBUILD_WEBHOOK_TRIGGER")
        .and_then(|t| t.strip_prefix("pr/"))
        .and_then(|n| n.parse::<u64>().ok());
    match pull_request {
        Some(number) => TriggerView {
            summary: format!("{forge} webhook: {what}"),
            link: Some(Link {
                text: format!("pull request #{number}"),
                url: record
                    .repository_page
                    .as_ref()
                    .map_or_else(String::new, |p| p.pull_request_url(number)),
            }),
        },
        None => {
            let head = variable("CODEBUILD_WEBHOOK_HEAD_REF").unwrap_or_default();
            let head = head
                .strip_prefix("refs/heads/")
                .or_else(|| head.strip_prefix("refs/tags/"))
                .unwrap_or(head);
            let to = if head.is_empty() {
                String::new()
            } else {
                format!(" to {head}")
            };
            TriggerView {
                summary: format!("{forge} webhook: {what}{to}"),
                link: None,
            }
        }
    }
}

/// The forge a webhook build's initiator (`GitHub-Hookshot/<delivery>`) names.
fn webhook_forge(initiator: &str) -> Option<Forge> {
    let (name, _) = initiator.split_once('/')?;
    [
        Forge::GitHub,
        Forge::GitLab,
        Forge::Gitea,
        Forge::Forgejo,
        Forge::Bitbucket,
    ]
    .into_iter()
    .find(|f| f.initiator_name() == name)
}

/// Who started a build, in words: a forge's webhook, an automatic retry, or an access key
/// (the signed-in one is "you"). Kiln knows access keys by id only.
pub fn initiator_name(record: &BuildRecord, signed_in_key: &str) -> String {
    if record.auto_retry.number > 0 {
        return "Automatic retry".to_string();
    }
    if let Some(forge) = webhook_forge(&record.initiator) {
        return format!("{} webhook", forge.name());
    }
    if record.initiator == signed_in_key {
        format!("You (access key {})", record.initiator)
    } else {
        format!("Access key {}", record.initiator)
    }
}

/// The agent (`kiln agent`) that ran a build, and its fleet.
pub struct RanOn {
    pub agent: String,
    pub fleet: String,
    /// The fleet's page; empty when the fleet is gone (deleted, or re-created under its name).
    pub fleet_url: String,
}

/// Where `build` ran, if an agent ran it; `fleet` is the account's fleet of the build's fleet
/// name, if there is one.
fn ran_on(build: &BuildRecord, fleet: Option<&FleetRecord>) -> Option<RanOn> {
    let agent = build.agent.clone()?;
    let arn = build.settings.environment.fleet_arn().unwrap_or_default();
    let (fleet, fleet_url) = match fleet {
        Some(f) if f.arn == arn => (f.name.clone(), super::fleets::fleet_url(&f.name)),
        _ => (fleet_name_of(arn).to_string(), String::new()),
    };
    Some(RanOn {
        agent,
        fleet,
        fleet_url,
    })
}

/// `NAME` of `arn:aws:codebuild:<region>:<account>:fleet/NAME:ID`.
fn fleet_name_of(arn: &str) -> &str {
    arn.split_once(":fleet/")
        .map(|(_, rest)| rest.split_once(':').map_or(rest, |(name, _)| name))
        .unwrap_or(arn)
}

/// [`ran_on`] for `record`, with its fleet read from the store. A read that fails leaves the
/// fact out of the page.
pub async fn read_ran_on(state: &AppState, record: &BuildRecord) -> Option<RanOn> {
    record.agent.as_ref()?;
    let arn = record.settings.environment.fleet_arn().unwrap_or_default();
    let fleet = match fleet_name_of(arn) {
        "" => Ok(None),
        name => state.store.fleet(&record.account_id, name).await,
    };
    match fleet {
        Ok(fleet) => ran_on(record, fleet.as_ref()),
        Err(err) => {
            tracing::error!(error = %err, "cannot read the fleet of a build");
            ran_on(record, None)
        }
    }
}

/// The builds of the project just before and after a build, by build number.
#[derive(Default)]
pub struct Neighbours {
    pub previous: Option<BuildRef>,
    pub next: Option<BuildRef>,
    /// The build the page's build retries.
    pub retried: Option<BuildRef>,
}

/// The builds next to `record` (the project's current builds only) and the one it retries;
/// `builds_url` is where build pages live (`…/<uuid>` each).
pub async fn neighbours(
    state: &AppState,
    record: &BuildRecord,
    builds_url: &str,
) -> Result<Neighbours, StoreError> {
    let (account, project) = (&record.account_id, Some(record.project_name.as_str()));
    let number = Some(record.build_number);
    let before = state
        .store
        .list_builds(account, project, false, number, 1)
        .await?;
    let after = state
        .store
        .list_builds(account, project, true, number, 1)
        .await?;
    let uuid_of = |id: &String| id.split_once(':').map(|(_, uuid)| uuid.to_string());
    let previous = before.items.first().and_then(uuid_of);
    let next = after.items.first().and_then(uuid_of);
    let wanted: Vec<&str> = [&previous, &next, &record.retry_of]
        .into_iter()
        .flatten()
        .map(String::as_str)
        .collect();
    let found = if wanted.is_empty() {
        Vec::new()
    } else {
        state.store.get_builds(account, &wanted).await?
    };
    let find = |uuid: &Option<String>| {
        let uuid = uuid.as_deref()?;
        found
            .iter()
            .find(|b| b.uuid == uuid && b.project_name == record.project_name)
            .map(|b| BuildRef {
                number: b.build_number,
                url: format!("{builds_url}/{}", b.uuid),
            })
    };
    Ok(Neighbours {
        previous: find(&previous),
        next: find(&next),
        retried: find(&record.retry_of),
    })
}

#[cfg(test)]
mod tests {
    use kiln_domain::commit::CommitSummary;
    use kiln_domain::retry::{AutoRetry, NewBuild};
    use serde_json::json;

    use super::*;

    const SHA: &str = "0123456789abcdef0123456789abcdef01234567";

    fn record(source_type: &str, location: &str) -> BuildRecord {
        let settings = serde_json::from_value(json!({
            "source": {"type": source_type, "location": location},
            "sourceVersion": null,
            "secondarySources": [], "artifacts": {"type": "NO_ARTIFACTS"},
            "secondaryArtifacts": [], "environment": {}, "serviceRole": null,
            "timeoutInMinutes": 60, "queuedTimeoutInMinutes": 480,
            "buildspecOverride": null, "environmentVariablesOverride": [],
            "debugSessionEnabled": null
        }))
        .unwrap();
        BuildRecord::submitted(NewBuild {
            account_id: "1",
            project_name: "app",
            uuid: "u".into(),
            settings,
            source_epoch: 0,
            initiator: "AKIAEXAMPLE".into(),
            now: 0.0,
        })
    }

    fn variables(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn the_commit_links_to_its_forge() {
        let mut build = record("GITHUB", "https://github.com/acme/app.git");
        assert!(commit_view(&build).is_none(), "not checked out yet");
        build.resolved_source_version = Some(SHA.into());
        build.commit = CommitSummary::parse(b"Ada\0Add the engine");
        let commit = commit_view(&build).unwrap();
        assert_eq!(commit.short_sha, "01234567");
        assert_eq!(
            (commit.subject.as_str(), commit.author.as_str()),
            ("Add the engine", "Ada")
        );
        assert_eq!(
            commit.url,
            format!("https://github.com/acme/app/commit/{SHA}")
        );
        assert_eq!(commit.forge, "GitHub");

        // A webhook's page wins over the source location; a local source has none.
        build.repository_page =
            RepositoryPage::from_payload(Forge::GitLab, "https://gitlab.example.com/g/app");
        assert_eq!(
            commit_view(&build).unwrap().url,
            format!("https://gitlab.example.com/g/app/-/commit/{SHA}")
        );
        let mut local = record("GITHUB", "/srv/git/app");
        local.resolved_source_version = Some(SHA.into());
        let commit = commit_view(&local).unwrap();
        assert_eq!((commit.url.as_str(), commit.subject.as_str()), ("", ""));
    }

    #[test]
    fn triggers_read_well() {
        let manual = record("GITHUB", "/srv/git/app");
        let trigger = trigger_view(&manual, None);
        assert!(trigger.summary.starts_with("Started by hand"));
        assert!(trigger.link.is_none());
        assert_eq!(
            initiator_name(&manual, "AKIAEXAMPLE"),
            "You (access key AKIAEXAMPLE)"
        );
        assert_eq!(
            initiator_name(&manual, "AKIAOTHER"),
            "Access key AKIAEXAMPLE"
        );

        let mut pull = record("GITHUB", "/srv/git/app");
        pull.initiator = "GitHub-Hookshot/d-1".into();
        pull.repository_page =
            RepositoryPage::from_payload(Forge::GitHub, "https://github.com/o/r");
        pull.trigger_variables = variables(&[
            ("CODEBUILD_WEBHOOK_EVENT", "PULL_REQUEST_CREATED"),
            ("CODEBUILD_WEBHOOK_TRIGGER", "pr/2"),
        ]);
        let trigger = trigger_view(&pull, None);
        assert_eq!(trigger.summary, "GitHub webhook: pull request created");
        let link = trigger.link.unwrap();
        assert_eq!(
            (link.text.as_str(), link.url.as_str()),
            ("pull request #2", "https://github.com/o/r/pull/2")
        );
        assert_eq!(initiator_name(&pull, "AKIAEXAMPLE"), "GitHub webhook");

        let mut push = record("GITHUB", "/srv/git/app");
        push.initiator = "Bitbucket-Webhooks/x".into();
        push.trigger_variables = variables(&[
            ("CODEBUILD_WEBHOOK_EVENT", "PUSH"),
            ("CODEBUILD_WEBHOOK_HEAD_REF", "refs/heads/main"),
        ]);
        assert_eq!(
            trigger_view(&push, None).summary,
            "Bitbucket webhook: push to main"
        );

        // A retry of the webhook build is a retry, whatever variables it carries.
        let mut retry = push.retried("u2".into(), 0, "AKIAEXAMPLE".into(), 1.0);
        let three = BuildRef {
            number: 3,
            url: "/projects/app/builds/u".into(),
        };
        let trigger = trigger_view(&retry, Some(&three));
        assert_eq!(trigger.summary, "Retry of");
        let link = trigger.link.unwrap();
        assert_eq!(
            (link.text.as_str(), link.url.as_str()),
            ("#3", three.url.as_str())
        );
        assert!(
            trigger_view(&retry, None)
                .summary
                .contains("no longer stored")
        );
        retry.auto_retry = AutoRetry {
            limit: 2,
            number: 1,
            next: None,
            previous: Some("u".into()),
        };
        assert_eq!(
            trigger_view(&retry, Some(&three)).summary,
            "Automatic retry 1 of 2, of"
        );
        assert_eq!(initiator_name(&retry, "AKIAEXAMPLE"), "Automatic retry");
    }

    #[test]
    fn builds_an_agent_ran_name_it_and_their_fleet() {
        let input: kiln_domain::fleet::FleetInput = serde_json::from_value(json!({
            "name": "linux", "baseCapacity": 1, "environmentType": "LINUX_CONTAINER",
            "computeType": "BUILD_GENERAL1_SMALL"
        }))
        .unwrap();
        let fleet = kiln_domain::fleet::validate_create(input, "1", "r", "id-1", 0.0).unwrap();
        let mut build = super::super::builds::tests::sample_record();
        build.settings.environment.fleet = Some(kiln_domain::fleet::ProjectFleet {
            fleet_arn: Some(fleet.arn.clone()),
        });
        assert!(ran_on(&build, Some(&fleet)).is_none(), "no agent ran it");
        build.agent = Some("gpu-1".into());
        let on = ran_on(&build, Some(&fleet)).unwrap();
        assert_eq!(
            (on.agent.as_str(), on.fleet.as_str(), on.fleet_url.as_str()),
            ("gpu-1", "linux", "/fleets/linux")
        );
        // A fleet re-created under the name is another fleet: no link.
        let mut recreated = fleet.clone();
        recreated.arn = "arn:aws:codebuild:r:1:fleet/linux:id-2".into();
        let on = ran_on(&build, Some(&recreated)).unwrap();
        assert_eq!((on.fleet.as_str(), on.fleet_url.as_str()), ("linux", ""));
        assert_eq!(fleet_name_of("arn:aws:codebuild:r:1:fleet/a-b:id"), "a-b");
    }
}

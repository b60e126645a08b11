//! The normalized event every forge's delivery becomes (docs/webhooks.md §3), and the build it
//! asks for, with CodeBuild's `CODEBUILD_WEBHOOK_*` variables (docs/webhooks.md §5).

use super::forge::Forge;
use crate::commit::RepositoryPage;
use crate::refs::GitRef;

/// The commit id forges send for "no commit": before a new branch, after a deleted one.
pub const NULL_COMMIT: &str = "0000000000000000000000000000000000000000";

/// CodeBuild's webhook event names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    Push,
    PullRequestCreated,
    PullRequestUpdated,
    PullRequestReopened,
    PullRequestMerged,
    PullRequestClosed,
    Released,
    Prereleased,
    WorkflowJobQueued,
}

impl EventType {
    pub const ALL: &'static [EventType] = &[
        EventType::Push,
        EventType::PullRequestCreated,
        EventType::PullRequestUpdated,
        EventType::PullRequestReopened,
        EventType::PullRequestMerged,
        EventType::PullRequestClosed,
        EventType::Released,
        EventType::Prereleased,
        EventType::WorkflowJobQueued,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Push => "PUSH",
            EventType::PullRequestCreated => "PULL_REQUEST_CREATED",
            EventType::PullRequestUpdated => "PULL_REQUEST_UPDATED",
            EventType::PullRequestReopened => "PULL_REQUEST_REOPENED",
            EventType::PullRequestMerged => "PULL_REQUEST_MERGED",
            EventType::PullRequestClosed => "PULL_REQUEST_CLOSED",
            EventType::Released => "RELEASED",
            EventType::Prereleased => "PRERELEASED",
            EventType::WorkflowJobQueued => "WORKFLOW_JOB_QUEUED",
        }
    }

    pub fn parse(text: &str) -> Option<EventType> {
        Self::ALL.iter().copied().find(|e| e.as_str() == text)
    }

    pub fn is_pull_request(self) -> bool {
        matches!(
            self,
            EventType::PullRequestCreated
                | EventType::PullRequestUpdated
                | EventType::PullRequestReopened
                | EventType::PullRequestMerged
                | EventType::PullRequestClosed
        )
    }
}

/// What happened at the forge, in CodeBuild's terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookEvent {
    pub forge: Forge,
    pub event: EventType,
    /// `refs/heads/<branch>` or `refs/tags/<tag>`; for pull requests the source branch.
    pub head_ref: String,
    /// Pull requests only: `refs/heads/<target branch>`.
    pub base_ref: Option<String>,
    pub actor_account_id: Option<String>,
    /// Paths the payload lists as added, modified or removed.
    pub changed_files: Vec<String>,
    /// The head commit's message, when the payload carries it.
    pub commit_message: Option<String>,
    /// The commit to build.
    pub head_commit: Option<String>,
    /// Pushes only: the commit before the push ([`NULL_COMMIT`] for a new ref).
    pub prev_commit: Option<String>,
    pub merge_commit: Option<String>,
    pub pull_request_number: Option<u64>,
    /// A push that deletes its branch or tag.
    pub branch_deleted: bool,
    pub repository_name: Option<String>,
    /// The repository's web page, when the payload gives one the console can link to.
    pub repository_page: Option<RepositoryPage>,
    /// Releases only.
    pub tag_name: Option<String>,
    pub release_name: Option<String>,
}

/// The build an event asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildPlan {
    /// What the checkout fetches: the pushed or pull-request head commit.
    pub source_version: String,
    /// The branch or tag whose badge the build counts for; never set for pull requests.
    pub git_ref: Option<GitRef>,
    pub trigger_variables: Vec<(String, String)>,
    /// `Build.initiator`, naming the forge and the delivery.
    pub initiator: String,
    /// The repository's web page, for the console's links to the commit and pull request.
    pub repository_page: Option<RepositoryPage>,
}

impl WebhookEvent {
    /// The branch or tag name in `head_ref`.
    pub fn ref_name(&self) -> &str {
        self.head_ref
            .strip_prefix("refs/heads/")
            .or_else(|| self.head_ref.strip_prefix("refs/tags/"))
            .unwrap_or(&self.head_ref)
    }

    fn is_tag(&self) -> bool {
        self.head_ref.starts_with("refs/tags/")
    }

    /// `CODEBUILD_WEBHOOK_TRIGGER`: `pr/<n>`, `tag/<name>` or `branch/<name>`.
    pub fn trigger(&self) -> String {
        match self.pull_request_number {
            Some(number) if self.event.is_pull_request() => format!("pr/{number}"),
            _ if self.is_tag() => format!("tag/{}", self.ref_name()),
            _ => format!("branch/{}", self.ref_name()),
        }
    }

    /// The build this event asks for, or why it asks for none.
    pub fn plan_build(&self, delivery_id: Option<&str>) -> Result<BuildPlan, String> {
        if self.branch_deleted {
            return Err(format!("the push deletes {}", super::shown(&self.head_ref)));
        }
        let git_ref = if self.event.is_pull_request() {
            None
        } else if self.is_tag() {
            Some(GitRef::Tag(self.ref_name().to_string()))
        } else {
            Some(GitRef::Branch(self.ref_name().to_string()))
        };
        let source_version = match (&self.head_commit, self.event) {
            (Some(commit), _) => commit.clone(),
            // A release names its tag, not always a commit.
            (None, EventType::Released | EventType::Prereleased) => self.head_ref.clone(),
            (None, _) => return Err("the payload names no commit to build".into()),
        };
        let text = |value: &Option<String>| value.clone().unwrap_or_default();
        let mut trigger_variables = vec![
            ("CODEBUILD_WEBHOOK_EVENT", self.event.as_str().to_string()),
            ("CODEBUILD_WEBHOOK_HEAD_REF", self.head_ref.clone()),
            ("CODEBUILD_WEBHOOK_BASE_REF", text(&self.base_ref)),
            ("CODEBUILD_WEBHOOK_TRIGGER", self.trigger()),
            (
                "CODEBUILD_WEBHOOK_ACTOR_ACCOUNT_ID",
                text(&self.actor_account_id),
            ),
            ("CODEBUILD_WEBHOOK_PREV_COMMIT", text(&self.prev_commit)),
            ("CODEBUILD_WEBHOOK_MERGE_COMMIT", text(&self.merge_commit)),
        ];
        // CodeBuild names a pull-request build's version `pr/<n>`; Kiln checks out the head
        // commit itself (not every forge serves `refs/pull/<n>/head`) and shows the build the
        // name CodeBuild gives it. Trigger variables come after CodeBuild's own, so this wins.
        if self.event.is_pull_request() {
            trigger_variables.push(("CODEBUILD_SOURCE_VERSION", self.trigger()));
        }
        let delivery = delivery_id.unwrap_or("unknown");
        Ok(BuildPlan {
            source_version,
            git_ref,
            trigger_variables: trigger_variables
                .into_iter()
                .map(|(name, value)| (name.to_string(), value))
                .collect(),
            initiator: format!("{}/{delivery}", self.forge.initiator_name()),
            repository_page: self.repository_page.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(event: EventType, head_ref: &str) -> WebhookEvent {
        WebhookEvent {
            forge: Forge::GitHub,
            event,
            head_ref: head_ref.into(),
            base_ref: None,
            actor_account_id: Some("88621008".into()),
            changed_files: Vec::new(),
            commit_message: None,
            head_commit: Some("c".repeat(40)),
            prev_commit: Some(NULL_COMMIT.into()),
            merge_commit: None,
            pull_request_number: None,
            branch_deleted: false,
            repository_name: None,
            repository_page: None,
            tag_name: None,
            release_name: None,
        }
    }

    fn var<'a>(plan: &'a BuildPlan, name: &str) -> Option<&'a str> {
        plan.trigger_variables
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    #[test]
    fn branch_push_builds_the_commit_for_the_branch() {
        let plan = event(EventType::Push, "refs/heads/feature/x")
            .plan_build(Some("d1"))
            .unwrap();
        assert_eq!(plan.source_version, "c".repeat(40));
        assert_eq!(plan.git_ref, Some(GitRef::Branch("feature/x".into())));
        assert_eq!(
            var(&plan, "CODEBUILD_WEBHOOK_TRIGGER"),
            Some("branch/feature/x")
        );
        assert_eq!(var(&plan, "CODEBUILD_WEBHOOK_EVENT"), Some("PUSH"));
        assert_eq!(
            var(&plan, "CODEBUILD_WEBHOOK_PREV_COMMIT"),
            Some(NULL_COMMIT)
        );
        assert_eq!(var(&plan, "CODEBUILD_WEBHOOK_BASE_REF"), Some(""));
        assert_eq!(var(&plan, "CODEBUILD_SOURCE_VERSION"), None);
        assert_eq!(plan.initiator, "GitHub-Hookshot/d1");
    }

    #[test]
    fn tag_push_counts_for_the_tag() {
        let plan = event(EventType::Push, "refs/tags/v1.2")
            .plan_build(None)
            .unwrap();
        assert_eq!(plan.git_ref, Some(GitRef::Tag("v1.2".into())));
        assert_eq!(var(&plan, "CODEBUILD_WEBHOOK_TRIGGER"), Some("tag/v1.2"));
    }

    #[test]
    fn pull_requests_never_move_a_badge() {
        let mut pr = event(EventType::PullRequestCreated, "refs/heads/feature");
        pr.pull_request_number = Some(12);
        pr.base_ref = Some("refs/heads/main".into());
        pr.prev_commit = None;
        let plan = pr.plan_build(Some("x")).unwrap();
        assert_eq!(plan.git_ref, None);
        assert_eq!(plan.source_version, "c".repeat(40));
        assert_eq!(var(&plan, "CODEBUILD_SOURCE_VERSION"), Some("pr/12"));
        assert_eq!(var(&plan, "CODEBUILD_WEBHOOK_TRIGGER"), Some("pr/12"));
        assert_eq!(
            var(&plan, "CODEBUILD_WEBHOOK_BASE_REF"),
            Some("refs/heads/main")
        );
        assert_eq!(var(&plan, "CODEBUILD_WEBHOOK_PREV_COMMIT"), Some(""));
    }

    #[test]
    fn deletions_and_commitless_events_build_nothing() {
        let mut deleted = event(EventType::Push, "refs/heads/old");
        deleted.branch_deleted = true;
        assert_eq!(
            deleted.plan_build(None).unwrap_err(),
            "the push deletes refs/heads/old"
        );
        let mut no_commit = event(EventType::Push, "refs/heads/x");
        no_commit.head_commit = None;
        assert!(no_commit.plan_build(None).is_err());
        let mut release = event(EventType::Released, "refs/tags/v2");
        release.head_commit = None;
        let plan = release.plan_build(None).unwrap();
        assert_eq!(plan.source_version, "refs/tags/v2");
        assert_eq!(plan.git_ref, Some(GitRef::Tag("v2".into())));
    }
}

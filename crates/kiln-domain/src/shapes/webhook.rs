//! CodeBuild's `Webhook` shape, as CreateWebhook, UpdateWebhook and a project answer it.

use serde::{Deserialize, Serialize};

use crate::webhook::{PullRequestBuildPolicy, WebhookFilter};

/// `Webhook`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Webhook {
    pub payload_url: String,
    /// Only in the answers that create or rotate it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    pub branch_filter: String,
    pub filter_groups: Vec<Vec<WebhookFilter>>,
    pub build_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manual_creation: Option<bool>,
    pub last_modified_secret: f64,
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pull_request_build_policy: Option<PullRequestBuildPolicy>,
}

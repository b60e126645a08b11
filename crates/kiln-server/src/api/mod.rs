//! The CodeBuild operations. Each takes the caller and its input and returns its output: the
//! build and project operations as Rust types (`kiln_domain::shapes`, which the console calls
//! directly), the others as JSON values; how those travel is the protocol's business (see
//! [`crate::protocol`]).

pub(crate) mod builds;
mod credentials;
pub(crate) mod fleets;
mod local_sources;
pub(crate) mod projects;
mod report_groups;
mod reports;
pub mod secrets_manager;
pub mod ssm;
pub(crate) mod visibility;
pub(crate) mod webhooks;

use kiln_domain::{ApiError, ErrorKind};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::state::AppState;

pub use kiln_domain::caller::Caller;

/// Runs one operation by its CodeBuild name.
pub async fn dispatch(
    state: &AppState,
    caller: &Caller,
    operation: &str,
    input: Value,
) -> Result<Value, ApiError> {
    match operation {
        "CreateProject" => {
            let input = projects::parse_project_input(input)?;
            serialised(projects::create(state, caller, input).await?)
        }
        "UpdateProject" => {
            let input = projects::parse_project_input(input)?;
            serialised(projects::update(state, caller, input).await?)
        }
        "DeleteProject" => typed(input, |i| projects::delete(state, caller, i)).await,
        "BatchGetProjects" => typed(input, |i| projects::batch_get(state, caller, i)).await,
        "ListProjects" => typed(input, |i| projects::list(state, caller, i)).await,
        "UpdateProjectVisibility" => typed(input, |i| visibility::update(state, caller, i)).await,
        "InvalidateProjectCache" => projects::invalidate_cache(state, caller, input).await,
        "ListCuratedEnvironmentImages" => serialised(projects::curated_images()),
        "StartBuild" => typed(input, |i| builds::start(state, caller, i)).await,
        "RetryBuild" => typed(input, |i| builds::retry(state, caller, i)).await,
        "StopBuild" => typed(input, |i| builds::stop(state, caller, i)).await,
        "BatchGetBuilds" => typed(input, |i| builds::batch_get(state, caller, i)).await,
        "BatchDeleteBuilds" => builds::batch_delete(state, caller, input).await,
        "ListBuilds" => typed(input, |i| builds::list(state, caller, i)).await,
        "ListBuildsForProject" => {
            typed(input, |i| builds::list_for_project(state, caller, i)).await
        }
        "ImportSourceCredentials" => credentials::import(state, caller, input).await,
        "ListSourceCredentials" => credentials::list(state, caller).await,
        "DeleteSourceCredentials" => credentials::delete(state, caller, input).await,
        "CreateWebhook" => webhooks::create(state, caller, input).await,
        "UpdateWebhook" => webhooks::update(state, caller, input).await,
        "DeleteWebhook" => webhooks::delete(state, caller, input).await,
        "CreateFleet" => fleets::create(state, caller, input).await,
        "UpdateFleet" => fleets::update(state, caller, input).await,
        "DeleteFleet" => fleets::delete(state, caller, input).await,
        "BatchGetFleets" => fleets::batch_get(state, caller, input).await,
        "ListFleets" => fleets::list(state, caller, input).await,
        "CreateReportGroup" => report_groups::create(state, caller, input).await,
        "UpdateReportGroup" => report_groups::update(state, caller, input).await,
        "DeleteReportGroup" => report_groups::delete(state, caller, input).await,
        "BatchGetReportGroups" => report_groups::batch_get(state, caller, input).await,
        "ListReportGroups" => report_groups::list(state, caller, input).await,
        "ListSharedReportGroups" => report_groups::list_shared(input),
        "GetReportGroupTrend" => report_groups::trend(state, caller, input).await,
        "BatchGetReports" => reports::batch_get(state, caller, input).await,
        "ListReports" => reports::list(state, caller, input).await,
        "ListReportsForReportGroup" => reports::list_for_group(state, caller, input).await,
        "DeleteReport" => reports::delete(state, caller, input).await,
        "DescribeTestCases" => reports::describe_test_cases(state, caller, input).await,
        "DescribeCodeCoverages" => reports::describe_code_coverages(state, caller, input).await,
        other if KNOWN_UNIMPLEMENTED.contains(&other) => Err(ApiError::new(
            ErrorKind::UnknownOperation,
            format!("Kiln does not implement the CodeBuild operation {other}"),
        )),
        other => Err(ApiError::new(
            ErrorKind::UnknownOperation,
            format!(
                "Unknown operation {}",
                crate::protocol::truncate(other, 128)
            ),
        )),
    }
}

/// Runs an operation that takes and returns typed shapes (the ones the console calls directly):
/// the JSON input is parsed into its input type, and its output serialised.
async fn typed<I, O, F>(input: Value, operation: impl FnOnce(I) -> F) -> Result<Value, ApiError>
where
    I: DeserializeOwned,
    O: Serialize,
    F: Future<Output = Result<O, ApiError>>,
{
    serialised(operation(parse_input(input)?).await?)
}

/// A typed operation's output as the JSON the protocol sends.
fn serialised(output: impl Serialize) -> Result<Value, ApiError> {
    serde_json::to_value(output).map_err(|err| {
        tracing::error!(error = %err, "serialising an operation's output");
        ApiError::internal()
    })
}

/// CodeBuild operations Kiln knows of but does not serve.
const KNOWN_UNIMPLEMENTED: &[&str] = &[
    "BatchGetBuildBatches",
    "BatchGetCommandExecutions",
    "BatchGetSandboxes",
    "DeleteBuildBatch",
    "DeleteResourcePolicy",
    "GetResourcePolicy",
    "ListBuildBatches",
    "ListBuildBatchesForProject",
    "ListCommandExecutionsForSandbox",
    "ListSandboxes",
    "ListSandboxesForProject",
    "ListSharedProjects",
    "PutResourcePolicy",
    "RetryBuildBatch",
    "StartBuildBatch",
    "StartCommandExecution",
    "StartSandbox",
    "StartSandboxConnection",
    "StopBuildBatch",
    "StopSandbox",
];

/// Deserializes an operation's input, naming the member that has the wrong type.
pub(crate) fn parse_input<T: DeserializeOwned>(input: Value) -> Result<T, ApiError> {
    serde_path_to_error::deserialize(input).map_err(|err| {
        let path = err.path().to_string();
        ApiError::new(
            ErrorKind::Serialization,
            format!("Invalid value at '{path}': {}", err.inner()),
        )
    })
}

/// The API's answer to a store failure: 503 when the storage itself fails (a full disk), so
/// clients retry later; 500 otherwise.
pub(crate) fn store_failure(err: kiln_store::StoreError) -> ApiError {
    tracing::error!(error = %err, "store failure");
    if err.is_unavailable() {
        ApiError::storage_unavailable()
    } else {
        ApiError::internal()
    }
}

/// `nextToken` values are opaque to callers: base64 of the listing they belong to and of the
/// keyset position where the next page starts (the key of the last item returned), so pages do
/// not shift while items come and go. A token that does not decode, or that belongs to another
/// listing or sort order, is refused as invalid input.
pub(crate) mod paging {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use kiln_domain::ApiError;
    use serde::Serialize;
    use serde::de::DeserializeOwned;

    /// Far longer than any token Kiln hands out.
    const MAX_TOKEN_LEN: usize = 2048;

    pub fn encode<K: Serialize>(listing: &str, key: &K) -> String {
        let text = serde_json::to_string(&(listing, key)).unwrap_or_default();
        URL_SAFE_NO_PAD.encode(text)
    }

    /// The token of the page after `next`, when there is one.
    pub fn token_after<K: Serialize>(listing: &str, next: Option<&K>) -> Option<String> {
        next.map(|key| encode(listing, key))
    }

    /// Sets `out[member]` to the token of the page after `next`, when there is one.
    pub fn set_next<K: Serialize>(
        out: &mut serde_json::Value,
        member: &str,
        listing: &str,
        next: Option<&K>,
    ) {
        if let Some(token) = token_after(listing, next) {
            out[member] = serde_json::Value::String(token);
        }
    }

    /// The key a page starts after: `None` for the first page.
    pub fn decode<K: DeserializeOwned>(
        listing: &str,
        token: Option<&str>,
    ) -> Result<Option<K>, ApiError> {
        let Some(token) = token.filter(|t| !t.is_empty()) else {
            return Ok(None);
        };
        Some(token)
            .filter(|t| t.len() <= MAX_TOKEN_LEN)
            .and_then(|t| URL_SAFE_NO_PAD.decode(t).ok())
            .and_then(|bytes| serde_json::from_slice::<(String, K)>(&bytes).ok())
            .filter(|(of, _)| of == listing)
            .map(|(_, key)| Some(key))
            .ok_or_else(|| ApiError::invalid_input("Invalid pagination token: nextToken"))
    }

    #[cfg(test)]
    mod tests {
        #[test]
        fn round_trip_and_garbage() {
            use super::{decode, encode};
            assert_eq!(decode("l", Some(&encode("l", &100))).unwrap(), Some(100));
            assert_eq!(decode::<i64>("l", None).unwrap(), None);
            assert!(decode::<i64>("l", Some("garbage!")).is_err());
            assert!(decode::<i64>("other", Some(&encode("l", &100))).is_err());
            assert!(decode::<i64>("l", Some(&encode("l", &"text"))).is_err());
            assert!(decode::<i64>("l", Some(&"A".repeat(5000))).is_err());
        }
    }
}

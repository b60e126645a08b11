//! Project operations: CreateProject, UpdateProject, DeleteProject, BatchGetProjects,
//! ListProjects and ListCuratedEnvironmentImages.

use kiln_domain::project::{self, ProjectInput, ProjectRecord, PublicLinks};
use kiln_domain::shapes::{
    BatchGetProjectsOutput, DeleteProjectOutput, EnvironmentImage, EnvironmentLanguage,
    EnvironmentPlatform, ListCuratedEnvironmentImagesOutput, ListProjectsOutput, Project,
    ProjectOutput,
};
use kiln_domain::validate::{self, Violations};
use kiln_domain::{ApiError, ErrorKind, enums, token};
use kiln_store::{ProjectKey, ProjectSort, StoreError};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Caller, paging, parse_input, store_failure};
use crate::state::AppState;

/// Projects per `ListProjects` page, as CodeBuild pages them.
const PAGE_SIZE: u64 = 100;

fn project_shape(state: &AppState, record: &ProjectRecord) -> Project {
    record.to_api(&PublicLinks {
        public_url: &state.public_url,
        region: &state.region,
    })
}

fn not_found(name: &str) -> ApiError {
    ApiError::not_found(format!(
        "Project cannot be found: {}",
        crate::protocol::truncate(name, 255)
    ))
}

/// A name given where `NonEmptyString` is allowed: the name itself or the project's ARN.
pub(crate) fn name_from_reference<'a>(
    state: &AppState,
    caller: &Caller,
    reference: &'a str,
) -> &'a str {
    let prefix = format!(
        "arn:aws:codebuild:{}:{}:project/",
        state.region, caller.account_id
    );
    reference.strip_prefix(prefix.as_str()).unwrap_or(reference)
}

/// Parses `CreateProject`/`UpdateProject` input. The settings are parsed on their own first:
/// through `#[serde(flatten)]` a wrong member type would lose the path to the member.
pub(super) fn parse_project_input(input: Value) -> Result<ProjectInput, ApiError> {
    parse_input::<project::ProjectSettings>(input.clone())?;
    parse_input(input)
}

/// CreateProject.
pub async fn create(
    state: &AppState,
    caller: &Caller,
    input: ProjectInput,
) -> Result<ProjectOutput, ApiError> {
    let new = project::validate_create(input)?;
    super::local_sources::check_project(state, &caller.account_id, &new.settings)?;
    super::fleets::check_environment(state, caller, new.settings.environment.as_ref()).await?;
    let now = state.now_epoch();
    let record = ProjectRecord {
        account_id: caller.account_id.clone(),
        name: new.name,
        settings: new.settings,
        badge_enabled: new.badge_enabled,
        badge_token: token::new_token(),
        created: now,
        last_modified: now,
        source_epoch: 0,
        public: Default::default(),
    };
    match state.store.create_project(&record).await {
        Ok(()) => Ok(ProjectOutput {
            project: project_shape(state, &record),
        }),
        Err(StoreError::AlreadyExists) => Err(ApiError::new(
            ErrorKind::ResourceAlreadyExists,
            format!("Project already exists: {}", record.name),
        )),
        // The fleet was deleted since it was checked.
        Err(StoreError::NotFound) => {
            super::fleets::check_environment(state, caller, record.settings.environment.as_ref())
                .await?;
            Err(ApiError::internal())
        }
        Err(e) => Err(store_failure(e)),
    }
}

/// UpdateProject: only the members given change. Like CreateProject's, its answer leaves the
/// webhook out (BatchGetProjects shows it).
pub async fn update(
    state: &AppState,
    caller: &Caller,
    input: ProjectInput,
) -> Result<ProjectOutput, ApiError> {
    let reference = validate::required("name", input.name.clone())?;
    let name = name_from_reference(state, caller, &reference);
    let mut record = state
        .store
        .get_project(&caller.account_id, name)
        .await
        .map_err(store_failure)?
        .ok_or_else(|| not_found(name))?;
    project::apply_update(&mut record, input, state.now_epoch())?;
    super::local_sources::check_project(state, &caller.account_id, &record.settings)?;
    super::fleets::check_environment(state, caller, record.settings.environment.as_ref()).await?;
    let change = state
        .badge_epoch
        .begin_project_change(&record.account_id, &record.name);
    let result = state.store.update_project(&record).await;
    drop(change);
    match result {
        Ok(()) => Ok(ProjectOutput {
            project: project_shape(state, &record),
        }),
        Err(StoreError::NotFound) => {
            // The project is gone, or the fleet it names was deleted since it was checked.
            super::fleets::check_environment(state, caller, record.settings.environment.as_ref())
                .await?;
            Err(not_found(name))
        }
        Err(e) => Err(store_failure(e)),
    }
}

/// The input of DeleteProject.
#[derive(Debug, Default, Deserialize)]
pub struct DeleteProjectInput {
    pub name: Option<String>,
}

pub async fn delete(
    state: &AppState,
    caller: &Caller,
    input: DeleteProjectInput,
) -> Result<DeleteProjectOutput, ApiError> {
    let reference = validate::required("name", input.name)?;
    let name = name_from_reference(state, caller, &reference);
    let _change = state
        .badge_epoch
        .begin_project_change(&caller.account_id, name);
    let deleted = state
        .builds
        .delete_project(&caller.account_id, name)
        .await
        .map_err(store_failure)?;
    if !deleted {
        return Err(not_found(name));
    }
    Ok(DeleteProjectOutput {})
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct InvalidateCacheInput {
    project_name: Option<String>,
}

/// InvalidateProjectCache: every cache the project saved before is missed from now on, on
/// every replica and agent (docs/cache.md).
pub async fn invalidate_cache(
    state: &AppState,
    caller: &Caller,
    input: Value,
) -> Result<Value, ApiError> {
    let input: InvalidateCacheInput = parse_input(input)?;
    let reference = validate::required("projectName", input.project_name)?;
    let name = name_from_reference(state, caller, &reference);
    let record = state
        .store
        .get_project(&caller.account_id, name)
        .await
        .map_err(store_failure)?
        .ok_or_else(|| not_found(name))?;
    state
        .builds
        .invalidate_project_cache(&record)
        .await
        .map_err(store_failure)?;
    Ok(json!({}))
}

/// The input of BatchGetProjects: project names or ARNs.
#[derive(Debug, Default, Deserialize)]
pub struct BatchGetProjectsInput {
    pub names: Option<Vec<String>>,
}

pub async fn batch_get(
    state: &AppState,
    caller: &Caller,
    input: BatchGetProjectsInput,
) -> Result<BatchGetProjectsOutput, ApiError> {
    let mut v = Violations::new();
    let names = input.names.unwrap_or_default();
    if names.is_empty() {
        v.add(
            "names",
            "[]",
            "Member must have length greater than or equal to 1",
        );
    }
    v.count("names", names.len(), 100);
    for (i, n) in names.iter().enumerate() {
        v.min_length(&format!("names.{}.member", i + 1), n, 1);
    }
    v.finish()?;
    let mut projects = Vec::new();
    let mut projects_not_found = Vec::new();
    for reference in names {
        let name = name_from_reference(state, caller, &reference);
        match state
            .store
            .get_project(&caller.account_id, name)
            .await
            .map_err(store_failure)?
        {
            Some(record) => {
                let mut project = project_shape(state, &record);
                project.webhook = super::webhooks::of_project(state, &record).await?;
                projects.push(project);
            }
            None => projects_not_found.push(reference),
        }
    }
    Ok(BatchGetProjectsOutput {
        projects,
        projects_not_found,
    })
}

/// The input of ListProjects.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListProjectsInput {
    pub sort_by: Option<String>,
    pub sort_order: Option<String>,
    pub next_token: Option<String>,
}

pub async fn list(
    state: &AppState,
    caller: &Caller,
    input: ListProjectsInput,
) -> Result<ListProjectsOutput, ApiError> {
    let mut v = Violations::new();
    if let Some(s) = &input.sort_by {
        v.one_of("sortBy", s, enums::PROJECT_SORT_BY);
    }
    if let Some(s) = &input.sort_order {
        v.one_of("sortOrder", s, enums::SORT_ORDER);
    }
    v.finish()?;
    let sort = match input.sort_by.as_deref() {
        Some("CREATED_TIME") => ProjectSort::Created,
        Some("LAST_MODIFIED_TIME") => ProjectSort::LastModified,
        _ => ProjectSort::Name,
    };
    let ascending = input.sort_order.as_deref() != Some("DESCENDING");
    let listing = format!(
        "projects:{sort:?}:{}",
        if ascending { "ASC" } else { "DESC" }
    );
    // The sort value travels as its bits: a time read back exactly, whatever its digits.
    let after = match paging::decode::<(u64, String)>(&listing, input.next_token.as_deref())? {
        Some((bits, name)) if f64::from_bits(bits).is_finite() => Some(ProjectKey {
            sort_value: f64::from_bits(bits),
            name,
        }),
        Some(_) => {
            return Err(ApiError::invalid_input(
                "Invalid pagination token: nextToken",
            ));
        }
        None => None,
    };
    let page = state
        .store
        .list_projects(
            &caller.account_id,
            sort,
            ascending,
            after.as_ref(),
            PAGE_SIZE,
        )
        .await
        .map_err(store_failure)?;
    let next = page.next.map(|next| (next.sort_value.to_bits(), next.name));
    Ok(ListProjectsOutput {
        projects: page.items,
        next_token: paging::token_after(&listing, next.as_ref()),
    })
}

/// The images of CodeBuild's standard families, under the model's own enum values (their tools
/// serve every language, so they are listed as `BASE`).
pub fn curated_images() -> ListCuratedEnvironmentImagesOutput {
    let image = |name: &str, description: &str, version: &str| EnvironmentImage {
        name: name.into(),
        description: description.into(),
        versions: vec![version.into()],
    };
    let platform = |platform: &str, images: Vec<EnvironmentImage>| EnvironmentPlatform {
        platform: platform.into(),
        languages: vec![EnvironmentLanguage {
            language: "BASE".into(),
            images,
        }],
    };
    ListCuratedEnvironmentImagesOutput {
        platforms: vec![
            platform(
                "UBUNTU",
                vec![
                    image(
                        "aws/codebuild/standard:7.0",
                        "CodeBuild standard build image 7.0 (Ubuntu 22.04)",
                        "aws/codebuild/standard:7.0-24.10.29",
                    ),
                    image(
                        "aws/codebuild/standard:6.0",
                        "CodeBuild standard build image 6.0 (Ubuntu 22.04)",
                        "aws/codebuild/standard:6.0-24.10.29",
                    ),
                    image(
                        "aws/codebuild/standard:5.0",
                        "CodeBuild standard build image 5.0 (Ubuntu 20.04)",
                        "aws/codebuild/standard:5.0-24.10.29",
                    ),
                ],
            ),
            platform(
                "AMAZON_LINUX",
                vec![
                    image(
                        "aws/codebuild/amazonlinux-x86_64-standard:5.0",
                        "Amazon Linux 2023 x86_64 standard image 5.0",
                        "aws/codebuild/amazonlinux-x86_64-standard:5.0-24.10.29",
                    ),
                    image(
                        "aws/codebuild/amazonlinux-aarch64-standard:3.0",
                        "Amazon Linux 2023 aarch64 standard image 3.0",
                        "aws/codebuild/amazonlinux-aarch64-standard:3.0-24.10.29",
                    ),
                ],
            ),
        ],
    }
}

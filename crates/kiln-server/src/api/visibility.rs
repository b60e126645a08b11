//! UpdateProjectVisibility: public builds (docs/public-builds.md).

use kiln_domain::shapes::UpdateProjectVisibilityOutput;
use kiln_domain::visibility::{self, UpdateVisibilityInput};
use kiln_domain::{ApiError, token};
use kiln_store::VisibilityUpdate;

use super::{Caller, store_failure};
use crate::state::AppState;

pub async fn update(
    state: &AppState,
    caller: &Caller,
    input: UpdateVisibilityInput,
) -> Result<UpdateProjectVisibilityOutput, ApiError> {
    let change = visibility::validate_update(input, &state.region, &caller.account_id)?;
    let new_alias = token::new_token();
    let update = VisibilityUpdate {
        visibility: change.visibility,
        resource_access_role: change.resource_access_role.as_deref(),
        new_alias: &new_alias,
        now: state.now_epoch(),
    };
    // The badge's Markdown and the project's facts the badge endpoint caches change with it.
    let badge_change = state
        .badge_epoch
        .begin_project_change(&caller.account_id, &change.project_name);
    let stored = state
        .store
        .set_project_visibility(&caller.account_id, &change.project_name, &update)
        .await;
    drop(badge_change);
    // An alias taken by another project (192 random bits: never in practice) is a store error.
    let project = stored.map_err(store_failure)?.ok_or_else(|| {
        ApiError::not_found(format!("Project cannot be found: {}", change.project_name))
    })?;
    Ok(UpdateProjectVisibilityOutput {
        project_arn: project.arn(&state.region),
        project_visibility: project.public.visibility,
        public_project_alias: project.public.alias,
    })
}

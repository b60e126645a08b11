//! The local-source rule at the API: every location a project or build gives is checked
//! against its account's rule (see [`kiln_runner::local_source`]) before it is stored. The
//! runner checks again before the checkout, as the configuration may have changed meanwhile.

use kiln_domain::ApiError;
use kiln_domain::build::BuildSettings;
use kiln_domain::project::{ProjectSettings, ProjectSource};
use kiln_runner::local_source::{LocalSourcePolicy, is_checked_out};

use crate::state::AppState;

/// Checks a project's primary and secondary sources.
pub(crate) fn check_project(
    state: &AppState,
    account_id: &str,
    settings: &ProjectSettings,
) -> Result<(), ApiError> {
    let policy = state.builds.local_sources(account_id);
    if let Some(source) = &settings.source {
        check(&policy, "source.location", source)?;
    }
    check_secondary(&policy, settings.secondary_sources.iter().flatten())
}

/// Checks the sources a build will check out; `location_overridden` names the primary one
/// after `sourceLocationOverride`.
pub(crate) fn check_build(
    state: &AppState,
    account_id: &str,
    settings: &BuildSettings,
    location_overridden: bool,
) -> Result<(), ApiError> {
    let policy = state.builds.local_sources(account_id);
    let field = if location_overridden {
        "sourceLocationOverride"
    } else {
        "source.location"
    };
    check(&policy, field, &settings.source)?;
    check_secondary(&policy, &settings.secondary_sources)
}

fn check_secondary<'a>(
    policy: &LocalSourcePolicy,
    sources: impl IntoIterator<Item = &'a ProjectSource>,
) -> Result<(), ApiError> {
    for (i, source) in sources.into_iter().enumerate() {
        check(
            policy,
            &format!("secondarySources.{}.location", i + 1),
            source,
        )?;
    }
    Ok(())
}

fn check(policy: &LocalSourcePolicy, field: &str, source: &ProjectSource) -> Result<(), ApiError> {
    let Some(location) = source.location.as_deref() else {
        return Ok(());
    };
    if !is_checked_out(source.source_type.as_deref()) {
        return Ok(());
    }
    policy
        .check(location)
        .map_err(|err| ApiError::invalid_input(format!("Invalid {field}: {err}")))
}

//! The `Store` contract, as one suite every backend runs unchanged.
//!
//! A backend's test target calls [`suite!`] with an async expression that opens a fresh, empty
//! store and returns it with whatever keeps it alive (a temporary directory, a database that is
//! dropped afterwards). Each case below becomes one `#[tokio::test]` of that target. Cases use
//! only the trait, and assert what a caller of the trait relies on.
#![allow(clippy::unwrap_used)] // Test code: a failed step fails the test.

pub mod agents;
pub mod auto_retry;
pub mod build_reads;
pub mod builds;
pub mod console;
pub mod credentials;
pub mod events;
pub mod fixtures;
pub mod fleet_builds;
pub mod fleets;
pub mod log_lines;
pub mod logs;
pub mod lookups;
pub mod project_cache;
pub mod projects;
pub mod queue;
pub mod report_contents;
pub mod report_fixtures;
pub mod report_groups;
pub mod report_trends;
pub mod reports;
pub mod secrets;
pub mod visibility;
pub mod webhooks;

/// Expands into one test per case of the contract, each on a fresh store from `$open`.
///
/// `$open` is an async expression of type `(G, std::sync::Arc<dyn kiln_store::Store>)`, where
/// `G` is kept alive for the test's length.
#[macro_export]
macro_rules! suite {
    ($open:expr) => {
        $crate::suite!(@cases $open;
            builds::racing_start_builds_with_one_token_store_one_build,
            builds::pages_neither_repeat_nor_skip_while_builds_start_and_go,
            builds::deleting_a_project_stops_its_queue_and_frees_its_name,
            queue::claims_honour_capacity_project_and_account_limits,
            queue::racing_owners_never_exceed_a_limit_nor_claim_a_build_twice,
            queue::a_lost_lease_cannot_save,
            queue::a_completed_build_releases_its_lease,
            queue::renewing_keeps_a_lease_and_reports_stop_requests,
            queue::stop_requests_end_queued_mark_leased_and_leave_complete,
            queue::a_stop_racing_claims_ends_each_build_once,
            queue::expiry_ends_each_build_exactly_once,
            queue::queued_builds_past_their_deadline_are_not_claimed,
            queue::deleting_a_project_marks_its_leased_builds,
            queue::queue_gauges_count_waiting_and_running_builds,
            auto_retry::a_failed_build_is_retried_once_up_to_its_limit,
            auto_retry::racing_callers_retry_each_build_once,
            auto_retry::stopped_succeeded_and_unlimited_builds_are_not_retried,
            auto_retry::builds_ended_by_lease_expiry_or_queued_timeout_are_retried,
            auto_retry::a_deleted_projects_builds_are_not_retried,
            logs::a_log_reads_back_from_any_offset_across_pieces,
            logs::appending_a_piece_again_changes_nothing,
            logs::appending_publishes_log_appended,
            logs::deleting_a_build_deletes_its_log,
            log_lines::line_numbers_and_starts_match_a_count_of_the_log,
            log_lines::line_marks_are_kept_once_and_go_with_their_build,
            lookups::the_default_branch_is_the_latest_one_built_without_a_source_version,
            lookups::a_refs_status_is_its_latest_builds,
            lookups::builds_are_got_by_uuid_within_their_account,
            build_reads::builds_are_read_saved_and_deleted_in_their_account,
            build_reads::builds_are_found_by_project_status_and_branch_newest_first,
            projects::projects_round_trip_and_stay_in_their_account,
            projects::updates_replace_a_project_that_still_exists,
            projects::listings_sort_and_page,
            visibility::a_project_made_public_keeps_its_alias_for_life,
            visibility::aliases_are_unique_and_projects_are_found_in_their_account,
            credentials::source_credentials_are_one_per_server_type,
            webhooks::webhooks_belong_to_their_project,
            webhooks::deliveries_claim_their_id_once_and_are_pruned,
            webhooks::a_body_is_claimed_once_per_window_whatever_its_delivery_id,
            webhooks::racing_claims_of_one_delivery_claim_it_once,
            console::console_sessions_expire_and_end,
            console::sign_in_attempts_lock_out_every_subject_and_a_success_clears_them,
            console::racing_sign_in_attempts_are_all_counted,
            console::the_first_server_secret_stays,
            project_cache::cache_generations_move_on_per_project_and_account,
            events::subscribers_hear_every_kind_of_write,
            events::refused_writes_announce_nothing,
            fleets::fleets_round_trip_and_stay_in_their_account,
            fleets::fleet_listings_sort_and_page,
            fleets::a_fleet_is_deleted_only_when_no_project_names_it,
            fleets::racing_projects_and_a_fleet_deletion_never_orphan_a_project,
            report_groups::report_groups_round_trip_and_stay_in_their_account,
            report_groups::report_group_listings_sort_and_page,
            report_groups::a_group_with_reports_is_deleted_only_with_them,
            reports::saving_a_report_is_one_transaction,
            reports::report_listings_filter_and_page_stably,
            report_contents::test_cases_filter_and_page,
            report_contents::code_coverages_sort_bound_and_page,
            report_trends::trends_and_a_refs_latest_reports,
            agents::agent_tokens_are_found_by_hash_and_revoked_once,
            agents::an_agent_name_is_one_live_session_per_fleet,
            agents::an_agent_renews_only_the_leases_it_lists,
            agents::builds_of_a_fleet_go_to_its_agents_or_to_overflow,
            agents::an_on_demand_fleet_overflows_only_while_its_agents_are_busy,
            fleet_builds::a_fleets_builds_are_its_running_then_its_queued_ones,
            secrets::parameters_keep_versions_and_stay_in_their_account,
            secrets::parameter_listings_follow_paths_and_page,
            secrets::secret_versions_move_their_stages,
            secrets::deleted_secrets_are_marked_or_gone,
        );
    };
    (@cases $open:expr; $($module:ident :: $case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $case() {
                let (_keep, store) = $open.await;
                $crate::$module::$case(store).await;
            }
        )*
    };
}

//! What a badge needs of its token's project, cached per badge under the projects' generation
//! (only project writes move it, so a build's change needs no project load), and the ref a
//! badge shows.

use std::borrow::Cow;
use std::sync::{Arc, Mutex, PoisonError};

use kiln_domain::badge_epoch::Shard;
use kiln_domain::refs::GitRef;
use kiln_store::StoreError;

use crate::state::AppState;

/// What a badge needs of its project; `None` for a token no project has.
#[derive(Debug)]
pub(super) struct ProjectFacts {
    pub project: Option<BadgeProject>,
}

#[derive(Debug)]
pub(super) struct BadgeProject {
    pub account_id: String,
    pub name: String,
    pub badge_enabled: bool,
    pub source_epoch: i64,
    /// The branch the project's `sourceVersion` names.
    pub default_branch: Option<String>,
}

impl BadgeProject {
    pub(super) fn shard(&self) -> Shard {
        Shard::of(&self.account_id, &self.name)
    }

    /// The ref a badge asks for, or else the branch `sourceVersion` names; `None` when only
    /// the builds can tell the default branch.
    pub(super) fn ref_for<'a>(&self, asked: Option<&'a GitRef>) -> Option<Cow<'a, GitRef>> {
        asked.map(Cow::Borrowed).or_else(|| {
            self.default_branch
                .clone()
                .map(|b| Cow::Owned(GitRef::Branch(b)))
        })
    }

    /// The ref a badge shows: the one asked for, else the project's default branch (from
    /// `sourceVersion`, else the branch its builds were made from); `None` when nothing tells.
    pub(super) async fn badge_ref(
        &self,
        state: &AppState,
        asked: Option<&GitRef>,
    ) -> Result<Option<GitRef>, StoreError> {
        if let Some(r) = self.ref_for(asked) {
            return Ok(Some(r.into_owned()));
        }
        let built = state
            .store
            .default_branch_built(&self.account_id, &self.name, self.source_epoch)
            .await?;
        Ok(built.map(GitRef::Branch))
    }
}

/// A badge's last read of its project, and the projects' generation it is valid under.
#[derive(Default)]
pub(super) struct FactsCell(Mutex<Option<(u64, Arc<ProjectFacts>)>>);

impl FactsCell {
    pub(super) fn get(&self, generation: u64) -> Option<Arc<ProjectFacts>> {
        match &*self.0.lock().unwrap_or_else(PoisonError::into_inner) {
            Some((g, facts)) if *g == generation => Some(Arc::clone(facts)),
            _ => None,
        }
    }

    fn remember(&self, generation: u64, facts: Arc<ProjectFacts>) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = Some((generation, facts));
    }
}

/// The project of a well-formed token, from `cell` while no project changed since it was
/// read, else from the store.
pub(super) async fn project_facts(
    state: &AppState,
    cell: &FactsCell,
    token: &str,
) -> Result<Arc<ProjectFacts>, StoreError> {
    let generation = state.badge_epoch.projects_stable_generation();
    if let Some(facts) = generation.and_then(|g| cell.get(g)) {
        return Ok(facts);
    }
    let project = state
        .store
        .project_by_badge_token(token)
        .await?
        .map(|p| BadgeProject {
            default_branch: p.default_branch(),
            account_id: p.account_id,
            name: p.name,
            badge_enabled: p.badge_enabled,
            source_epoch: p.source_epoch,
        });
    let facts = Arc::new(ProjectFacts { project });
    if let Some(g) = generation {
        cell.remember(g, Arc::clone(&facts));
    }
    Ok(facts)
}

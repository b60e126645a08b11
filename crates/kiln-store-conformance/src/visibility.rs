//! Public builds: visibility and the public alias (`UpdateProjectVisibility`).

use std::sync::Arc;

use kiln_domain::visibility::ProjectVisibility;
use kiln_store::{Store, StoreError, StoreEvent, VisibilityUpdate};

use crate::events::hear;
use crate::fixtures::{ACCOUNT, OTHER_ACCOUNT, project};

fn update<'a>(
    visibility: ProjectVisibility,
    role: Option<&'a str>,
    new_alias: &'a str,
    now: f64,
) -> VisibilityUpdate<'a> {
    VisibilityUpdate {
        visibility,
        resource_access_role: role,
        new_alias,
        now,
    }
}

pub async fn a_project_made_public_keeps_its_alias_for_life(store: Arc<dyn Store>) {
    let created = project(ACCOUNT, "a", 1.0);
    store.create_project(&created).await.unwrap();
    let stored = store.get_project(ACCOUNT, "a").await.unwrap().unwrap();
    assert_eq!(stored.public.visibility, ProjectVisibility::Private);
    assert_eq!(stored.public.alias, None);

    // Made private first: no alias is given.
    let private = update(ProjectVisibility::Private, None, "alias-1", 2.0);
    let set = store.set_project_visibility(ACCOUNT, "a", &private).await;
    assert_eq!(set.unwrap().unwrap().public.alias, None);
    assert_eq!(
        store.project_by_public_alias("alias-1").await.unwrap(),
        None
    );

    let mut feed = store.subscribe();
    let public = update(ProjectVisibility::PublicRead, Some("role"), "alias-1", 3.0);
    let made = store
        .set_project_visibility(ACCOUNT, "a", &public)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(made.public.visibility, ProjectVisibility::PublicRead);
    assert_eq!(made.public.alias.as_deref(), Some("alias-1"));
    assert_eq!(made.public.resource_access_role.as_deref(), Some("role"));
    assert_eq!(made.last_modified, 3.0);
    assert_eq!(made.settings, created.settings);
    assert_eq!(
        store.get_project(ACCOUNT, "a").await.unwrap(),
        Some(made.clone())
    );
    assert_eq!(
        store.project_by_public_alias("alias-1").await.unwrap(),
        Some(made.clone())
    );
    // Every replica hears of it (the badge's Markdown and cached facts depend on it).
    let changed = StoreEvent::ProjectChanged {
        account_id: ACCOUNT.into(),
        project_name: "a".into(),
    };
    hear(&mut feed, &changed).await;

    // Private and public again: the alias stays; a call without a role removes it.
    let hidden = update(ProjectVisibility::Private, None, "alias-2", 4.0);
    let hidden = store
        .set_project_visibility(ACCOUNT, "a", &hidden)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(hidden.public.visibility, ProjectVisibility::Private);
    assert_eq!(hidden.public.alias.as_deref(), Some("alias-1"));
    assert_eq!(hidden.public.resource_access_role, None);
    let again = update(ProjectVisibility::PublicRead, None, "alias-3", 5.0);
    let again = store
        .set_project_visibility(ACCOUNT, "a", &again)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(again.public.alias.as_deref(), Some("alias-1"));

    // An update of the settings leaves visibility alone.
    let mut edited = again.clone();
    edited.settings.description = Some("edited".into());
    edited.public = Default::default();
    store.update_project(&edited).await.unwrap();
    let read = store.get_project(ACCOUNT, "a").await.unwrap().unwrap();
    assert_eq!(read.public, again.public);

    // A deleted project's alias names nothing; one re-created under the name is private.
    assert!(
        store
            .delete_project(ACCOUNT, "a", 6.0)
            .await
            .unwrap()
            .is_some()
    );
    assert_eq!(
        store.project_by_public_alias("alias-1").await.unwrap(),
        None
    );
    store
        .create_project(&project(ACCOUNT, "a", 7.0))
        .await
        .unwrap();
    let recreated = store.get_project(ACCOUNT, "a").await.unwrap().unwrap();
    assert_eq!(recreated.public, Default::default());
}

pub async fn aliases_are_unique_and_projects_are_found_in_their_account(store: Arc<dyn Store>) {
    store
        .create_project(&project(ACCOUNT, "a", 1.0))
        .await
        .unwrap();
    store
        .create_project(&project(ACCOUNT, "b", 1.0))
        .await
        .unwrap();
    let public = update(ProjectVisibility::PublicRead, None, "taken", 2.0);
    store
        .set_project_visibility(ACCOUNT, "a", &public)
        .await
        .unwrap()
        .unwrap();
    assert!(matches!(
        store.set_project_visibility(ACCOUNT, "b", &public).await,
        Err(StoreError::AlreadyExists)
    ));
    let b = store.get_project(ACCOUNT, "b").await.unwrap().unwrap();
    assert_eq!(
        b.public,
        Default::default(),
        "the refused call changed nothing"
    );
    assert_eq!(
        store
            .set_project_visibility(OTHER_ACCOUNT, "a", &public)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store
            .set_project_visibility(ACCOUNT, "missing", &public)
            .await
            .unwrap(),
        None
    );
}

//! Project cache generations: InvalidateProjectCache's state (docs/cache.md).

use std::sync::Arc;

use kiln_store::Store;

pub async fn cache_generations_move_on_per_project_and_account(store: Arc<dyn Store>) {
    assert_eq!(
        store.project_cache_generation("111", "app").await.unwrap(),
        0
    );
    assert_eq!(
        store.invalidate_project_cache("111", "app").await.unwrap(),
        1
    );
    assert_eq!(
        store.project_cache_generation("111", "app").await.unwrap(),
        1
    );
    // Another project, or the same name in another account, is untouched.
    assert_eq!(
        store
            .project_cache_generation("111", "other")
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        store.project_cache_generation("222", "app").await.unwrap(),
        0
    );
    // Racing invalidations (from several replicas) each move it on.
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let store = Arc::clone(&store);
            tokio::spawn(async move { store.invalidate_project_cache("111", "app").await.unwrap() })
        })
        .collect();
    let mut seen = Vec::new();
    for task in tasks {
        seen.push(task.await.unwrap());
    }
    seen.sort_unstable();
    assert_eq!(seen, (2..10).collect::<Vec<i64>>());
    assert_eq!(
        store.project_cache_generation("111", "app").await.unwrap(),
        9
    );
}

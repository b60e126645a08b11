-- Project caches (docs/cache.md): each project's cache generation. Every cache key and location
-- includes it, so InvalidateProjectCache (which moves it on) makes every replica and agent miss
-- what was cached before. A project without a row is at generation 0. Rows outlive their
-- project, so a project re-created under the name never restores an invalidated cache.
CREATE TABLE project_cache_generations (
    account_id TEXT NOT NULL,
    project_name TEXT NOT NULL,
    generation BIGINT NOT NULL,
    PRIMARY KEY (account_id, project_name)
);

-- Public builds (UpdateProjectVisibility; docs/public-builds.md). The alias names the project
-- on its unauthenticated pages: given the first time the project is made public, kept after,
-- unique among all projects (NULL for projects never made public).
ALTER TABLE projects ADD COLUMN visibility TEXT NOT NULL DEFAULT 'PRIVATE';
ALTER TABLE projects ADD COLUMN public_alias TEXT;
ALTER TABLE projects ADD COLUMN resource_access_role TEXT;
CREATE UNIQUE INDEX projects_by_public_alias ON projects (public_alias)
    WHERE public_alias IS NOT NULL;

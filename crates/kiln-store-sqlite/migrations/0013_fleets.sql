-- Compute fleets (docs/fleets.md). A fleet's name is unique in its account, its ARN (which
-- carries a UUID) everywhere. Projects name the fleet they run on in `fleet_arn`; the foreign
-- key keeps a fleet while a project names it. Builds keep the ARN they ran on (no key: a build
-- outlives its fleet).
CREATE TABLE fleets (
    account_id        TEXT NOT NULL,
    name              TEXT NOT NULL,
    id                TEXT NOT NULL,
    arn               TEXT NOT NULL UNIQUE,
    created           REAL NOT NULL,
    last_modified     REAL NOT NULL,
    overflow_behavior TEXT NOT NULL,
    settings          TEXT NOT NULL,
    PRIMARY KEY (account_id, name)
);
CREATE INDEX fleets_by_created ON fleets (account_id, created, name);
CREATE INDEX fleets_by_last_modified ON fleets (account_id, last_modified, name);

ALTER TABLE projects ADD COLUMN fleet_arn TEXT REFERENCES fleets (arn);
CREATE INDEX projects_by_fleet ON projects (fleet_arn) WHERE fleet_arn IS NOT NULL;
ALTER TABLE builds ADD COLUMN fleet_arn TEXT;

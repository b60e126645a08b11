-- Compute fleets (docs/fleets.md), as SQLite's 0013: name unique in its account, ARN (with
-- its UUID) everywhere; projects name their fleet in `fleet_arn` under a foreign key that
-- keeps a fleet while a project names it; builds keep the ARN they ran on, without a key.
CREATE TABLE fleets (
    account_id        TEXT             NOT NULL,
    name              TEXT COLLATE "C" NOT NULL,
    id                TEXT             NOT NULL,
    arn               TEXT             NOT NULL UNIQUE,
    created           DOUBLE PRECISION NOT NULL,
    last_modified     DOUBLE PRECISION NOT NULL,
    overflow_behavior TEXT             NOT NULL,
    settings          TEXT             NOT NULL,
    PRIMARY KEY (account_id, name)
);
CREATE INDEX fleets_by_created ON fleets (account_id, created, name);
CREATE INDEX fleets_by_last_modified ON fleets (account_id, last_modified, name);

ALTER TABLE projects ADD COLUMN fleet_arn TEXT REFERENCES fleets (arn);
CREATE INDEX projects_by_fleet ON projects (fleet_arn) WHERE fleet_arn IS NOT NULL;
ALTER TABLE builds ADD COLUMN fleet_arn TEXT;

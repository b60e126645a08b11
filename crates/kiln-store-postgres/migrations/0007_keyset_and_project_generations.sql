-- Builds outlive their project: a deleted project's builds move to a past generation
-- (1, 2, …) and the live project's builds are generation 0, so a project re-created under the
-- same name numbers its builds from 1 again.
ALTER TABLE builds ADD COLUMN project_generation BIGINT NOT NULL DEFAULT 0;
-- Every build's place in its account's listing: assigned at insert from a counter that never
-- goes back, so a page token (the last seq seen) stays valid while builds come and go. A row
-- rather than a SEQUENCE: its row lock, held to commit, makes seqs commit in order, so an
-- ascending walk never passes a seq that a slower insert fills in later.
ALTER TABLE builds ADD COLUMN seq BIGINT NOT NULL DEFAULT 0;
CREATE TABLE build_seq (
    id   INTEGER PRIMARY KEY CHECK (id = 1),
    last BIGINT  NOT NULL
);
INSERT INTO build_seq (id, last) VALUES (1, 0);

DROP INDEX builds_by_project;
CREATE UNIQUE INDEX builds_by_project ON builds (account_id, project_name, project_generation, build_number);
DROP INDEX builds_by_account;
CREATE UNIQUE INDEX builds_by_account ON builds (account_id, seq);
-- At most one build of a live project holds an idempotency token; the token is released
-- (set to NULL) once its window has passed.
CREATE UNIQUE INDEX builds_by_idempotency_token
    ON builds (account_id, project_name, idempotency_token)
    WHERE idempotency_token IS NOT NULL AND project_generation = 0;

CREATE INDEX projects_by_created ON projects (account_id, created, name);
CREATE INDEX projects_by_last_modified ON projects (account_id, last_modified, name);

-- The SHA-256 of every signed body that claimed a delivery, per project. The same body sent
-- again under another delivery id, or none, within the replay window is a duplicate; claims
-- older than the window are removed when the project's next delivery claims its body.
CREATE TABLE webhook_body_claims (
    account_id   TEXT             NOT NULL,
    project_name TEXT COLLATE "C" NOT NULL,
    body_sha256  TEXT             NOT NULL,
    claimed_at   DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (account_id, project_name, body_sha256),
    FOREIGN KEY (account_id, project_name) REFERENCES projects (account_id, name) ON DELETE CASCADE
);
CREATE INDEX webhook_body_claims_age ON webhook_body_claims (account_id, project_name, claimed_at);

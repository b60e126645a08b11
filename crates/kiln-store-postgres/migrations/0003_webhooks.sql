-- A project's webhook: the payload URL's token, the shared secret and the filter configuration.
-- Webhooks and their deliveries go with their project.
CREATE TABLE webhooks (
    account_id           TEXT             NOT NULL,
    project_name         TEXT COLLATE "C" NOT NULL,
    token                TEXT             NOT NULL UNIQUE,
    secret               TEXT             NOT NULL,
    config               TEXT             NOT NULL,
    created              DOUBLE PRECISION NOT NULL,
    last_modified_secret DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (account_id, project_name),
    FOREIGN KEY (account_id, project_name) REFERENCES projects (account_id, name) ON DELETE CASCADE
);

-- Every delivery to a webhook. The first verified delivery with a forge delivery id claims it,
-- so the same delivery sent twice is processed once. An identity never gives a number twice,
-- as SQLite's AUTOINCREMENT.
CREATE TABLE webhook_deliveries (
    seq          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id   TEXT             NOT NULL,
    project_name TEXT COLLATE "C" NOT NULL,
    delivery_id  TEXT,
    forge        TEXT,
    event        TEXT             NOT NULL,
    outcome      TEXT             NOT NULL,
    reason       TEXT             NOT NULL,
    build_id     TEXT,
    received_at  DOUBLE PRECISION NOT NULL,
    verified     BOOLEAN          NOT NULL,
    claimed      BOOLEAN          NOT NULL,
    FOREIGN KEY (account_id, project_name) REFERENCES projects (account_id, name) ON DELETE CASCADE
);
CREATE UNIQUE INDEX webhook_deliveries_claimed
    ON webhook_deliveries (account_id, project_name, delivery_id)
    WHERE claimed;
CREATE INDEX webhook_deliveries_recent ON webhook_deliveries (account_id, project_name, seq);

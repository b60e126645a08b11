-- Parameter Store parameters and Secrets Manager secrets (docs/secrets.md). Values are
-- ciphertext only: Kiln encrypts them with its secrets key before they reach the store.
-- A parameter keeps every version; its latest is the highest.
CREATE TABLE ssm_parameters (
    account_id    TEXT    NOT NULL,
    name          TEXT    NOT NULL,
    version       INTEGER NOT NULL,
    param_type    TEXT    NOT NULL,
    description   TEXT,
    tier          TEXT    NOT NULL,
    data_type     TEXT    NOT NULL,
    ciphertext    BLOB    NOT NULL,
    last_modified REAL    NOT NULL,
    PRIMARY KEY (account_id, name, version)
);

-- A secret's name is unique in its account (deleted or not), its ARN everywhere.
CREATE TABLE secrets (
    account_id   TEXT NOT NULL,
    name         TEXT NOT NULL,
    arn          TEXT NOT NULL UNIQUE,
    description  TEXT,
    created      REAL NOT NULL,
    last_changed REAL NOT NULL,
    deleted      REAL,
    PRIMARY KEY (account_id, name)
);

-- `position` orders a secret's versions (1 for the first).
CREATE TABLE secret_versions (
    account_id TEXT    NOT NULL,
    name       TEXT    NOT NULL,
    version_id TEXT    NOT NULL,
    position   INTEGER NOT NULL,
    ciphertext BLOB    NOT NULL,
    is_binary  INTEGER NOT NULL,
    created    REAL    NOT NULL,
    PRIMARY KEY (account_id, name, version_id),
    FOREIGN KEY (account_id, name) REFERENCES secrets (account_id, name) ON DELETE CASCADE
);

-- Each stage of a secret points at one of its versions.
CREATE TABLE secret_version_stages (
    account_id TEXT NOT NULL,
    name       TEXT NOT NULL,
    stage      TEXT NOT NULL,
    version_id TEXT NOT NULL,
    PRIMARY KEY (account_id, name, stage),
    FOREIGN KEY (account_id, name, version_id)
        REFERENCES secret_versions (account_id, name, version_id) ON DELETE CASCADE
);

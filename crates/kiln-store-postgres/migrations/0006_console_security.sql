-- Console sign-in attempts, counted per subject ('address:<client address>' or
-- 'key:<access key id>') so that every replica applies the same backoff. A row is forgotten once
-- it has been quiet for a while; a successful sign-in clears its subjects.
CREATE TABLE sign_in_throttle (
    subject      TEXT             PRIMARY KEY,
    attempts     BIGINT           NOT NULL,
    last_attempt DOUBLE PRECISION NOT NULL,
    locked_until DOUBLE PRECISION NOT NULL
);
CREATE INDEX sign_in_throttle_by_last_attempt ON sign_in_throttle (last_attempt);

-- Secrets the server generates once and every replica shares (the key that signs the sign-in
-- form's CSRF token).
CREATE TABLE server_secrets (
    name  TEXT  PRIMARY KEY,
    value BYTEA NOT NULL
);

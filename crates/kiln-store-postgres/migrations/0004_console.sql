-- Web console sign-ins. Only a hash of the session cookie is kept, so a copy of the database
-- cannot be used to sign in; the CSRF token is bound to the session.
CREATE TABLE console_sessions (
    token_hash    TEXT             PRIMARY KEY,
    account_id    TEXT             NOT NULL,
    access_key_id TEXT             NOT NULL,
    csrf_token    TEXT             NOT NULL,
    created       DOUBLE PRECISION NOT NULL,
    expires       DOUBLE PRECISION NOT NULL
);
CREATE INDEX console_sessions_by_expiry ON console_sessions (expires);

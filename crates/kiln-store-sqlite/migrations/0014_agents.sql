-- Build agents (`kiln agent`). A token is kept only as the SHA-256 of its secret, so a copy
-- of the database cannot connect an agent. A session is one running agent process; its
-- leases are owned by `agent:<name>@<session>` (see docs/agents.md).
CREATE TABLE agent_tokens (
    id         TEXT PRIMARY KEY,
    account_id TEXT NOT NULL,
    fleet_arn  TEXT NOT NULL,
    fleet_name TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    created    REAL NOT NULL,
    revoked    REAL
);

CREATE TABLE agent_sessions (
    session        TEXT PRIMARY KEY,
    token_id       TEXT NOT NULL REFERENCES agent_tokens (id) ON DELETE CASCADE,
    account_id     TEXT NOT NULL,
    fleet_arn      TEXT NOT NULL,
    name           TEXT NOT NULL,
    version        TEXT NOT NULL,
    os             TEXT NOT NULL,
    arch           TEXT NOT NULL,
    executor       TEXT NOT NULL,
    capacity       INTEGER NOT NULL,
    labels         TEXT NOT NULL,
    registered     REAL NOT NULL,
    last_heartbeat REAL NOT NULL,
    UNIQUE (fleet_arn, name)
);
CREATE INDEX agent_sessions_by_heartbeat ON agent_sessions (account_id, last_heartbeat);

-- Queued builds by the fleet they were sent to: an agent's claim scans only its fleet's.
CREATE INDEX builds_queued_by_fleet ON builds (fleet_arn, seq)
    WHERE complete = 0 AND lease_owner IS NULL;

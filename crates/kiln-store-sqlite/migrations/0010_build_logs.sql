-- Build logs, stored so that every replica can serve them: each row is one contiguous piece
-- of a build's log, starting at byte `start_offset`. Deleting a build deletes its log.
CREATE TABLE build_log_chunks (
    uuid         TEXT    NOT NULL REFERENCES builds (uuid) ON DELETE CASCADE,
    start_offset INTEGER NOT NULL,
    data         BLOB    NOT NULL,
    PRIMARY KEY (uuid, start_offset)
);

-- Build logs, stored so that every replica can serve them: each row is one contiguous piece
-- of a build's log, starting at byte `start_offset`, `raw_length` bytes long, stored as an LZ4
-- block (kiln_store::pack_log_piece). Deleting a build deletes its log.
CREATE TABLE build_log_chunks (
    uuid         TEXT    NOT NULL REFERENCES builds (uuid) ON DELETE CASCADE,
    start_offset INTEGER NOT NULL,
    raw_length   INTEGER NOT NULL,
    data         BLOB    NOT NULL,
    PRIMARY KEY (uuid, start_offset)
);

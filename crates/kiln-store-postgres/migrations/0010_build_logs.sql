-- Build logs in the store, so any replica can serve and follow them: chunks keyed by the
-- offset of their first byte.
CREATE TABLE build_log_chunks (
    uuid         TEXT   NOT NULL,
    start_offset BIGINT NOT NULL,
    raw_length   BIGINT NOT NULL,
    data         BYTEA  NOT NULL,
    PRIMARY KEY (uuid, start_offset)
);

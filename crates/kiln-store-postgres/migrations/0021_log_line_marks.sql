-- Line marks of build logs (kiln_store::log_lines): for each whole 64 KiB block of a build's
-- log, the number of line breaks before the block's end, so that the console numbers a line
-- and finds line N without reading the log before it. Deleting a build deletes its marks.
CREATE TABLE build_log_line_marks (
    uuid        TEXT    NOT NULL REFERENCES builds (uuid) ON DELETE CASCADE,
    block       BIGINT  NOT NULL,
    line_breaks BIGINT  NOT NULL,
    PRIMARY KEY (uuid, block)
);

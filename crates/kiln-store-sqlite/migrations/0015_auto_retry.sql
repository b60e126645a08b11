-- Automatic retries (docs/queue.md, "Automatic retries"): how many retries a build's chain may
-- still make after it, set at insert from its autoRetryConfig and cleared once its retry
-- exists (or its project is gone). Builds from before this migration owe none.
ALTER TABLE builds ADD COLUMN auto_retry_remaining INTEGER NOT NULL DEFAULT 0;

-- The sweep's scan: only complete builds that ended FAILED, FAULT or TIMED_OUT and still owe
-- their retry, a handful however many builds there are.
CREATE INDEX builds_owing_auto_retry ON builds (seq)
    WHERE auto_retry_remaining > 0 AND complete = 1 AND status IN ('FAILED', 'FAULT', 'TIMED_OUT');

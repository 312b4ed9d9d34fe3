-- The auto-throttle's own state: one row per throttle decision, so active
-- throttles, their TTLs and pending releases survive a restart, and the
-- runtime-edited throttle policy. Shared by both dialects, like 0001.

-- op, op_key and op_limit are the gateway call of the row's current
-- operation (apply, renew, step, release). They are written before the
-- call is made, so a restart in the middle of one repeats it with the same
-- Idempotency-Key and the gateway applies it once. max_concurrency is the
-- limit in force once the operation is acknowledged; op_limit the one being
-- set. low_since starts the recovery's stable window: a pending release.
CREATE TABLE throttles (
    id                        {{id}},
    tenant_id                 TEXT NOT NULL,
    plugin_id                 TEXT NOT NULL,
    instance_id               TEXT NOT NULL,
    state                     TEXT NOT NULL CHECK (state IN ('throttling', 'throttled', 'releasing', 'released', 'failed')),
    max_concurrency           INTEGER NOT NULL DEFAULT 0,
    previous_max_concurrency  INTEGER NOT NULL DEFAULT 0,
    step                      INTEGER NOT NULL DEFAULT 1,
    reason                    TEXT NOT NULL DEFAULT '',
    actor                     TEXT NOT NULL DEFAULT 'auto',
    op                        TEXT NOT NULL,
    op_key                    TEXT NOT NULL UNIQUE,
    op_limit                  INTEGER NOT NULL DEFAULT 0,
    decided_at                BIGINT NOT NULL,
    applied_at                BIGINT,
    expires_at                BIGINT,
    low_since                 BIGINT,
    released_at               BIGINT,
    release_reason            TEXT NOT NULL DEFAULT '',
    released_by               TEXT NOT NULL DEFAULT '',
    last_error                TEXT NOT NULL DEFAULT '',
    false_positive            BOOLEAN NOT NULL DEFAULT FALSE,
    feedback_by               TEXT NOT NULL DEFAULT '',
    feedback_at               BIGINT,
    updated_at                BIGINT NOT NULL
);
-- At most one active throttle per instance: two gatewardens sharing a
-- database cannot both throttle it, the second insert is a conflict.
CREATE UNIQUE INDEX throttles_one_active ON throttles (tenant_id, plugin_id, instance_id)
    WHERE state IN ('throttling', 'throttled', 'releasing');
-- Load reads the active rows; the admin history lists newest first.
CREATE INDEX throttles_state ON throttles (state, id);
CREATE INDEX throttles_decided ON throttles (decided_at, id);
-- The governance check counts false positives of the last day.
CREATE INDEX throttles_feedback ON throttles (false_positive, feedback_at);

-- One row (id 1): the policy as last saved through the admin API, JSON.
CREATE TABLE throttle_policy (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    policy      TEXT NOT NULL,
    updated_by  TEXT NOT NULL DEFAULT '',
    updated_at  BIGINT NOT NULL
);

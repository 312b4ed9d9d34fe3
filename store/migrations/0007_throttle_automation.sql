-- One row (id 1): the auto-throttle's kill switch as last set through the
-- admin API. Without a row the config file's default applies. Receivers
-- sharing a database share it: each reads it on its tick.
CREATE TABLE throttle_automation (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    enabled     BOOLEAN NOT NULL,
    reason      TEXT NOT NULL DEFAULT '',
    changed_by  TEXT NOT NULL DEFAULT '',
    changed_at  BIGINT NOT NULL
);
-- Reconcile finds the decision a throttle at the gateway came from by the
-- Idempotency-Key the gateway lists it with.
CREATE INDEX throttles_op_key ON throttles (op_key);

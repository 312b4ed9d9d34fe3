-- Shared by both dialects. {{id}} becomes the dialect's auto-increment key.
-- Times are unix microseconds (BIGINT); JSON is stored as TEXT so both
-- backends return it byte for byte as written.

CREATE TABLE alert_channels (
    id          {{id}},
    name        TEXT NOT NULL UNIQUE,
    type        TEXT NOT NULL,
    config      TEXT NOT NULL DEFAULT '{}',
    enabled     BOOLEAN NOT NULL DEFAULT TRUE,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);

CREATE TABLE alert_rules (
    id                {{id}},
    name              TEXT NOT NULL UNIQUE,
    type              TEXT NOT NULL,
    condition         TEXT NOT NULL DEFAULT '{}',
    channel_ids       TEXT NOT NULL DEFAULT '[]',
    cooldown_minutes  INTEGER NOT NULL DEFAULT 0,
    enabled           BOOLEAN NOT NULL DEFAULT TRUE,
    created_at        BIGINT NOT NULL,
    updated_at        BIGINT NOT NULL
);

CREATE TABLE alerts (
    id            {{id}},
    fingerprint   TEXT NOT NULL UNIQUE,
    type          TEXT NOT NULL,
    severity      TEXT NOT NULL,
    status        TEXT NOT NULL CHECK (status IN ('active', 'acknowledged', 'resolved', 'dismissed')),
    title         TEXT NOT NULL DEFAULT '',
    message       TEXT NOT NULL DEFAULT '',
    related_id    TEXT,
    related_type  TEXT,
    related_name  TEXT,
    labels        TEXT NOT NULL DEFAULT '{}',
    metadata      TEXT,
    acked_at      BIGINT,
    acked_by      TEXT,
    resolved_at   BIGINT,
    expires_at    BIGINT,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL
);
-- The admin list filters by status (dismissed hidden by default) and
-- optionally severity/type, newest first, and counts the matches. Each
-- index leads with a filter column, then the sort order, and carries status
-- (or severity) so the dismissed check and the counts never touch the
-- table; (status, severity) also serves the stats GROUP BY.
CREATE INDEX alerts_status_severity ON alerts (status, severity, created_at, id);
CREATE INDEX alerts_status_created ON alerts (status, created_at, id);
CREATE INDEX alerts_severity_created ON alerts (severity, created_at, id, status);
CREATE INDEX alerts_type_created ON alerts (type, created_at, id, status);
CREATE INDEX alerts_created ON alerts (created_at, id, status);
CREATE INDEX alerts_expires ON alerts (expires_at);

CREATE TABLE alert_history (
    id            {{id}},
    alert_id      BIGINT REFERENCES alerts (id) ON DELETE SET NULL,
    rule_id       BIGINT,
    channel_id    BIGINT REFERENCES alert_channels (id) ON DELETE SET NULL,
    triggered_at  BIGINT NOT NULL,
    payload       TEXT,
    status        TEXT NOT NULL CHECK (status IN ('sent', 'failed', 'suppressed')),
    error         TEXT NOT NULL DEFAULT '',
    attempt       INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX alert_history_triggered ON alert_history (triggered_at, id);
CREATE INDEX alert_history_alert ON alert_history (alert_id, triggered_at);
CREATE INDEX alert_history_channel ON alert_history (channel_id, triggered_at);

CREATE TABLE outbox (
    id               {{id}},
    alert_id         BIGINT REFERENCES alerts (id) ON DELETE SET NULL,
    fingerprint      TEXT NOT NULL DEFAULT '',
    channel_id       BIGINT REFERENCES alert_channels (id) ON DELETE CASCADE,
    payload          TEXT NOT NULL,
    state            TEXT NOT NULL CHECK (state IN ('pending', 'sending', 'sent', 'failed')),
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  BIGINT NOT NULL,
    last_error       TEXT NOT NULL DEFAULT '',
    idempotency_key  TEXT NOT NULL UNIQUE,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL
);
CREATE INDEX outbox_due ON outbox (state, next_attempt_at, id);

CREATE TABLE threshold_overrides (
    id          {{id}},
    rule_name   TEXT NOT NULL,
    labels      TEXT NOT NULL,
    level       TEXT NOT NULL,
    value       DOUBLE PRECISION NOT NULL,
    updated_at  BIGINT NOT NULL,
    UNIQUE (rule_name, labels, level)
);

CREATE TABLE throttle_audit (
    id           {{id}},
    tenant_id    TEXT NOT NULL,
    plugin_id    TEXT NOT NULL,
    instance_id  TEXT NOT NULL,
    action       TEXT NOT NULL,
    decision     TEXT,
    result       TEXT NOT NULL DEFAULT '',
    error        TEXT NOT NULL DEFAULT '',
    created_at   BIGINT NOT NULL
);
CREATE INDEX throttle_audit_created ON throttle_audit (created_at, id);
CREATE INDEX throttle_audit_target ON throttle_audit (tenant_id, plugin_id, instance_id, created_at);

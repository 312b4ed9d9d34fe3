-- The notification ledger: what every state change of every alert owes to
-- every channel, claimed once, and the outcome. Shared by both dialects.

-- An alert row carries what the receiver needs to rebuild its groups after
-- a restart: the episode (the startsAt the receiver assigned), the
-- annotations and the generator URL. NULL starts_at: a row written before
-- the ledger existed, which owes nothing.
ALTER TABLE alerts ADD COLUMN starts_at BIGINT;
ALTER TABLE alerts ADD COLUMN annotations TEXT;
ALTER TABLE alerts ADD COLUMN generator_url TEXT;
-- Receivers sharing a store pick up each other's alerts by update time.
CREATE INDEX alerts_updated ON alerts (updated_at);

-- One row per (alert, episode, state change, channel). The unique key is
-- the claim: receivers sharing a database insert it once between them.
-- episode is the episode's startsAt (unix microseconds); a repeat
-- (repeat_interval) uses its repeat period as the episode. status is
-- pending until the outbox item carrying it has an outcome; suppressed
-- rows are final at once.
CREATE TABLE notifications (
    id           {{id}},
    fingerprint  TEXT NOT NULL,
    episode      BIGINT NOT NULL,
    transition   TEXT NOT NULL CHECK (transition IN ('firing', 'resolved', 'repeat')),
    channel_id   BIGINT NOT NULL,
    receiver     TEXT NOT NULL DEFAULT '',
    group_key    TEXT NOT NULL DEFAULT '',
    status       TEXT NOT NULL CHECK (status IN ('pending', 'sent', 'failed', 'suppressed')),
    reason       TEXT NOT NULL DEFAULT '',
    outbox_id    BIGINT,
    peer         TEXT NOT NULL DEFAULT '',
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL,
    UNIQUE (fingerprint, episode, transition, channel_id)
);
-- The delivery worker finishes an item's claims; the cooldown and the
-- rebuild read an alert's claims per channel.
CREATE INDEX notifications_outbox ON notifications (outbox_id);
CREATE INDEX notifications_alert ON notifications (fingerprint, channel_id, created_at);
CREATE INDEX notifications_pending ON notifications (status) WHERE status = 'pending';

-- History entries name the state change they record.
ALTER TABLE alert_history ADD COLUMN fingerprint TEXT NOT NULL DEFAULT '';
ALTER TABLE alert_history ADD COLUMN transition TEXT NOT NULL DEFAULT '';
ALTER TABLE alert_history ADD COLUMN episode BIGINT;
ALTER TABLE alert_history ADD COLUMN outbox_id BIGINT;
ALTER TABLE alert_history ADD COLUMN peer TEXT NOT NULL DEFAULT '';
CREATE INDEX alert_history_fingerprint ON alert_history (fingerprint, triggered_at);

-- A channel gets one group's notifications in order: an item waits while
-- an older one of its channel and group is unfinished.
ALTER TABLE outbox ADD COLUMN group_key TEXT NOT NULL DEFAULT '';
CREATE INDEX outbox_open_group ON outbox (channel_id, group_key, id) WHERE state IN ('pending', 'sending');

-- Stepped thresholds: the period each target is in, and each step
-- announced in it, so a kill -9 neither repeats nor loses an announcement.
-- target is the target's label fingerprint (without the period label).
CREATE TABLE step_periods (
    rule        TEXT NOT NULL,
    target      TEXT NOT NULL,
    period      TEXT NOT NULL DEFAULT '',
    started_at  BIGINT NOT NULL,
    PRIMARY KEY (rule, target)
);
CREATE TABLE steps_announced (
    rule          TEXT NOT NULL,
    target        TEXT NOT NULL,
    started_at    BIGINT NOT NULL,
    step          DOUBLE PRECISION NOT NULL,
    announced_at  BIGINT NOT NULL,
    PRIMARY KEY (rule, target, started_at, step)
);

-- The cooldown is now read from the ledger (the last firing notified to a
-- channel), per alert rather than per (type, target).
DROP TABLE cooldowns;

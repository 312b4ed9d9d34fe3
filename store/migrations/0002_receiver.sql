-- The receiver's own state: silences (Alertmanager API v2 model) and the
-- notification cooldown keys. Shared by both dialects, like 0001.

-- id is a random UUID made in Go, as Alertmanager's silence ids, so ids
-- from either backend look alike and can be handed to amtool users.
-- matchers is the JSON list [{name, value, isRegex, isEqual}] as written.
CREATE TABLE silences (
    id          TEXT PRIMARY KEY,
    matchers    TEXT NOT NULL,
    starts_at   BIGINT NOT NULL,
    ends_at     BIGINT NOT NULL,
    created_by  TEXT NOT NULL DEFAULT '',
    comment     TEXT NOT NULL DEFAULT '',
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    -- Equal is allowed: expiring a pending silence sets both to now.
    CHECK (ends_at >= starts_at)
);
-- Active and expired silences are told apart by ends_at (the receiver asks
-- for the active ones on every notification; pruning deletes old expired
-- ones), and most silences in the table are expired.
CREATE INDEX silences_ends ON silences (ends_at);

-- One row per cooldown key (alert identity + channel, built by the caller).
-- The primary key is what makes ClaimCooldown's upsert the arbiter between
-- receivers sharing a database.
CREATE TABLE cooldowns (
    key       TEXT PRIMARY KEY,
    severity  TEXT NOT NULL DEFAULT '',
    sent_at   BIGINT NOT NULL
);

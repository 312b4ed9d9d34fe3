-- Receivers sharing a database say every few seconds that they are alive,
-- so that each can list its peers as Alertmanager's cluster status does.
-- Times are unix microseconds.
CREATE TABLE receiver_peers (
    name       TEXT PRIMARY KEY,
    started_at BIGINT NOT NULL,
    seen_at    BIGINT NOT NULL
);

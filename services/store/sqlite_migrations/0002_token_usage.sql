-- Azure tokens spent, per UTC day, server, channel, member and kind of call (decision,
-- persona...): ids and counts, never text, so nothing here is sealed. The same table as the
-- PostgreSQL store's (migrations/0003_token_usage.sql); the day is ISO text ('2026-11-24').
-- channel_id 0: a call for the member rather than a channel (a persona build).
CREATE TABLE token_usage (
    guild_id          INTEGER NOT NULL,
    day               TEXT NOT NULL,
    channel_id        INTEGER NOT NULL,
    member_id         INTEGER NOT NULL,
    kind              TEXT NOT NULL,
    prompt_tokens     INTEGER NOT NULL,
    completion_tokens INTEGER NOT NULL,
    cached_tokens     INTEGER NOT NULL,
    calls             INTEGER NOT NULL,
    PRIMARY KEY (guild_id, day, channel_id, member_id, kind)
) WITHOUT ROWID;

-- Retention, by day across every server.
CREATE INDEX token_usage_by_day ON token_usage (day);

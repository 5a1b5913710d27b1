-- Azure tokens spent, per UTC day, server, channel, member and kind of call (decision,
-- persona...): ids and counts, never text, so nothing here is sealed. Written with
-- `INSERT ... ON CONFLICT DO UPDATE SET n = token_usage.n + EXCLUDED.n`, so every process adds
-- to the same row. channel_id 0: a call for the member rather than a channel (a persona build).
-- The guild comes first in the key: `/setup show` and budgets read one server's days.
CREATE TABLE IF NOT EXISTS token_usage (
    guild_id          bigint NOT NULL,
    day               date NOT NULL,
    channel_id        bigint NOT NULL,
    member_id         bigint NOT NULL,
    kind              text NOT NULL,
    prompt_tokens     bigint NOT NULL,
    completion_tokens bigint NOT NULL,
    cached_tokens     bigint NOT NULL,
    calls             bigint NOT NULL,
    PRIMARY KEY (guild_id, day, channel_id, member_id, kind)
);

-- Retention, by day across every server.
CREATE INDEX IF NOT EXISTS token_usage_by_day ON token_usage (day);

-- The first schema of the PostgreSQL store.
--
-- Each statement is sent on its own (no DDL inside a multi-statement transaction) and must be
-- safe to run again: a process that dies half-way through a file leaves the version unrecorded,
-- and the next one applies the whole file again. Keep to what PostgreSQL, CockroachDB and
-- YugabyteDB all run, and no semicolon except at the end of a statement.

-- One row per kept message, by its Discord id. Without a key, content and author_name hold the
-- text as written; with STORE_ENCRYPTION_KEY, its Fernet token.
CREATE TABLE IF NOT EXISTS messages (
    message_id  bigint PRIMARY KEY,
    guild_id    bigint NOT NULL,
    channel_id  bigint NOT NULL,
    author_id   bigint NOT NULL,
    author_name text NOT NULL,
    content     text NOT NULL,
    created_at  timestamptz NOT NULL,
    edited_at   timestamptz,
    from_bot    boolean NOT NULL DEFAULT false
);

-- "The last N of a channel, up to a message" (the reply context).
CREATE INDEX IF NOT EXISTS messages_by_channel ON messages (channel_id, message_id DESC);

-- "The last N of a member in a guild" (the persona), and forgetting a member.
CREATE INDEX IF NOT EXISTS messages_by_author ON messages (guild_id, author_id, message_id DESC);

-- Retention.
CREATE INDEX IF NOT EXISTS messages_by_age ON messages (created_at);

-- Every message id that bumped a channel's count, kept or not (an opted-out member's message is
-- only counted: its id alone is here), so that a gateway replay is never counted twice. Rows
-- expire with retention, like the messages.
CREATE TABLE IF NOT EXISTS counted_messages (
    message_id bigint PRIMARY KEY,
    channel_id bigint NOT NULL,
    counted_at timestamptz NOT NULL
);

CREATE INDEX IF NOT EXISTS counted_messages_by_age ON counted_messages (counted_at);

-- Each channel's beat count, bumped in the transaction that stores (or counts) the message.
CREATE TABLE IF NOT EXISTS channel_counters (
    channel_id bigint PRIMARY KEY,
    n          bigint NOT NULL
);

-- The small state documents, by kind and key; {"sealed": token} with STORE_ENCRYPTION_KEY.
CREATE TABLE IF NOT EXISTS state (
    kind     text NOT NULL,
    key      text NOT NULL,
    document jsonb NOT NULL,
    PRIMARY KEY (kind, key)
);

-- Facts about the store itself: whether it is encrypted (and a token that tells the key).
CREATE TABLE IF NOT EXISTS store_meta (
    name  text PRIMARY KEY,
    value text NOT NULL
);

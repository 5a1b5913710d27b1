-- The first schema of the embedded SQLite store (DATA_DIR/bot.sqlite3).
--
-- The same tables and columns as the PostgreSQL store's (migrations/0001_initial.sql), so that
-- services/store/sql.py serves both, with SQLite's types: times are integer microseconds since
-- the epoch (UTC), documents are JSON text. A file is applied in one transaction.

-- One row per kept message, by its Discord id (the rowid: the table is ordered by it). Without
-- a key, content and author_name hold the text as written; with STORE_ENCRYPTION_KEY, its
-- Fernet token.
CREATE TABLE messages (
    message_id  INTEGER PRIMARY KEY,
    guild_id    INTEGER NOT NULL,
    channel_id  INTEGER NOT NULL,
    author_id   INTEGER NOT NULL,
    author_name TEXT NOT NULL,
    content     TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    edited_at   INTEGER,
    from_bot    INTEGER NOT NULL DEFAULT 0
);

-- "The last N of a channel, up to a message" (the reply context).
CREATE INDEX messages_by_channel ON messages (channel_id, message_id DESC);

-- "The last N of a member in a guild" (the persona), and forgetting a member.
CREATE INDEX messages_by_author ON messages (guild_id, author_id, message_id DESC);

-- Retention.
CREATE INDEX messages_by_age ON messages (created_at);

-- Every message id that bumped a channel's count, kept or not, so that a gateway replay is
-- never counted twice. Rows expire with retention, like the messages.
CREATE TABLE counted_messages (
    message_id INTEGER PRIMARY KEY,
    channel_id INTEGER NOT NULL,
    counted_at INTEGER NOT NULL
);

CREATE INDEX counted_messages_by_age ON counted_messages (counted_at);

-- Each channel's beat count, bumped in the transaction that stores (or counts) the message.
CREATE TABLE channel_counters (
    channel_id INTEGER PRIMARY KEY,
    n          INTEGER NOT NULL
);

-- The per-member documents (profiles, privacy choices, the bot's reply ids), by kind and key;
-- {"sealed": token} with STORE_ENCRYPTION_KEY. Per-server documents live in servers/*.json.
CREATE TABLE state (
    kind     TEXT NOT NULL,
    key      TEXT NOT NULL,
    document TEXT NOT NULL,
    PRIMARY KEY (kind, key)
) WITHOUT ROWID;

-- Named leases with an expiry (seconds since the epoch).
CREATE TABLE leases (
    name       TEXT PRIMARY KEY,
    owner      TEXT NOT NULL,
    expires_at REAL NOT NULL
) WITHOUT ROWID;

-- Facts about the store itself: when an older data directory was imported, and so on.
CREATE TABLE store_meta (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;

"""SQL that the SQLite and the PostgreSQL stores both run, word for word.

Both engines take `$1`-style parameters (SQLite reads `$1` as a named parameter, which
`services/store/sqlite.py` binds from a mapping), `ON CONFLICT`, `RETURNING` and `LIMIT` in a
subquery, over tables of the same names and columns (`sqlite_migrations/` and `migrations/`).
What differs, and so is written once per engine beside its store:

- times: PostgreSQL's `timestamptz` against SQLite's integer microseconds since the epoch (the
  statements below compare and order them the same way; each store converts its parameters);
- documents: PostgreSQL's `jsonb` (a codec on the pool) against SQLite's JSON text;
- group writes: PostgreSQL writes a whole group of adds in one `unnest` statement; SQLite runs
  one statement per add inside the group's single transaction, which costs it nothing;
- leases: PostgreSQL measures expiry with the server's `now()`, SQLite with the caller's clock.
"""

from __future__ import annotations

MESSAGE_COLUMNS = (
    "message_id, guild_id, channel_id, author_id, author_name, content, created_at, edited_at, "
    "from_bot, attachments"
)

LAST_IN_CHANNEL = (
    f"SELECT {MESSAGE_COLUMNS} FROM messages WHERE channel_id = $1 "
    "ORDER BY message_id DESC LIMIT $2"
)
LAST_IN_CHANNEL_UP_TO = (
    f"SELECT {MESSAGE_COLUMNS} FROM messages WHERE channel_id = $1 AND message_id <= $2 "
    "ORDER BY message_id DESC LIMIT $3"
)
LAST_BY_AUTHOR = (
    f"SELECT {MESSAGE_COLUMNS} FROM messages WHERE guild_id = $1 AND author_id = $2 "
    "ORDER BY message_id DESC LIMIT $3"
)
CHANNEL_COUNT = "SELECT n FROM channel_counters WHERE channel_id = $1"
CHANNEL_COUNTS = "SELECT channel_id, n FROM channel_counters"
MESSAGE_COUNT = "SELECT count(*) FROM messages"

EDIT = "UPDATE messages SET content = $2, edited_at = $3 WHERE message_id = $1 RETURNING message_id"
DELETE = "DELETE FROM messages WHERE message_id = $1 RETURNING message_id"
# Batched deletes: `LIMIT` rows at a time, so no transaction grows without bound.
FORGET_AUTHOR_BATCH = (
    "DELETE FROM messages WHERE message_id IN (SELECT message_id FROM messages "
    "WHERE guild_id = $1 AND author_id = $2 LIMIT $3)"
)
EXPIRE_MESSAGES_BATCH = (
    "DELETE FROM messages WHERE message_id IN (SELECT message_id FROM messages "
    "WHERE created_at < $1 LIMIT $2)"
)
EXPIRE_COUNTED_BATCH = (
    "DELETE FROM counted_messages WHERE message_id IN (SELECT message_id FROM "
    "counted_messages WHERE counted_at < $1 LIMIT $2)"
)

GET_STATE = "SELECT document FROM state WHERE kind = $1 AND key = $2"
PUT_STATE = (
    "INSERT INTO state (kind, key, document) VALUES ($1, $2, $3) "
    "ON CONFLICT (kind, key) DO UPDATE SET document = EXCLUDED.document"
)
DELETE_STATE = "DELETE FROM state WHERE kind = $1 AND key = $2 RETURNING key"
STATE_ITEMS = "SELECT key, document FROM state WHERE kind = $1 ORDER BY key"
STATE_COUNTS = "SELECT kind, count(*) AS n FROM state GROUP BY kind"

RELEASE_LEASE = "DELETE FROM leases WHERE name = $1 AND owner = $2"
PUT_META = (
    "INSERT INTO store_meta (name, value) VALUES ($1, $2) "
    "ON CONFLICT (name) DO UPDATE SET value = EXCLUDED.value"
)
GET_META = "SELECT value FROM store_meta WHERE name = $1"

# Token usage: additive counters by (guild, day, channel, member, kind). Days are PostgreSQL's
# `date` against SQLite's ISO text ('2026-11-24'), which orders and compares the same way.
USAGE_COLUMNS = (
    "day, guild_id, channel_id, member_id, kind, prompt_tokens, completion_tokens, "
    "cached_tokens, calls"
)
ADD_USAGE = (
    f"INSERT INTO token_usage ({USAGE_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) "
    "ON CONFLICT (guild_id, day, channel_id, member_id, kind) DO UPDATE SET "
    "prompt_tokens = token_usage.prompt_tokens + EXCLUDED.prompt_tokens, "
    "completion_tokens = token_usage.completion_tokens + EXCLUDED.completion_tokens, "
    "cached_tokens = token_usage.cached_tokens + EXCLUDED.cached_tokens, "
    "calls = token_usage.calls + EXCLUDED.calls"
)
USAGE_FOR = (
    f"SELECT {USAGE_COLUMNS} FROM token_usage WHERE guild_id = $1 AND day >= $2 "
    "ORDER BY day, channel_id, member_id, kind"
)
FORGET_MEMBER_USAGE = "DELETE FROM token_usage WHERE guild_id = $1 AND member_id = $2"
ALL_USAGE = f"SELECT {USAGE_COLUMNS} FROM token_usage ORDER BY guild_id, day, channel_id, member_id"
USAGE_COUNT = "SELECT count(*) FROM token_usage"
EXPIRE_USAGE_BATCH = (
    "DELETE FROM token_usage WHERE (guild_id, day, channel_id, member_id, kind) IN "
    "(SELECT guild_id, day, channel_id, member_id, kind FROM token_usage WHERE day < $1 "
    "LIMIT $2)"
)

# A member's data in every guild (their export, an operator's forget-member), and a server's
# data (its deletion after the bot leaves it).
MESSAGES_OF_AUTHOR = (
    f"SELECT {MESSAGE_COLUMNS} FROM messages WHERE author_id = $1 AND message_id > $2 "
    "ORDER BY message_id LIMIT $3"
)
FORGET_AUTHOR_EVERYWHERE_BATCH = (
    "DELETE FROM messages WHERE message_id IN (SELECT message_id FROM messages "
    "WHERE author_id = $1 LIMIT $2)"
)
GUILD_CHANNELS = "SELECT DISTINCT channel_id FROM messages WHERE guild_id = $1"
FORGET_GUILD_BATCH = (
    "DELETE FROM messages WHERE message_id IN (SELECT message_id FROM messages "
    "WHERE guild_id = $1 LIMIT $2)"
)
FORGET_CHANNEL_COUNT = "DELETE FROM channel_counters WHERE channel_id = $1"
FORGET_CHANNEL_COUNTED_BATCH = (
    "DELETE FROM counted_messages WHERE message_id IN (SELECT message_id FROM "
    "counted_messages WHERE channel_id = $1 LIMIT $2)"
)
GUILDS_WITH_MESSAGES = "SELECT DISTINCT guild_id FROM messages"
USAGE_OF_MEMBER = (
    f"SELECT {USAGE_COLUMNS} FROM token_usage WHERE member_id = $1 "
    "ORDER BY day, guild_id, channel_id, kind"
)
FORGET_MEMBER_USAGE_EVERYWHERE = "DELETE FROM token_usage WHERE member_id = $1"
FORGET_GUILD_USAGE = "DELETE FROM token_usage WHERE guild_id = $1"
GUILDS_WITH_USAGE = "SELECT DISTINCT guild_id FROM token_usage"

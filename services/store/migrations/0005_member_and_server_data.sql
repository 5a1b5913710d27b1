-- A member's export and an operator's forget-member read a member's messages and token counts
-- in every guild; a server's deletion removes the counted ids of its channels. (The same
-- indexes as the SQLite store's sqlite_migrations/0003_member_and_server_data.sql.)
CREATE INDEX IF NOT EXISTS messages_by_member ON messages (author_id, message_id);

CREATE INDEX IF NOT EXISTS counted_messages_by_channel ON counted_messages (channel_id);

CREATE INDEX IF NOT EXISTS token_usage_by_member ON token_usage (member_id);

-- A member's export and an operator's forget-member read a member's messages and token counts
-- in every guild; a server's deletion removes the counted ids of its channels. (The same
-- indexes as the PostgreSQL store's migrations/0004_member_and_server_data.sql.)
CREATE INDEX messages_by_member ON messages (author_id, message_id);
CREATE INDEX counted_messages_by_channel ON counted_messages (channel_id);
CREATE INDEX token_usage_by_member ON token_usage (member_id);

-- The files attached to a message, described (never their bytes): a JSON list of
-- {"name", "type", "size", "url"}, the url being the link Discord gave (signed, expiring); NULL
-- for a message without any. Sealed like the content with STORE_ENCRYPTION_KEY. The same column
-- as the PostgreSQL store's (migrations/0004_attachments.sql).
ALTER TABLE messages ADD COLUMN attachments TEXT;

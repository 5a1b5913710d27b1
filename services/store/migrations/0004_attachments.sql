-- The files attached to a message, described (never their bytes): a JSON list of
-- {"name", "type", "size", "url"}, the url being the link Discord gave (signed, expiring); NULL
-- for a message without any. Sealed like the content with STORE_ENCRYPTION_KEY.
ALTER TABLE messages ADD COLUMN IF NOT EXISTS attachments text;

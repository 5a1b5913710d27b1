-- Which write stored a message or counted an id: a random number per group write (see
-- `PostgresStore`). A group is one statement committed on its own; when the connection breaks
-- before its answer, these tell whether it was saved and what it did. NULL for rows written
-- before this version, or imported by migrate-store.
ALTER TABLE messages ADD COLUMN IF NOT EXISTS write_id bigint;

ALTER TABLE counted_messages ADD COLUMN IF NOT EXISTS write_id bigint;

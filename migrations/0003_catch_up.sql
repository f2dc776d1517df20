-- Never act on an old message: a message is a command once. An edit of one
-- that was acted on must not run it again, while an edit of one that only got
-- an error reply is read again; so the dedupe row of a message says which.
ALTER TABLE inbound_seen ADD COLUMN acted BIGINT NOT NULL DEFAULT 0;

-- What a chat adapter keeps across restarts (the newest message it saw in a
-- channel, where a thread lives), by platform and the adapter's own key.
CREATE TABLE adapter_memory (
    platform    TEXT   NOT NULL,
    key         TEXT   NOT NULL,
    value       TEXT   NOT NULL,
    updated_at  BIGINT NOT NULL,
    PRIMARY KEY (platform, key)
);

-- Exactly once across a crash. A relay records its position after each post;
-- a crash between the two left the post unrecorded, and the resumed relay
-- showed its events again. Now the resumed relay reads the bot's own posts
-- after the last one recorded and records what they showed instead.

-- The relay's last post covered by `last_event_seq` (NULL before its first):
-- where the read-back starts.
ALTER TABLE followed_jobs ADD COLUMN last_post_id TEXT;

-- 1 when the job's last relay stopped gracefully with every post recorded,
-- so a resumed relay need not read anything back (a graceful restart of many
-- jobs costs no platform reads); 0 while a relay runs, and after a crash.
ALTER TABLE followed_jobs ADD COLUMN posts_settled BIGINT NOT NULL DEFAULT 0;

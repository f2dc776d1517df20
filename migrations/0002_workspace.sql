-- Each followed job belongs to one backend workspace (its X-Workspace-Id),
-- whose token the relay must use. Rows from before this migration hold '',
-- which the daemon assigns to the configured default workspace at start.
ALTER TABLE followed_jobs ADD COLUMN workspace TEXT NOT NULL DEFAULT '';

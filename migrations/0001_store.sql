-- The bot's persistent state, portable: this file runs unchanged on SQLite and
-- PostgreSQL. Hence only BIGINT and TEXT columns, times as unix epoch seconds,
-- flags as 0 or 1, and no engine-specific types, defaults or functions.
-- Migrations are embedded in the binary (src/store/migrate.rs); an applied
-- migration must never be edited, only followed by a new one.

-- One row per job the bot follows: which thread it answers in, and how far its
-- relay has got, so that a restarted bot resumes where it stopped.
CREATE TABLE followed_jobs (
    job_id              TEXT   NOT NULL PRIMARY KEY,
    -- 1 + the largest value at insert time: orders jobs created within the
    -- same second (a retry right after its job), which created_at cannot.
    insertion           BIGINT NOT NULL,
    platform            TEXT   NOT NULL,
    channel             TEXT   NOT NULL,
    thread              TEXT   NOT NULL,
    command_message_id  TEXT,
    requester_id        TEXT   NOT NULL,
    requester_name      TEXT   NOT NULL,
    host                TEXT   NOT NULL,
    owner               TEXT   NOT NULL,
    repo                TEXT   NOT NULL,
    number              BIGINT NOT NULL,
    -- 'issue' or 'change' (pull or merge request): GitLab numbers them apart.
    kind                TEXT   NOT NULL,
    retry_of            TEXT,
    card_message_id     TEXT,
    -- 'quiet', 'milestones' or 'verbose'.
    verbosity           TEXT   NOT NULL,
    last_event_id       TEXT,
    last_event_seq      BIGINT NOT NULL,
    status              TEXT   NOT NULL,
    ended               BIGINT NOT NULL CHECK (ended IN (0, 1)),
    created_at          BIGINT NOT NULL,
    updated_at          BIGINT NOT NULL
);

CREATE INDEX followed_jobs_by_thread ON followed_jobs (platform, channel, thread);
-- By number first: owner and repository are compared in any case (LOWER),
-- which a plain index on them could not serve; a number is selective enough.
CREATE INDEX followed_jobs_by_issue ON followed_jobs (number, host);
CREATE INDEX followed_jobs_by_ended ON followed_jobs (ended);
-- Every insert reads MAX(insertion); the index keeps that a lookup.
CREATE INDEX followed_jobs_by_insertion ON followed_jobs (insertion);

-- Inbound dedupe: a platform may deliver the same message twice. The primary
-- key makes "first sight" one atomic insert, across replicas too.
CREATE TABLE inbound_seen (
    key         TEXT   NOT NULL PRIMARY KEY,
    expires_at  BIGINT NOT NULL
);

CREATE INDEX inbound_seen_by_expiry ON inbound_seen (expires_at);

-- Unused for now: prepared for running more than one replica on PostgreSQL,
-- where each followed job is relayed by the replica holding its lease, and
-- another replica takes the job over once the lease expires.
CREATE TABLE relay_leases (
    job_id      TEXT   NOT NULL PRIMARY KEY,
    holder      TEXT   NOT NULL,
    expires_at  BIGINT NOT NULL
);

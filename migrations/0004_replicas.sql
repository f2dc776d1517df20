-- Several replicas on one PostgreSQL database. Every replica keeps a row in
-- `replicas` alive (a heartbeat), so each knows how many share the work; each
-- followed job is relayed by the replica holding its row in `relay_leases`,
-- which it renews while it relays and another replica takes over once it has
-- expired. Leases last seconds, so their times are unix epoch MILLISECONDS,
-- read from the database's clock (replicas' own clocks may disagree).

-- 0001 prepared relay_leases with times in seconds; nothing ever wrote it.
DROP TABLE relay_leases;

CREATE TABLE relay_leases (
    job_id      TEXT   NOT NULL PRIMARY KEY,
    -- The holding replica's id (`replicas.id`).
    holder      TEXT   NOT NULL,
    expires_ms  BIGINT NOT NULL,
    -- 1 when first taken, one more at each takeover of an expired lease.
    taken       BIGINT NOT NULL
);

CREATE INDEX relay_leases_by_holder ON relay_leases (holder);

CREATE TABLE replicas (
    replica_id  TEXT   NOT NULL PRIMARY KEY,
    -- Random per process: tells a replica from another process started with
    -- the same id while it still lives.
    instance    TEXT   NOT NULL,
    -- The chat platforms it runs, as `,discord,slack,`: a job is claimed only by a
    -- replica running its platform, and shared among those.
    platforms   TEXT   NOT NULL,
    expires_ms  BIGINT NOT NULL
);

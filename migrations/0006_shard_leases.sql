-- Discord's gateway shards among replicas: a shard may be connected once, so
-- each is held by one replica through its row here, renewed while it runs the
-- shard and taken over by another replica once it has expired. Times are unix
-- epoch MILLISECONDS from the database's clock, as in relay_leases.

CREATE TABLE shard_leases (
    shard_id    BIGINT NOT NULL PRIMARY KEY,
    -- The shard count it was taken for (the `num_shards` of its IDENTIFY).
    num_shards  BIGINT NOT NULL,
    -- The holding replica's id (`replicas.replica_id`).
    holder      TEXT   NOT NULL,
    expires_ms  BIGINT NOT NULL,
    -- 1 when first taken, one more at each takeover of an expired lease.
    taken       BIGINT NOT NULL
);

CREATE INDEX shard_leases_by_holder ON shard_leases (holder);

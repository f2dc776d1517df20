-- Renewing a replica's leases is one heartbeat update, whatever their number.
-- A renewal used to update every lease row of the replica (5,000 row updates
-- every few seconds at 5,000 jobs); now a lease is held while its holder's
-- heartbeat (`replicas.expires_ms`, renewed by the holder's process, told
-- apart by `instance`) lives, or until its own `expires_ms`, set when it was
-- taken and never renewed (it covers the moment between a take and the
-- holder's next heartbeat read by others).

-- The holding process's `replicas.instance`: a later process reusing the
-- replica id does not inherit the leases of the one that died. Rows taken
-- before this migration have none and last until their own `expires_ms`.
ALTER TABLE relay_leases ADD COLUMN holder_instance TEXT NOT NULL DEFAULT '';

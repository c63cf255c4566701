-- Connections as state machines. Each connection gets an identity (`uid`) that every later step
-- names, so a step that lost a race (a stale delete, an undo) never touches a newer connection
-- of the same partner; the node running a step that calls the partner (`node_id`), so the node
-- that restarts after a crash finishes or undoes it at once; and the credentials a rotation has
-- minted but not yet settled, recorded before they leave the process.
-- Paired with ../{{the other dialect}}/0008_connection_steps.sql.

ALTER TABLE connections ADD COLUMN uid TEXT NOT NULL DEFAULT '';
UPDATE connections SET uid = {{random hex}};
ALTER TABLE connections ADD COLUMN node_id TEXT;
-- The token a rotation is delivering to the partner, and since when.
ALTER TABLE connections ADD COLUMN pending_token_id TEXT;
ALTER TABLE connections ADD COLUMN pending_since BIGINT;
-- After a rotation the partner could not be sent (no rotate endpoint): the old token, still
-- valid until an admin confirms that the partner uses the new one.
ALTER TABLE connections ADD COLUMN previous_token_id TEXT;

-- The node delivering a notification, so that it releases its leases when it restarts.
ALTER TABLE partner_notifications ADD COLUMN leased_by TEXT;

-- rollcall schema, version 3: a tamper-evident audit trail, and the key
-- that signs the admin API's pagination cursors.
--
-- Every audit_log row carries prev_hash (the hash of the row before it
-- in the chain) and hash = sha256(prev_hash || canonical text of the
-- row).  The trigger below computes both in the database, so every
-- writer (server, rollcallctl, a psql session) is covered and none can
-- choose its own hashes.
--
-- The chain must be linear, so inserts are serialised: the trigger
-- locks the one row of audit_chain (the chain's head) and holds the
-- lock until its transaction ends.  A row lock, unlike a read of "the
-- newest audit row", also behaves under REPEATABLE READ (a concurrent
-- head change is a serialisation failure, retried, instead of a fork).
-- Writers therefore insert their audit rows as the LAST step before
-- COMMIT, after store_changes_flush(): the lock is then held only for
-- the commit itself.  Writers also bump policy_state (a row lock held
-- to commit too); so that the two locks are always taken in the same
-- order whatever order a writer calls things in, the trigger locks
-- policy_state first.  An audit-first writer then holds both for
-- longer, but can no longer deadlock with a flush-first one.
--
-- ids are assigned under the lock (the column lost its default, so a
-- writer cannot choose one either), so id order is chain order; they are
-- not gapless (a rolled-back insert burns one), and verification never
-- relies on gaps: a deleted row shows as a prev_hash that does not
-- match, a deleted tail as a head that does not match.
--
-- The canonical text is the jsonb array
--   [id, at in microseconds since the epoch (UTC), directory_id,
--    actor_kind, actor, action, resource_type, resource_id, request_id,
--    summary]
-- printed by jsonb's output function (deterministic; independent of
-- the session's TimeZone and DateStyle).  The first row's prev_hash is
-- 32 zero bytes.

CREATE TABLE audit_chain (
	id		boolean PRIMARY KEY DEFAULT true CHECK (id),
	last_id		bigint NOT NULL DEFAULT 0,
	last_hash	bytea NOT NULL CHECK (length(last_hash) = 32),
	n_rows		bigint NOT NULL DEFAULT 0
);

CREATE FUNCTION audit_log_digest(prev bytea, r audit_log) RETURNS bytea
    LANGUAGE sql STABLE AS $$
	SELECT sha256(prev || convert_to(jsonb_build_array(r.id,
	    (extract(epoch FROM r.at) * 1000000)::bigint, r.directory_id,
	    r.actor_kind, r.actor, r.action, r.resource_type, r.resource_id,
	    r.request_id, r.summary)::text, 'UTF8'))
$$;

-- Backfill rows written before this migration, in id order.
ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_update;
DO $$
DECLARE
	r	audit_log;
	prev	bytea := '\x0000000000000000000000000000000000000000000000000000000000000000';
	last	bigint := 0;
	n	bigint := 0;
BEGIN
	FOR r IN SELECT * FROM audit_log ORDER BY id LOOP
		UPDATE audit_log SET prev_hash = prev,
		    hash = audit_log_digest(prev, r) WHERE id = r.id
		    RETURNING hash INTO prev;
		last := r.id;
		n := n + 1;
	END LOOP;
	INSERT INTO audit_chain (last_id, last_hash, n_rows)
	    VALUES (last, prev, n);
END;
$$;
ALTER TABLE audit_log ENABLE TRIGGER audit_log_no_update;
ALTER TABLE audit_log ALTER COLUMN prev_hash SET NOT NULL,
    ALTER COLUMN hash SET NOT NULL, ALTER COLUMN id DROP DEFAULT;

CREATE FUNCTION audit_log_chain() RETURNS trigger
    LANGUAGE plpgsql AS $$
DECLARE
	prev	bytea;
BEGIN
	PERFORM 1 FROM policy_state FOR NO KEY UPDATE;
	SELECT last_hash INTO STRICT prev FROM audit_chain FOR UPDATE;
	NEW.id := nextval(pg_get_serial_sequence('audit_log', 'id'));
	NEW.prev_hash := prev;
	NEW.hash := audit_log_digest(prev, NEW);
	UPDATE audit_chain SET last_id = NEW.id, last_hash = NEW.hash,
	    n_rows = n_rows + 1;
	RETURN NEW;
END;
$$;
CREATE TRIGGER audit_log_chain BEFORE INSERT ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_chain();

-- Listing by actor, by action type, newest first (ids are chain order).
CREATE INDEX audit_log_actor ON audit_log (actor, id);
CREATE INDEX audit_log_action ON audit_log (action text_pattern_ops, id);
CREATE INDEX audit_log_directory ON audit_log (directory_id, id);

-- Server-side secrets that every instance shares (HMAC key for the
-- admin API's cursors).  Created on first use by the server.
CREATE TABLE server_keys (
	name		text PRIMARY KEY,
	key		bytea NOT NULL CHECK (length(key) >= 32),
	created_at	timestamptz NOT NULL DEFAULT now()
);

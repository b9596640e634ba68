-- stockflow 006: the outbox relay keeps a cursor instead of marking rows.
--
-- The relay used to UPDATE every outbox row it had published (published_at):
-- per record a second heap tuple and a second primary-key entry (a change of
-- the partial index's column is never a HOT update), on top of the insert,
-- and the purge deleted both versions. Now one row, outbox_relay, says how far
-- the relay has published: every outbox row with id <= last_id has been
-- published, except the ids in outbox_relay_holes. It is updated once per
-- relay round (up to 1,000 records); outbox rows are only inserted, and
-- deleted in bulk an hour after they were published.
--
-- Holes: ids come from a sequence when a transaction writes its outbox rows,
-- and transactions commit in another order, so when the relay passes an id
-- that is not there yet, its transaction may still commit (or it rolled back,
-- or nextval was never used: a gap forever). Such an id is kept in
-- outbox_relay_holes with xid_max, the xid of the relay's transaction that
-- passed it; the relay publishes it when it appears, and forgets it once it
-- is not there and every xid below xid_max has ended (the oldest running xid
-- is past it). That is exact because a transaction has its xid before it
-- takes an outbox id (the trigger outbox_xid_first, before any INSERT into
-- outbox evaluates nextval), so the holder's xid is below the relay's; the
-- snapshot's xmax is no such bound (it is the last completed xid + 1: a
-- running holder's xid can be equal or above it). A hole is also kept a
-- minute at least, a margin for an id taken outside an INSERT into outbox.
-- Publication stays at least once and, per key, in commit order: a SKU's
-- ledger rows take their ids under the SKU's row lock, an order's under its
-- advisory lock, so a later id of the same key only exists once the earlier
-- one has committed.

CREATE TABLE IF NOT EXISTS outbox_relay (
    one          boolean PRIMARY KEY DEFAULT true CHECK (one),
    last_id      bigint NOT NULL,
    published_at timestamptz NOT NULL DEFAULT now()  -- when last_id last moved
);

CREATE TABLE IF NOT EXISTS outbox_relay_holes (
    id      bigint PRIMARY KEY,
    xid_max xid8 NOT NULL,
    seen_at timestamptz NOT NULL DEFAULT now()
);

-- Every writer has its xid before it takes an outbox id: a statement-level
-- trigger fires before the INSERT reads its first row, so before the nextval
-- of the id's default or of the writer's own subquery (sf_ledger, the fast
-- paths of 003). Creating it waits for every transaction that has written to
-- outbox (the lock conflicts with theirs), so the holes below are all dead
-- unless an id was taken outside an INSERT: those get the minute.
CREATE OR REPLACE FUNCTION sf_outbox_xid_first()
RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_current_xact_id();
    RETURN NULL;
END $$;
CREATE OR REPLACE TRIGGER outbox_xid_first BEFORE INSERT ON outbox
    FOR EACH STATEMENT EXECUTE FUNCTION sf_outbox_xid_first();

-- An existing database: the cursor starts below its oldest unpublished row,
-- else at its newest row, else where the sequence is. Ids among the 20,000
-- below it that are not there now become holes (a writer may still hold one
-- if it took it outside an INSERT; else purged or rolled back, forgotten a
-- minute later). The workers before 006 (they mark published_at) must be
-- stopped first: their relay's lock is refused.
DO $$
DECLARE
    v_last bigint;
BEGIN
    IF EXISTS (SELECT 1 FROM outbox_relay) THEN
        RETURN;
    END IF;
    -- a relay of the workers before 006 marks published_at, which goes below
    IF NOT pg_try_advisory_xact_lock(7415002) THEN
        RAISE EXCEPTION 'an outbox relay is running (a worker holds advisory lock 7415002): '
                        'stop the workers, migrate, then start the new ones';
    END IF;
    IF EXISTS (SELECT 1 FROM information_schema.columns
                WHERE table_name = 'outbox' AND column_name = 'published_at'
                  AND table_schema = current_schema()) THEN
        EXECUTE 'SELECT min(id) - 1 FROM outbox WHERE published_at IS NULL' INTO v_last;
    END IF;
    v_last := coalesce(v_last, (SELECT max(id) FROM outbox),
                       (SELECT CASE WHEN is_called THEN last_value ELSE last_value - 1 END
                          FROM outbox_id_seq));
    INSERT INTO outbox_relay (last_id) VALUES (v_last);
    INSERT INTO outbox_relay_holes (id, xid_max)
    SELECT g, pg_current_xact_id()
      FROM generate_series(greatest(v_last - 20000, 1), v_last) g
     WHERE NOT EXISTS (SELECT 1 FROM outbox o WHERE o.id = g);
END $$;

DROP INDEX IF EXISTS outbox_unpublished;
ALTER TABLE outbox DROP COLUMN IF EXISTS published_at;

-- Rows not yet published (holes are below last_id, so the two parts never meet).
CREATE OR REPLACE VIEW outbox_pending AS
SELECT o.* FROM outbox o WHERE o.id > (SELECT last_id FROM outbox_relay)
UNION ALL
SELECT o.* FROM outbox o JOIN outbox_relay_holes h ON h.id = o.id;

-- The next p_limit records to publish, in id order: holes that have appeared,
-- then rows above the cursor; after_id = the cursor they were read at.
CREATE OR REPLACE FUNCTION sf_relay_next(p_limit integer)
RETURNS TABLE (id bigint, topic text, key text, payload text, after_id bigint)
LANGUAGE sql STABLE SET enable_seqscan = off SET jit = off AS $$
    SELECT o.id, o.topic, o.key, o.payload::text, r.last_id
      FROM outbox_relay r,
           LATERAL (SELECT o.* FROM outbox o JOIN outbox_relay_holes h ON h.id = o.id
                    UNION ALL
                    (SELECT o.* FROM outbox o WHERE o.id > r.last_id ORDER BY o.id LIMIT p_limit)) o
     ORDER BY o.id LIMIT p_limit
$$;

-- After a round: p_ids (read at cursor p_from) are on Kafka. Moves the cursor
-- past the highest of them, records the ids it passed that were not there
-- with this transaction's xid (taken first: every holder of such an id had
-- its xid before this one), forgets holes published or gone for good (holes
-- of this call never: its own xid is running).
CREATE OR REPLACE FUNCTION sf_relay_done(p_from bigint, p_ids bigint[])
RETURNS void LANGUAGE plpgsql SET enable_seqscan = off SET jit = off AS $$
DECLARE
    v_xid xid8 := pg_current_xact_id();
    v_top bigint := (SELECT max(i) FROM unnest(p_ids) i WHERE i > p_from);
BEGIN
    DELETE FROM outbox_relay_holes h
     WHERE h.id = ANY (p_ids)
        OR (h.seen_at < now() - interval '1 minute'
            AND h.xid_max <= pg_snapshot_xmin(pg_current_snapshot())
            AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.id = h.id));
    IF v_top IS NULL THEN
        RETURN;
    END IF;
    INSERT INTO outbox_relay_holes (id, xid_max)
    SELECT g, v_xid
      FROM generate_series(p_from + 1, v_top - 1) g
     WHERE g <> ALL (p_ids)
    ON CONFLICT DO NOTHING;
    UPDATE outbox_relay SET last_id = v_top, published_at = now() WHERE last_id = p_from;
END $$;

-- The relay's backlog for /metrics: rows still to publish, age of the oldest.
-- These functions read outbox by id only (005): never a scan of an hour of rows;
-- jit = off, since the cost a disabled scan adds (of the one-row outbox_relay)
-- would make PostgreSQL compile each call (0.5-2 s with 300,000 rows).
CREATE OR REPLACE FUNCTION sf_relay_backlog(OUT n bigint, OUT oldest_age double precision)
LANGUAGE sql STABLE SET enable_seqscan = off SET jit = off AS $$
    SELECT count(*), coalesce(extract(epoch FROM now() - min(created_at)), 0)::double precision
      FROM outbox_pending
$$;

-- Once a minute, also when nothing is published: holes gone for good (the
-- relay probes every hole each round), and rows published more than an hour
-- ago, in bulk.
CREATE OR REPLACE FUNCTION sf_relay_purge()
RETURNS void LANGUAGE sql AS $$
    DELETE FROM outbox_relay_holes h
     WHERE h.seen_at < now() - interval '1 minute'
       AND h.xid_max <= pg_snapshot_xmin(pg_current_snapshot())
       AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.id = h.id);
    DELETE FROM outbox o
     WHERE o.id <= (SELECT last_id FROM outbox_relay)
       AND o.created_at < now() - interval '1 hour'
       AND NOT EXISTS (SELECT 1 FROM outbox_relay_holes h WHERE h.id = o.id);
$$;

-- stockflow 022: the sellable-quantity feed (DESIGN §9, issue 16).
--
-- Every transaction that changes a SKU's available or status writes, through
-- the outbox, one record per SKU to inventory.availability (key: the SKU):
--   {"sku", "available", "status", "version", "as_of"}
-- A storefront keeps, per SKU, the record with the highest version; it then
-- shows what stock_levels shows.
--
-- How (the model of 021): an INSERT of a stock row, or an UPDATE that changes
-- its available or status (the WHEN clause; every other update pays only for
-- the comparison), queues a deferred row trigger. At commit the first queued
-- event of a SKU writes its record and puts the SKU in the transaction-local
-- set stockflow.feed_seen; later events of that SKU in the transaction do
-- nothing. (The set is a string ",<hex of sku>,<hex of sku>,...", searched
-- with strpos: a jsonb set, parsed and rebuilt on every event, costs
-- quadratic time in a batch that touches hundreds of SKUs.) So a batch of 1,000 orders on 10 SKUs writes at most 10 records,
-- whatever path (sf_apply, the set-based batch paths of 003/004, the expiry
-- round, a settings change) changed the rows, and those functions are
-- untouched. The first event's OLD is the row as the transaction found it
-- (an earlier update that changed neither available nor status queued
-- nothing): a transaction that ends where it started (a reservation and its
-- cancellation in one batch) writes nothing. An INSERT always writes: the
-- SKU is new to the storefront. Events of a rolled-back subtransaction (a
-- poison event, a batch applied again) are discarded with it.
--
-- version: nextval of the sequence availability_version, taken in the
-- deferred trigger, i.e. at commit, while the transaction holds the SKU's
-- row lock (or, for a new SKU, its unique-index entry): transactions that
-- change one SKU take their versions in commit order, so per SKU versions
-- strictly increase, and so do the outbox ids the relay publishes in (the
-- records of one SKU reach its partition in version order). A worker restart
-- changes nothing (the sequence is in the database). `stockctl rebuild`
-- restores into a fresh database, whose sequence starts at 1: it first
-- moves the sequence past the highest version on inventory.availability,
-- then its restored rows (INSERTs) publish the rebuilt state with higher
-- versions (stockctl/rebuild.c).
--
-- as_of: clock_timestamp() in the deferred trigger, i.e. during COMMIT,
-- after every statement of the transaction and just before its commit
-- record is written: the closest to the commit time PostgreSQL lets a
-- transaction see (now() would be its start). UTC, microseconds.
--
-- available goes through sf_available(stock), the one definition: the feed,
-- the status of a row and stock_levels all call it, so a later migration
-- that changes what is sellable (promotions subtract their earmarks)
-- replaces that one function and the trigger's WHEN follows it.

-- available = on_hand - reserved - safety_stock, never below 0 (§4; the
-- formula of stock_levels in 020).
CREATE OR REPLACE FUNCTION sf_available(s stock)
RETURNS bigint LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT greatest(s.on_hand - s.reserved - s.safety_stock, 0)
$$;

-- The status of a stock row (§9, first match), from sf_available: the rule
-- of sf_status (020), which 021's alerts still call with the columns.
CREATE OR REPLACE FUNCTION sf_status_of(s stock)
RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN s.oversold THEN 'oversold'
                WHEN sf_available(s) < s.hide_below THEN 'hidden'
                WHEN sf_available(s) <= s.low_stock_threshold THEN 'low'
                ELSE 'ok' END
$$;

-- stock_levels of 020, its available and status now from the two functions
-- above (the same values today), so the view and the feed cannot disagree.
CREATE OR REPLACE VIEW stock_levels AS
SELECT s.sku, s.on_hand, s.reserved, s.safety_stock, sf_available(s) AS available,
       sf_status_of(s) AS status
  FROM stock s;

CREATE SEQUENCE IF NOT EXISTS availability_version;

-- The feed record of one SKU (the caller holds its row and computed its
-- available and status with sf_available and sf_status_of). PL/pgSQL: its
-- plan is cached (a SQL function that cannot be inlined is planned again on
-- every call).
CREATE OR REPLACE FUNCTION sf_availability_record(p_sku text, p_available bigint, p_status text)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO outbox (topic, key, payload)
    VALUES ('inventory.availability', p_sku,
            jsonb_build_object('sku', p_sku, 'available', p_available, 'status', p_status,
                               'version', nextval('availability_version'),
                               'as_of', to_char(clock_timestamp() AT TIME ZONE 'UTC',
                                                'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')));
END $$;

CREATE OR REPLACE FUNCTION sf_availability_feed()
RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    v_seen text := coalesce(nullif(current_setting('stockflow.feed_seen', true), ''), ',');
    v_key text := encode(textsend(NEW.sku), 'hex') || ',';
    s stock%ROWTYPE;
    v_available bigint;
    v_status text;
BEGIN
    IF strpos(v_seen, ',' || v_key) > 0 THEN
        RETURN NULL;
    END IF;
    PERFORM set_config('stockflow.feed_seen', v_seen || v_key, true);
    SELECT * INTO s FROM stock WHERE sku = NEW.sku;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    v_available := sf_available(s);
    v_status := sf_status_of(s);
    IF TG_OP = 'UPDATE' AND v_available = sf_available(OLD) AND v_status = sf_status_of(OLD) THEN
        RETURN NULL;    -- back where the transaction found it
    END IF;
    PERFORM sf_availability_record(s.sku, v_available, v_status);
    RETURN NULL;
END $$;

DROP TRIGGER IF EXISTS stock_availability_insert ON stock;
CREATE CONSTRAINT TRIGGER stock_availability_insert AFTER INSERT ON stock
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
    EXECUTE FUNCTION sf_availability_feed();
DROP TRIGGER IF EXISTS stock_availability_feed ON stock;
CREATE CONSTRAINT TRIGGER stock_availability_feed AFTER UPDATE ON stock
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
    WHEN (sf_available(OLD) IS DISTINCT FROM sf_available(NEW)
          OR sf_status_of(OLD) IS DISTINCT FROM sf_status_of(NEW))
    EXECUTE FUNCTION sf_availability_feed();

-- A database that has stock already: one record per SKU, the storefront's
-- starting point (running this again only publishes the same state again).
DO $$
DECLARE
    s stock%ROWTYPE;
BEGIN
    FOR s IN SELECT * FROM stock ORDER BY sku LOOP
        PERFORM sf_availability_record(s.sku, sf_available(s), sf_status_of(s));
    END LOOP;
END $$;

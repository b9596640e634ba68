-- stockflow 025: the availability feed (022) and the status alerts (021,
-- 023) written once per transaction, set-based (issue 16: the feed's cost).
--
-- What they promise is unchanged (022's and 021's headers): one
-- inventory.availability record per SKU per transaction that changed its
-- available or status (an INSERT always writes one), none when the
-- transaction ends where it started; version from availability_version,
-- strictly increasing per SKU in commit order; as_of the commit time; one
-- status alert per SKU per transaction whose status at commit differs from
-- its status at the start (low_stock, hidden, back_in_stock; oversold is
-- sf_stock_adjusted's); whatever path changed the stock rows (sf_apply, the
-- batch paths of 003/004, the expiry round, settings, promotions, rebuild's
-- INSERTs), those functions untouched.
--
-- Why: 022 queued one deferred row trigger per changed SKU. At commit of a
-- batch that changed ~1,000 SKUs each event looked its SKU up in a string
-- set growing to ~1,000 keys (strpos: quadratic), read the stock row again,
-- built its record and INSERTed it alone (firing outbox_xid_first each
-- time): ~100 us per SKU, ~100 ms per commit of 1,000 SKUs, where the batch
-- itself takes ~12 ms to update the rows (pg_stat_user_functions of one
-- such commit: sf_availability_feed 103 ms for 992 calls). That was the
-- feed's 18% of steady throughput.
--
-- How:
--   * Statement-level AFTER INSERT / AFTER UPDATE triggers on stock with
--     transition tables (stock_availability_changes_insert, _update) put the
--     SKUs whose available or status the statement changed into the
--     session's temporary table sf_stock_changed (ON COMMIT DELETE ROWS),
--     with the available and status they had before: ON CONFLICT DO
--     NOTHING keeps the first, i.e. the values at the start of the
--     transaction (an earlier statement that changed neither left them as
--     they were). An inserted SKU is marked inserted (always published), its
--     inserted values are its "before" for the alerts (021 raised nothing on
--     an INSERT, only on a later UPDATE that changed the status).
--   * The first such statement of a transaction also inserts the marker row
--     of sf_stock_changed, whose deferred constraint trigger (the one per
--     transaction) runs sf_stock_changes_at_commit at COMMIT: one INSERT ...
--     SELECT writes the feed records of every SKU whose available or status
--     differs from its first "before" (or that was inserted), in SKU order,
--     versions taken there; then one alert per SKU whose status differs.
--   * Rows of a rolled-back subtransaction (a poison event, a batch applied
--     again) go with it, the marker row and its queued trigger too.
--   * The temporary table is created by the first statement of a session
--     that needs it (sf_stock_changes_prepare); every session has its own.
--     A role needs the database's TEMPORARY privilege (PUBLIC has it unless
--     revoked).
--
-- Versions and as_of as in 022: nextval at commit while the transaction
-- holds the row lock of every SKU it publishes (it changed the row, or
-- holds the new row's unique-index entry), so per SKU versions and outbox
-- ids follow commit order; as_of is clock_timestamp() at the flush, one
-- value for the whole transaction.
--
-- The bench measures the feed's cost with both statement triggers disabled
-- (bench/run.sh feed_off_run), which disables the status alerts too.

-- Creates this session's temporary table (once per session): the changed
-- SKUs, and the transaction's marker row (marker, no SKU), whose insertion
-- alone queues the deferred trigger (WHEN). One table, one index: ON COMMIT
-- DELETE ROWS truncates both at every commit that used them (a separate
-- marker table doubled that: 4 files truncated per commit, which showed as
-- IO:DataFileTruncate waits in the bench's small transactions).
CREATE OR REPLACE FUNCTION sf_stock_changes_prepare()
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    CREATE TEMPORARY TABLE sf_stock_changed (
        marker        boolean NOT NULL,
        sku           text NOT NULL,
        was_available bigint,
        was_status    text,
        inserted      boolean NOT NULL DEFAULT false,
        PRIMARY KEY (marker, sku)
    ) ON COMMIT DELETE ROWS;
    CREATE CONSTRAINT TRIGGER sf_stock_changed_commit AFTER INSERT ON pg_temp.sf_stock_changed
        DEFERRABLE INITIALLY DEFERRED FOR EACH ROW WHEN (NEW.marker)
        EXECUTE FUNCTION sf_stock_changes_at_commit();
END $$;

CREATE OR REPLACE FUNCTION sf_stock_changes_update()
RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF to_regclass('pg_temp.sf_stock_changed') IS NULL THEN
        PERFORM sf_stock_changes_prepare();
    END IF;
    INSERT INTO pg_temp.sf_stock_changed (marker, sku, was_available, was_status)
    SELECT false, o.sku, sf_available(o), sf_status_of(o)
      FROM stock_old o JOIN stock_new n ON n.sku = o.sku
     WHERE sf_available(o) <> sf_available(n) OR sf_status_of(o) <> sf_status_of(n)
    ON CONFLICT (marker, sku) DO NOTHING;
    IF FOUND THEN
        INSERT INTO pg_temp.sf_stock_changed (marker, sku) VALUES (true, '')
        ON CONFLICT (marker, sku) DO NOTHING;
    END IF;
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION sf_stock_changes_insert()
RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF to_regclass('pg_temp.sf_stock_changed') IS NULL THEN
        PERFORM sf_stock_changes_prepare();
    END IF;
    INSERT INTO pg_temp.sf_stock_changed (marker, sku, was_available, was_status, inserted)
    SELECT false, n.sku, sf_available(n), sf_status_of(n), true
      FROM stock_new n
    ON CONFLICT (marker, sku) DO UPDATE SET inserted = true;
    IF FOUND THEN
        INSERT INTO pg_temp.sf_stock_changed (marker, sku) VALUES (true, '')
        ON CONFLICT (marker, sku) DO NOTHING;
    END IF;
    RETURN NULL;
END $$;

-- At COMMIT (the deferred trigger of the marker row): the feed
-- records, then the status alerts (023's wording and details). Stock rows by
-- index, one probe per changed SKU: the temporary table has no statistics,
-- and a hash join that reads every stock row took 17 ms for 1,040 SKUs out
-- of 10,000 where the probes take 4.5 ms.
CREATE OR REPLACE FUNCTION sf_stock_changes_at_commit()
RETURNS trigger LANGUAGE plpgsql SET enable_hashjoin = off SET enable_mergejoin = off AS $$
DECLARE
    v_as_of text := to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"');
    r record;
    v_kind text;
BEGIN
    INSERT INTO outbox (topic, key, payload)
    SELECT 'inventory.availability', f.sku,
           jsonb_build_object('sku', f.sku, 'available', f.available, 'status', f.status,
                              'version', nextval('availability_version'), 'as_of', v_as_of)
      FROM (SELECT s.sku, sf_available(s) AS available, sf_status_of(s) AS status
              FROM pg_temp.sf_stock_changed c JOIN stock s ON s.sku = c.sku
             WHERE NOT c.marker AND (c.inserted OR sf_available(s) <> c.was_available
                   OR sf_status_of(s) <> c.was_status)
             ORDER BY s.sku) f;

    FOR r IN SELECT s.*, c.was_status, sf_status_of(s) AS now_status,
                    sf_available(s) AS now_available
               FROM pg_temp.sf_stock_changed c JOIN stock s ON s.sku = c.sku
              WHERE NOT c.marker AND sf_status_of(s) <> c.was_status
              ORDER BY s.sku
    LOOP
        v_kind := CASE WHEN r.now_status = 'low' THEN 'low_stock'
                       WHEN r.now_status = 'hidden' THEN 'hidden'
                       WHEN r.now_status = 'ok' AND r.was_status IN ('low', 'hidden')
                           THEN 'back_in_stock' END;
        CONTINUE WHEN v_kind IS NULL;
        PERFORM sf_alert(format('%s:%s:%s', v_kind, r.sku, pg_current_xact_id()), v_kind,
            CASE v_kind WHEN 'back_in_stock' THEN 'info' ELSE 'warning' END,
            CASE v_kind
                WHEN 'low_stock' THEN format('SKU %s is low: available %s <= low_stock_threshold %s',
                                             r.sku, r.now_available, r.low_stock_threshold)
                WHEN 'hidden' THEN format('SKU %s is hidden: available %s < hide_below %s', r.sku,
                                          r.now_available, r.hide_below)
                ELSE format('SKU %s is back in stock: available %s (was %s)', r.sku,
                            r.now_available, r.was_status)
            END,
            jsonb_build_object('sku', r.sku, 'status', r.now_status,
                               'previous_status', r.was_status, 'available', r.now_available,
                               'on_hand', r.on_hand, 'reserved', r.reserved,
                               'safety_stock', r.safety_stock,
                               'low_stock_threshold', r.low_stock_threshold,
                               'hide_below', r.hide_below, 'earmarked', r.earmarked));
    END LOOP;
    RETURN NULL;
END $$;

-- 022's and 021/023's row triggers give way to the statement triggers.
DROP TRIGGER IF EXISTS stock_availability_insert ON stock;
DROP TRIGGER IF EXISTS stock_availability_feed ON stock;
DROP TRIGGER IF EXISTS stock_status_alert ON stock;
DROP FUNCTION IF EXISTS sf_availability_feed();
DROP FUNCTION IF EXISTS sf_status_alert();

-- Named stock_availability_* (bench/run.sh finds the feed's triggers so).
DROP TRIGGER IF EXISTS stock_availability_changes_insert ON stock;
CREATE TRIGGER stock_availability_changes_insert AFTER INSERT ON stock
    REFERENCING NEW TABLE AS stock_new
    FOR EACH STATEMENT EXECUTE FUNCTION sf_stock_changes_insert();
DROP TRIGGER IF EXISTS stock_availability_changes_update ON stock;
CREATE TRIGGER stock_availability_changes_update AFTER UPDATE ON stock
    REFERENCING OLD TABLE AS stock_old NEW TABLE AS stock_new
    FOR EACH STATEMENT EXECUTE FUNCTION sf_stock_changes_update();

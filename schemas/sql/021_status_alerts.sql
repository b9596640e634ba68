-- stockflow 021: one alert per status change of a SKU (DESIGN §9), per
-- transaction, whatever path changed the stock row.
--
-- A status change raises one alert through the outbox: low_stock (the SKU
-- became low), hidden (it became hidden), back_in_stock (it left low or
-- hidden for ok). Oversold is raised where it happens, by
-- sf_stock_adjusted (002), with the adjustment that caused it; leaving it
-- raises low_stock or hidden when that is where the SKU lands, and nothing
-- when it lands on ok (§9 names back_in_stock for leaving low or hidden).
--
-- "One per change, never one per event": a transaction (a worker's batch,
-- one settlement, one expiry round) compares each SKU's status before it
-- and at its commit. A batch of 1,000 orders that takes a SKU from ok to
-- low raises one low_stock; one that takes it from ok through low to
-- hidden raises one hidden; one that goes down and up again raises nothing;
-- a status that holds over many events and batches raises nothing more.
--
-- How: an UPDATE of a stock row that changes its status queues a deferred
-- row trigger (the WHEN clause filters out every other update, so the apply
-- paths pay only for the comparison). At commit the first queued event of a
-- SKU holds, as OLD, its status at the start of the transaction (earlier
-- updates in the transaction did not change it), and the row as it is now
-- holds the final status; later events of that SKU in the transaction find
-- it in stockflow.status_seen and do nothing. Events of a rolled-back
-- subtransaction (a poison event in sf_apply, a batch undone and applied
-- again) are discarded with it. The apply functions are untouched.
--
-- alert_id: <kind>:<sku>:<transaction id>: one per SKU and transaction,
-- the same on every redelivery of the outbox row (Idempotency-Key).

CREATE OR REPLACE FUNCTION sf_status_alert()
RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    v_seen jsonb := coalesce(nullif(current_setting('stockflow.status_seen', true), ''),
                             '{}')::jsonb;
    s stock%ROWTYPE;
    v_was text := sf_status(OLD.on_hand, OLD.reserved, OLD.safety_stock,
                            OLD.low_stock_threshold, OLD.hide_below, OLD.oversold);
    v_now text;
    v_avail bigint;
    v_kind text;
BEGIN
    IF v_seen ? NEW.sku THEN
        RETURN NULL;
    END IF;
    PERFORM set_config('stockflow.status_seen', (v_seen || jsonb_build_object(NEW.sku, true))::text,
                       true);
    SELECT * INTO s FROM stock WHERE sku = NEW.sku;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    v_now := sf_status(s.on_hand, s.reserved, s.safety_stock, s.low_stock_threshold,
                       s.hide_below, s.oversold);
    v_avail := greatest(s.on_hand - s.reserved - s.safety_stock, 0);
    v_kind := CASE WHEN v_now = v_was THEN NULL
                   WHEN v_now = 'low' THEN 'low_stock'
                   WHEN v_now = 'hidden' THEN 'hidden'
                   WHEN v_now = 'ok' AND v_was IN ('low', 'hidden') THEN 'back_in_stock' END;
    IF v_kind IS NULL THEN
        RETURN NULL;
    END IF;
    PERFORM sf_alert(format('%s:%s:%s', v_kind, s.sku, pg_current_xact_id()), v_kind,
        CASE v_kind WHEN 'back_in_stock' THEN 'info' ELSE 'warning' END,
        CASE v_kind
            WHEN 'low_stock' THEN format('SKU %s is low: available %s <= low_stock_threshold %s',
                                         s.sku, v_avail, s.low_stock_threshold)
            WHEN 'hidden' THEN format('SKU %s is hidden: available %s < hide_below %s', s.sku,
                                      v_avail, s.hide_below)
            ELSE format('SKU %s is back in stock: available %s (was %s)', s.sku, v_avail, v_was)
        END,
        jsonb_build_object('sku', s.sku, 'status', v_now, 'previous_status', v_was,
                           'available', v_avail, 'on_hand', s.on_hand, 'reserved', s.reserved,
                           'safety_stock', s.safety_stock,
                           'low_stock_threshold', s.low_stock_threshold,
                           'hide_below', s.hide_below));
    RETURN NULL;
END $$;

DROP TRIGGER IF EXISTS stock_status_alert ON stock;
CREATE CONSTRAINT TRIGGER stock_status_alert AFTER UPDATE ON stock
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
    WHEN (sf_status(OLD.on_hand, OLD.reserved, OLD.safety_stock, OLD.low_stock_threshold,
                    OLD.hide_below, OLD.oversold)
          IS DISTINCT FROM sf_status(NEW.on_hand, NEW.reserved, NEW.safety_stock,
                                     NEW.low_stock_threshold, NEW.hide_below, NEW.oversold))
    EXECUTE FUNCTION sf_status_alert();

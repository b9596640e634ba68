-- stockflow 002: the apply functions. One call applies one event inside a
-- subtransaction (the EXCEPTION block), so a batch of events shares one
-- transaction while a failing event rolls back only itself.
--
-- Outcomes returned to the workers:
--   'applied:<detail>' | 'ignored:<detail>'  recorded in processed_events
--   'duplicate'                              event_id seen before, nothing done
--   'poison:<reason>'                        the event can never apply (DLQ)
--   'transient:<sqlstate> <message>'         retry later (lock/statement timeout, deadlock)

-- Locks, in one global order (orders by id, then stock by sku), every row a
-- batch will touch, so concurrent batches queue instead of deadlocking.
-- p_skus: SKUs of stock events; p_new_skus: SKUs of order.created lines.
-- A sold-out SKU (nothing available, not oversold) that only new orders of
-- the batch touch is read, not locked: every such order is rejected, which
-- writes nothing to the stock row, so two batches rejecting orders for one
-- SKU no longer wait for each other (a flash sale after the last unit).
-- Their row versions (xmin) go to the transaction-local setting
-- stockflow.unlocked; sf_apply_batch locks them at its end and applies the
-- batch again, locked, if one of them changed meanwhile.
CREATE OR REPLACE FUNCTION sf_lock_batch(p_order_ids text[], p_skus text[], p_new_skus text[])
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    v_unlocked jsonb;
BEGIN
    -- order ids first, as transaction advisory locks in hash order: they also
    -- cover orders not created yet, which the order- and payment-worker may
    -- both be about to insert (row locks cannot, and would deadlock)
    PERFORM pg_advisory_xact_lock(h)
       FROM (SELECT DISTINCT hashtext(id) AS h FROM unnest(p_order_ids) id ORDER BY 1) s;
    PERFORM 1 FROM orders WHERE order_id = ANY (p_order_ids) ORDER BY order_id FOR UPDATE;
    SELECT coalesce(jsonb_object_agg(st.sku, st.xmin::text), '{}') INTO v_unlocked
      FROM stock st
     WHERE st.sku = ANY (p_new_skus) AND NOT st.oversold
       AND st.on_hand - st.reserved - st.safety_stock <= 0
       AND st.sku <> ALL (p_skus)
       AND st.sku NOT IN (SELECT l.sku FROM order_lines l WHERE l.order_id = ANY (p_order_ids));
    PERFORM set_config('stockflow.unlocked', v_unlocked::text, true);
    -- one IN over a UNION: an OR of two conditions would make PostgreSQL's
    -- generic plan (chosen after a few calls) scan the whole stock table
    PERFORM 1 FROM stock
      WHERE sku IN (SELECT unnest(p_skus) UNION SELECT unnest(p_new_skus)
                    UNION SELECT l.sku FROM order_lines l WHERE l.order_id = ANY (p_order_ids))
        AND NOT v_unlocked ? sku
      ORDER BY sku FOR UPDATE;
END $$;

CREATE OR REPLACE FUNCTION sf_alert(p_alert_id text, p_kind text, p_severity text,
                                    p_summary text, p_details jsonb)
RETURNS void LANGUAGE sql AS $$
    INSERT INTO outbox (topic, key, payload)
    VALUES ('inventory.alerts', p_alert_id,
            jsonb_build_object('alert_id', p_alert_id, 'kind', p_kind, 'severity', p_severity,
                               'summary', p_summary,
                               'occurred_at', to_char(now() AT TIME ZONE 'UTC',
                                                      'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
                               'details', p_details));
$$;

-- ---- orders: facts in, state out -------------------------------------------
--
-- An order row keeps the facts its events established (created, paid_at,
-- cancelled_at, failed_at, rejected, expired). sf_order_target derives the
-- state DESIGN §4 gives those facts, so the final state depends only on the
-- events, not on the order the topics were read in. sf_settle then moves the
-- order's stock effect (none, held = reserved, deducted = committed) to what
-- the target needs, where stock allows.

CREATE OR REPLACE FUNCTION sf_order_target(o orders)
RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE
        WHEN NOT o.created THEN
            CASE WHEN o.paid_at IS NOT NULL THEN 'awaiting_order'        -- rule 6
                 WHEN o.cancelled_at IS NOT NULL THEN 'cancelled'         -- rule 6
                 ELSE 'payment_failed' END
        WHEN o.paid_at IS NOT NULL THEN
            -- a payment after the cancellation: refund (two payments around a
            -- cancellation refund the later one, whatever order they arrive in)
            CASE WHEN o.cancelled_at < o.last_paid_at THEN 'refund_required' -- rule 3
                 ELSE 'committed' END                                     -- rule 2
        WHEN o.cancelled_at IS NOT NULL THEN 'cancelled'                  -- rule 3
        WHEN o.failed_at IS NOT NULL THEN 'payment_failed'                -- rule 4
        WHEN o.expired THEN 'expired'                                     -- rule 5
        WHEN o.rejected THEN 'rejected'                                   -- rule 1
        ELSE 'reserved' END
$$;

-- Locks the order's stock rows in sku order; true when every line can take
-- `need` more: 'reserve' checks available, 'deduct' checks on_hand.
CREATE OR REPLACE FUNCTION sf_lines_fit(p_order_id text, p_need text)
RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
    v_lines integer;
    v_ok integer;
BEGIN
    PERFORM 1 FROM stock
      WHERE sku IN (SELECT sku FROM order_lines WHERE order_id = p_order_id)
      ORDER BY sku FOR UPDATE;
    SELECT count(*),
           count(*) FILTER (WHERE CASE p_need
                WHEN 'reserve' THEN s.on_hand - s.reserved - s.safety_stock >= l.qty
                ELSE s.on_hand >= l.qty END)
      INTO v_lines, v_ok
      FROM order_lines l LEFT JOIN stock s USING (sku)
     WHERE l.order_id = p_order_id;
    RETURN v_lines > 0 AND v_ok = v_lines;
END $$;

-- Applies a stock movement for every line of the order:
-- 'hold' reserved += qty; 'release' reserved -= qty;
-- 'deduct_held' reserved -= qty, on_hand -= qty; 'deduct' on_hand -= qty;
-- 'restore' on_hand += qty (a deduction undone).
CREATE OR REPLACE FUNCTION sf_move(p_order_id text, p_move text)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    r_d integer := CASE p_move WHEN 'hold' THEN 1 WHEN 'release' THEN -1
                               WHEN 'deduct_held' THEN -1 ELSE 0 END;
    h_d integer := CASE p_move WHEN 'deduct_held' THEN -1 WHEN 'deduct' THEN -1
                               WHEN 'restore' THEN 1 ELSE 0 END;
BEGIN
    UPDATE stock s
       SET reserved = s.reserved + r_d * l.qty,
           on_hand = s.on_hand + h_d * l.qty,
           committed_total = s.committed_total - h_d * l.qty,
           oversold = s.oversold AND s.reserved + r_d * l.qty > s.on_hand + h_d * l.qty,
           updated_at = now()
      FROM order_lines l
     WHERE l.order_id = p_order_id AND s.sku = l.sku;
END $$;

CREATE OR REPLACE FUNCTION sf_refund_alert(p_order_id text)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    o orders%ROWTYPE;
    v_lines jsonb;
BEGIN
    SELECT * INTO o FROM orders WHERE order_id = p_order_id;
    SELECT coalesce(jsonb_agg(jsonb_build_object('sku', sku, 'qty', qty) ORDER BY sku), '[]')
      INTO v_lines FROM order_lines WHERE order_id = p_order_id;
    PERFORM sf_alert('refund_required:' || p_order_id, 'refund_required', 'warning',
        format('order %s was paid but cannot be fulfilled: refund required', p_order_id),
        jsonb_build_object('order_id', p_order_id, 'lines', v_lines,
                           'paid_at', o.paid_at, 'cancelled_at', o.cancelled_at,
                           'expires_at', o.expires_at));
END $$;

-- Moves the order to the state its facts give (see above). Returns the
-- outcome: 'applied:<state>' when the state changed, else 'ignored:<why>'.
CREATE OR REPLACE FUNCTION sf_settle(p_order_id text, p_was text, p_why text)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    o orders%ROWTYPE;
    t text;
BEGIN
    IF p_was = 'refund_required' THEN
        RETURN 'ignored:order is final (refund_required)';              -- rule 7
    END IF;
    SELECT * INTO o FROM orders WHERE order_id = p_order_id FOR UPDATE;
    t := sf_order_target(o);
    IF t = 'reserved' AND p_was IS DISTINCT FROM 'reserved' THEN
        IF sf_lines_fit(p_order_id, 'reserve') THEN
            PERFORM sf_move(p_order_id, 'hold');
        ELSE
            UPDATE orders SET rejected = true WHERE order_id = p_order_id;
            t := 'rejected';
        END IF;
    ELSIF t = 'committed' AND p_was IS DISTINCT FROM 'committed' THEN
        IF p_was = 'reserved' AND sf_lines_fit(p_order_id, 'deduct') THEN
            PERFORM sf_move(p_order_id, 'deduct_held');
        ELSIF p_was = 'reserved' THEN       -- physical loss ate the held units
            PERFORM sf_move(p_order_id, 'release');
            t := 'refund_required';
        ELSIF sf_lines_fit(p_order_id, 'reserve') THEN
            PERFORM sf_move(p_order_id, 'deduct');
        ELSE
            t := 'refund_required';
        END IF;
    ELSIF t NOT IN ('reserved', 'committed') THEN
        IF p_was = 'reserved' THEN
            PERFORM sf_move(p_order_id, 'release');
        ELSIF p_was = 'committed' THEN      -- a cancellation from before the payment arrived late
            PERFORM sf_move(p_order_id, 'restore');
        END IF;
    END IF;
    IF t = p_was THEN
        RETURN 'ignored:' || p_why;
    END IF;
    UPDATE orders SET state = t, updated_at = now() WHERE order_id = p_order_id;
    IF t = 'refund_required' THEN
        PERFORM sf_refund_alert(p_order_id);
    END IF;
    RETURN 'applied:' || t;
END $$;

-- Returns the order's state before an event changes its facts, creating
-- the row (not yet created) when the order is unknown. NULL for a new row.
CREATE OR REPLACE FUNCTION sf_order_row(p_order_id text)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    v_state text;
BEGIN
    -- placeholder state; sf_settle sets the real one in this transaction.
    -- ON CONFLICT waits for a concurrent creator instead of failing.
    INSERT INTO orders (order_id, state, created) VALUES (p_order_id, 'awaiting_order', false)
    ON CONFLICT (order_id) DO NOTHING;
    IF FOUND THEN
        RETURN NULL;
    END IF;
    SELECT state INTO v_state FROM orders WHERE order_id = p_order_id FOR UPDATE;
    RETURN v_state;
END $$;

-- DESIGN §4 rule 1; a second order.created for a known order is ignored.
CREATE OR REPLACE FUNCTION sf_order_created(p_order_id text, p_at timestamptz, p_hold integer,
                                            p_skus text[], p_qtys bigint[])
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    v_was text := sf_order_row(p_order_id);
    r text;
BEGIN
    IF EXISTS (SELECT 1 FROM orders WHERE order_id = p_order_id AND created) THEN
        RETURN 'ignored:order already created';
    END IF;
    UPDATE orders SET created = true, created_at = p_at, hold_seconds = p_hold,
                      expires_at = p_at + make_interval(secs => p_hold)
     WHERE order_id = p_order_id;
    -- lines naming one SKU twice are summed
    INSERT INTO order_lines (order_id, sku, qty)
    SELECT p_order_id, sku, sum(qty) FROM unnest(p_skus, p_qtys) AS u(sku, qty) GROUP BY sku;
    r := sf_settle(p_order_id, v_was, 'order already settled');
    -- the order's lines and hold are new facts even when its state stays
    -- (a cancellation or payment seen first decided it)
    IF r LIKE 'ignored:%' THEN
        SELECT 'applied:' || state INTO r FROM orders WHERE order_id = p_order_id;
    END IF;
    RETURN r;
END $$;

-- Rules 3 and 6: the earliest cancellation counts.
CREATE OR REPLACE FUNCTION sf_order_cancelled(p_order_id text, p_at timestamptz)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    v_was text := sf_order_row(p_order_id);
BEGIN
    UPDATE orders SET cancelled_at = least(cancelled_at, p_at) WHERE order_id = p_order_id;
    RETURN sf_settle(p_order_id, v_was, 'cancellation changes nothing for a ' || coalesce(v_was, 'new') || ' order');
END $$;

-- Rules 2 and 6: the earliest payment counts; it dominates failures.
CREATE OR REPLACE FUNCTION sf_payment_succeeded(p_order_id text, p_at timestamptz)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    v_was text := sf_order_row(p_order_id);
BEGIN
    UPDATE orders SET paid_at = least(paid_at, p_at), last_paid_at = greatest(last_paid_at, p_at)
     WHERE order_id = p_order_id;
    RETURN sf_settle(p_order_id, v_was, 'payment changes nothing for a ' || coalesce(v_was, 'new') || ' order');
END $$;

-- Rule 4.
CREATE OR REPLACE FUNCTION sf_payment_failed(p_order_id text, p_at timestamptz)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    v_was text := sf_order_row(p_order_id);
BEGIN
    UPDATE orders SET failed_at = greatest(failed_at, p_at) WHERE order_id = p_order_id;
    RETURN sf_settle(p_order_id, v_was, 'payment failure changes nothing for a ' || coalesce(v_was, 'new') || ' order');
END $$;

-- Rule 5: releases every hold whose expires_at has passed both the clock and
-- the payment watermark, at most p_limit of them. Order rows are locked
-- first (skipping any a worker holds), then their stock rows in sku order.
CREATE OR REPLACE FUNCTION sf_expire_due(p_watermark timestamptz, p_limit integer)
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    v_ids text[];
    v_id text;
    v_skus text[];
    v_before jsonb;
    v_r text;
BEGIN
    SELECT array_agg(order_id) INTO v_ids FROM (
        SELECT order_id FROM orders
         WHERE state = 'reserved' AND expires_at <= least(clock_timestamp(), p_watermark)
         ORDER BY expires_at LIMIT p_limit
           FOR UPDATE SKIP LOCKED) d;
    IF v_ids IS NULL THEN
        RETURN 0;
    END IF;
    PERFORM 1 FROM stock
      WHERE sku IN (SELECT sku FROM order_lines WHERE order_id = ANY (v_ids))
      ORDER BY sku FOR UPDATE;
    FOREACH v_id IN ARRAY v_ids LOOP
        v_skus := sf_touched(v_id, NULL, NULL);
        v_before := sf_stock_image(v_skus);
        UPDATE orders SET expired = true WHERE order_id = v_id;
        v_r := sf_settle(v_id, 'reserved', 'expired');
        PERFORM sf_ledger(v_id, v_skus, v_before,
            jsonb_build_object('event_id', 'expired:' || v_id, 'type', 'hold.expired',
                               'occurred_at', clock_timestamp(), 'outcome', v_r));
    END LOOP;
    RETURN cardinality(v_ids);
END $$;

-- The smallest payment watermark over p_partitions partitions of p_topic
-- (NULL when a partition has none yet: nothing may expire).
CREATE OR REPLACE FUNCTION sf_payment_watermark(p_group text, p_topic text, p_partitions integer)
RETURNS timestamptz LANGUAGE sql STABLE AS $$
    SELECT CASE WHEN count(*) = p_partitions THEN min(watermark) END
      FROM consumer_watermarks
     WHERE group_id = p_group AND topic = p_topic AND partition < p_partitions
$$;

-- Advances a partition's watermark (never moves it back).
CREATE OR REPLACE FUNCTION sf_watermark(p_group text, p_topic text, p_partition integer,
                                        p_ms bigint)
RETURNS void LANGUAGE sql AS $$
    INSERT INTO consumer_watermarks AS w (group_id, topic, partition, watermark)
    VALUES (p_group, p_topic, p_partition, to_timestamp(p_ms / 1000.0))
    ON CONFLICT (group_id, topic, partition) DO UPDATE
       SET watermark = greatest(w.watermark, EXCLUDED.watermark), updated_at = now();
$$;

CREATE OR REPLACE FUNCTION sf_stock_received(p_sku text, p_qty bigint)
RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO stock AS s (sku, on_hand, received_total) VALUES (p_sku, p_qty, p_qty)
    ON CONFLICT (sku) DO UPDATE
       SET on_hand = s.on_hand + EXCLUDED.on_hand,
           received_total = s.received_total + EXCLUDED.received_total,
           oversold = s.oversold AND s.reserved > s.on_hand + EXCLUDED.on_hand,
           updated_at = now();
    RETURN 'applied:received';
END $$;

-- Physical loss is always recorded; a result below the reservations marks the
-- SKU oversold and raises an alert; a negative on_hand is impossible (poison).
CREATE OR REPLACE FUNCTION sf_stock_adjusted(p_event_id text, p_sku text, p_delta bigint,
                                             p_reason text)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    s stock%ROWTYPE;
    v_found boolean;
    v_over boolean;
BEGIN
    SELECT * INTO s FROM stock WHERE sku = p_sku FOR UPDATE;
    v_found := FOUND;
    IF NOT v_found THEN
        s.on_hand := 0;
        s.reserved := 0;
        s.oversold := false;
    END IF;
    IF s.on_hand + p_delta < 0 THEN
        RAISE EXCEPTION USING ERRCODE = 'SF001',
            MESSAGE = format('adjustment %s would make on_hand of %s negative (on_hand %s)',
                             p_delta, p_sku, s.on_hand);
    END IF;
    v_over := s.on_hand + p_delta < s.reserved;
    IF v_found THEN
        UPDATE stock SET on_hand = on_hand + p_delta, adjusted_total = adjusted_total + p_delta,
                         oversold = v_over, updated_at = now()
         WHERE sku = p_sku;
    ELSE
        INSERT INTO stock (sku, on_hand, adjusted_total) VALUES (p_sku, p_delta, p_delta);
    END IF;
    IF v_over AND NOT s.oversold THEN
        PERFORM sf_alert('oversold:' || p_event_id, 'oversold', 'critical',
            format('SKU %s oversold: on_hand %s < reserved %s after adjustment %s (%s)',
                   p_sku, s.on_hand + p_delta, s.reserved, p_delta, p_reason),
            jsonb_build_object('sku', p_sku, 'on_hand', s.on_hand + p_delta,
                               'reserved', s.reserved, 'delta', p_delta, 'reason', p_reason,
                               'event_id', p_event_id));
        RETURN 'applied:oversold';
    END IF;
    RETURN 'applied:adjusted';
END $$;

-- ---- ledger -----------------------------------------------------------------
--
-- Every applied event writes, in its own transaction, one inventory.ledger
-- record per SKU it touched (key: the SKU), or one keyed "order:<id>" when it
-- touched no stock. A record carries its sequence number (the outbox id:
-- per key it follows commit order, because the SKU row is locked first), the
-- after-image of the stock row and of the order (with its lines), the stock
-- before the event, and the cause (event id, topic, partition, offset), so
-- the database can be rebuilt from the ledger alone.

-- SKUs an event touches: the order's lines (and the event's own) or its SKU.
-- PL/pgSQL, not SQL, for this helper and the next: a SQL function that cannot
-- be inlined is parsed and planned again on every call, PL/pgSQL caches the plan.
CREATE OR REPLACE FUNCTION sf_touched(p_order_id text, p_sku text, p_skus text[])
RETURNS text[] LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN (SELECT coalesce(array_agg(DISTINCT sku ORDER BY sku), '{}') FROM (
        SELECT p_sku AS sku WHERE p_sku IS NOT NULL
        UNION ALL SELECT unnest(p_skus)
        UNION ALL SELECT sku FROM order_lines WHERE order_id = p_order_id) t);
END $$;

CREATE OR REPLACE FUNCTION sf_stock_image(p_skus text[])
RETURNS jsonb LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN (SELECT coalesce(jsonb_object_agg(sku, jsonb_build_object('on_hand', on_hand,
                                                                    'reserved', reserved)), '{}')
              FROM stock WHERE sku = ANY (p_skus));
END $$;

CREATE OR REPLACE FUNCTION sf_ledger(p_order_id text, p_skus text[], p_before jsonb,
                                     p_cause jsonb)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    v_order jsonb;
BEGIN
    IF p_order_id IS NOT NULL THEN
        SELECT to_jsonb(o) || jsonb_build_object('lines', coalesce(
                   (SELECT jsonb_agg(jsonb_build_object('sku', sku, 'qty', qty) ORDER BY sku)
                      FROM order_lines WHERE order_id = o.order_id), '[]'))
          INTO v_order FROM orders o WHERE order_id = p_order_id;
    END IF;
    INSERT INTO outbox (id, topic, key, payload)
    SELECT n, 'inventory.ledger', key,
           jsonb_build_object('seq', n, 'key', key, 'stock', img, 'before', p_before -> sku,
                              'order', v_order, 'cause', p_cause)
      FROM (SELECT nextval('outbox_id_seq') AS n, t.* FROM (
                SELECT s.sku, s.sku AS key, to_jsonb(s) AS img
                  FROM stock s WHERE s.sku = ANY (p_skus)
                UNION ALL
                SELECT NULL, 'order:' || p_order_id, NULL
                 WHERE p_order_id IS NOT NULL
                   AND NOT EXISTS (SELECT 1 FROM stock WHERE sku = ANY (p_skus))
                ORDER BY 2) t) r;
END $$;

CREATE OR REPLACE FUNCTION sf_apply(
    p_type text, p_event_id text, p_occurred_ms bigint, p_order_id text, p_sku text,
    p_qty bigint, p_hold_seconds integer, p_skus text[], p_qtys bigint[], p_reason text,
    p_topic text, p_partition integer, p_offset bigint, p_default_hold integer)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    v_at timestamptz := to_timestamp(p_occurred_ms / 1000.0);
    v_skus text[];
    v_before jsonb;
    r text;
BEGIN
    IF EXISTS (SELECT 1 FROM processed_events WHERE event_id = p_event_id) THEN
        RETURN 'duplicate';
    END IF;
    v_skus := sf_touched(p_order_id, p_sku, p_skus);
    v_before := sf_stock_image(v_skus);
    CASE p_type
    WHEN 'order.created' THEN
        r := sf_order_created(p_order_id, v_at, coalesce(nullif(p_hold_seconds, 0), p_default_hold),
                              p_skus, p_qtys);
    WHEN 'order.cancelled' THEN
        r := sf_order_cancelled(p_order_id, v_at);
    WHEN 'payment.succeeded' THEN
        r := sf_payment_succeeded(p_order_id, v_at);
    WHEN 'payment.failed' THEN
        r := sf_payment_failed(p_order_id, v_at);
    WHEN 'stock.received' THEN
        r := sf_stock_received(p_sku, p_qty);
    WHEN 'stock.adjusted' THEN
        r := sf_stock_adjusted(p_event_id, p_sku, p_qty, p_reason);
    ELSE
        RAISE EXCEPTION USING ERRCODE = 'SF001', MESSAGE = format('no apply rule for type %s', p_type);
    END CASE;
    INSERT INTO processed_events (event_id, type, order_id, sku, topic, partition, "offset",
                                  occurred_at, outcome, detail)
    VALUES (p_event_id, p_type, p_order_id, p_sku, p_topic, p_partition, p_offset, v_at,
            split_part(r, ':', 1), substr(r, strpos(r, ':') + 1))
    ON CONFLICT (event_id) DO NOTHING;
    IF NOT FOUND THEN
        -- the same event committed concurrently by another worker: undo ours
        RAISE EXCEPTION USING ERRCODE = 'SF002', MESSAGE = 'duplicate';
    END IF;
    -- an ignored order event may still have recorded a fact (a payment or
    -- cancellation time): the ledger keeps it, so a rebuild has every fact
    IF r LIKE 'applied:%' OR p_order_id IS NOT NULL THEN
        PERFORM sf_ledger(p_order_id, sf_touched(p_order_id, p_sku, p_skus), v_before,
            jsonb_build_object('event_id', p_event_id, 'type', p_type, 'occurred_at', v_at,
                               'topic', p_topic, 'partition', p_partition, 'offset', p_offset,
                               'outcome', r));
    END IF;
    RETURN r;
EXCEPTION
    WHEN SQLSTATE 'SF002' THEN
        RETURN 'duplicate';
    WHEN SQLSTATE 'SF001' OR check_violation OR numeric_value_out_of_range
         OR string_data_right_truncation OR invalid_text_representation
         OR datetime_field_overflow THEN
        RETURN 'poison:' || SQLERRM;
    WHEN lock_not_available OR deadlock_detected OR serialization_failure
         OR query_canceled THEN
        RETURN 'transient:' || SQLSTATE || ' ' || SQLERRM;
END $$;

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
CREATE OR REPLACE FUNCTION sf_lock_batch(p_order_ids text[], p_skus text[])
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    PERFORM 1 FROM orders WHERE order_id = ANY (p_order_ids) ORDER BY order_id FOR UPDATE;
    PERFORM 1 FROM stock
      WHERE sku = ANY (p_skus)
         OR sku IN (SELECT l.sku FROM order_lines l WHERE l.order_id = ANY (p_order_ids))
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

-- Releases the hold of a reserved order (stock rows locked in sku order).
CREATE OR REPLACE FUNCTION sf_release(p_order_id text)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    PERFORM 1 FROM stock
      WHERE sku IN (SELECT sku FROM order_lines WHERE order_id = p_order_id)
      ORDER BY sku FOR UPDATE;
    UPDATE stock s
       SET reserved = s.reserved - l.qty,
           oversold = s.oversold AND s.reserved - l.qty > s.on_hand,
           updated_at = now()
      FROM order_lines l
     WHERE l.order_id = p_order_id AND s.sku = l.sku;
END $$;

-- Tries to reserve every line (all or none). Returns true when reserved.
CREATE OR REPLACE FUNCTION sf_reserve(p_skus text[], p_qtys bigint[])
RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
    v_ok integer;
BEGIN
    PERFORM 1 FROM stock WHERE sku = ANY (p_skus) ORDER BY sku FOR UPDATE;
    SELECT count(*) INTO v_ok
      FROM unnest(p_skus, p_qtys) AS d(sku, qty) JOIN stock s USING (sku)
     WHERE s.on_hand - s.reserved - s.safety_stock >= d.qty;
    IF v_ok <> cardinality(p_skus) THEN
        RETURN false;
    END IF;
    UPDATE stock s SET reserved = s.reserved + d.qty, updated_at = now()
      FROM unnest(p_skus, p_qtys) AS d(sku, qty)
     WHERE s.sku = d.sku;
    RETURN true;
END $$;

-- DESIGN §4 rule 1 (and rule 6 for a cancellation that arrived first).
CREATE OR REPLACE FUNCTION sf_order_created(p_order_id text, p_at timestamptz, p_hold integer,
                                            p_skus text[], p_qtys bigint[])
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    o orders%ROWTYPE;
    v_found boolean;
    v_skus text[];
    v_qtys bigint[];
    v_state text;
BEGIN
    SELECT * INTO o FROM orders WHERE order_id = p_order_id FOR UPDATE;
    v_found := FOUND;
    IF v_found AND o.created THEN
        RETURN 'ignored:order already created';
    END IF;
    -- lines naming one SKU twice are summed
    SELECT array_agg(sku ORDER BY sku), array_agg(q ORDER BY sku) INTO v_skus, v_qtys
      FROM (SELECT sku, sum(qty)::bigint AS q
              FROM unnest(p_skus, p_qtys) AS u(sku, qty) GROUP BY sku) s;
    IF v_found AND o.cancelled_at IS NOT NULL THEN
        v_state := 'cancelled';
    ELSIF sf_reserve(v_skus, v_qtys) THEN
        v_state := 'reserved';
    ELSE
        v_state := 'rejected';
    END IF;
    INSERT INTO orders (order_id, state, created, created_at, hold_seconds, expires_at, updated_at)
    VALUES (p_order_id, v_state, true, p_at, p_hold, p_at + make_interval(secs => p_hold), now())
    ON CONFLICT (order_id) DO UPDATE
       SET state = EXCLUDED.state, created = true, created_at = EXCLUDED.created_at,
           hold_seconds = EXCLUDED.hold_seconds, expires_at = EXCLUDED.expires_at,
           updated_at = now();
    INSERT INTO order_lines (order_id, sku, qty)
    SELECT p_order_id, sku, qty FROM unnest(v_skus, v_qtys) AS d(sku, qty);
    RETURN 'applied:' || v_state;
END $$;

-- DESIGN §4 rule 3 (and rule 6: remembered for an order not yet seen).
CREATE OR REPLACE FUNCTION sf_order_cancelled(p_order_id text, p_at timestamptz)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    o orders%ROWTYPE;
BEGIN
    SELECT * INTO o FROM orders WHERE order_id = p_order_id FOR UPDATE;
    IF NOT FOUND THEN
        INSERT INTO orders (order_id, state, created, cancelled_at)
        VALUES (p_order_id, 'cancelled', false, p_at);
        RETURN 'applied:cancellation remembered';
    END IF;
    IF o.state = 'reserved' THEN
        PERFORM sf_release(p_order_id);
        UPDATE orders SET state = 'cancelled', cancelled_at = p_at, updated_at = now()
         WHERE order_id = p_order_id;
        RETURN 'applied:cancelled';
    END IF;
    IF o.cancelled_at IS NULL OR p_at < o.cancelled_at THEN
        UPDATE orders SET cancelled_at = p_at WHERE order_id = p_order_id;
    END IF;
    RETURN 'ignored:order is ' || o.state;
END $$;

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

CREATE OR REPLACE FUNCTION sf_apply(
    p_type text, p_event_id text, p_occurred_ms bigint, p_order_id text, p_sku text,
    p_qty bigint, p_hold_seconds integer, p_skus text[], p_qtys bigint[], p_reason text,
    p_topic text, p_partition integer, p_offset bigint, p_default_hold integer)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    v_at timestamptz := to_timestamp(p_occurred_ms / 1000.0);
    r text;
BEGIN
    IF EXISTS (SELECT 1 FROM processed_events WHERE event_id = p_event_id) THEN
        RETURN 'duplicate';
    END IF;
    CASE p_type
    WHEN 'order.created' THEN
        r := sf_order_created(p_order_id, v_at, coalesce(nullif(p_hold_seconds, 0), p_default_hold),
                              p_skus, p_qtys);
    WHEN 'order.cancelled' THEN
        r := sf_order_cancelled(p_order_id, v_at);
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

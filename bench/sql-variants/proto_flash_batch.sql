-- Prototype: set-based apply of a batch of single-line order.created events
-- (the flash-sale shape): one statement decides every order of the batch.
CREATE OR REPLACE FUNCTION proto_created_batch(p_event_ids text[], p_order_ids text[], p_ms bigint[],
                                               p_skus text[], p_qtys bigint[], p_hold integer)
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    v_won integer;
BEGIN
    PERFORM 1 FROM stock WHERE sku = ANY (p_skus) ORDER BY sku FOR UPDATE;
    WITH ev AS (
        SELECT u.*, to_timestamp(u.ms / 1000.0) AS at
          FROM unnest(p_event_ids, p_order_ids, p_ms, p_skus, p_qtys) WITH ORDINALITY
               AS u(event_id, order_id, ms, sku, qty, ord)
         WHERE NOT EXISTS (SELECT 1 FROM processed_events pe WHERE pe.event_id = u.event_id)
           AND NOT EXISTS (SELECT 1 FROM orders o WHERE o.order_id = u.order_id)),
    d AS (
        SELECT ev.*, s.on_hand, s.reserved,
               sum(ev.qty) OVER (PARTITION BY ev.sku ORDER BY ev.ord) AS cum,
               s.on_hand - s.reserved - s.safety_stock AS avail
          FROM ev JOIN stock s USING (sku)),
    w AS (SELECT d.*, d.cum <= d.avail AS won FROM d),
    io AS (
        INSERT INTO orders (order_id, state, created, created_at, hold_seconds, expires_at, rejected)
        SELECT order_id, CASE WHEN won THEN 'reserved' ELSE 'rejected' END, true, at, p_hold,
               at + make_interval(secs => p_hold), NOT won FROM w RETURNING 1),
    il AS (INSERT INTO order_lines (order_id, sku, qty) SELECT order_id, sku, qty FROM w RETURNING 1),
    ip AS (
        INSERT INTO processed_events (event_id, type, order_id, topic, partition, "offset", occurred_at, outcome, detail)
        SELECT event_id, 'order.created', order_id, 'inventory.orders', 0, ord, at, 'applied',
               CASE WHEN won THEN 'reserved' ELSE 'rejected' END FROM w RETURNING 1),
    us AS (
        UPDATE stock s SET reserved = s.reserved + x.q, updated_at = now()
          FROM (SELECT sku, sum(qty) q FROM w WHERE won GROUP BY sku) x
         WHERE s.sku = x.sku RETURNING 1),
    lg AS (
        INSERT INTO outbox (topic, key, payload)
        SELECT 'inventory.ledger', sku,
               jsonb_build_object('key', sku, 'stock', jsonb_build_object('sku', sku, 'on_hand', on_hand,
                   'reserved', reserved + CASE WHEN won THEN cum ELSE avail END),
                   'order', jsonb_build_object('order_id', order_id, 'state',
                        CASE WHEN won THEN 'reserved' ELSE 'rejected' END, 'lines',
                        jsonb_build_array(jsonb_build_object('sku', sku, 'qty', qty))),
                   'cause', jsonb_build_object('event_id', event_id, 'type', 'order.created', 'occurred_at', at))
          FROM w RETURNING 1)
    SELECT count(*) FILTER (WHERE won) INTO v_won FROM w;
    RETURN v_won;
END $$;

-- stockflow 003: one call applies a whole batch.
--
-- sf_apply_batch takes a batch as parallel arrays (one element per event,
-- lines flattened into p_line_*) and returns one (pos, outcome) row per
-- event, outcomes as sf_apply returns them. Three set-based paths decide the
-- common events with a few statements for the whole batch:
--
--   sf_fast_settle   payment.succeeded, payment.failed, order.cancelled for an
--                    order that is 'reserved' (the only facts it has are its
--                    creation and its hold);
--   sf_fast_unknown  the same events for an order not seen yet (rule 6);
--   sf_fast_created  order.created for an order not seen before, or one whose
--                    only facts are payments (a backlog read faster on the
--                    payments topic), every line a known SKU not flagged
--                    oversold;
--
-- and sf_apply (002) applies every other event, one subtransaction each, in
-- batch order, after them. The fast paths give each event exactly what
-- sf_apply would give it when applied in this order (fast settlements, fast
-- events of unknown orders, fast creations, the rest; each group in batch
-- order): same state, same stock
-- movement, same processed_events row, same ledger records (after-images
-- computed per event). Settlements go first because they never take stock
-- (a release, or a deduction of units already held), so an order created in
-- the same batch sees at least the stock it would see in offset order. They take an event
-- only where the set-based decision is provably the sequential one:
--   - its order id and event id occur once in the batch (no other event of
--     the batch can change what it sees), and it was not processed before;
--   - a SKU whose batch demand fits its availability lets every reservation
--     on it win; on a SKU where it does not ("contended"), single-line
--     orders win in batch order while the running total fits, and the
--     losers are taken only while no smaller order behind them could still
--     fit (the winners used up all of it, or the loser is the first one);
--     every other order touching a contended SKU goes to sf_apply;
--   - a payment deducts on the fast path only when every SKU it touches has
--     on_hand for all of the batch's fast payments on it.
-- Callers hold the batch's locks (sf_lock_batch), except for sold-out SKUs
-- only new orders touch: those are read unlocked, every order for them is
-- rejected, and sf_apply_batch checks at its end, under lock, that the rows
-- did not change (else it undoes the batch and applies it again, locked).
-- p_fast = false applies every event through sf_apply (a worker's
-- one-by-one fallback).

CREATE OR REPLACE FUNCTION sf_fast_created(
    p_type text[], p_event_id text[], p_ms bigint[], p_order_id text[], p_hold integer[],
    p_topic text[], p_partition integer[], p_offset bigint[], p_line_ev integer[],
    p_line_sku text[], p_line_qty bigint[], p_default_hold integer)
RETURNS TABLE (pos integer, outcome text) LANGUAGE plpgsql
-- the row estimates of a chain of CTEs are far too low; nested loops over
-- them are quadratic. Tables are only read by index probes (= ANY) here.
-- Planning these statements costs more than running them for a few events:
-- one generic plan, made once per session.
SET enable_nestloop = off SET plan_cache_mode = force_generic_plan AS $$
BEGIN
    RETURN QUERY
    WITH e AS (
        SELECT u.*, count(u.type) OVER (PARTITION BY u.order_id) AS n_order,
               count(u.type) OVER (PARTITION BY u.event_id) AS n_event
          FROM unnest(p_type, p_event_id, p_ms, p_order_id, p_hold, p_topic, p_partition, p_offset)
               WITH ORDINALITY AS u(type, event_id, ms, order_id, hold, topic, part, off, pos)),
    seen AS (       -- index probes (= ANY), never a join against a big table
        SELECT pe.event_id FROM processed_events pe WHERE pe.event_id = ANY (p_event_id)),
    known AS (SELECT o.* FROM orders o WHERE o.order_id = ANY (p_order_id)),
    c AS (          -- a new order, or one whose only facts are payments (rule 6)
        SELECT e.pos::integer AS pos, e.event_id, e.order_id, to_timestamp(e.ms / 1000.0) AS at,
               coalesce(nullif(e.hold, 0), p_default_hold) AS hold, e.topic, e.part, e.off,
               k.order_id IS NOT NULL AS paid, k.paid_at, k.cancelled_at
          FROM e
          LEFT JOIN seen ON seen.event_id = e.event_id
          LEFT JOIN known k ON k.order_id = e.order_id
         WHERE e.type = 'order.created' AND e.n_order = 1 AND e.n_event = 1
           AND seen.event_id IS NULL
           AND (k.order_id IS NULL
                OR (NOT k.created AND k.paid_at IS NOT NULL AND k.cancelled_at IS NULL))),
    l AS (          -- lines, one per (event, sku), duplicates summed
        SELECT c.pos, li.sku, sum(li.qty)::bigint AS qty
          FROM unnest(p_line_ev, p_line_sku, p_line_qty) AS li(ev, sku, qty)
          JOIN c ON c.pos = li.ev
         GROUP BY c.pos, li.sku),
    s AS (SELECT st.* FROM stock st WHERE st.sku = ANY (p_line_sku)),
    ok AS (         -- every line a known SKU that is not oversold
        SELECT l.pos, count(*) AS n_lines FROM l LEFT JOIN s ON s.sku = l.sku
         GROUP BY l.pos HAVING bool_and(s.sku IS NOT NULL AND NOT s.oversold)),
    hope AS (       -- a line that cannot fit even now: rejected wherever it stands,
                    -- since reservations of this batch only ever lower availability
        SELECT DISTINCT l.pos FROM l JOIN ok ON ok.pos = l.pos JOIN s ON s.sku = l.sku
         WHERE l.qty > s.on_hand - s.reserved - s.safety_stock),
    okk AS (SELECT ok.* FROM ok LEFT JOIN hope ON hope.pos = ok.pos WHERE hope.pos IS NULL),
    dem AS (
        SELECT l.sku, sum(l.qty) AS demand FROM l JOIN okk ON okk.pos = l.pos GROUP BY l.sku),
    av AS (
        SELECT s.sku, s.on_hand - s.reserved - s.safety_stock AS avail,
               dem.demand > s.on_hand - s.reserved - s.safety_stock AS contended
          FROM s JOIN dem ON dem.sku = s.sku),
    oc AS (         -- per order: touches a contended SKU?
        SELECT okk.pos, okk.n_lines, bool_or(av.contended) AS contended
          FROM okk JOIN l ON l.pos = okk.pos JOIN av ON av.sku = l.sku
         GROUP BY okk.pos, okk.n_lines),
    run AS (        -- single-line orders on a contended SKU, in batch order
        SELECT l.pos, l.sku, l.qty, av.avail,
               sum(l.qty) OVER (PARTITION BY l.sku ORDER BY l.pos) AS cum
          FROM oc JOIN l ON l.pos = oc.pos JOIN av ON av.sku = l.sku
         WHERE oc.contended AND oc.n_lines = 1),
    runw AS (
        SELECT run.*, run.cum <= run.avail AS won,
               coalesce(max(run.cum) FILTER (WHERE run.cum <= run.avail)
                        OVER (PARTITION BY run.sku), 0) AS won_total
          FROM run),
    d AS (          -- the orders decided here, won or not
        SELECT hope.pos, false AS won FROM hope
        UNION ALL
        SELECT oc.pos, true FROM oc WHERE NOT oc.contended
        UNION ALL
        SELECT runw.pos, runw.won FROM runw
         WHERE runw.won OR runw.cum - runw.qty <= runw.avail OR runw.won_total = runw.avail),
    dc AS (         -- a paid order takes its units at once (committed) or needs a refund
        SELECT c.*, d.won,
               CASE WHEN d.won AND c.paid THEN 'committed' WHEN d.won THEN 'reserved'
                    WHEN c.paid THEN 'refund_required' ELSE 'rejected' END AS state
          FROM d JOIN c ON c.pos = d.pos),
    dl AS (         -- per decided line: the SKU's reservations and deductions up to it
        SELECT dc.pos, l.sku, l.qty, dc.won, dc.paid,
               sum(CASE WHEN dc.won AND NOT dc.paid THEN l.qty ELSE 0 END) OVER w AS cum_res,
               sum(CASE WHEN dc.won AND dc.paid THEN l.qty ELSE 0 END) OVER w AS cum_ded
          FROM dc JOIN l ON l.pos = dc.pos
        WINDOW w AS (PARTITION BY l.sku ORDER BY dc.pos)),
    io AS (
        INSERT INTO orders (order_id, state, created, created_at, hold_seconds, expires_at,
                            rejected)
        SELECT dc.order_id, dc.state, true, dc.at, dc.hold,
               dc.at + make_interval(secs => dc.hold), NOT dc.won
          FROM dc WHERE NOT dc.paid ORDER BY dc.order_id
        RETURNING *),
    uo AS (
        UPDATE orders o
           SET created = true, created_at = dc.at, hold_seconds = dc.hold,
               expires_at = dc.at + make_interval(secs => dc.hold), state = dc.state,
               updated_at = now()
          FROM dc WHERE dc.paid AND o.order_id = dc.order_id AND o.order_id = ANY (p_order_id)
        RETURNING o.*),
    il AS (
        INSERT INTO order_lines (order_id, sku, qty)
        SELECT dc.order_id, l.sku, l.qty FROM dc JOIN l ON l.pos = dc.pos),
    ip AS (
        INSERT INTO processed_events (event_id, type, order_id, sku, topic, partition, "offset",
                                      occurred_at, outcome, detail)
        SELECT dc.event_id, 'order.created', dc.order_id, NULL, dc.topic, dc.part, dc.off,
               dc.at, 'applied', dc.state
          FROM dc),
    us AS (
        UPDATE stock st
           SET reserved = st.reserved + x.r, on_hand = st.on_hand - x.d,
               committed_total = st.committed_total + x.d, updated_at = now()
          FROM (SELECT dl.sku, sum(CASE WHEN dl.paid THEN 0 ELSE dl.qty END) AS r,
                       sum(CASE WHEN dl.paid THEN dl.qty ELSE 0 END) AS d
                  FROM dl WHERE dl.won GROUP BY dl.sku) x
         WHERE st.sku = x.sku AND st.sku = ANY (p_line_sku)),
    lines AS (
        SELECT dc.order_id, jsonb_agg(jsonb_build_object('sku', l.sku, 'qty', l.qty)
                                      ORDER BY l.sku) AS j
          FROM dc JOIN l ON l.pos = dc.pos GROUP BY dc.order_id),
    img AS (        -- the order's after-image, as sf_ledger writes it
        SELECT o.order_id, to_jsonb(o) || jsonb_build_object('lines', lines.j) AS j,
               o.paid_at, o.cancelled_at, o.expires_at, lines.j AS lines
          FROM (SELECT * FROM io UNION ALL SELECT * FROM uo) o
          JOIN lines ON lines.order_id = o.order_id),
    rec AS (        -- outbox rows in the order sf_apply writes them: the refund alert
                    -- (sf_settle), then one ledger record per SKU
        SELECT dc.pos, 0 AS kind, NULL::text AS sku, NULL::bigint AS qty, false AS won,
               0::numeric AS cum_res, 0::numeric AS cum_ded
          FROM dc WHERE dc.state = 'refund_required'
        UNION ALL
        SELECT dl.pos, 1, dl.sku, dl.qty, dl.won AND NOT dl.paid, dl.cum_res, dl.cum_ded FROM dl),
    lg AS (
        INSERT INTO outbox (id, topic, key, payload)
        SELECT q.n, CASE q.kind WHEN 0 THEN 'inventory.alerts' ELSE 'inventory.ledger' END,
               CASE q.kind WHEN 0 THEN 'refund_required:' || dc.order_id ELSE q.sku END,
               CASE q.kind WHEN 0 THEN jsonb_build_object(
                   'alert_id', 'refund_required:' || dc.order_id, 'kind', 'refund_required',
                   'severity', 'warning',
                   'summary', format('order %s was paid but cannot be fulfilled: refund required',
                                     dc.order_id),
                   'occurred_at', to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
                   'details', jsonb_build_object('order_id', dc.order_id, 'lines', img.lines,
                       'paid_at', img.paid_at, 'cancelled_at', img.cancelled_at,
                       'expires_at', img.expires_at))
               ELSE jsonb_build_object('seq', q.n, 'key', q.sku,
                   'stock', to_jsonb(s) || jsonb_build_object(
                       'reserved', s.reserved + q.cum_res, 'on_hand', s.on_hand - q.cum_ded,
                       'committed_total', s.committed_total + q.cum_ded,
                       'updated_at', CASE WHEN q.cum_res + q.cum_ded > 0 THEN now()
                                          ELSE s.updated_at END),
                   'before', jsonb_build_object(
                       'on_hand', s.on_hand - q.cum_ded
                                  + CASE WHEN dc.won AND dc.paid THEN q.qty ELSE 0 END,
                       'reserved', s.reserved + q.cum_res - CASE WHEN q.won THEN q.qty ELSE 0 END),
                   'order', img.j,
                   'cause', jsonb_build_object('event_id', dc.event_id, 'type', 'order.created',
                       'occurred_at', dc.at, 'topic', dc.topic, 'partition', dc.part,
                       'offset', dc.off, 'outcome', 'applied:' || dc.state)) END
          FROM (SELECT nextval('outbox_id_seq') AS n, o.*
                  FROM (SELECT rec.* FROM rec ORDER BY rec.pos, rec.kind, rec.sku) o) q
          JOIN dc ON dc.pos = q.pos
          LEFT JOIN s ON s.sku = q.sku
          JOIN img ON img.order_id = dc.order_id)
    SELECT dc.pos, 'applied:' || dc.state FROM dc ORDER BY dc.pos;
END $$;

CREATE OR REPLACE FUNCTION sf_fast_settle(
    p_type text[], p_event_id text[], p_ms bigint[], p_order_id text[], p_topic text[],
    p_partition integer[], p_offset bigint[])
RETURNS TABLE (pos integer, outcome text) LANGUAGE plpgsql
SET enable_nestloop = off SET plan_cache_mode = force_generic_plan AS $$
BEGIN
    RETURN QUERY
    WITH e AS (
        SELECT u.*, count(u.type) OVER (PARTITION BY u.order_id) AS n_order,
               count(u.type) OVER (PARTITION BY u.event_id) AS n_event
          FROM unnest(p_type, p_event_id, p_ms, p_order_id, p_topic, p_partition, p_offset)
               WITH ORDINALITY AS u(type, event_id, ms, order_id, topic, part, off, pos)),
    held AS (       -- index probes (= ANY), never a join against a big table
        SELECT o.order_id FROM orders o
         WHERE o.order_id = ANY (p_order_id) AND o.state = 'reserved'),
    seen AS (SELECT pe.event_id FROM processed_events pe WHERE pe.event_id = ANY (p_event_id)),
    c AS (
        SELECT e.pos::integer AS pos, e.type, e.event_id, e.order_id,
               to_timestamp(e.ms / 1000.0) AS at, e.topic, e.part, e.off,
               CASE e.type WHEN 'payment.succeeded' THEN 'committed'
                           WHEN 'payment.failed' THEN 'payment_failed'
                           ELSE 'cancelled' END AS state
          FROM e JOIN held ON held.order_id = e.order_id
          LEFT JOIN seen ON seen.event_id = e.event_id
         WHERE e.type IN ('payment.succeeded', 'payment.failed', 'order.cancelled')
           AND e.n_order = 1 AND e.n_event = 1 AND seen.event_id IS NULL),
    ol AS (SELECT * FROM order_lines WHERE order_id = ANY (ARRAY(SELECT held.order_id FROM held))),
    l AS (
        SELECT c.pos, ol.sku, ol.qty, c.state = 'committed' AS deduct
          FROM c JOIN ol ON ol.order_id = c.order_id),
    s AS (SELECT st.* FROM stock st WHERE st.sku = ANY (ARRAY(SELECT DISTINCT ol.sku FROM ol))),
    bad AS (        -- SKUs where a fast deduction might not fit, or flagged oversold
        SELECT s.sku FROM s
          LEFT JOIN (SELECT l.sku, sum(l.qty) AS q FROM l WHERE l.deduct GROUP BY l.sku) x
                 ON x.sku = s.sku
         WHERE s.oversold OR s.on_hand < coalesce(x.q, 0)),
    skip AS (       -- orders with a line on such a SKU, or on one without a stock row
        SELECT DISTINCT l.pos FROM l LEFT JOIN s ON s.sku = l.sku LEFT JOIN bad ON bad.sku = l.sku
         WHERE s.sku IS NULL OR bad.sku IS NOT NULL),
    dc AS (SELECT c.* FROM c LEFT JOIN skip ON skip.pos = c.pos WHERE skip.pos IS NULL),
    dl AS (
        SELECT dc.pos, l.sku, l.qty, l.deduct,
               sum(l.qty) OVER w AS cum_rel,
               sum(CASE WHEN l.deduct THEN l.qty ELSE 0 END) OVER w AS cum_ded
          FROM dc JOIN l ON l.pos = dc.pos
        WINDOW w AS (PARTITION BY l.sku ORDER BY dc.pos)),
    uo AS (
        UPDATE orders o
           SET state = dc.state, updated_at = now(),
               paid_at = CASE WHEN dc.state = 'committed' THEN dc.at ELSE o.paid_at END,
               last_paid_at = CASE WHEN dc.state = 'committed' THEN dc.at ELSE o.last_paid_at END,
               failed_at = CASE WHEN dc.state = 'payment_failed' THEN dc.at ELSE o.failed_at END,
               cancelled_at = CASE WHEN dc.state = 'cancelled' THEN dc.at ELSE o.cancelled_at END
          FROM dc WHERE o.order_id = dc.order_id AND o.order_id = ANY (p_order_id)
        RETURNING o.*),
    ip AS (
        INSERT INTO processed_events (event_id, type, order_id, sku, topic, partition, "offset",
                                      occurred_at, outcome, detail)
        SELECT dc.event_id, dc.type, dc.order_id, NULL, dc.topic, dc.part, dc.off, dc.at,
               'applied', dc.state
          FROM dc),
    us AS (
        UPDATE stock st
           SET reserved = st.reserved - x.rel, on_hand = st.on_hand - x.ded,
               committed_total = st.committed_total + x.ded, updated_at = now()
          FROM (SELECT dl.sku, sum(dl.qty) AS rel,
                       sum(CASE WHEN dl.deduct THEN dl.qty ELSE 0 END) AS ded
                  FROM dl GROUP BY dl.sku) x
         WHERE st.sku = x.sku AND st.sku = ANY (ARRAY(SELECT s.sku FROM s))),
    img AS (
        SELECT uo.order_id, to_jsonb(uo) || jsonb_build_object('lines', x.lines) AS j
          FROM uo JOIN (SELECT dc.order_id, jsonb_agg(jsonb_build_object('sku', l.sku, 'qty', l.qty)
                                                      ORDER BY l.sku) AS lines
                          FROM dc JOIN l ON l.pos = dc.pos GROUP BY dc.order_id) x
            ON x.order_id = uo.order_id),
    lg AS (
        INSERT INTO outbox (id, topic, key, payload)
        SELECT q.n, 'inventory.ledger', q.sku,
               jsonb_build_object('seq', q.n, 'key', q.sku,
                   'stock', to_jsonb(s) || jsonb_build_object(
                       'on_hand', s.on_hand - q.cum_ded, 'reserved', s.reserved - q.cum_rel,
                       'committed_total', s.committed_total + q.cum_ded, 'updated_at', now()),
                   'before', jsonb_build_object(
                       'on_hand', s.on_hand - q.cum_ded + CASE WHEN q.deduct THEN q.qty ELSE 0 END,
                       'reserved', s.reserved - q.cum_rel + q.qty),
                   'order', img.j,
                   'cause', jsonb_build_object('event_id', dc.event_id, 'type', dc.type,
                       'occurred_at', dc.at, 'topic', dc.topic, 'partition', dc.part,
                       'offset', dc.off, 'outcome', 'applied:' || dc.state))
          FROM (SELECT nextval('outbox_id_seq') AS n, o.*
                  FROM (SELECT dl.* FROM dl ORDER BY dl.pos, dl.sku) o) q
          JOIN dc ON dc.pos = q.pos
          JOIN s ON s.sku = q.sku
          JOIN img ON img.order_id = dc.order_id)
    SELECT dc.pos, 'applied:' || dc.state FROM dc ORDER BY dc.pos;
END $$;

CREATE OR REPLACE FUNCTION sf_fast_unknown(
    p_type text[], p_event_id text[], p_ms bigint[], p_order_id text[], p_topic text[],
    p_partition integer[], p_offset bigint[])
RETURNS TABLE (pos integer, outcome text) LANGUAGE plpgsql
SET enable_nestloop = off SET plan_cache_mode = force_generic_plan AS $$
BEGIN
    RETURN QUERY
    WITH e AS (
        SELECT u.*, count(u.type) OVER (PARTITION BY u.order_id) AS n_order,
               count(u.type) OVER (PARTITION BY u.event_id) AS n_event
          FROM unnest(p_type, p_event_id, p_ms, p_order_id, p_topic, p_partition, p_offset)
               WITH ORDINALITY AS u(type, event_id, ms, order_id, topic, part, off, pos)),
    seen AS (SELECT pe.event_id FROM processed_events pe WHERE pe.event_id = ANY (p_event_id)),
    known AS (SELECT o.order_id FROM orders o WHERE o.order_id = ANY (p_order_id)),
    dc AS (         -- rule 6: the first event of an order that was not created yet
        SELECT e.pos::integer AS pos, e.type, e.event_id, e.order_id,
               to_timestamp(e.ms / 1000.0) AS at, e.topic, e.part, e.off,
               CASE e.type WHEN 'payment.succeeded' THEN 'awaiting_order'
                           WHEN 'payment.failed' THEN 'payment_failed'
                           ELSE 'cancelled' END AS state
          FROM e
          LEFT JOIN seen ON seen.event_id = e.event_id
          LEFT JOIN known ON known.order_id = e.order_id
         WHERE e.type IN ('payment.succeeded', 'payment.failed', 'order.cancelled')
           AND e.n_order = 1 AND e.n_event = 1 AND seen.event_id IS NULL
           AND known.order_id IS NULL),
    io AS (
        INSERT INTO orders (order_id, state, created, paid_at, last_paid_at, failed_at,
                            cancelled_at)
        SELECT dc.order_id, dc.state, false,
               CASE WHEN dc.state = 'awaiting_order' THEN dc.at END,
               CASE WHEN dc.state = 'awaiting_order' THEN dc.at END,
               CASE WHEN dc.state = 'payment_failed' THEN dc.at END,
               CASE WHEN dc.state = 'cancelled' THEN dc.at END
          FROM dc ORDER BY dc.order_id
        RETURNING *),
    ip AS (
        INSERT INTO processed_events (event_id, type, order_id, sku, topic, partition, "offset",
                                      occurred_at, outcome, detail)
        SELECT dc.event_id, dc.type, dc.order_id, NULL, dc.topic, dc.part, dc.off, dc.at,
               'applied', dc.state
          FROM dc),
    lg AS (         -- no stock touched: one ledger record keyed by the order
        INSERT INTO outbox (id, topic, key, payload)
        SELECT q.n, 'inventory.ledger', 'order:' || q.order_id,
               jsonb_build_object('seq', q.n, 'key', 'order:' || q.order_id, 'stock', NULL,
                   'before', NULL,
                   'order', to_jsonb(io) || jsonb_build_object('lines', '[]'::jsonb),
                   'cause', jsonb_build_object('event_id', q.event_id, 'type', q.type,
                       'occurred_at', q.at, 'topic', q.topic, 'partition', q.part,
                       'offset', q.off, 'outcome', 'applied:' || q.state))
          FROM (SELECT nextval('outbox_id_seq') AS n, o.*
                  FROM (SELECT dc.* FROM dc ORDER BY dc.pos) o) q
          JOIN io ON io.order_id = q.order_id)
    SELECT dc.pos, 'applied:' || dc.state FROM dc ORDER BY dc.pos;
END $$;

-- Applies through sf_apply, in batch order, the events of round p_round (all
-- when NULL) that p_done does not mark.
CREATE OR REPLACE FUNCTION sf_batch_rest(
    p_type text[], p_event_id text[], p_ms bigint[], p_order_id text[], p_sku text[],
    p_qty bigint[], p_hold integer[], p_reason text[], p_topic text[], p_partition integer[],
    p_offset bigint[], p_line_ev integer[], p_line_sku text[], p_line_qty bigint[],
    p_default_hold integer, p_rank integer[], p_round integer, p_done boolean[])
RETURNS TABLE (pos integer, outcome text) LANGUAGE plpgsql AS $$
DECLARE
    r record;
BEGIN
    FOR r IN
        SELECT u.*, ln.skus, ln.qtys
          FROM unnest(p_type, p_event_id, p_ms, p_order_id, p_sku, p_qty, p_hold, p_reason,
                      p_topic, p_partition, p_offset)
               WITH ORDINALITY AS u(type, event_id, ms, order_id, sku, qty, hold, reason,
                                    topic, part, off, pos)
          LEFT JOIN (SELECT li.ev, array_agg(li.sku ORDER BY li.n) AS skus,
                            array_agg(li.qty ORDER BY li.n) AS qtys
                       FROM unnest(p_line_ev, p_line_sku, p_line_qty) WITH ORDINALITY
                            AS li(ev, sku, qty, n)
                      GROUP BY li.ev) ln ON ln.ev = u.pos
         WHERE (p_round IS NULL OR p_rank[u.pos] = p_round)
           AND NOT coalesce(p_done[u.pos], false)
         ORDER BY u.pos
    LOOP
        pos := r.pos;
        outcome := sf_apply(r.type, r.event_id, r.ms, r.order_id, r.sku, r.qty, r.hold, r.skus,
                            r.qtys, r.reason, r.topic, r.part, r.off, p_default_hold);
        RETURN NEXT;
    END LOOP;
END $$;

-- The batch in rounds (fast), or every event through sf_apply in batch order;
-- rows in the order the events were applied.
CREATE OR REPLACE FUNCTION sf_apply_rounds(
    p_type text[], p_event_id text[], p_ms bigint[], p_order_id text[], p_sku text[],
    p_qty bigint[], p_hold integer[], p_reason text[], p_topic text[], p_partition integer[],
    p_offset bigint[], p_line_ev integer[], p_line_sku text[], p_line_qty bigint[],
    p_default_hold integer, p_fast boolean)
RETURNS TABLE (pos integer, outcome text) LANGUAGE plpgsql AS $$
DECLARE
    v_rank integer[];       -- per event: its place among its order's events
    v_done boolean[] := '{}';
    v_t text[];
    v_round integer := 1;
    v_rounds integer := 1;
    r record;
BEGIN
    IF p_fast THEN
        -- rounds: the first event of every order, then the second, ...; the
        -- fast paths take one event per order, so a batch holding an order's
        -- creation and its cancellation still decides both set-based
        SELECT array_agg(x.rk ORDER BY x.ord), coalesce(max(x.rk), 1) INTO v_rank, v_rounds
          FROM (SELECT u.ord, CASE WHEN u.order_id IS NULL THEN 1
                                   ELSE row_number() OVER (PARTITION BY u.order_id ORDER BY u.ord)
                              END::integer AS rk
                  FROM unnest(p_order_id) WITH ORDINALITY AS u(order_id, ord)) x;
    ELSE
        v_rounds := 0;
    END IF;
    WHILE v_round <= v_rounds LOOP
        -- this round's events keep their type, the others none: no path takes them
        v_t := ARRAY(SELECT CASE WHEN u.rk = v_round THEN u.t END
                       FROM unnest(p_type, v_rank) WITH ORDINALITY AS u(t, rk, ord)
                      ORDER BY u.ord);
        -- settlements first: they only ever make stock available (a release,
        -- or a deduction of units already held), never take it
        FOR r IN
            SELECT f.pos, f.outcome FROM sf_fast_settle(v_t, p_event_id, p_ms, p_order_id,
                                                        p_topic, p_partition, p_offset) f
            UNION ALL
            SELECT f.pos, f.outcome FROM sf_fast_unknown(v_t, p_event_id, p_ms, p_order_id,
                                                         p_topic, p_partition, p_offset) f
        LOOP
            v_done[r.pos] := true;
            pos := r.pos;
            outcome := r.outcome;
            RETURN NEXT;
        END LOOP;
        FOR r IN
            SELECT f.pos, f.outcome FROM sf_fast_created(v_t, p_event_id, p_ms, p_order_id,
                p_hold, p_topic, p_partition, p_offset, p_line_ev, p_line_sku, p_line_qty,
                p_default_hold) f
        LOOP
            v_done[r.pos] := true;
            pos := r.pos;
            outcome := r.outcome;
            RETURN NEXT;
        END LOOP;
        -- the rest of the round, one by one
        FOR r IN SELECT * FROM sf_batch_rest(p_type, p_event_id, p_ms, p_order_id, p_sku, p_qty,
                    p_hold, p_reason, p_topic, p_partition, p_offset, p_line_ev, p_line_sku,
                    p_line_qty, p_default_hold, v_rank, v_round, v_done) LOOP
            v_done[r.pos] := true;
            pos := r.pos;
            outcome := r.outcome;
            RETURN NEXT;
        END LOOP;
        v_round := v_round + 1;
    END LOOP;
    IF NOT p_fast THEN
        RETURN QUERY SELECT * FROM sf_batch_rest(p_type, p_event_id, p_ms, p_order_id, p_sku,
            p_qty, p_hold, p_reason, p_topic, p_partition, p_offset, p_line_ev, p_line_sku,
            p_line_qty, p_default_hold, NULL, NULL, '{}');
    END IF;
END $$;

CREATE OR REPLACE FUNCTION sf_apply_batch(
    p_type text[], p_event_id text[], p_ms bigint[], p_order_id text[], p_sku text[],
    p_qty bigint[], p_hold integer[], p_reason text[], p_topic text[], p_partition integer[],
    p_offset bigint[], p_line_ev integer[], p_line_sku text[], p_line_qty bigint[],
    p_default_hold integer, p_fast boolean)
RETURNS TABLE (pos integer, outcome text) LANGUAGE plpgsql AS $$
DECLARE
    -- sold-out SKUs sf_lock_batch read without locking them, with their xmin
    v_unlocked jsonb := coalesce(nullif(current_setting('stockflow.unlocked', true), ''),
                                 '{}')::jsonb;
    v_skus text[];
    v_pos integer[];
    v_out text[];
BEGIN
    v_skus := ARRAY(SELECT jsonb_object_keys(v_unlocked) ORDER BY 1);
    IF p_fast AND cardinality(v_skus) > 0 THEN
        BEGIN
            SELECT array_agg(r.pos ORDER BY r.n), array_agg(r.outcome ORDER BY r.n)
              INTO v_pos, v_out
              FROM sf_apply_rounds(p_type, p_event_id, p_ms, p_order_id, p_sku, p_qty, p_hold,
                       p_reason, p_topic, p_partition, p_offset, p_line_ev, p_line_sku,
                       p_line_qty, p_default_hold, true) WITH ORDINALITY AS r(pos, outcome, n);
            -- the decisions stand if those rows are still the versions read
            PERFORM 1 FROM stock WHERE sku = ANY (v_skus) ORDER BY sku FOR UPDATE;
            IF EXISTS (SELECT 1 FROM stock st WHERE st.sku = ANY (v_skus)
                                                AND st.xmin::text <> v_unlocked ->> st.sku) THEN
                RAISE EXCEPTION USING ERRCODE = 'SF003', MESSAGE = 'unlocked stock changed';
            END IF;
            PERFORM set_config('stockflow.unlocked', '{}', true);
            RETURN QUERY SELECT * FROM unnest(v_pos, v_out);
            RETURN;
        EXCEPTION WHEN SQLSTATE 'SF003' OR check_violation THEN
            NULL;   -- undone: apply it again below with every row locked
        END;
    END IF;
    IF cardinality(v_skus) > 0 THEN
        PERFORM 1 FROM stock WHERE sku = ANY (v_skus) ORDER BY sku FOR UPDATE;
        PERFORM set_config('stockflow.unlocked', '{}', true);
    END IF;
    RETURN QUERY SELECT * FROM sf_apply_rounds(p_type, p_event_id, p_ms, p_order_id, p_sku,
        p_qty, p_hold, p_reason, p_topic, p_partition, p_offset, p_line_ev, p_line_sku,
        p_line_qty, p_default_hold, p_fast);
END $$;

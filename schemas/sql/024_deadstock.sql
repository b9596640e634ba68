-- stockflow 024: the deadstock radar (DESIGN §9 "Deadstock radar").
--
-- Batches. Every stock.received becomes a row of stock_batches with its
-- batch, best_before, receipt time (occurred_at: event time) and unit cost
-- (the SKU's unit_cost setting when it was received). The units a SKU has
-- on hand are spread over its batches (sum of qty_left = on_hand):
--   - a decrease of on_hand (a committed order, a loss, a deduction) leaves
--     the oldest batch first (FIFO by received_at, then id);
--   - an increase that is not a receipt (a gain, a deduction undone) joins
--     the newest batch (a SKU with none gets an unnamed one).
--
-- Where: ONE place every path hits, a row trigger on stock whenever on_hand
-- changes (stock_batch_track). sf_apply (002/020, one event), the set-based
-- settlements of 003/004 (sf_fast_settle: many orders' deductions in one
-- UPDATE) and the expiry rounds all change on_hand only by updating the
-- stock row, so none of them needed to change. A set-based UPDATE fires the
-- trigger once per SKU with the summed decrease, which leaves the batches
-- exactly as the events one by one would (FIFO of a sum = FIFO of its parts).
-- The trigger learns which event is being applied (its id, type, event time
-- and, for a receipt, batch and best_before) from the transaction-local
-- setting stockflow.event, which sf_apply sets before dispatching a stock
-- event and clears after; unset (order events, the set-based paths), a
-- decrease is a sale and an increase a sale undone.
--
-- sf_apply below is 023's with THREE additions, marked "024:": set stockflow.event before the
-- dispatch of a stock event, clear it after, and put a receipt's batch and best_before into
-- the ledger record's cause. The stock-worker passes a receipt's batch and
-- best_before in the reason slot as JSON (stock.received has no reason; see
-- inv.c batch_params and evt_args_json), as 020 does for sku.configured.
--
-- Ledger and rebuild: every ledger record carries the SKU's on_hand before
-- and after its event, the event's type and occurred_at, the stock row's
-- unit_cost and, for a receipt, batch and best_before; sf_batches_from_ledger
-- replays those moves in sequence order through the same sf_batch_move, so
-- `stockctl rebuild` reproduces stock_batches and stock_adjustments.
--
-- Adjustments are also kept with their event time (stock_adjustments), for
-- the on-hand at the start of the sell-through window.

CREATE TABLE IF NOT EXISTS stock_batches (
    id           bigserial PRIMARY KEY,
    sku          text NOT NULL,
    batch        text,
    best_before  date,
    received_at  timestamptz NOT NULL,      -- occurred_at of the receipt
    unit_cost    numeric,                   -- the SKU's unit_cost at receipt
    qty_received bigint NOT NULL DEFAULT 0, -- units the receipt brought (0: not a receipt)
    qty_left     bigint NOT NULL CHECK (qty_left >= 0),
    event_id     text
);
-- FIFO (oldest unsold first), and the radar's per-SKU scan of unsold
-- batches (index-only: qty_left is indexed already, so the INCLUDE columns
-- cost no HOT updates)
CREATE INDEX IF NOT EXISTS stock_batches_fifo ON stock_batches (sku, received_at, id)
    INCLUDE (best_before, unit_cost, qty_left) WHERE qty_left > 0;
-- newest batch of a SKU (gains); receipts in the sell-through window
-- (index-only)
CREATE INDEX IF NOT EXISTS stock_batches_newest ON stock_batches (sku, received_at DESC, id DESC);
CREATE INDEX IF NOT EXISTS stock_batches_received ON stock_batches (received_at)
    INCLUDE (sku, qty_received);

CREATE TABLE IF NOT EXISTS stock_adjustments (
    event_id    text PRIMARY KEY,
    sku         text NOT NULL,
    occurred_at timestamptz NOT NULL,
    delta       bigint NOT NULL
);
CREATE INDEX IF NOT EXISTS stock_adjustments_at ON stock_adjustments (occurred_at);

-- Units sold in the sell-through window: committed orders by payment time.
CREATE INDEX IF NOT EXISTS orders_committed_paid ON orders (paid_at) WHERE state = 'committed';

-- At most one deadstock alert per SKU and (UTC) day, whoever runs the radar.
CREATE TABLE IF NOT EXISTS deadstock_alerts (
    sku       text NOT NULL,
    day       date NOT NULL,
    alert_id  text NOT NULL,
    raised_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (sku, day)
);

-- Stock on hand before this migration has no receipt: one unnamed batch per
-- SKU, aged from the row's last update (the best time known).
INSERT INTO stock_batches (sku, received_at, unit_cost, qty_left)
SELECT s.sku, s.updated_at, s.unit_cost, s.on_hand FROM stock s
 WHERE s.on_hand > 0 AND NOT EXISTS (SELECT 1 FROM stock_batches b WHERE b.sku = s.sku);

-- Moves p_delta units of a SKU through its batches. p_event: {id, type, at,
-- args: {batch, best_before}} of the event applied, or NULL (set-based path).
CREATE OR REPLACE FUNCTION sf_batch_move(p_sku text, p_delta bigint, p_event jsonb,
                                         p_cost numeric)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    v_at timestamptz := coalesce((p_event ->> 'at')::timestamptz, now());
    v_need bigint := -p_delta;
    v_take bigint;
    b record;
BEGIN
    IF p_event ->> 'type' = 'stock.adjusted' THEN
        INSERT INTO stock_adjustments (event_id, sku, occurred_at, delta)
        VALUES (p_event ->> 'id', p_sku, v_at, p_delta) ON CONFLICT (event_id) DO NOTHING;
    END IF;
    IF p_delta > 0 AND p_event ->> 'type' = 'stock.received' THEN
        INSERT INTO stock_batches (sku, batch, best_before, received_at, unit_cost,
                                   qty_received, qty_left, event_id)
        VALUES (p_sku, p_event -> 'args' ->> 'batch',
                (p_event -> 'args' ->> 'best_before')::date, v_at, p_cost, p_delta, p_delta,
                p_event ->> 'id');
    ELSIF p_delta > 0 THEN
        UPDATE stock_batches SET qty_left = qty_left + p_delta
         WHERE id = (SELECT id FROM stock_batches WHERE sku = p_sku
                      ORDER BY received_at DESC, id DESC LIMIT 1);
        IF NOT FOUND THEN
            INSERT INTO stock_batches (sku, received_at, unit_cost, qty_left, event_id)
            VALUES (p_sku, v_at, p_cost, p_delta, p_event ->> 'id');
        END IF;
    ELSE
        FOR b IN SELECT id, qty_left FROM stock_batches
                  WHERE sku = p_sku AND qty_left > 0 ORDER BY received_at, id LOOP
            v_take := least(b.qty_left, v_need);
            UPDATE stock_batches SET qty_left = qty_left - v_take WHERE id = b.id;
            v_need := v_need - v_take;
            EXIT WHEN v_need = 0;
        END LOOP;
    END IF;
END $$;

CREATE OR REPLACE FUNCTION sf_batch_track()
RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    v_event jsonb := nullif(current_setting('stockflow.event', true), '')::jsonb;
    v_delta bigint := NEW.on_hand - CASE WHEN TG_OP = 'INSERT' THEN 0 ELSE OLD.on_hand END;
BEGIN
    -- a stock event names its SKU: never let it describe another row's move
    IF v_event ->> 'sku' <> NEW.sku THEN
        v_event := NULL;
    END IF;
    PERFORM sf_batch_move(NEW.sku, v_delta, v_event, NEW.unit_cost);
    RETURN NULL;
END $$;

DROP TRIGGER IF EXISTS stock_batch_track ON stock;
CREATE TRIGGER stock_batch_track AFTER UPDATE OF on_hand ON stock
    FOR EACH ROW WHEN (OLD.on_hand IS DISTINCT FROM NEW.on_hand)
    EXECUTE FUNCTION sf_batch_track();
DROP TRIGGER IF EXISTS stock_batch_track_new ON stock;
CREATE TRIGGER stock_batch_track_new AFTER INSERT ON stock
    FOR EACH ROW WHEN (NEW.on_hand <> 0)
    EXECUTE FUNCTION sf_batch_track();

-- `stockctl rebuild`: stock_batches and stock_adjustments from the ledger
-- records in the session's temporary table ledger_in (stockctl/rebuild.c),
-- replayed in sequence order. Restoring the stock rows fired the trigger
-- above with no event: the caller empties both tables first (rebuild.c does;
-- the workers' role has no DELETE right on them, t_worker_role).
CREATE OR REPLACE FUNCTION sf_batches_from_ledger()
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    r record;
    n bigint := 0;
BEGIN
    FOR r IN
        SELECT l.key, l.payload -> 'stock' AS st, l.payload -> 'cause' AS c,
               (l.payload -> 'stock' ->> 'on_hand')::bigint
                 - coalesce((l.payload -> 'before' ->> 'on_hand')::bigint, 0) AS delta
          FROM ledger_in l
         WHERE jsonb_typeof(l.payload -> 'stock') = 'object'
         ORDER BY l.seq
    LOOP
        CONTINUE WHEN r.delta = 0;
        PERFORM sf_batch_move(r.key, r.delta,
            jsonb_build_object('id', r.c ->> 'event_id', 'type', r.c ->> 'type',
                               'at', r.c ->> 'occurred_at',
                               'args', jsonb_build_object('batch', r.c ->> 'batch',
                                                          'best_before', r.c ->> 'best_before')),
            (r.st ->> 'unit_cost')::numeric);
        n := n + 1;
    END LOOP;
    RETURN n;
END $$;

-- sf_apply of 023 (002's, plus sku.configured from 020 and promotions from
-- 023), with the three "024:" additions described at the top.
CREATE OR REPLACE FUNCTION sf_apply(
    p_type text, p_event_id text, p_occurred_ms bigint, p_order_id text, p_sku text,
    p_qty bigint, p_hold_seconds integer, p_skus text[], p_qtys bigint[], p_reason text,
    p_topic text, p_partition integer, p_offset bigint, p_default_hold integer)
RETURNS text LANGUAGE plpgsql SET enable_seqscan = off AS $$
DECLARE
    v_at timestamptz := to_timestamp(p_occurred_ms / 1000.0);
    v_skus text[];
    v_before jsonb;
    r text;
    v_promo text;      -- 023: promo_id of a promotion event or a promo order
    v_sku text := p_sku;
    v_shrunk text[];   -- 023: promotions whose earmark a loss or setting took
    -- 024: a receipt's batch and best_before (JSON in the reason slot)
    v_receipt jsonb := CASE WHEN p_type = 'stock.received' AND p_reason LIKE '{%'
                            THEN p_reason::jsonb END;
BEGIN
    IF EXISTS (SELECT 1 FROM processed_events WHERE event_id = p_event_id) THEN
        RETURN 'duplicate';
    END IF;
    IF p_type IN ('promotion.allocated', 'promotion.ended', 'order.created') THEN   -- 023
        v_promo := p_reason::jsonb ->> 'promo_id';
        IF p_type = 'promotion.ended' THEN
            v_sku := (SELECT sku FROM promotion WHERE promo_id = v_promo);
        END IF;
    END IF;
    v_skus := sf_touched(p_order_id, v_sku, p_skus);
    v_before := sf_stock_image(v_skus);
    -- 024: the stock event the batch trigger (sf_batch_track) sees (order
    -- events only ever sell or give back units: they need none)
    IF p_type LIKE 'stock.%' THEN
        PERFORM set_config('stockflow.event', jsonb_build_object('id', p_event_id,
            'type', p_type, 'sku', p_sku, 'at', v_at, 'args', v_receipt)::text, true);
    END IF;
    CASE p_type
    WHEN 'order.created' THEN
        r := sf_order_created(p_order_id, v_at, coalesce(nullif(p_hold_seconds, 0), p_default_hold),
                              p_skus, p_qtys, v_promo);
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
        v_shrunk := sf_earmark_fit(p_sku, 'stock.adjusted ' || p_event_id);          -- 023
    WHEN 'sku.configured' THEN
        r := sf_sku_configured(p_sku, p_reason::jsonb);
        v_shrunk := sf_earmark_fit(p_sku, 'sku.configured ' || p_event_id);          -- 023
    WHEN 'promotion.allocated' THEN                                                 -- 023
        r := sf_promotion_allocated(v_promo, p_sku, p_qty,
                 to_timestamp((p_reason::jsonb ->> 'ends_at_ms')::bigint / 1000.0), v_at);
    WHEN 'promotion.ended' THEN                                                     -- 023
        r := sf_promotion_ended(v_promo, v_at);
        v_sku := (SELECT sku FROM promotion WHERE promo_id = v_promo);
    ELSE
        RAISE EXCEPTION USING ERRCODE = 'SF001', MESSAGE = format('no apply rule for type %s', p_type);
    END CASE;
    IF p_type LIKE 'stock.%' THEN
        PERFORM set_config('stockflow.event', '', true);    -- 024
    END IF;
    INSERT INTO processed_events (event_id, type, order_id, sku, topic, partition, "offset",
                                  occurred_at, outcome, detail)
    VALUES (p_event_id, p_type, p_order_id, v_sku, p_topic, p_partition, p_offset, v_at,
            split_part(r, ':', 1), substr(r, strpos(r, ':') + 1))
    ON CONFLICT (event_id) DO NOTHING;
    IF NOT FOUND THEN
        -- the same event committed concurrently by another worker: undo ours
        RAISE EXCEPTION USING ERRCODE = 'SF002', MESSAGE = 'duplicate';
    END IF;
    IF p_type LIKE 'promotion.%' THEN                                               -- 023
        IF r LIKE 'applied:%' THEN
            PERFORM sf_promo_ledger(v_promo, sf_touched(NULL, v_sku, NULL), v_before,
                jsonb_build_object('event_id', p_event_id, 'type', p_type, 'occurred_at', v_at,
                                   'topic', p_topic, 'partition', p_partition,
                                   'offset', p_offset, 'outcome', r));
        END IF;
    -- an ignored order event may still have recorded a fact (a payment or
    -- cancellation time): the ledger keeps it, so a rebuild has every fact
    ELSIF r LIKE 'applied:%' OR p_order_id IS NOT NULL THEN
        PERFORM sf_ledger(p_order_id, sf_touched(p_order_id, p_sku, p_skus), v_before,
            jsonb_build_object('event_id', p_event_id, 'type', p_type, 'occurred_at', v_at,
                               'topic', p_topic, 'partition', p_partition, 'offset', p_offset,
                               'outcome', r)
            -- 024: a receipt's batch and best_before, for the rebuild
            || jsonb_strip_nulls(jsonb_build_object('batch', v_receipt ->> 'batch',
                                                    'best_before', v_receipt ->> 'best_before')));
        -- 023: one record per promotion whose earmark shrank, keyed by it
        PERFORM sf_promo_ledger(x, '{}', NULL,
            jsonb_build_object('event_id', p_event_id, 'type', p_type, 'occurred_at', v_at,
                               'topic', p_topic, 'partition', p_partition, 'offset', p_offset,
                               'outcome', r))
           FROM unnest(v_shrunk) x;
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

-- ---- the radar ----------------------------------------------------------------
--
-- One row per deadstock SKU as of p_as_of (DESIGN §9), by value at risk.
-- Unsold units are on_hand - reserved; the reserved ones are the oldest (the
-- next commits take them), so the unsold units are the newest of the
-- batches. Per SKU: oldest unsold batch (age), earliest best_before of an
-- unsold batch (expiry), sell-through over the 30 days before p_as_of:
-- committed units in the window (orders committed, by paid_at) / (on hand
-- at the window's start + received in it), where on hand at the start is
-- on_hand - (received + adjusted - committed since the start). Ages and
-- windows use event time only, so a replayed history gives the same rows;
-- the stock (on_hand, reserved, batches) is the current one.
-- Reasons: aged (oldest unsold batch received more than p_age_days before
-- p_as_of), slow (sell-through below p_sell_through % and oldest unsold batch
-- at least p_min_age_days old), expiring (a best_before within
-- p_expiry_days of p_as_of's UTC date, or past). Action: donate (best
-- before within 3 days), else discount (expiring, or aged with sales in the
-- window), else bundle. value_at_risk: unsold units x their batch's unit
-- cost (no cost: 0).
CREATE OR REPLACE FUNCTION sf_deadstock(p_as_of timestamptz DEFAULT now(),
                                        p_age_days integer DEFAULT 30,
                                        p_sell_through numeric DEFAULT 5,
                                        p_min_age_days integer DEFAULT 7,
                                        p_expiry_days integer DEFAULT 14)
RETURNS TABLE (sku text, reasons text[], action text, unsold bigint, value_at_risk numeric,
               oldest_received timestamptz, age_days integer, sell_through numeric,
               best_before date)
LANGUAGE sql STABLE
-- JIT compiles this in about 2 s at 100,000 SKUs, longer than it runs; the
-- per-SKU aggregates and the final sort fit in memory
SET jit = off SET work_mem = '64MB' AS $$
    -- unsold batches: all of them for a SKU without reservations (most; one
    -- index-only pass, in sku order); for the others, those past the first
    -- `reserved` units in FIFO order
    WITH plain AS (
        SELECT bt.sku, min(bt.received_at) AS oldest, min(bt.best_before) AS bb,
               sum(bt.qty_left * coalesce(bt.unit_cost, 0)) AS value
          FROM stock_batches bt
         WHERE bt.qty_left > 0
         GROUP BY bt.sku),
    b AS (
        SELECT bt.sku, bt.received_at, bt.best_before, bt.unit_cost, bt.qty_left, st.reserved,
               sum(bt.qty_left) OVER (PARTITION BY bt.sku ORDER BY bt.received_at, bt.id)
                 AS cum
          FROM stock st JOIN stock_batches bt ON bt.sku = st.sku
         WHERE st.reserved > 0 AND st.on_hand > st.reserved AND bt.qty_left > 0),
    held AS (
        SELECT b.sku, min(b.received_at) AS oldest, min(b.best_before) AS bb,
               sum(least(b.qty_left, b.cum - b.reserved) * coalesce(b.unit_cost, 0)) AS value
          FROM b WHERE b.cum > b.reserved GROUP BY b.sku),
    s AS (
        SELECT st.sku, st.on_hand, st.reserved,
               CASE WHEN st.reserved > 0 THEN h.oldest ELSE p.oldest END AS oldest,
               CASE WHEN st.reserved > 0 THEN h.bb ELSE p.bb END AS bb,
               CASE WHEN st.reserved > 0 THEN h.value ELSE p.value END AS value
          FROM stock st JOIN plain p ON p.sku = st.sku
          LEFT JOIN held h ON h.sku = st.sku
         WHERE st.on_hand > st.reserved),
    -- units committed in the window, and after it (as of a past time): the
    -- lines of those orders by primary-key probes (a hash join would read
    -- every order line)
    com AS (
        SELECT l.sku, sum(l.qty)::bigint AS win FROM order_lines l
         WHERE l.order_id = ANY (ARRAY(
                   SELECT o.order_id FROM orders o
                    WHERE o.state = 'committed' AND o.paid_at > p_as_of - interval '30 days'
                      AND o.paid_at <= p_as_of))
         GROUP BY l.sku),
    com_after AS (
        SELECT l.sku, sum(l.qty)::bigint AS qty FROM order_lines l
         WHERE l.order_id = ANY (ARRAY(
                   SELECT o.order_id FROM orders o
                    WHERE o.state = 'committed' AND o.paid_at > p_as_of))
         GROUP BY l.sku),
    rec AS (
        SELECT bt.sku, sum(bt.qty_received)::bigint AS since,
               sum(bt.qty_received) FILTER (WHERE bt.received_at <= p_as_of)::bigint AS win
          FROM stock_batches bt
         WHERE bt.received_at > p_as_of - interval '30 days' AND bt.qty_received > 0
         GROUP BY bt.sku),
    adj AS (
        SELECT a.sku, sum(a.delta)::bigint AS since FROM stock_adjustments a
         WHERE a.occurred_at > p_as_of - interval '30 days' GROUP BY a.sku),
    m AS (
        SELECT s.sku, s.on_hand - s.reserved AS unsold, s.oldest, s.bb, s.value,
               coalesce(com.win, 0) AS sold,
               s.on_hand - coalesce(rec.since, 0) - coalesce(adj.since, 0)
                 + coalesce(com.win, 0) + coalesce(ca.qty, 0) + coalesce(rec.win, 0) AS base
          FROM s
          LEFT JOIN com ON com.sku = s.sku
          LEFT JOIN com_after ca ON ca.sku = s.sku
          LEFT JOIN rec ON rec.sku = s.sku
          LEFT JOIN adj ON adj.sku = s.sku),
    -- the rules, on cheap comparisons (slow without a division), once per
    -- SKU (inlined, each use of a column below would compute it again); the
    -- rounded sell-through only for the rows shown
    g AS MATERIALIZED (
        SELECT m.*,
               m.oldest < p_as_of - make_interval(days => p_age_days) AS aged,
               CASE WHEN m.base > 0 THEN 100 * m.sold < p_sell_through * m.base
                    ELSE p_sell_through > 0 END
                 AND m.oldest <= p_as_of - make_interval(days => p_min_age_days) AS slow,
               m.bb <= (p_as_of AT TIME ZONE 'UTC')::date + p_expiry_days AS expiring
          FROM m)
    SELECT g.sku,
           array_remove(ARRAY[CASE WHEN g.aged THEN 'aged' END,
                              CASE WHEN g.slow THEN 'slow' END,
                              CASE WHEN g.expiring THEN 'expiring' END], NULL),
           CASE WHEN g.bb <= (p_as_of AT TIME ZONE 'UTC')::date + 3 THEN 'donate'
                WHEN g.expiring OR (g.aged AND g.sold > 0) THEN 'discount'
                ELSE 'bundle' END,
           g.unsold, g.value, g.oldest,
           floor(date_part('epoch', p_as_of - g.oldest) / 86400)::integer,
           CASE WHEN g.base > 0 THEN round(100.0 * g.sold / g.base, 2) ELSE 0 END,
           g.bb
      FROM g
     WHERE g.aged OR g.slow OR coalesce(g.expiring, false)
     ORDER BY g.value DESC, g.sku COLLATE "C"
$$;

-- A radar run: one deadstock alert per deadstock SKU, at most one per SKU
-- and UTC day of p_as_of (deadstock_alerts; alert_id deadstock:<sku>:<day>),
-- whoever runs it and however often. Returns the number of alerts raised.
CREATE OR REPLACE FUNCTION sf_deadstock_alert(p_as_of timestamptz DEFAULT now(),
                                              p_age_days integer DEFAULT 30,
                                              p_sell_through numeric DEFAULT 5,
                                              p_min_age_days integer DEFAULT 7,
                                              p_expiry_days integer DEFAULT 14)
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    v_day date := (p_as_of AT TIME ZONE 'UTC')::date;
    v_id text;
    n integer := 0;
    d record;
BEGIN
    FOR d IN SELECT * FROM sf_deadstock(p_as_of, p_age_days, p_sell_through, p_min_age_days,
                                        p_expiry_days) LOOP
        v_id := format('deadstock:%s:%s', d.sku, v_day);
        INSERT INTO deadstock_alerts (sku, day, alert_id) VALUES (d.sku, v_day, v_id)
        ON CONFLICT DO NOTHING;
        CONTINUE WHEN NOT FOUND;
        PERFORM sf_alert(v_id, 'deadstock', 'warning',
            format('SKU %s is deadstock (%s): %s unsold units, %s at risk; suggested: %s',
                   d.sku, array_to_string(d.reasons, ', '), d.unsold, d.value_at_risk, d.action),
            jsonb_build_object('sku', d.sku, 'reasons', to_jsonb(d.reasons), 'action', d.action,
                               'unsold', d.unsold, 'value_at_risk', d.value_at_risk,
                               'oldest_received', d.oldest_received, 'age_days', d.age_days,
                               'sell_through', d.sell_through, 'best_before', d.best_before,
                               'as_of', p_as_of));
        n := n + 1;
    END LOOP;
    RETURN n;
END $$;

-- stockflow 020: SKU settings (DESIGN §9) and the status they give.
--
-- sku.configured {sku, safety_stock?, low_stock_threshold?, hide_below?,
-- unit_cost?} arrives on inventory.stock and is applied by the stock-worker
-- like every event: once per event_id, recorded in processed_events, and
-- written to the ledger with the stock row's after-image, which carries the
-- settings (a rebuild restores the row from it, settings included). A field
-- that is absent leaves its setting as it is; defaults 0, 0, 0, no cost.
--
-- Status, first match: oversold (§4); hidden when available < hide_below;
-- low when available <= low_stock_threshold; else ok. It is computed where it
-- is read (stock_levels) from the row, so it can never disagree with it.
--
-- The settings live on the stock row: safety_stock was there already (the
-- reservations of 002 and 003 subtract it from available), low_threshold is
-- renamed low_stock_threshold as §9 names it, hide_below and unit_cost are
-- new, and the `hidden` flag, which nothing ever set, goes: hidden is now a
-- status that follows from hide_below.

ALTER TABLE stock ADD COLUMN IF NOT EXISTS hide_below bigint NOT NULL DEFAULT 0
    CHECK (hide_below >= 0);
ALTER TABLE stock ADD COLUMN IF NOT EXISTS unit_cost numeric CHECK (unit_cost >= 0);
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM information_schema.columns
                WHERE table_schema = current_schema() AND table_name = 'stock'
                  AND column_name = 'low_threshold') THEN
        ALTER TABLE stock RENAME COLUMN low_threshold TO low_stock_threshold;
    END IF;
END $$;

-- The status of a stock row; the one definition (stock_levels, alerts).
CREATE OR REPLACE FUNCTION sf_status(p_on_hand bigint, p_reserved bigint, p_safety bigint,
                                     p_low bigint, p_hide bigint, p_oversold boolean)
RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN p_oversold THEN 'oversold'
                WHEN greatest(p_on_hand - p_reserved - p_safety, 0) < p_hide THEN 'hidden'
                WHEN greatest(p_on_hand - p_reserved - p_safety, 0) <= p_low THEN 'low'
                ELSE 'ok' END
$$;

CREATE OR REPLACE VIEW stock_levels AS
SELECT sku, on_hand, reserved, safety_stock,
       greatest(on_hand - reserved - safety_stock, 0) AS available,
       sf_status(on_hand, reserved, safety_stock, low_stock_threshold, hide_below,
                 oversold) AS status
  FROM stock;

ALTER TABLE stock DROP COLUMN IF EXISTS hidden;

-- Applies one sku.configured. p_args holds the settings present in the event
-- (evt_args_json: {"safety_stock":3,"unit_cost":2.50}). A SKU not seen yet
-- gets its row (nothing on hand), unless the event sets nothing new. Returns
-- 'applied:<what changed>' or 'ignored:settings unchanged'.
CREATE OR REPLACE FUNCTION sf_sku_configured(p_sku text, p_args jsonb)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    s stock%ROWTYPE;
    v_found boolean;
    v_safety bigint;
    v_low bigint;
    v_hide bigint;
    v_cost numeric;
    v_what text;
BEGIN
    SELECT * INTO s FROM stock WHERE sku = p_sku FOR UPDATE;
    v_found := FOUND;
    IF NOT v_found THEN
        s.safety_stock := 0;
        s.low_stock_threshold := 0;
        s.hide_below := 0;
        s.unit_cost := NULL;
    END IF;
    v_safety := coalesce((p_args ->> 'safety_stock')::bigint, s.safety_stock);
    v_low := coalesce((p_args ->> 'low_stock_threshold')::bigint, s.low_stock_threshold);
    v_hide := coalesce((p_args ->> 'hide_below')::bigint, s.hide_below);
    v_cost := CASE WHEN p_args ? 'unit_cost' THEN (p_args ->> 'unit_cost')::numeric
                   ELSE s.unit_cost END;
    v_what := concat_ws(', ',
        CASE WHEN v_safety <> s.safety_stock
             THEN format('safety_stock %s -> %s', s.safety_stock, v_safety) END,
        CASE WHEN v_low <> s.low_stock_threshold
             THEN format('low_stock_threshold %s -> %s', s.low_stock_threshold, v_low) END,
        CASE WHEN v_hide <> s.hide_below
             THEN format('hide_below %s -> %s', s.hide_below, v_hide) END,
        CASE WHEN v_cost IS DISTINCT FROM s.unit_cost
             THEN format('unit_cost %s -> %s', coalesce(s.unit_cost::text, 'none'), v_cost) END);
    IF v_what = '' THEN
        RETURN 'ignored:settings unchanged';
    END IF;
    INSERT INTO stock AS st (sku, safety_stock, low_stock_threshold, hide_below, unit_cost)
    VALUES (p_sku, v_safety, v_low, v_hide, v_cost)
    ON CONFLICT (sku) DO UPDATE
       SET safety_stock = EXCLUDED.safety_stock,
           low_stock_threshold = EXCLUDED.low_stock_threshold,
           hide_below = EXCLUDED.hide_below, unit_cost = EXCLUDED.unit_cost,
           updated_at = now();
    RETURN 'applied:' || v_what;
END $$;

-- sf_apply of 002 with one more type: sku.configured, whose settings come in
-- p_reason as JSON (the batch arrays have no typed slot for them; the
-- reason slot is free for this type). Everything else is 002's, unchanged.
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
    WHEN 'sku.configured' THEN
        r := sf_sku_configured(p_sku, p_reason::jsonb);
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

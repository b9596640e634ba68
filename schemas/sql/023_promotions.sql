-- stockflow 023: promotions with earmarks and the conflict circuit-breaker
-- (DESIGN §9).
--
-- promotion.allocated {promo_id, sku, qty, ends_at} (inventory.promotions,
-- stock-worker) earmarks qty units of a SKU for the promotion, or, when
-- they are not available (or the SKU is unknown), is refused whole: the
-- promotion is 'blocked', nothing is earmarked, and a promotion_conflict
-- alert names the SKU, the quantity asked and the quantity available.
-- promotion.ended, or ends_at (the timeout-worker, through sf_expire_due,
-- like holds: event time, never early), returns the unsold earmark.
--
-- The accounting, all of it under the SKU's stock row lock (every path
-- locks the stock row first, then the promotion row):
--   promotion.qty        units asked (allocated unless blocked)
--   promotion.sold       units of the earmark its orders hold or committed
--                        (= sum of orders.promo_units of its orders)
--   orders.promo_units   units this order took from the earmark
--   stock.earmarked      sum of qty - sold over the SKU's active promotions
--   available            on_hand - reserved - safety_stock - earmarked
-- An order naming a promo_id takes, on the promotion's SKU, what it can from
-- the earmark first (while the promotion is active and the order was created
-- before ends_at), the rest from available. Units it gives back (cancelled,
-- payment failed, expired, refund) return to the earmark while the promotion
-- is active, else to available. Promo orders are applied one by one
-- (sf_apply); the set-based paths of 003 never see them (sf_apply_rounds
-- below), and sf_fast_created subtracts earmarked units like every other
-- reservation check, so normal orders cannot take them.
--
-- A loss (stock.adjusted) or a higher safety stock that leaves reserved +
-- earmarked + safety_stock above on_hand shrinks the earmarks by the excess
-- (sf_earmark_fit): earmarked units are never more than what is there.
--
-- Events carry their promotion fields in the reason slot as JSON
-- (evt_args_json: {"promo_id":"p-1","ends_at_ms":...}), as 020 does for
-- sku.configured; a normal order.created has NULL there.
--
-- Rebuild (stockctl rebuild): promotion events and ends write ledger records
-- with the promotion's after-image ('promotion'); orders carry promo_id and
-- promo_units in their image; sold is recomputed from the orders.

ALTER TABLE stock ADD COLUMN IF NOT EXISTS earmarked bigint NOT NULL DEFAULT 0
    CHECK (earmarked >= 0);
ALTER TABLE orders ADD COLUMN IF NOT EXISTS promo_id text;
ALTER TABLE orders ADD COLUMN IF NOT EXISTS promo_units bigint NOT NULL DEFAULT 0
    CHECK (promo_units >= 0);
-- sf_apply_rounds probes it per batch: empty unless earmarked units are held
CREATE INDEX IF NOT EXISTS orders_promo_held ON orders (order_id) WHERE promo_units > 0;

-- The view promotions (below) is the readers' contract; this is the table.
CREATE TABLE IF NOT EXISTS promotion (
    promo_id     text PRIMARY KEY,
    sku          text,          -- NULL only for an end seen before its allocation
    qty          bigint NOT NULL DEFAULT 0 CHECK (qty >= 0),   -- units asked
    sold         bigint NOT NULL DEFAULT 0 CHECK (sold >= 0),  -- of the earmark
    ends_at      timestamptz,
    state        text NOT NULL CHECK (state IN ('active', 'blocked', 'ended')),
    detail       text NOT NULL DEFAULT '',   -- why blocked / how it ended
    allocated_at timestamptz,                -- occurred_at of promotion.allocated
    ended_at     timestamptz,                -- occurred_at of promotion.ended, or ends_at
    CONSTRAINT promotion_sold_within_qty CHECK (sold <= qty OR state <> 'active')
);
CREATE INDEX IF NOT EXISTS promotion_active_ends ON promotion (ends_at) WHERE state = 'active';

-- available, DESIGN §9 (never shown below 0): the one definition. 022 defines
-- it without earmarks; this replaces it.
CREATE OR REPLACE FUNCTION sf_available(s stock)
RETURNS bigint LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT greatest(s.on_hand - s.reserved - s.safety_stock - s.earmarked, 0)
$$;

-- 022's sf_status_of and stock_levels call sf_available: they follow it.

-- §9's view; earmarked (unsold earmark now) and requested (units asked) are
-- extra columns.
CREATE OR REPLACE VIEW promotions AS
SELECT promo_id, sku, state, CASE WHEN state = 'blocked' THEN 0 ELSE qty END AS allocated,
       sold, ends_at, CASE WHEN state = 'active' THEN qty - sold ELSE 0 END AS earmarked,
       qty AS requested
  FROM promotion;

-- 021's trigger function with the status of whole rows (earmarks count).
CREATE OR REPLACE FUNCTION sf_status_alert()
RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    v_seen jsonb := coalesce(nullif(current_setting('stockflow.status_seen', true), ''),
                             '{}')::jsonb;
    s stock%ROWTYPE;
    v_was text := sf_status_of(OLD);          -- 023: was the 6-argument sf_status
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
    v_now := sf_status_of(s);                 -- 023
    v_avail := sf_available(s);            -- 023: was on_hand - reserved - safety_stock
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
                           'hide_below', s.hide_below, 'earmarked', s.earmarked));
    RETURN NULL;
END $$;

DROP TRIGGER IF EXISTS stock_status_alert ON stock;
CREATE CONSTRAINT TRIGGER stock_status_alert AFTER UPDATE ON stock
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
    WHEN (sf_status_of(OLD) IS DISTINCT FROM sf_status_of(NEW))
    EXECUTE FUNCTION sf_status_alert();

-- ---- invariants -------------------------------------------------------------
-- 001's checks, plus the earmarks: 0 <= unsold earmark of every active
-- promotion; stock.earmarked = the sum of them; a promotion's sold = the
-- units its orders took; reserved + earmarked + safety_stock <= on_hand
-- unless oversold (checked where there is an earmark: safety stock alone
-- may exceed what a loss left, as before).
CREATE OR REPLACE VIEW invariant_violations AS
WITH held AS (
    SELECT l.sku, sum(l.qty) AS qty
      FROM order_lines l JOIN orders o USING (order_id)
     WHERE o.state = 'reserved'
     GROUP BY l.sku)
SELECT s.sku,
       concat_ws('; ',
         CASE WHEN s.reserved < 0 THEN 'reserved < 0' END,
         CASE WHEN s.reserved > s.on_hand AND NOT s.oversold THEN 'reserved > on_hand without oversold flag' END,
         CASE WHEN s.on_hand <> s.received_total + s.adjusted_total - s.committed_total
              THEN format('on_hand %s <> received %s + adjusted %s - committed %s',
                          s.on_hand, s.received_total, s.adjusted_total, s.committed_total) END,
         CASE WHEN s.reserved <> coalesce(h.qty, 0)
              THEN format('reserved %s <> held reservations %s', s.reserved, coalesce(h.qty, 0)) END
       ) AS problem
  FROM stock s LEFT JOIN held h USING (sku)
 WHERE s.reserved < 0
    OR (s.reserved > s.on_hand AND NOT s.oversold)
    OR s.on_hand <> s.received_total + s.adjusted_total - s.committed_total
    OR s.reserved <> coalesce(h.qty, 0)
UNION ALL
SELECT h.sku, format('reserved %s for a SKU with no stock row', h.qty)
  FROM held h WHERE NOT EXISTS (SELECT 1 FROM stock s WHERE s.sku = h.sku)
UNION ALL
SELECT s.sku, format('earmarked %s <> unsold earmark of active promotions %s', s.earmarked,
                     coalesce(p.unsold, 0))
  FROM stock s
  LEFT JOIN (SELECT sku, sum(qty - sold) AS unsold FROM promotion
              WHERE state = 'active' GROUP BY sku) p USING (sku)
 WHERE s.earmarked <> coalesce(p.unsold, 0)
UNION ALL
SELECT s.sku, format('reserved %s + earmarked %s + safety_stock %s > on_hand %s without oversold flag',
                     s.reserved, s.earmarked, s.safety_stock, s.on_hand)
  FROM stock s
 WHERE s.earmarked > 0 AND s.reserved + s.earmarked + s.safety_stock > s.on_hand AND NOT s.oversold
UNION ALL
SELECT p.sku, format('promotion %s: unsold earmark %s < 0 (qty %s, sold %s)', p.promo_id,
                     p.qty - p.sold, p.qty, p.sold)
  FROM promotion p WHERE p.state = 'active' AND p.sold > p.qty
UNION ALL
SELECT p.sku, format('promotion %s: sold %s <> units its orders took %s', p.promo_id, p.sold,
                     coalesce(o.units, 0))
  FROM promotion p
  LEFT JOIN (SELECT promo_id, sum(promo_units) AS units FROM orders
              WHERE promo_units > 0 GROUP BY promo_id) o USING (promo_id)
 WHERE p.sold <> coalesce(o.units, 0)
UNION ALL
SELECT p.sku, format('promotion %s is active on %s, which has no stock row', p.promo_id, p.sku)
  FROM promotion p
 WHERE p.state = 'active' AND NOT EXISTS (SELECT 1 FROM stock s WHERE s.sku = p.sku);

-- ---- the earmark of a promo order ------------------------------------------

-- What order p_order_id may take from its promotion's earmark now: the SKU
-- and the unsold units (NULL, 0 for an order without an active promotion,
-- or one created at or after ends_at). The caller holds the stock row lock.
CREATE OR REPLACE FUNCTION sf_promo_room(p_order_id text, OUT sku text, OUT room bigint)
LANGUAGE plpgsql STABLE AS $$
BEGIN
    SELECT p.sku, p.qty - p.sold INTO sku, room
      FROM orders o JOIN promotion p ON p.promo_id = o.promo_id
     WHERE o.order_id = p_order_id AND p.state = 'active'
       AND o.created_at < p.ends_at;
    room := coalesce(room, 0);
END $$;

-- An order takes stock ('hold', 'deduct'): on its promotion's SKU, from the
-- earmark first. The caller checked that the rest fits in available.
CREATE OR REPLACE FUNCTION sf_promo_take(p_order_id text)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    v_sku text;
    v_room bigint;
    v_take bigint;
    v_promo text;
BEGIN
    SELECT r.sku, r.room INTO v_sku, v_room FROM sf_promo_room(p_order_id) r;
    IF v_room <= 0 THEN
        RETURN;
    END IF;
    SELECT least(l.qty, v_room), o.promo_id INTO v_take, v_promo
      FROM order_lines l JOIN orders o USING (order_id)
     WHERE l.order_id = p_order_id AND l.sku = v_sku;
    IF v_take IS NULL OR v_take <= 0 THEN
        RETURN;
    END IF;
    UPDATE promotion SET sold = sold + v_take WHERE promo_id = v_promo;
    UPDATE stock SET earmarked = earmarked - v_take WHERE sku = v_sku;
    UPDATE orders SET promo_units = v_take WHERE order_id = p_order_id;
END $$;

-- An order gives stock back ('release', 'restore'): what it took from the
-- earmark returns there while the promotion is active, else to available.
CREATE OR REPLACE FUNCTION sf_promo_give(p_order_id text)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    v_promo text;
    v_units bigint;
    v_state text;
    v_sku text;
BEGIN
    SELECT promo_id, promo_units INTO v_promo, v_units FROM orders WHERE order_id = p_order_id;
    IF coalesce(v_units, 0) = 0 THEN
        RETURN;
    END IF;
    UPDATE promotion SET sold = sold - v_units WHERE promo_id = v_promo
    RETURNING state, sku INTO v_state, v_sku;
    IF v_state = 'active' THEN
        UPDATE stock SET earmarked = earmarked + v_units WHERE sku = v_sku;
    END IF;
    UPDATE orders SET promo_units = 0 WHERE order_id = p_order_id;
END $$;

-- 002's sf_lines_fit: a promo order's line on its promotion's SKU may also
-- take the unsold earmark; available subtracts earmarked units (023).
CREATE OR REPLACE FUNCTION sf_lines_fit(p_order_id text, p_need text)
RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
    v_lines integer;
    v_ok integer;
    v_room_sku text;    -- 023
    v_room bigint;      -- 023
BEGIN
    PERFORM 1 FROM stock
      WHERE sku IN (SELECT sku FROM order_lines WHERE order_id = p_order_id)
      ORDER BY sku FOR UPDATE;
    SELECT r.sku, r.room INTO v_room_sku, v_room FROM sf_promo_room(p_order_id) r;  -- 023
    SELECT count(*),
           count(*) FILTER (WHERE CASE p_need
                WHEN 'reserve' THEN sf_available(s)
                                    + CASE WHEN l.sku = v_room_sku THEN v_room ELSE 0 END >= l.qty
                ELSE s.on_hand >= l.qty END)
      INTO v_lines, v_ok
      FROM order_lines l LEFT JOIN stock s USING (sku)
     WHERE l.order_id = p_order_id;
    RETURN v_lines > 0 AND v_ok = v_lines;
END $$;

-- 002's sf_move, unchanged but for the earmark of a promo order (023).
CREATE OR REPLACE FUNCTION sf_move(p_order_id text, p_move text)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    r_d integer := CASE p_move WHEN 'hold' THEN 1 WHEN 'release' THEN -1
                               WHEN 'deduct_held' THEN -1 ELSE 0 END;
    h_d integer := CASE p_move WHEN 'deduct_held' THEN -1 WHEN 'deduct' THEN -1
                               WHEN 'restore' THEN 1 ELSE 0 END;
BEGIN
    IF p_move IN ('hold', 'deduct') THEN            -- 023
        PERFORM sf_promo_take(p_order_id);
    ELSIF p_move IN ('release', 'restore') THEN     -- 023
        PERFORM sf_promo_give(p_order_id);
    END IF;
    UPDATE stock s
       SET reserved = s.reserved + r_d * l.qty,
           on_hand = s.on_hand + h_d * l.qty,
           committed_total = s.committed_total - h_d * l.qty,
           oversold = s.oversold AND s.reserved + r_d * l.qty > s.on_hand + h_d * l.qty,
           updated_at = now()
      FROM order_lines l
     WHERE l.order_id = p_order_id AND s.sku = l.sku;
END $$;

-- 002's sf_order_created with the order's promo_id (NULL for a normal order).
CREATE OR REPLACE FUNCTION sf_order_created(p_order_id text, p_at timestamptz, p_hold integer,
                                            p_skus text[], p_qtys bigint[], p_promo_id text)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    v_was text := sf_order_row(p_order_id);
    r text;
BEGIN
    IF EXISTS (SELECT 1 FROM orders WHERE order_id = p_order_id AND created) THEN
        RETURN 'ignored:order already created';
    END IF;
    UPDATE orders SET created = true, created_at = p_at, hold_seconds = p_hold,
                      expires_at = p_at + make_interval(secs => p_hold),
                      promo_id = p_promo_id             -- 023
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

-- ---- promotion events --------------------------------------------------------

-- promotion.allocated: earmarks p_qty units of p_sku, or blocks the
-- promotion whole (unknown SKU, or more than available) with an alert.
-- A promotion allocated before is ignored; one whose end came first keeps
-- its end and earmarks nothing.
CREATE OR REPLACE FUNCTION sf_promotion_allocated(p_promo_id text, p_sku text, p_qty bigint,
                                                  p_ends_at timestamptz, p_at timestamptz)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    s stock%ROWTYPE;
    v_found boolean;
    pr promotion%ROWTYPE;
    v_avail bigint;
BEGIN
    SELECT * INTO s FROM stock WHERE sku = p_sku FOR UPDATE;   -- stock row, then promotion
    v_found := FOUND;
    SELECT * INTO pr FROM promotion WHERE promo_id = p_promo_id FOR UPDATE;
    IF FOUND AND pr.sku IS NOT NULL THEN
        RETURN format('ignored:promotion %s already allocated (%s)', p_promo_id, pr.state);
    ELSIF FOUND THEN
        UPDATE promotion SET sku = p_sku, qty = p_qty, ends_at = p_ends_at, allocated_at = p_at
         WHERE promo_id = p_promo_id;
        RETURN 'applied:ended (its end came before its allocation: nothing earmarked)';
    END IF;
    v_avail := CASE WHEN v_found THEN sf_available(s) ELSE 0 END;
    IF v_found AND p_qty <= v_avail THEN
        INSERT INTO promotion (promo_id, sku, qty, ends_at, state, allocated_at)
        VALUES (p_promo_id, p_sku, p_qty, p_ends_at, 'active', p_at);
        UPDATE stock SET earmarked = earmarked + p_qty, updated_at = now() WHERE sku = p_sku;
        RETURN format('applied:active (%s of %s earmarked)', p_qty, p_sku);
    END IF;
    INSERT INTO promotion (promo_id, sku, qty, ends_at, state, allocated_at, detail)
    VALUES (p_promo_id, p_sku, p_qty, p_ends_at, 'blocked', p_at,
            CASE WHEN v_found THEN format('asked %s, available %s', p_qty, v_avail)
                 ELSE 'unknown SKU' END);
    PERFORM sf_alert('promotion_conflict:' || p_promo_id, 'promotion_conflict', 'warning',
        CASE WHEN v_found
             THEN format('promotion %s blocked: SKU %s asked %s, available %s (short by %s)',
                         p_promo_id, p_sku, p_qty, v_avail, p_qty - v_avail)
             ELSE format('promotion %s blocked: SKU %s is unknown: asked %s, available 0',
                         p_promo_id, p_sku, p_qty) END,
        jsonb_build_object('promo_id', p_promo_id, 'sku', p_sku, 'asked', p_qty,
                           'available', v_avail, 'shortfall', p_qty - v_avail,
                           'known_sku', v_found, 'ends_at', p_ends_at));
    RETURN format('applied:blocked (%s)', CASE WHEN v_found
        THEN format('asked %s, available %s', p_qty, v_avail) ELSE 'unknown SKU' END);
END $$;

-- Ends an active promotion (the caller holds its SKU's stock row lock and
-- the promotion row): the unsold earmark returns to available.
CREATE OR REPLACE FUNCTION sf_promotion_end(p_promo_id text, p_at timestamptz, p_how text)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    pr promotion%ROWTYPE;
BEGIN
    UPDATE promotion SET state = 'ended', ended_at = p_at, detail = p_how
     WHERE promo_id = p_promo_id AND state = 'active'
    RETURNING * INTO pr;
    IF NOT FOUND THEN
        RETURN 'ignored:promotion not active';
    END IF;
    UPDATE stock SET earmarked = earmarked - (pr.qty - pr.sold), updated_at = now()
     WHERE sku = pr.sku;
    RETURN format('applied:ended (%s unsold of %s returned to available)', pr.qty - pr.sold,
                  pr.qty);
END $$;

-- promotion.ended: an unknown promotion is remembered as ended (its
-- allocation, if it comes, earmarks nothing).
CREATE OR REPLACE FUNCTION sf_promotion_ended(p_promo_id text, p_at timestamptz)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    v_sku text := (SELECT sku FROM promotion WHERE promo_id = p_promo_id);
    v_state text;
BEGIN
    IF v_sku IS NOT NULL THEN
        PERFORM 1 FROM stock WHERE sku = v_sku FOR UPDATE;     -- stock row, then promotion
    END IF;
    SELECT state INTO v_state FROM promotion WHERE promo_id = p_promo_id FOR UPDATE;
    IF NOT FOUND THEN
        INSERT INTO promotion (promo_id, state, ended_at, detail)
        VALUES (p_promo_id, 'ended', p_at, 'promotion.ended before its allocation');
        RETURN 'applied:ended (before its allocation)';
    ELSIF v_state <> 'active' THEN
        RETURN format('ignored:promotion %s is %s', p_promo_id, v_state);
    END IF;
    RETURN sf_promotion_end(p_promo_id, p_at, 'promotion.ended');
END $$;

-- A loss (stock.adjusted) or a higher safety stock (sku.configured) that
-- leaves reserved + earmarked + safety_stock above on_hand takes the
-- difference out of the earmarks (the units are gone, or no longer for
-- sale): from the SKU's active promotions, newest first, each at most its
-- unsold units (its qty shrinks; detail says why). Returns the promotions
-- changed (their ledger records carry the new image).
CREATE OR REPLACE FUNCTION sf_earmark_fit(p_sku text, p_why text)
RETURNS text[] LANGUAGE plpgsql AS $$
DECLARE
    s stock%ROWTYPE;
    v_excess bigint;
    v_take bigint;
    v_total bigint := 0;
    v_ids text[] := '{}';
    pr record;
BEGIN
    SELECT * INTO s FROM stock WHERE sku = p_sku;
    v_excess := least(s.earmarked, s.reserved + s.earmarked + s.safety_stock - s.on_hand);
    IF NOT FOUND OR v_excess IS NULL OR v_excess <= 0 THEN
        RETURN v_ids;
    END IF;
    FOR pr IN SELECT promo_id, qty - sold AS unsold FROM promotion
               WHERE sku = p_sku AND state = 'active' AND qty > sold
               ORDER BY allocated_at DESC, promo_id DESC FOR UPDATE LOOP
        EXIT WHEN v_excess <= 0;
        v_take := least(v_excess, pr.unsold);
        UPDATE promotion SET qty = qty - v_take,
               detail = format('%s earmarked units lost (%s)', v_take, p_why)
         WHERE promo_id = pr.promo_id;
        v_excess := v_excess - v_take;
        v_total := v_total + v_take;
        v_ids := v_ids || pr.promo_id;
    END LOOP;
    UPDATE stock SET earmarked = earmarked - v_total WHERE sku = p_sku;
    RETURN v_ids;
END $$;

-- The ledger records of a promotion event or end: sf_ledger's, with the
-- promotion's after-image; keyed by the SKU, or "promo:<id>" when the SKU
-- has no stock row (a blocked allocation of an unknown SKU).
CREATE OR REPLACE FUNCTION sf_promo_ledger(p_promo_id text, p_skus text[], p_before jsonb,
                                           p_cause jsonb)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    v_promo jsonb := (SELECT to_jsonb(p) FROM promotion p WHERE p.promo_id = p_promo_id);
BEGIN
    INSERT INTO outbox (id, topic, key, payload)
    SELECT n, 'inventory.ledger', key,
           jsonb_build_object('seq', n, 'key', key, 'stock', img, 'before', p_before -> sku,
                              'order', NULL, 'promotion', v_promo, 'cause', p_cause)
      FROM (SELECT nextval('outbox_id_seq') AS n, t.* FROM (
                SELECT s.sku, s.sku AS key, to_jsonb(s) AS img
                  FROM stock s WHERE s.sku = ANY (p_skus)
                UNION ALL
                SELECT NULL, 'promo:' || p_promo_id, NULL
                 WHERE NOT EXISTS (SELECT 1 FROM stock WHERE sku = ANY (p_skus))
                ORDER BY 2) t) r;
END $$;

-- ends_at: the timeout-worker ends every active promotion whose ends_at has
-- passed both the clock and p_watermark (event time, never early), at most
-- p_limit, each in the order stock row, promotion row. Returns how many.
CREATE OR REPLACE FUNCTION sf_promotions_due(p_watermark timestamptz, p_limit integer)
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    pr record;
    v_before jsonb;
    v_r text;
    v_n integer := 0;
BEGIN
    FOR pr IN SELECT promo_id, sku, ends_at FROM promotion
               WHERE state = 'active' AND ends_at <= least(clock_timestamp(), p_watermark)
               ORDER BY ends_at LIMIT p_limit LOOP
        PERFORM 1 FROM stock WHERE sku = pr.sku FOR UPDATE;
        PERFORM 1 FROM promotion WHERE promo_id = pr.promo_id FOR UPDATE;
        v_before := sf_stock_image(ARRAY[pr.sku]);
        v_r := sf_promotion_end(pr.promo_id, pr.ends_at, 'ends_at');
        IF v_r LIKE 'applied:%' THEN
            v_n := v_n + 1;
            PERFORM sf_promo_ledger(pr.promo_id, ARRAY[pr.sku], v_before,
                jsonb_build_object('event_id', 'promotion.expired:' || pr.promo_id,
                                   'type', 'promotion.expired', 'occurred_at', pr.ends_at,
                                   'outcome', v_r));
        END IF;
    END LOOP;
    RETURN v_n;
END $$;

-- 002's sf_expire_due; it also ends the promotions due (023). Returns holds
-- released + promotions ended.
CREATE OR REPLACE FUNCTION sf_expire_due(p_watermark timestamptz, p_limit integer)
RETURNS integer LANGUAGE plpgsql SET enable_seqscan = off AS $$
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
        RETURN sf_promotions_due(p_watermark, p_limit);     -- 023
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
    -- 023: holds first (their stock rows are locked), then the promotions
    RETURN cardinality(v_ids) + sf_promotions_due(p_watermark, p_limit);
END $$;

-- 020's sf_apply with the promotion events (023, marked): promotion.allocated
-- and promotion.ended, whose fields come in p_reason as JSON, as do an
-- order.created's promo_id; their ledger records carry the promotion.
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
                               'outcome', r));
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

-- ---- the set-based paths -----------------------------------------------------

-- 003's sf_fast_created, unchanged but for available: every
-- "on_hand - reserved - safety_stock" now also subtracts earmarked (023),
-- written out because s is a CTE row, not a stock row (and its image is
-- the ledger's, so it takes no extra column).
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
         WHERE l.qty > s.on_hand - s.reserved - s.safety_stock - s.earmarked),
    okk AS (SELECT ok.* FROM ok LEFT JOIN hope ON hope.pos = ok.pos WHERE hope.pos IS NULL),
    dem AS (
        SELECT l.sku, sum(l.qty) AS demand FROM l JOIN okk ON okk.pos = l.pos GROUP BY l.sku),
    av AS (
        SELECT s.sku, s.on_hand - s.reserved - s.safety_stock - s.earmarked AS avail,
               dem.demand > s.on_hand - s.reserved - s.safety_stock - s.earmarked AS contended
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

-- 004's sf_apply_rounds; promo orders' events go one by one (023, marked).
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
    v_n integer;            -- events in this round
    v_k integer;            -- of them decided so far
    v_settle boolean;       -- the round holds a type the settle/unknown paths take
    v_created boolean;      -- ... an order.created
    v_promo text[];         -- 023: orders of the batch holding earmarked units
    v_any_promo boolean;    -- 023: any order holds earmarked units at all
    r record;
BEGIN
    -- 023: one probe of a partial index that is empty without promotions
    v_any_promo := p_fast AND EXISTS (SELECT 1 FROM orders o
                                       WHERE o.order_id = ANY (p_order_id) AND o.promo_units > 0);
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
        -- 023: a promo order's events keep a type no set-based path takes
        -- (they go one by one through sf_apply, which moves its earmark):
        -- an order.created naming a promo_id (its promotion fields are in
        -- p_reason), and a settlement of an order holding earmarked units
        v_promo := CASE WHEN v_round = 1 AND NOT v_any_promo THEN '{}'::text[]
                        ELSE ARRAY(SELECT o.order_id FROM orders o
                                    WHERE o.order_id = ANY (p_order_id) AND o.promo_units > 0) END;
        v_t := ARRAY(SELECT CASE WHEN u.rk <> v_round THEN NULL
                                 WHEN u.t = 'order.created' AND u.promo IS NOT NULL
                                      OR u.oid = ANY (v_promo) THEN u.t || '/promo'
                                 ELSE u.t END
                       FROM unnest(p_type, v_rank, p_reason, p_order_id)
                            WITH ORDINALITY AS u(t, rk, promo, oid, ord)
                      ORDER BY u.ord);
        -- a path with nothing to take is not called: each one reads the whole
        -- batch before it filters (a flash sale's batches of creations spent
        -- a third of their time in the settle and one-by-one paths, for none)
        SELECT count(t), coalesce(bool_or(t IN ('payment.succeeded', 'payment.failed',
                                                'order.cancelled')), false),
               coalesce(bool_or(t = 'order.created'), false)
          INTO v_n, v_settle, v_created FROM unnest(v_t) t;
        v_k := 0;
        -- settlements first: they only ever make stock available (a release,
        -- or a deduction of units already held), never take it
        IF v_settle THEN
            FOR r IN
                SELECT f.pos, f.outcome FROM sf_fast_settle(v_t, p_event_id, p_ms, p_order_id,
                                                            p_topic, p_partition, p_offset) f
                UNION ALL
                SELECT f.pos, f.outcome FROM sf_fast_unknown(v_t, p_event_id, p_ms, p_order_id,
                                                             p_topic, p_partition, p_offset) f
            LOOP
                v_done[r.pos] := true;
                v_k := v_k + 1;
                pos := r.pos;
                outcome := r.outcome;
                RETURN NEXT;
            END LOOP;
        END IF;
        IF v_created THEN
            FOR r IN
                SELECT f.pos, f.outcome FROM sf_fast_created(v_t, p_event_id, p_ms, p_order_id,
                    p_hold, p_topic, p_partition, p_offset, p_line_ev, p_line_sku, p_line_qty,
                    p_default_hold) f
            LOOP
                v_done[r.pos] := true;
                v_k := v_k + 1;
                pos := r.pos;
                outcome := r.outcome;
                RETURN NEXT;
            END LOOP;
        END IF;
        -- the rest of the round, one by one
        IF v_k < v_n THEN
            FOR r IN SELECT * FROM sf_batch_rest(p_type, p_event_id, p_ms, p_order_id, p_sku,
                        p_qty, p_hold, p_reason, p_topic, p_partition, p_offset, p_line_ev,
                        p_line_sku, p_line_qty, p_default_hold, v_rank, v_round, v_done) LOOP
                v_done[r.pos] := true;
                pos := r.pos;
                outcome := r.outcome;
                RETURN NEXT;
            END LOOP;
        END IF;
        v_round := v_round + 1;
    END LOOP;
    IF NOT p_fast THEN
        RETURN QUERY SELECT * FROM sf_batch_rest(p_type, p_event_id, p_ms, p_order_id, p_sku,
            p_qty, p_hold, p_reason, p_topic, p_partition, p_offset, p_line_ev, p_line_sku,
            p_line_qty, p_default_hold, NULL, NULL, '{}');
    END IF;
END $$;

-- 005: the functions the workers call read tables by key only; CREATE OR
-- REPLACE reset the settings of those replaced here.
ALTER FUNCTION sf_fast_created(text[], text[], bigint[], text[], integer[], text[], integer[],
    bigint[], integer[], text[], bigint[], integer) SET enable_seqscan = off;

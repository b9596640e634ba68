-- stockflow 001: stock, orders, idempotency, outbox, contract views.
-- Applied by `stockctl migrate`; every statement is safe to run twice.

CREATE TABLE IF NOT EXISTS stock (
    sku             text PRIMARY KEY,
    on_hand         bigint NOT NULL DEFAULT 0 CHECK (on_hand >= 0),
    reserved        bigint NOT NULL DEFAULT 0 CHECK (reserved >= 0),
    safety_stock    bigint NOT NULL DEFAULT 0 CHECK (safety_stock >= 0),
    low_threshold   bigint NOT NULL DEFAULT 0 CHECK (low_threshold >= 0),
    hidden          boolean NOT NULL DEFAULT false,
    oversold        boolean NOT NULL DEFAULT false,
    received_total  bigint NOT NULL DEFAULT 0,
    adjusted_total  bigint NOT NULL DEFAULT 0,
    committed_total bigint NOT NULL DEFAULT 0,
    updated_at      timestamptz NOT NULL DEFAULT now(),
    -- DESIGN §5.1: reserved <= on_hand unless the SKU is flagged oversold.
    CONSTRAINT stock_reserved_within_on_hand CHECK (reserved <= on_hand OR oversold)
);

CREATE TABLE IF NOT EXISTS orders (
    order_id      text PRIMARY KEY,
    state         text NOT NULL CHECK (state IN ('reserved', 'rejected', 'committed', 'cancelled',
                      'payment_failed', 'expired', 'awaiting_order', 'refund_required')),
    created       boolean NOT NULL DEFAULT false,  -- order.created has been applied
    created_at    timestamptz,                     -- occurred_at of order.created
    hold_seconds  integer,
    expires_at    timestamptz,
    cancelled_at  timestamptz,  -- earliest cancellation seen (occurred_at)
    paid_at       timestamptz,  -- earliest payment.succeeded (occurred_at)
    last_paid_at  timestamptz,  -- latest payment.succeeded (occurred_at)
    failed_at     timestamptz,  -- latest payment.failed seen (occurred_at)
    rejected      boolean NOT NULL DEFAULT false, -- no stock when it was created
    expired       boolean NOT NULL DEFAULT false, -- released by the timeout worker
    updated_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS orders_held_expiry ON orders (expires_at) WHERE state = 'reserved';

-- Lines of an order, duplicate SKUs summed.
CREATE TABLE IF NOT EXISTS order_lines (
    order_id text NOT NULL REFERENCES orders (order_id),
    sku      text NOT NULL,
    qty      bigint NOT NULL CHECK (qty > 0),
    PRIMARY KEY (order_id, sku)
);
CREATE INDEX IF NOT EXISTS order_lines_sku ON order_lines (sku);

-- Idempotency: one row per applied input event, written in the same
-- transaction as its effect (DESIGN §4, §5.3).
CREATE TABLE IF NOT EXISTS processed_events (
    event_id     text PRIMARY KEY,
    type         text NOT NULL,
    order_id     text,
    sku          text,
    topic        text NOT NULL,
    partition    integer NOT NULL,
    "offset"     bigint NOT NULL,
    occurred_at  timestamptz NOT NULL,
    outcome      text NOT NULL CHECK (outcome IN ('applied', 'ignored')),
    detail       text NOT NULL DEFAULT '',
    processed_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS processed_events_order ON processed_events (order_id) WHERE order_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS processed_events_sku ON processed_events (sku) WHERE sku IS NOT NULL;

-- Transactional outbox: alerts and ledger records written with the change
-- that caused them; a relay publishes them in id order.
CREATE TABLE IF NOT EXISTS outbox (
    id           bigserial PRIMARY KEY,
    topic        text NOT NULL,
    key          text NOT NULL,
    payload      jsonb NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    published_at timestamptz
);
CREATE INDEX IF NOT EXISTS outbox_unpublished ON outbox (id) WHERE published_at IS NULL;

-- How far each payment consumer has read, in event time (Kafka timestamps):
-- every record of that partition produced at or before `watermark` has been
-- applied. The timeout worker never releases a hold past the smallest one.
CREATE TABLE IF NOT EXISTS consumer_watermarks (
    group_id   text NOT NULL,
    topic      text NOT NULL,
    partition  integer NOT NULL,
    watermark  timestamptz NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (group_id, topic, partition)
);

CREATE OR REPLACE VIEW stock_levels AS
SELECT sku, on_hand, reserved, safety_stock,
       greatest(on_hand - reserved - safety_stock, 0) AS available,
       CASE WHEN oversold THEN 'oversold'
            WHEN hidden THEN 'hidden'
            WHEN on_hand - reserved - safety_stock <= low_threshold THEN 'low'
            ELSE 'ok' END AS status
  FROM stock;

CREATE OR REPLACE VIEW order_status AS
SELECT order_id, state, expires_at, updated_at FROM orders;

-- DESIGN §5.1 and §5.2, one row per offending SKU (empty when all hold).
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
  FROM held h WHERE NOT EXISTS (SELECT 1 FROM stock s WHERE s.sku = h.sku);

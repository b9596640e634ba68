-- stockflow 008: the payment watermark never passes a payment sent to retry,
-- nor the present.
--
-- A partition's watermark (001) says every record of it stamped at or before
-- it has been applied. A payment that fails transiently goes to
-- inventory.payments.retry.<n> and waits there for seconds to minutes while
-- the records after it are applied and advanced the watermark past it: the
-- timeout worker then released its hold (expired), and the payment, applied
-- later, had to reserve again or end refund_required. And a single record
-- stamped in the future (a producer's clock in 2100) moved the watermark
-- there for good (it never moves back): every hold could expire while its
-- payment was still unread.
--
-- A payment routed to a retry topic now pins its source partition: a row of
-- watermark_pins, keyed by its source position, written before the retry
-- record is produced. The partition's effective watermark stays below the
-- oldest pin until the record is applied (from a retry topic, or read again
-- from its source) or dead-lettered: a dead letter never applies, so it stops
-- pinning (its fate is the DLQ alert and a redrive, which is a new record).
-- Timestamps later than now are taken as now, when a watermark advances and
-- when a pin is written.

CREATE TABLE IF NOT EXISTS watermark_pins (
    group_id   text NOT NULL,
    topic      text NOT NULL,     -- the source topic (inventory.payments)
    partition  integer NOT NULL,  -- and position of the record retried
    "offset"   bigint NOT NULL,
    pinned_at  timestamptz NOT NULL, -- its record timestamp (at most now)
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (group_id, topic, partition, "offset")
);

-- The oldest pin of a partition, less 1 ms (the watermark stays below it);
-- NULL when nothing pins it.
CREATE OR REPLACE FUNCTION sf_watermark_pin_floor(p_group text, p_topic text, p_partition integer)
RETURNS timestamptz LANGUAGE sql STABLE AS $$
    SELECT min(pinned_at) - interval '1 millisecond'
      FROM watermark_pins
     WHERE group_id = p_group AND topic = p_topic AND partition = p_partition
$$;

-- Advances a partition's watermark (never moves it back), to at most now
-- and to below its oldest pin.
CREATE OR REPLACE FUNCTION sf_watermark(p_group text, p_topic text, p_partition integer,
                                        p_ms bigint)
RETURNS void LANGUAGE sql AS $$
    INSERT INTO consumer_watermarks AS w (group_id, topic, partition, watermark)
    VALUES (p_group, p_topic, p_partition,
            least(to_timestamp(p_ms / 1000.0), clock_timestamp(),
                  sf_watermark_pin_floor(p_group, p_topic, p_partition)))
    ON CONFLICT (group_id, topic, partition) DO UPDATE
       SET watermark = greatest(w.watermark, EXCLUDED.watermark), updated_at = now();
$$;

-- The smallest payment watermark over p_partitions partitions of p_topic
-- (NULL when a partition has none yet: nothing may expire), each below the
-- oldest pin of its partition.
CREATE OR REPLACE FUNCTION sf_payment_watermark(p_group text, p_topic text, p_partitions integer)
RETURNS timestamptz LANGUAGE sql STABLE AS $$
    SELECT CASE WHEN count(*) = p_partitions
                THEN min(least(watermark, sf_watermark_pin_floor(group_id, topic, partition))) END
      FROM consumer_watermarks
     WHERE group_id = p_group AND topic = p_topic AND partition < p_partitions
$$;

-- One call per batch step of a payment consumer: pins the source positions
-- p_pin_* (records about to be written to a retry topic; stamped p_pin_ms,
-- taken as now when later), removes the pins p_unpin_* (records applied or
-- dead-lettered), then advances the watermarks p_mark_* (sf_watermark).
CREATE OR REPLACE FUNCTION sf_watermarks(p_group text,
    p_pin_topic text[], p_pin_partition integer[], p_pin_offset bigint[], p_pin_ms bigint[],
    p_unpin_topic text[], p_unpin_partition integer[], p_unpin_offset bigint[],
    p_mark_topic text[], p_mark_partition integer[], p_mark_ms bigint[])
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO watermark_pins (group_id, topic, partition, "offset", pinned_at)
    SELECT p_group, t, p, o, least(to_timestamp(ms / 1000.0), clock_timestamp())
      FROM unnest(p_pin_topic, p_pin_partition, p_pin_offset, p_pin_ms) AS u(t, p, o, ms)
    ON CONFLICT DO NOTHING;
    IF cardinality(p_unpin_topic) > 0
       AND EXISTS (SELECT 1 FROM watermark_pins WHERE group_id = p_group) THEN
        DELETE FROM watermark_pins w
         USING unnest(p_unpin_topic, p_unpin_partition, p_unpin_offset) AS u(t, p, o)
         WHERE w.group_id = p_group AND w.topic = u.t AND w.partition = u.p AND w."offset" = u.o;
    END IF;
    PERFORM sf_watermark(p_group, t, p, ms)
       FROM unnest(p_mark_topic, p_mark_partition, p_mark_ms) AS u(t, p, ms);
END $$;

-- A watermark a future-stamped record already moved past the present comes
-- back to now (it could only ever have been wrong).
UPDATE consumer_watermarks SET watermark = now(), updated_at = now()
 WHERE watermark > now() + interval '1 minute';

-- stockflow 004: sf_apply_rounds (003) calls a path only when the round
-- holds an event it can take.
--
-- Each set-based path (sf_fast_settle, sf_fast_unknown, sf_fast_created) and
-- sf_batch_rest reads the whole batch (window counts, index probes, the lines)
-- before it filters by type or state; a path with nothing to take returned
-- nothing but cost as much as one that decides hundreds of events (a flash
-- sale's batch of 1,000 creations: 11 ms in sf_fast_settle and 7.5 ms in
-- sf_batch_rest, of 62 ms). The outcome of a call that is skipped was the
-- empty set, so every event still gets what 003 gave it.

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
    v_n integer;            -- events in this round
    v_k integer;            -- of them decided so far
    v_settle boolean;       -- the round holds a type the settle/unknown paths take
    v_created boolean;      -- ... an order.created
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

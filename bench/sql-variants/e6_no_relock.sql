-- E6 (measure only): sf_lines_fit without its FOR UPDATE. Every sf_apply
-- runs in a subtransaction (its EXCEPTION block); locking a row that an
-- earlier subtransaction of the same transaction (or sf_lock_batch) already
-- locked makes PostgreSQL create a MultiXact holding every such locker, so on
-- a hot SKU each event copies a member list that grows with the batch:
-- quadratic. The batch already holds these locks (sf_lock_batch); the
-- timeout worker's sf_expire_due locks its stock rows first too.
CREATE OR REPLACE FUNCTION sf_lines_fit(p_order_id text, p_need text)
RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
    v_lines integer;
    v_ok integer;
BEGIN
    SELECT count(*),
           count(*) FILTER (WHERE CASE p_need
                WHEN 'reserve' THEN s.on_hand - s.reserved - s.safety_stock >= l.qty
                ELSE s.on_hand >= l.qty END)
      INTO v_lines, v_ok
      FROM order_lines l LEFT JOIN stock s USING (sku)
     WHERE l.order_id = p_order_id;
    RETURN v_lines > 0 AND v_ok = v_lines;
END $$;

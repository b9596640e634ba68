-- E4: sf_lock_batch's stock lock without the OR (index probes instead of a seq scan of stock)
CREATE OR REPLACE FUNCTION sf_lock_batch(p_order_ids text[], p_skus text[])
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    PERFORM 1 FROM orders WHERE order_id = ANY (p_order_ids) ORDER BY order_id FOR UPDATE;
    PERFORM 1 FROM stock
      WHERE sku IN (SELECT unnest(p_skus)
                    UNION SELECT l.sku FROM order_lines l WHERE l.order_id = ANY (p_order_ids))
      ORDER BY sku FOR UPDATE;
END $$;

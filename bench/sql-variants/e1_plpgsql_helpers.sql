-- E1: sf_touched and sf_stock_image as PL/pgSQL: their plans are cached per session instead
-- of being parsed and planned on every call (LANGUAGE sql functions that cannot be inlined).
CREATE OR REPLACE FUNCTION sf_touched(p_order_id text, p_sku text, p_skus text[])
RETURNS text[] LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN (SELECT coalesce(array_agg(DISTINCT sku ORDER BY sku), '{}') FROM (
        SELECT p_sku AS sku WHERE p_sku IS NOT NULL
        UNION ALL SELECT unnest(p_skus)
        UNION ALL SELECT sku FROM order_lines WHERE order_id = p_order_id) t);
END $$;
CREATE OR REPLACE FUNCTION sf_stock_image(p_skus text[])
RETURNS jsonb LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN (SELECT coalesce(jsonb_object_agg(sku, jsonb_build_object('on_hand', on_hand,
                                                             'reserved', reserved)), '{}')
      FROM stock WHERE sku = ANY (p_skus));
END $$;

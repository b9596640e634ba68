-- E3: measure only: the ledger write removed
CREATE OR REPLACE FUNCTION sf_ledger(p_order_id text, p_skus text[], p_before jsonb, p_cause jsonb)
RETURNS void LANGUAGE plpgsql AS $$ BEGIN RETURN; END $$;

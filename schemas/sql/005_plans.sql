-- stockflow 005: the apply functions read tables by key only, whatever the
-- statistics say.
--
-- Every statement of the apply path reads orders, order_lines,
-- processed_events and stock by the batch's keys (= ANY over the batch's
-- order ids, event ids or SKUs: at most BATCH_MAX keys), so an index probe is
-- always the right plan. The planner did not always see it: the set-based
-- paths use one generic plan per session (force_generic_plan), made on the
-- first batch from the statistics of that moment. On a new database there are
-- none (an empty table is costed as 10 pages), so the generic plans read
-- orders, order_lines and processed_events sequentially, and kept doing so
-- batch after batch for the life of the session while the tables grew by
-- 1,000 rows a batch (a flash sale of 100,000 orders on a fresh database:
-- 67-73 s, against 6.7-8.4 s after a warm-up and VACUUM ANALYZE). The custom
-- plans of sf_lock_batch chose sequential scans of orders, order_lines and
-- stock too, as soon as a batch named a tenth of a small table's rows.
--
-- enable_seqscan = off on the functions the workers call makes every such
-- read an index scan from the first batch on, on an empty database as on a
-- full one: a plan no longer depends on statistics. It is inherited by what
-- they call (sf_apply and the rules of 002 plan their statements inside
-- sf_apply_batch), and it only ever removes sequential scans where an index
-- serves the condition. t_fresh_plans checks it: on a fresh database the
-- workers' batches leave pg_stat_user_tables.seq_scan of those tables where it
-- was, and the plans of a batch name no Seq Scan on them.
--
-- A later migration that replaces one of these functions (CREATE OR REPLACE
-- resets its SET clauses) must carry the setting over.

ALTER FUNCTION sf_lock_batch(text[], text[], text[]) SET enable_seqscan = off;
ALTER FUNCTION sf_apply_batch(text[], text[], bigint[], text[], text[], bigint[], integer[],
    text[], text[], integer[], bigint[], integer[], text[], bigint[], integer, boolean)
    SET enable_seqscan = off;
ALTER FUNCTION sf_fast_created(text[], text[], bigint[], text[], integer[], text[], integer[],
    bigint[], integer[], text[], bigint[], integer) SET enable_seqscan = off;
ALTER FUNCTION sf_fast_settle(text[], text[], bigint[], text[], text[], integer[], bigint[])
    SET enable_seqscan = off;
ALTER FUNCTION sf_fast_unknown(text[], text[], bigint[], text[], text[], integer[], bigint[])
    SET enable_seqscan = off;
ALTER FUNCTION sf_apply(text, text, bigint, text, text, bigint, integer, text[], bigint[], text,
    text, integer, bigint, integer) SET enable_seqscan = off;
ALTER FUNCTION sf_expire_due(timestamptz, integer) SET enable_seqscan = off;

-- stockflow: the workers' database role (least privilege, issue 15).
--
-- Run by `stockctl migrate` after the numbered migrations, every time (so
-- the tables and functions later migrations add are covered), in one
-- transaction, with the role's name in the setting stockflow.worker_role
-- (default stockflow_worker, `stockctl migrate --worker-role NAME`). Not a
-- numbered migration: it is not recorded in schema_migrations.
--
-- The role is NOLOGIN: an operator creates the login user the workers
-- connect as inside it (docs/operations.md §8a). What it may do, in the
-- schema the migrations ran in and nowhere else:
--   tables      SELECT, INSERT, UPDATE (the apply functions run as the
--               caller, SECURITY INVOKER, so they need the table rights);
--               DELETE only on the tables in may_delete (the relay's purge,
--               the payment watermark's pins); no TRUNCATE, REFERENCES
--               or TRIGGER; nothing on schema_migrations
--   views       SELECT
--   sequences   USAGE, SELECT (nextval of the outbox ids)
--   functions   EXECUTE
--   schema      USAGE; no CREATE (PUBLIC's CREATE on it is revoked too)
-- It owns nothing, so it cannot ALTER or DROP anything either. Every run
-- revokes what the role holds first, so a privilege granted by hand is taken
-- away again. A worker statement a new migration adds that needs more (a
-- DELETE from another table) belongs in the lists below; t_worker_role
-- checks them against the SQL and C sources.
DO $grants$
DECLARE
    r text := current_setting('stockflow.worker_role');
    s text := current_schema();
    may_delete text[] := ARRAY['outbox', 'outbox_relay_holes', 'watermark_pins'];
    no_access text[] := ARRAY['schema_migrations'];
    t record;
BEGIN
    IF r IS NULL OR r = '' THEN
        RAISE EXCEPTION 'stockflow.worker_role is not set';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r) THEN
        BEGIN
            EXECUTE format('CREATE ROLE %I NOLOGIN', r);
        EXCEPTION WHEN duplicate_object OR unique_violation THEN
            NULL; -- another database of the cluster created it meanwhile
        END;
    END IF;
    IF r = current_user THEN
        RAISE EXCEPTION 'the workers'' role "%" is the role running the migrations: pick another name', r;
    END IF;
    IF (SELECT rolsuper OR rolbypassrls FROM pg_roles WHERE rolname = r) THEN
        RAISE EXCEPTION 'the workers'' role "%" is a superuser or bypasses row security', r;
    END IF;
    SELECT c.relname, c.relowner::regrole AS owner INTO t
      FROM pg_class c
     WHERE c.relnamespace = s::regnamespace AND pg_has_role(r, c.relowner, 'USAGE')
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'the workers'' role "%" owns (or inherits the rights of %, owner of) "%": it must own nothing in schema %',
            r, t.owner, t.relname, s;
    END IF;

    EXECUTE format('REVOKE ALL ON ALL TABLES IN SCHEMA %I FROM %I', s, r);
    EXECUTE format('REVOKE ALL ON ALL SEQUENCES IN SCHEMA %I FROM %I', s, r);
    EXECUTE format('REVOKE ALL ON SCHEMA %I FROM %I', s, r);
    EXECUTE format('GRANT USAGE ON SCHEMA %I TO %I', s, r);
    IF EXISTS (SELECT 1 FROM pg_namespace n, aclexplode(n.nspacl) a
                WHERE n.nspname = s AND a.grantee = 0 AND a.privilege_type = 'CREATE') THEN
        EXECUTE format('REVOKE CREATE ON SCHEMA %I FROM PUBLIC', s);
    END IF;
    FOR t IN SELECT c.relname, c.relkind FROM pg_class c
              WHERE c.relnamespace = s::regnamespace AND c.relkind IN ('r', 'p', 'v', 'm', 'S')
                AND c.relname <> ALL (no_access)
    LOOP
        IF t.relkind = 'S' THEN
            EXECUTE format('GRANT USAGE, SELECT ON SEQUENCE %I.%I TO %I', s, t.relname, r);
        ELSIF t.relkind IN ('v', 'm') THEN
            EXECUTE format('GRANT SELECT ON %I.%I TO %I', s, t.relname, r);
        ELSIF t.relname = ANY (may_delete) THEN
            EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON %I.%I TO %I', s, t.relname, r);
        ELSE
            EXECUTE format('GRANT SELECT, INSERT, UPDATE ON %I.%I TO %I', s, t.relname, r);
        END IF;
    END LOOP;
    EXECUTE format('GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA %I TO %I', s, r);
END
$grants$;

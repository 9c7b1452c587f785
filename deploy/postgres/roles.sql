-- The study's two database roles (docs/security.md, "Database roles").
--
--   owner  owns the database, its public schema and every table, sequence and function in it:
--          it runs the migrations (`manage.py migrate --database owner`), backups and restores.
--   app    the application's connection (DATABASE_URL). It owns nothing, so it cannot alter or drop
--          a table or switch a trigger off; it is no superuser, so it cannot set
--          session_replication_role. Migration trials/0016_database_roles, run by the owner, grants
--          it SELECT, INSERT, UPDATE and DELETE on the tables (never TRUNCATE).
--
-- Run by a superuser, connected to the study's database, with psql:
--   psql -v ON_ERROR_STOP=1 -d pvp_edc -v owner=pvp_owner -v app=pvp_app \
--        -v owner_password='...' -v app_password='...' -f deploy/postgres/roles.sql
-- Idempotent. Without a password variable the role keeps its password (the embedded server trusts its
-- private socket). A database that already holds the tables of a version before the split (made by
-- another role) is handed to the owner with everything in its public schema.

SELECT format('CREATE ROLE %I', :'owner') WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'owner') \gexec
SELECT format('CREATE ROLE %I', :'app') WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'app') \gexec
ALTER ROLE :"owner" LOGIN NOSUPERUSER NOCREATEROLE NOREPLICATION NOBYPASSRLS;
ALTER ROLE :"app" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS;
\if :{?owner_password}
ALTER ROLE :"owner" PASSWORD :'owner_password';
\endif
\if :{?app_password}
ALTER ROLE :"app" PASSWORD :'app_password';
\endif

ALTER DATABASE :"DBNAME" OWNER TO :"owner";
ALTER SCHEMA public OWNER TO :"owner";

-- Only the two roles connect. Nobody but the owner makes temporary tables: a session's temporary
-- table is looked up before the schema's table of the same name, so an empty trials_patientlock
-- of its own would unlock every record for that session's triggers.
REVOKE ALL ON DATABASE :"DBNAME" FROM PUBLIC;
GRANT CONNECT ON DATABASE :"DBNAME" TO :"app";
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO :"app";

-- Tables, views, sequences and functions made before the split go to the owner (a table's own
-- sequences move with it; members of an extension stay with the extension).
SELECT format('ALTER TABLE %s OWNER TO %I', c.oid::regclass, :'owner')
FROM pg_class c
WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
  AND c.relowner <> :'owner'::regrole
  AND NOT EXISTS (SELECT FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
\gexec
SELECT format('ALTER SEQUENCE %s OWNER TO %I', c.oid::regclass, :'owner')
FROM pg_class c
WHERE c.relnamespace = 'public'::regnamespace AND c.relkind = 'S' AND c.relowner <> :'owner'::regrole
  AND NOT EXISTS (SELECT FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
\gexec
SELECT format('ALTER ROUTINE %s OWNER TO %I', p.oid::regprocedure, :'owner')
FROM pg_proc p
WHERE p.pronamespace = 'public'::regnamespace AND p.proowner <> :'owner'::regrole
  AND NOT EXISTS (SELECT FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e')
\gexec

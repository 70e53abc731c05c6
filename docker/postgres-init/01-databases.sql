-- Runs once, when the Postgres volume is first initialised (docker-entrypoint-initdb.d), as the superuser
-- POSTGRES_USER (the warehouse owner, WAREHOUSE_URL's user), connected to POSTGRES_DB (`warehouse`).
--
-- One server, two databases: `warehouse` (created by the image from POSTGRES_DB) and `airflow`, Airflow's
-- metadata database and Celery result backend, owned by its own login role so Airflow cannot touch the
-- warehouse. The role's password comes from the container's AIRFLOW_DB_PASSWORD (psql's \getenv; the
-- script stops with an error if it is not set).
\set ON_ERROR_STOP on
\getenv airflow_db_password AIRFLOW_DB_PASSWORD

CREATE ROLE airflow WITH LOGIN PASSWORD :'airflow_db_password' NOSUPERUSER NOCREATEDB NOCREATEROLE;
CREATE DATABASE airflow OWNER airflow;

-- Nobody connects to a database unless granted: Airflow only to its own, analysts only to `warehouse`
-- (cspwh.bootstrap grants the analyst role CONNECT on it and SELECT on the marts).
REVOKE ALL ON DATABASE airflow FROM PUBLIC;
REVOKE ALL ON DATABASE warehouse FROM PUBLIC;

"""Raw -> published marts, once a night: the dbt build into a fresh schema, the consistency gate (GX), publish
(write, audit, publish). `nightly` holds the steps the warehouse DAG calls. Imports `catalogue` and `db`."""

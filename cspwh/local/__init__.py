"""One machine's harness, never imported by a stage (only by `cli` and the tests): the embedded Postgres, the demo,
in-process DAG runs, the Sentinel API stand-in, and the launcher of the real Airflow components."""

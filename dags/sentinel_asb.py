"""Airflow DAG: Sentinel ASB cases: API pull (incremental) -> landing -> file gate -> raw (pseudonymised), then
alerts."""

from common.feed_dag import feed_dag

sentinel_asb_dag = feed_dag(
    "sentinel_asb",
    "Pull the Sentinel cases changed since the last pull, then land and load",
    tags=["asb", "councils"],
    pull=True,
)

"""Airflow DAG: Police Storm ASB nightly extract: drop folder -> landing -> file gate -> raw (pseudonymised), then
alerts."""

from common.feed_dag import feed_dag

storm_asb_dag = feed_dag(
    "storm_asb", "Land, gate and load the force's nightly Storm ASB extract", tags=["asb", "police"]
)

"""Airflow DAG: police.uk street-level files: drop folder -> landing -> file gate -> raw, then alerts."""

from common.feed_dag import feed_dag

police_uk_dag = feed_dag(
    "police_uk", "Land, gate and load the data.police.uk street-level files in the drop folder", tags=["crime", "asb"]
)

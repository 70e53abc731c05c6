"""Airflow DAG: UAVA quarterly performance return (xlsx, v1 or v2 layout detected from the headers): drop folder ->
landing -> file gate -> raw, then alerts."""

from common.feed_dag import feed_dag

uava_return_dag = feed_dag(
    "uava_return", "Land, gate and load the domestic abuse service's quarterly return", tags=["domestic_abuse", "uava"]
)

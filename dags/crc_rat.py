"""Airflow DAG: probation CRC reoffending analysis tool cohorts (quarterly CSV, indicative): drop folder -> landing ->
file gate -> raw, then alerts."""

from common.feed_dag import feed_dag

crc_rat_dag = feed_dag(
    "crc_rat", "Land, gate and load the probation RAT terminated cohort", tags=["offending", "probation"]
)

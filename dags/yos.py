"""Airflow DAG: Youth Offending Service exports (first-time entrants, reoffending cohort, ETE at closure; children's
records pseudonymised at landing): drop folder -> landing -> file gate -> raw, then alerts."""

from common.feed_dag import feed_dag

yos_dag = feed_dag("yos", "Land, gate and load the YOS monthly exports", tags=["offending", "yos"])

"""Airflow DAG: MARAC cases heard (monthly CSV, victim and perpetrator pseudonymised at landing): drop folder ->
landing -> file gate -> raw, then alerts."""

from common.feed_dag import feed_dag

marac_dag = feed_dag("marac", "Land, gate and load the MARAC manager's monthly cases", tags=["domestic_abuse", "marac"])

"""The nightly warehouse: dbt build into a fresh build schema -> consistency gate -> publish into `marts`."""
from __future__ import annotations

import datetime as dt

from airflow.sdk import dag, task

from common.defaults import DEFAULT_ARGS, START, raw_asset


@dag(
    dag_id="nightly_warehouse",
    description="Rebuild the marts from raw, check them, and publish only what passed",
    # any feed's new rows trigger a rebuild; one run covers all that arrived
    schedule=(raw_asset("police_uk") | raw_asset("storm_asb") | raw_asset("sentinel_asb") | raw_asset("uava_return")
              | raw_asset("marac") | raw_asset("yos") | raw_asset("crc_rat")),
    start_date=START,
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["warehouse", "dbt", "publish"],
)
def nightly_warehouse():
    @task
    def build(run_id: str | None = None) -> str:
        """A model or test that fails fails the night at once; only a failure to run dbt (a lost connection) is
        retried. One build at a time: a second waits for the first (warehouse.build_lock)."""
        from airflow.sdk.exceptions import AirflowFailException

        from cspwh import dbt_runner, warehouse

        try:
            return warehouse.build(warehouse.new_build_schema(), run_id)
        except dbt_runner.NodesFailed as exc:
            raise AirflowFailException(str(exc)) from exc

    @task(retries=0)
    def consistency_gate(build_schema: str, run_id: str | None = None) -> str:
        """A blocking failure fails this task (no retry: the data will not change) and publish never runs."""
        from airflow.sdk.exceptions import AirflowFailException

        from cspwh import warehouse

        try:
            warehouse.gate(build_schema, run_id or build_schema)
        except warehouse.BlockedByGate as exc:
            raise AirflowFailException(str(exc)) from exc
        return build_schema

    @task
    def publish(build_schema: str, run_id: str | None = None) -> dict:
        """A build older than the one published meanwhile is not published (the marts never go back in time)."""
        from airflow.sdk.exceptions import AirflowSkipException

        from cspwh import publish as publishing, warehouse

        try:
            return warehouse.publish_build(build_schema, run_id or build_schema)
        except publishing.Superseded as exc:
            publishing.record_build(build_schema, "superseded")
            raise AirflowSkipException(str(exc)) from exc

    # no Airflow retry: an undelivered digest stays in the outbox and every later alert task of any DAG sends it;
    # the failed task is what tells the operator delivery is failing
    @task(trigger_rule="all_done", retries=0, execution_timeout=dt.timedelta(minutes=15))
    def alert(run_id: str | None = None) -> int:
        """Digests for the consistency gate's failures, whether or not the night was published."""
        from cspwh import alerts

        return len(alerts.dispatch(run_id or "manual"))

    checked = consistency_gate(build())
    publish(checked)
    checked >> alert()


nightly_warehouse_dag = nightly_warehouse()

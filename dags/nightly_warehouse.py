"""The nightly warehouse: wait for the night's feeds -> dbt build into a fresh build schema -> consistency gate ->
publish into `marts`, at most once a night."""

from __future__ import annotations

import datetime as dt
import logging
import os

from airflow.sdk import dag, get_current_context, task
from common.defaults import DEFAULT_ARGS, START, raw_asset
from common.run_end import alert_task

from cspwh.catalogue import night

FEEDS = sorted(night.config().feeds)
# CSPWH_FEEDS_POKE_SECONDS: how often the night's run looks again for feeds still due, 60 s unless an operator sets it
FEEDS_POKE_SECONDS = float(os.environ.get("CSPWH_FEEDS_POKE_SECONDS") or 60)
log = logging.getLogger("cspwh.dags.nightly_warehouse")


@dag(
    dag_id="nightly_warehouse",
    description="Once the night's feeds are in, rebuild the marts from raw, check them, and publish what passed",
    # the first feed that loads something starts the night's run, which then waits for the others (wait_for_feeds);
    # a feed run that loaded nothing sends no event
    schedule=(
        raw_asset("police_uk")
        | raw_asset("storm_asb")
        | raw_asset("sentinel_asb")
        | raw_asset("uava_return")
        | raw_asset("marac")
        | raw_asset("yos")
        | raw_asset("crc_rat")
    ),
    start_date=START,
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["warehouse", "dbt", "publish"],
)
def nightly_warehouse():
    # reschedule: the wait holds no worker slot; the night's cut-off ends it long before the timeout
    @task.sensor(
        poke_interval=FEEDS_POKE_SECONDS,
        timeout=dt.timedelta(hours=20).total_seconds(),
        mode="reschedule",
        execution_timeout=dt.timedelta(minutes=5),
        retries=0,
    )
    def wait_for_feeds():
        """Until every feed due tonight has run (or the cut-off): one build a night, not one per feed. A run an
        operator triggers by hand (nightly_warehouse itself, or feeds by hand) is asking for a build now."""
        from airflow.sdk import PokeReturnValue

        from cspwh.db import audit

        context = get_current_context()
        plan = _plan(context)
        if not plan["from_feeds"]:
            return PokeReturnValue(is_done=True, xcom_value=plan)
        tonight = dt.date.fromisoformat(plan["night"])
        ti = context["ti"]
        active = {feed: ti.get_dr_count(dag_id=feed, states=["queued", "running"]) for feed in FEEDS}
        finished, last_end = audit.feeds_ended(tonight)
        reasons = night.still_waiting(tonight, dt.datetime.now(dt.UTC), active, finished, plan["scheduled"], last_end)
        if reasons:
            log.info("the night of %s is not in yet: %s", tonight, "; ".join(reasons))
        return PokeReturnValue(is_done=not reasons, xcom_value=plan)

    @task
    def build(plan: dict, run_id: str | None = None) -> str:
        """A model or test that fails fails the night at once; only a failure to run dbt (a lost connection) is
        retried. One build at a time: a second waits for the first (nightly.build_lock)."""
        from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

        from cspwh.warehouse import dbt_runner, nightly

        reason = nightly.no_build_needed(dt.date.fromisoformat(plan["night"]), plan["force"], plan["from_feeds"])
        if reason:
            raise AirflowSkipException(reason)
        try:
            return nightly.build(nightly.new_build_schema(), run_id)
        except dbt_runner.NodesFailed as exc:
            raise AirflowFailException(str(exc)) from exc

    @task(retries=0)
    def consistency_gate(build_schema: str, run_id: str | None = None) -> str:
        """A blocking failure fails this task (no retry: the data will not change) and publish never runs."""
        from airflow.sdk.exceptions import AirflowFailException

        from cspwh.warehouse import nightly

        try:
            nightly.gate(build_schema, run_id or build_schema)
        except nightly.BlockedByGate as exc:
            raise AirflowFailException(str(exc)) from exc
        return build_schema

    @task
    def publish(build_schema: str, plan: dict, run_id: str | None = None) -> dict:
        """A build older than the one published meanwhile is not published (the marts never go back in time), nor
        a second one the same night unless forced."""
        from airflow.sdk.exceptions import AirflowSkipException

        from cspwh.warehouse import nightly
        from cspwh.warehouse import publish as publishing

        try:
            return nightly.publish_build(
                build_schema, run_id or build_schema, dt.date.fromisoformat(plan["night"]), plan["force"]
            )
        except (publishing.Superseded, publishing.AlreadyPublishedTonight) as exc:
            publishing.record_build(build_schema, "superseded")
            raise AirflowSkipException(str(exc)) from exc

    plan = wait_for_feeds()
    checked = consistency_gate(build(plan))
    publish(checked, plan)
    checked >> alert_task()


def _plan(context) -> dict:
    """Which night this run builds, whether the feeds' schedule set it off, and whether it may publish a second
    time that night (an operator asked: a manual run, or conf {"force": true})."""
    dag_run = context["dag_run"]
    extras = [
        event.extra or {} for events in (context.get("triggering_asset_events") or {}).values() for event in events
    ]
    nights = sorted(e["night"] for e in extras if e.get("night"))
    moment = getattr(dag_run, "run_after", None) or dt.datetime.now(dt.UTC)
    from_feeds = bool(extras) or str(getattr(dag_run, "run_type", "")).endswith("asset_triggered")
    conf = getattr(dag_run, "conf", None) or {}
    return {
        "night": nights[-1] if nights else night.config().night_of(moment).isoformat(),
        "from_feeds": from_feeds,
        "scheduled": any(e.get("scheduled") for e in extras),
        # a run triggered by hand, or set off by feeds an operator triggered by hand, was asked for: it may
        # publish again the same night
        "force": bool(conf.get("force")) or not from_feeds or not any(e.get("scheduled") for e in extras),
    }


nightly_warehouse_dag = nightly_warehouse()

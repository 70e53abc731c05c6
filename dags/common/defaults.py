"""Defaults every DAG shares: owner, retries, failure callback, tags. Light imports only (parsed every loop)."""

from __future__ import annotations

import datetime as dt
import logging
import os

from airflow.sdk import Asset

log = logging.getLogger("cspwh.dags")

START = dt.datetime(2020, 5, 1, tzinfo=dt.UTC)


def raw_asset(feed: str) -> Asset:
    """The Asset a feed's DAG updates when it loads rows into raw; the warehouse DAG is scheduled on them."""
    return Asset(name=f"raw.{feed}", uri=f"postgres://warehouse/warehouse/raw/{feed}")


def on_failure(context) -> None:
    """Record the failure in the warehouse audit schema so the run's summary and alerts can report it."""
    ti = context.get("ti") or context.get("task_instance")
    if getattr(ti, "task_id", None) == "outcome":  # it fails the run for a failure already recorded
        return
    exception = context.get("exception")
    log.error(
        "task failed: dag=%s task=%s run=%s: %s",
        getattr(ti, "dag_id", "?"),
        getattr(ti, "task_id", "?"),
        context.get("run_id"),
        exception,
    )
    try:
        from cspwh.db import audit

        audit.record_task_failure(
            getattr(ti, "dag_id", "?"), getattr(ti, "task_id", "?"), str(context.get("run_id")), str(exception)
        )
    except Exception:  # the callback must never hide the original failure
        log.exception("could not record the task failure")


DEFAULT_ARGS = {
    "owner": "data-platform",
    "retries": 2,
    # CSPWH_TASK_RETRY_DELAY_SECONDS: the first retry's delay (doubling after), 300 s unless an operator sets it
    "retry_delay": dt.timedelta(seconds=float(os.environ.get("CSPWH_TASK_RETRY_DELAY_SECONDS") or 300)),
    "retry_exponential_backoff": True,
    # no task may run unbounded (a stuck server, a lock never released): a night's longest step, a large backlog
    # of files or a full dbt build, stays well inside this; tasks with a tighter bound set their own
    "execution_timeout": dt.timedelta(hours=3),
    "on_failure_callback": on_failure,
}

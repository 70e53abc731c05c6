"""How every run ends, feed or warehouse: `alert` always runs and reports the run's data-quality findings and failed
tasks; `outcome` fails the run when a task failed, so the run's state tells the truth (an all_done alert task alone
would leave a failed night green). Light imports only."""

from __future__ import annotations

import datetime as dt

from airflow.sdk import get_current_context, task

FAILED = "failed"


def record_failed_tasks() -> list[str]:
    """The tasks of this run that failed for good, recorded for the alerts: the failure callback records them too,
    but runs after the downstream tasks may start, or never (a worker killed)."""
    from cspwh.db import audit

    context = get_current_context()
    ti, run_id = context["ti"], context["run_id"]
    states = (ti.get_task_states(dag_id=ti.dag_id, run_ids=[run_id]) or {}).get(run_id, {})
    failed = sorted(t for t, state in states.items() if state == FAILED and t != "outcome")
    for task_id in failed:
        audit.record_task_failure(ti.dag_id, task_id, run_id, "failed (no error was recorded by the task itself)")
    return failed


def run_night(context) -> tuple[dt.date, bool]:
    """The partnership night a run belongs to (by its logical date, else when it was due to run) and whether the
    schedule started it."""
    from cspwh.catalogue import night

    dag_run = context["dag_run"]
    moment = getattr(dag_run, "logical_date", None) or getattr(dag_run, "run_after", None) or dt.datetime.now(dt.UTC)
    return night.config().night_of(moment), str(getattr(dag_run, "run_type", "")).endswith("scheduled")


def alert_task(on_end=None):
    # no Airflow retry: an undelivered digest stays in the outbox and every later alert task of any DAG sends it;
    # the failed task is what tells the operator delivery is failing
    @task(trigger_rule="all_done", retries=0, execution_timeout=dt.timedelta(minutes=15))
    def alert(run_id: str | None = None) -> int:
        """One digest per role for what this run found and which tasks failed; nothing already reported is sent
        again."""
        from cspwh.alerts import digests

        failed = record_failed_tasks()
        if on_end is not None:
            on_end(get_current_context(), failed)
        return len(digests.dispatch(run_id or "manual"))

    return alert()


@task(trigger_rule="one_failed", retries=0)
def outcome(run_id: str | None = None) -> None:
    """Runs only when a task of the run failed, and fails the run with it (skipped, and the run green, otherwise)."""
    from airflow.sdk.exceptions import AirflowFailException

    failed = record_failed_tasks()
    raise AirflowFailException(
        f"run {run_id} failed: {', '.join(failed) or 'a task'} failed; the platform role "
        "is alerted (expectations/alert_routes.yml task_failures)"
    )

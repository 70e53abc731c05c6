"""One shape for every feed's DAG: (pull from an API) -> land -> file gate -> raw -> announce new rows, then alert
and outcome. Light imports only.

A DAG file that calls this must still say "airflow" and "dag" somewhere (its docstring does): Airflow's safe-mode
parsing skips files without both words, and the DAG would silently not exist."""

from __future__ import annotations

import datetime as dt

from airflow.sdk import dag, get_current_context, task
from airflow.timetables.trigger import CronTriggerTimetable

from common.defaults import DEFAULT_ARGS, START, raw_asset
from common.run_end import alert_task, outcome, run_night
from cspwh.catalogue import night


def feed_dag(feed: str, description: str, tags: list[str], pull: bool = False):
    config = night.config()
    # the partnership's local time (partnership.yml night): 01:30 stays 01:30 across the clock changes
    schedule = CronTriggerTimetable(config.cron(feed), timezone=config.timezone.key)

    @dag(
        dag_id=feed,
        description=description,
        schedule=schedule,
        start_date=START,
        catchup=False,
        max_active_runs=1,
        default_args=DEFAULT_ARGS,
        tags=["feed", feed, *tags],
    )
    def build():
        # the pull has its own 30-minute deadline inside; this is the backstop
        @task(execution_timeout=dt.timedelta(minutes=45))
        def pull_from_api() -> dict:
            """Fetch what changed since the stored cursor into the drop folder (retries and backoff inside); the
            cursor moves only after land_gate_load decided the pages."""
            import os

            from cspwh.ingest import sentinel_pull

            result = sentinel_pull.pull(os.environ["CSPWH_SENTINEL_API_URL"])
            return {"pages": len(result.pages), "cases": result.cases, "cursor": result.cursor}

        @task
        def land_gate_load(run_id: str | None = None) -> dict:
            """Each waiting file on its own: a bad file is quarantined with its reason, the others still load."""
            from cspwh.ingest import feed_run

            outcomes = feed_run.ingest_feed(feed, run_id or "manual")
            summary = {
                o: sum(1 for x in outcomes if x.outcome == o)
                for o in ("loaded", "quarantined", "held", "already_received")
            }
            summary["rows_loaded"] = sum(x.rows or 0 for x in outcomes)
            summary["quarantined_files"] = [x.file_name for x in outcomes if x.outcome == "quarantined"]
            if pull:  # the pages are decided: move the cursor over those that loaded, hold it before one that did not
                from cspwh.ingest import sentinel_pull

                settled = sentinel_pull.settle(run_id or "manual")
                summary["cursor"] = settled.cursor if settled else None
                summary["cursor_held"] = bool(settled and settled.held_page)
            return summary

        # all_done: files loaded before one that could not be decided (land_gate_load then fails) are in raw and
        # must still set off the warehouse
        @task(outlets=[raw_asset(feed)], trigger_rule="all_done")
        def announce() -> dict:
            """The raw Asset event that schedules the warehouse, only when this run loaded a file: a night that
            brought nothing (or only quarantined files) does not rebuild anything."""
            from airflow.sdk.exceptions import AirflowSkipException

            from cspwh.db import audit

            context = get_current_context()
            files, rows = audit.files_loaded_since(feed, context["dag_run"].start_date)
            if not files:
                raise AirflowSkipException("no file loaded: no raw Asset event")
            tonight, scheduled = run_night(context)
            extra = {"night": tonight.isoformat(), "scheduled": scheduled, "files": files, "rows": rows}
            context["outlet_events"][raw_asset(feed)].extra = extra
            return extra

        def record_run(context, failed: list[str]) -> None:
            from cspwh.db import audit

            files, _ = audit.files_loaded_since(feed, context["dag_run"].start_date)
            tonight, scheduled = run_night(context)
            audit.record_feed_run(
                feed,
                context["run_id"],
                tonight,
                scheduled,
                "failed" if failed else ("loaded" if files else "nothing_new"),
                files,
            )

        loaded = land_gate_load()
        announced = announce()
        loaded >> announced
        work = [loaded, announced]
        if pull:
            fetched = pull_from_api()
            fetched >> loaded
            work.append(fetched)
        ended = alert_task(on_end=record_run)
        loaded >> ended
        work >> outcome()

    return build()

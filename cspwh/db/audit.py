"""Audit records: a file check's outcome (the file gate's, and the findings made beside it), task failures."""

from __future__ import annotations

import datetime as dt

import psycopg
from psycopg.types.json import Jsonb

from cspwh import db
from cspwh.db import bootstrap


def record_task_failure(dag_id: str, task_id: str, run_id: str, error: str) -> None:
    """Once per task and run: the failure callback and the run's alert task (which asks Airflow for the states, in
    case the callback never ran, e.g. a killed worker) may both report it."""
    bootstrap.ensure()  # a task can fail on the very first night, before any stage created the audit schema
    with db.transaction() as conn:
        conn.execute(
            """insert into audit.task_failures (dag_id, task_id, run_id, error)
                        select %s, %s, %s, %s where not exists (
                            select 1 from audit.task_failures where dag_id = %s and task_id = %s and run_id = %s)""",
            (dag_id, task_id, run_id, error[:4000], dag_id, task_id, run_id),
        )


def record_feed_run(feed: str, run_id: str, night: dt.date, scheduled: bool, outcome: str, files_loaded: int) -> None:
    bootstrap.ensure()
    with db.transaction() as conn:
        conn.execute(
            """insert into audit.feed_runs (dag_id, run_id, night, scheduled, outcome, files_loaded)
                        values (%s, %s, %s, %s, %s, %s)
                        on conflict (dag_id, run_id) do update set outcome = excluded.outcome,
                            files_loaded = excluded.files_loaded, ended_at = now()""",
            (feed, run_id, night, scheduled, outcome, files_loaded),
        )


def files_loaded_since(feed: str, since: dt.datetime) -> tuple[int, int]:
    """Files of the feed loaded (or accepted) since a moment, and their rows: what a run put into raw, whatever
    became of its other files."""
    bootstrap.ensure()
    with db.connect() as conn:
        files, rows = db.one(
            conn.execute(
                """select count(*), coalesce(sum(rows), 0) from landing.file_manifest
                    where feed = %s and outcome = 'loaded' and greatest(outcome_at, accepted_at) >= %s""",
                (feed, since),
            )
        )
    return int(files), int(rows)


def feeds_ended(night: dt.date) -> tuple[set[str], dt.datetime | None]:
    """The feeds whose scheduled run for that night has ended, and when the last feed run of any kind ended."""
    bootstrap.ensure()
    with db.connect() as conn:
        finished = {
            f
            for (f,) in conn.execute(
                "select distinct dag_id from audit.feed_runs where night = %s and scheduled", (night,)
            ).fetchall()
        }
        last = db.one(conn.execute("select max(ended_at) from audit.feed_runs"))[0]
    return finished, last


def record_file_check(
    conn: psycopg.Connection,
    run_id: str,
    feed: str,
    file_id: int | None,
    check: str,
    success: bool,
    severity: str = "blocking",
    role: str | None = None,
    message: str | None = None,
    details: dict | None = None,
) -> None:
    """One file check's outcome in audit.check_results, where the alerts read it."""
    conn.execute(
        """insert into audit.check_results
               (run_id, gate, feed, file_id, check_name, severity, success, alert_role, message, details)
           values (%s, 'file', %s, %s, %s, %s, %s, %s, %s, %s)""",
        (
            run_id,
            feed,
            file_id,
            check,
            severity,
            success,
            role,
            message,
            Jsonb(details) if details is not None else None,
        ),
    )

"""Audit records: a file check's outcome (the file gate's, and the findings made beside it), task failures."""
from __future__ import annotations

from psycopg.types.json import Jsonb

from cspwh import bootstrap, db


def record_task_failure(dag_id: str, task_id: str, run_id: str, error: str) -> None:
    bootstrap.ensure()  # a task can fail on the very first night, before any stage created the audit schema
    with db.transaction() as conn:
        conn.execute("insert into audit.task_failures (dag_id, task_id, run_id, error) values (%s, %s, %s, %s)",
                     (dag_id, task_id, run_id, error[:4000]))


def record_file_check(conn, run_id: str, feed: str, file_id: int | None, check: str, success: bool,
                      severity: str = "blocking", role: str | None = None, message: str | None = None,
                      details: dict | None = None) -> None:
    """One file check's outcome in audit.check_results, where the alerts read it."""
    conn.execute(
        """insert into audit.check_results
               (run_id, gate, feed, file_id, check_name, severity, success, alert_role, message, details)
           values (%s, 'file', %s, %s, %s, %s, %s, %s, %s, %s)""",
        (run_id, feed, file_id, check, severity, success, role, message,
         Jsonb(details) if details is not None else None))

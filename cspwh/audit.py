"""Audit records that are not a gate's: task failures."""
from __future__ import annotations

from cspwh import bootstrap, db


def record_task_failure(dag_id: str, task_id: str, run_id: str, error: str) -> None:
    bootstrap.ensure()  # a task can fail on the very first night, before any stage created the audit schema
    with db.transaction() as conn:
        conn.execute("insert into audit.task_failures (dag_id, task_id, run_id, error) values (%s, %s, %s, %s)",
                     (dag_id, task_id, run_id, error[:4000]))

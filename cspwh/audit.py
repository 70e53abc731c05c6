"""Audit records that are not a gate's: task failures and run summaries."""
from __future__ import annotations

from cspwh import db

DDL = """
create table if not exists audit.task_failures (
    task_failure_id bigserial primary key,
    dag_id text not null,
    task_id text not null,
    run_id text not null,
    error text,
    failed_at timestamptz not null default now()
)"""


def record_task_failure(dag_id: str, task_id: str, run_id: str, error: str) -> None:
    with db.transaction() as conn:
        conn.execute("create schema if not exists audit")
        conn.execute(DDL)
        conn.execute("insert into audit.task_failures (dag_id, task_id, run_id, error) values (%s, %s, %s, %s)",
                     (dag_id, task_id, run_id, error[:4000]))

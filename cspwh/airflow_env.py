"""Airflow settings for the embedded default (demo and tests): set before Airflow is imported.

Metadata goes to a real Postgres database (`airflow` on the same server as the warehouse unless
AIRFLOW__DATABASE__SQL_ALCHEMY_CONN is set); parallelism is kept small for a 2-core machine.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from cspwh import db, night, settings


def configure(airflow_db: str = "airflow") -> dict[str, str]:
    """Point this process (and its children) at the project's Airflow home, DAGs and metadata database."""
    env = {
        "AIRFLOW_HOME": str(settings.home() / "airflow"),
        "AIRFLOW__CORE__DAGS_FOLDER": str(settings.DAGS_DIR),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__PARALLELISM": "4",
        "AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG": "4",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
        "AIRFLOW__COSMOS__ENABLE_TELEMETRY": "False",
        # the UI's times in the partnership's zone, as the feeds' schedules are (partnership.yml night)
        "AIRFLOW__CORE__DEFAULT_TIMEZONE": night.config().timezone.key,
        "AIRFLOW__LOGGING__LOGGING_LEVEL": os.environ.get("AIRFLOW__LOGGING__LOGGING_LEVEL", "WARNING"),
        "CSPWH_PROJECT_ROOT": str(settings.PROJECT_ROOT),
        "WAREHOUSE_URL": settings.warehouse_url(),
    }
    if "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN" not in os.environ:
        url = db.ensure_database(db.with_database(settings.warehouse_url(), airflow_db))
        env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = "postgresql+psycopg2://" + url.split("://", 1)[1]
    Path(env["AIRFLOW_HOME"]).mkdir(parents=True, exist_ok=True)
    os.environ.update(env)
    return env


def migrate() -> None:
    """`airflow db migrate` (idempotent; a no-op when the schema is current)."""
    airflow = Path(sys.executable).with_name("airflow")
    result = subprocess.run([str(airflow), "db", "migrate"], capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"airflow db migrate failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")

"""Airflow's settings, one home for every way the project runs Airflow: in-process `dag.test()` runs (demo, tests),
the real components on this machine (cspwh/local/airflow_service.py) and docker-compose.yml.

SHARED holds the settings every deployment gives the same value; tests/test_compose.py holds the compose file to them
and to PER_DEPLOYMENT, the settings each deployment must give its own value (hosts, ports, paths, secrets).
Metadata goes to a real Postgres database (`airflow` on the same server as the warehouse unless
AIRFLOW__DATABASE__SQL_ALCHEMY_CONN is set); parallelism is kept small for a 2-core machine.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from cspwh import db, settings
from cspwh.catalogue import night
from cspwh.local import embedded_pg

SHARED = {
    "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
    "AIRFLOW__CORE__PARALLELISM": "4",
    "AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG": "4",
    # the default (simple) auth manager: users and roles from config, passwords from a file
    "AIRFLOW__CORE__AUTH_MANAGER": "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager",
    "AIRFLOW__CELERY__WORKER_CONCURRENCY": "4",
    "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "True",
    "AIRFLOW__SMTP__SMTP_STARTTLS": "False",
    "AIRFLOW__SMTP__SMTP_SSL": "False",
    # astronomer-cosmos's telemetry switch, inert unless cosmos is installed
    "AIRFLOW__COSMOS__ENABLE_TELEMETRY": "False",
    "GX_ANALYTICS_ENABLED": "False",
    "DBT_SEND_ANONYMOUS_USAGE_STATS": "False",
}

PER_DEPLOYMENT = (
    "AIRFLOW__CORE__EXECUTOR",
    "AIRFLOW__CORE__DAGS_FOLDER",
    "AIRFLOW__CORE__FERNET_KEY",
    "AIRFLOW__CORE__EXECUTION_API_SERVER_URL",
    "AIRFLOW__API_AUTH__JWT_SECRET",
    "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS",
    "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE",
    "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN",
    "AIRFLOW__CELERY__BROKER_URL",
    "AIRFLOW__CELERY__RESULT_BACKEND",
    "AIRFLOW__LOGGING__LOGGING_LEVEL",
    "AIRFLOW__SMTP__SMTP_HOST",
    "AIRFLOW__SMTP__SMTP_PORT",
    "AIRFLOW__SMTP__SMTP_MAIL_FROM",
)


def environment(airflow_db: str = "airflow", airflow_home: Path | None = None) -> dict[str, str]:
    """The project's Airflow home, DAGs and metadata database (created if missing), as environment variables."""
    env = {
        **SHARED,
        "AIRFLOW_HOME": str(airflow_home or settings.home() / "airflow"),
        "AIRFLOW__CORE__DAGS_FOLDER": str(settings.DAGS_DIR),
        # the UI's times in the partnership's zone, as the feeds' schedules are (partnership.yml night)
        "AIRFLOW__CORE__DEFAULT_TIMEZONE": night.config().timezone.key,
        "AIRFLOW__LOGGING__LOGGING_LEVEL": os.environ.get("AIRFLOW__LOGGING__LOGGING_LEVEL", "WARNING"),
        "CSPWH_PROJECT_ROOT": str(settings.PROJECT_ROOT),
        "WAREHOUSE_URL": embedded_pg.warehouse_url(),
    }
    if "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN" in os.environ:
        env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
    else:
        url = db.ensure_database(db.with_database(embedded_pg.warehouse_url(), airflow_db))
        env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = "postgresql+psycopg2://" + url.split("://", 1)[1]
    Path(env["AIRFLOW_HOME"]).mkdir(parents=True, exist_ok=True)
    return env


def configure(airflow_db: str = "airflow") -> dict[str, str]:
    """Point this process (and its children) at the project's Airflow home, DAGs and metadata database."""
    env = environment(airflow_db)
    os.environ.update(env)
    return env


def airflow_bin() -> str:
    return str(Path(sys.executable).with_name("airflow"))


def migrate(env: dict[str, str] | None = None) -> None:
    """`airflow db migrate` (idempotent; a no-op when the schema is current), in this process's environment or
    in `env` on top of it."""
    result = subprocess.run(
        [airflow_bin(), "db", "migrate"], capture_output=True, text=True, env={**os.environ, **env} if env else None
    )
    if result.returncode != 0:
        raise RuntimeError(f"airflow db migrate failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")

"""Where things live and which warehouse to talk to.

Everything is overridable by environment so the same code runs in the demo, the tests and docker compose.
"""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(os.environ.get("CSPWH_PROJECT_ROOT") or Path(__file__).resolve().parent.parent)
SOURCES_DIR = PROJECT_ROOT / "sources"
DBT_DIR = PROJECT_ROOT / "dbt_project"
DAGS_DIR = PROJECT_ROOT / "dags"


def reference_dir() -> Path:
    """The partnership's reference files (dbt's seeds): sources/reference, or the folder `cspwh init --out` wrote."""
    return Path(os.environ.get("CSPWH_REFERENCE_DIR") or SOURCES_DIR / "reference")


def expectations_dir() -> Path:
    return Path(os.environ.get("CSPWH_EXPECTATIONS_DIR") or PROJECT_ROOT / "expectations")


def home() -> Path:
    """The project-local state folder: embedded Postgres, landing, quarantine, drop folders, Airflow home."""
    return Path(os.environ.get("CSPWH_HOME") or PROJECT_ROOT / ".warehouse")


def reports_dir() -> Path:
    """Where the board's reports are written; GX's Data Docs go in its data_docs/ folder."""
    return Path(os.environ.get("CSPWH_REPORTS_DIR") or home() / "reports")


def landing_dir() -> Path:
    return Path(os.environ.get("CSPWH_LANDING_DIR") or home() / "landing")


def quarantine_dir() -> Path:
    return Path(os.environ.get("CSPWH_QUARANTINE_DIR") or home() / "quarantine")


def drop_dir() -> Path:
    """Where partners drop files, one sub-folder per feed."""
    return Path(os.environ.get("CSPWH_DROP_DIR") or home() / "drop")


def warehouse_url() -> str:
    """The owner connection the pipeline uses: WAREHOUSE_URL. On one machine the command line sets it to the
    embedded Postgres it starts when unset (cspwh/local/embedded_pg.py); the stages never start a server."""
    url = os.environ.get("WAREHOUSE_URL")
    if not url:
        raise RuntimeError(
            "no warehouse: set WAREHOUSE_URL (postgresql://owner:password@host:port/database), or run "
            "through the `cspwh` command, which starts the embedded Postgres when it is unset"
        )
    return url


def analyst_role() -> str:
    return os.environ.get("CSPWH_ANALYST_ROLE", "analyst")


def analyst_password() -> str:
    # A demo default; production sets its own through the environment (compose reads it from .env).
    return os.environ.get("CSPWH_ANALYST_PASSWORD", "analyst")

"""Test fixtures on real components: a real Postgres (the embedded one on its own port in a temporary home, or a
fresh database on WAREHOUSE_URL's server), real Airflow metadata, real dbt and GX runs."""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path

import pytest

# Set before anything imports Airflow or the package's settings.
HOME = Path(tempfile.mkdtemp(prefix="cspwh-test-"))
HOME.chmod(0o755)  # the embedded server runs as its own user when tests run as root
os.environ["CSPWH_HOME"] = str(HOME)
EXTERNAL_URL = os.environ.pop("WAREHOUSE_URL", None)
# the demo's server may be up on the default port; each pytest-xdist worker (make test runs two) has its own server
_WORKER = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0")[2:] or 0)
os.environ["CSPWH_PG_PORT"] = str(int(os.environ.get("CSPWH_PG_PORT", "55433")) + 100 * _WORKER)
os.environ.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", "WARNING")

VENDORED = Path(__file__).resolve().parent.parent / "sources" / "police_uk" / "data" / "leicestershire"


@pytest.fixture(scope="session")
def server_url():
    """An owner URL on the test server's maintenance database."""
    from cspwh import db
    from cspwh.local import embedded_pg

    if EXTERNAL_URL:
        yield db.with_database(EXTERNAL_URL, "postgres")
        shutil.rmtree(HOME, ignore_errors=True)
        return
    server = embedded_pg.ensure_running()
    yield server.url_for("postgres")
    _close_airflow_connections()
    embedded_pg.stop()
    shutil.rmtree(HOME, ignore_errors=True)


def _close_airflow_connections() -> None:
    import sys

    if "airflow.settings" in sys.modules:
        sys.modules["airflow.settings"].dispose_orm()


def create_database(server_url: str, name: str) -> str:
    from cspwh import db

    # workers share an external server (WAREHOUSE_URL): their databases must not collide
    name = re.sub(r"[^a-z0-9_]", "_", name.lower())[:50] + (f"_w{_WORKER}" if _WORKER else "")
    with db.connect(server_url, autocommit=True) as conn:
        conn.execute(f'drop database if exists "{name}" with (force)')
        conn.execute(f'create database "{name}"')
    return db.with_database(server_url, name)


@pytest.fixture(scope="session")
def airflow_ready(server_url):
    """Airflow's metadata in a real database, migrated once for the session."""
    from cspwh.local import airflow_env

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("WAREHOUSE_URL", create_database(server_url, "cspwh_test_airflow_home"))
        airflow_env.configure(airflow_db="cspwh_test_airflow" + (f"_w{_WORKER}" if _WORKER else ""))
        airflow_env.migrate()
        _point_loaded_airflow_at(airflow_env)
    yield


def _point_loaded_airflow_at(airflow_env) -> None:
    """A test run earlier in this worker may have started Airflow's ORM on its default (SQLite): point it at the
    metadata database just configured."""
    import sys

    if "airflow.settings" in sys.modules:
        settings = sys.modules["airflow.settings"]
        if os.environ.get("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN") != settings.SQL_ALCHEMY_CONN:
            settings.dispose_orm(do_log=False)
            settings.configure_vars()
            settings.configure_orm()


class Mailbox:
    """A real SMTP server (aiosmtpd) on loopback that keeps what it receives."""

    def __init__(self):
        from aiosmtpd.controller import Controller

        self.messages: list = []
        box = self

        class Handler:
            async def handle_DATA(self, server, session, envelope):
                import email
                import email.policy

                box.messages.append(email.message_from_bytes(envelope.content, policy=email.policy.default))
                return "250 OK"

        import socket

        with socket.socket() as probe:  # aiosmtpd needs a concrete port to check it started
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)

    def to(self, address: str) -> list:
        return [m for m in self.messages if m["To"] == address]


@pytest.fixture(scope="session")
def mailbox():
    box = Mailbox()
    box.controller.start()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CSPWH_SMTP_HOST", "127.0.0.1")
        mp.setenv("CSPWH_SMTP_PORT", str(box.port))
        yield box
    box.controller.stop()


class Warehouse:
    """One isolated warehouse: its own database, landing, quarantine and drop folders."""

    def __init__(self, url: str, root: Path):
        self.url = url
        self.root = root
        self.drop = root / "drop"

    def stage(self, *names: str) -> list[Path]:
        folder = self.drop / "police_uk"
        folder.mkdir(parents=True, exist_ok=True)
        staged = []
        for name in names:  # any force's vendored file: <month>-<force>-street.csv.gz
            target = folder / name
            shutil.copyfile(next(VENDORED.parent.glob(f"*/{name}")), target)
            staged.append(target)
        return staged

    def execute(self, sql: str) -> None:
        from cspwh import db

        with db.connect(self.url) as conn:
            conn.execute(sql)

    def query(self, sql: str, params=None) -> list[tuple]:
        from cspwh import db

        with db.connect(self.url) as conn:
            return conn.execute(sql, params).fetchall()


def _activate(mp: pytest.MonkeyPatch, url: str, root: Path) -> Warehouse:
    mp.setenv("WAREHOUSE_URL", url)
    for name in ("landing", "quarantine", "drop"):
        (root / name).mkdir(parents=True, exist_ok=True)
        mp.setenv(f"CSPWH_{name.upper()}_DIR", str(root / name))
    from cspwh.db import bootstrap

    bootstrap.ensure(url)
    return Warehouse(url, root)


@pytest.fixture
def warehouse(request, server_url, tmp_path, monkeypatch) -> Warehouse:
    return _activate(monkeypatch, create_database(server_url, f"t_{request.node.name}"), tmp_path)


@pytest.fixture(scope="module")
def module_warehouse(request, server_url, tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        name = request.module.__name__.rsplit(".", 1)[-1]
        yield _activate(mp, create_database(server_url, f"m_{name}"), tmp_path_factory.mktemp(name))


# `make test-fast` (the edit-test loop) runs what is not marked slow: no dbt build, no Airflow run, no Airflow
# import in a child process, nothing over a few seconds. `make test` (and CI) runs everything.
SLOW_FOLDERS = ("e2e", "faults")
SLOW_FILES = {  # integration tests that build dbt models or run DAGs
    "test_anomalies.py",
    "test_asb_linking_quality.py",
    "test_asset_queue.py",
    "test_carry_forward.py",
    "test_completeness.py",
    "test_consistency_gate.py",
    "test_generated_feeds.py",
    "test_incremental_build.py",
    "test_tested_by_load.py",
    "test_series_anomalies.py",
    "test_dag_integrity.py",
    "test_celery_executor.py",
    "test_dbt_unit_tests.py",
    "test_source_freshness.py",
}
SLOW_TESTS = {
    "test_a_correction_to_a_published_quarter_is_the_one_restatement",
    "test_import_keeps_every_figure_as_printed_and_shows_both_reports",
    "test_the_compiled_hmac_is_used_here_and_agrees_with_the_sql_one",
    "test_a_large_extract_keeps_every_rows_line_pseudonym_and_time",
    "test_the_key_can_come_from_an_airflow_connection",
    "test_airflow_commands_are_real_cli_commands",
}


def pytest_collection_modifyitems(config, items):
    for item in items:
        path = Path(str(item.fspath))
        if (
            path.parent.name in SLOW_FOLDERS
            or path.name in SLOW_FILES
            or item.originalname in SLOW_TESTS
            or item.get_closest_marker("scheduler")
        ):
            item.add_marker(pytest.mark.slow)

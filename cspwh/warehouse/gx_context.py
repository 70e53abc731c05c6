"""The Great Expectations project of the consistency gate: a file context in the state folder (<CSPWH_HOME>/gx:
suites, validation definitions, checkpoints and every night's validation results, kept across nights) whose Data
Docs are rendered as static HTML beside the reports (<reports>/data_docs).

GX costs seconds to import: import this module's functions only inside tasks.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import io
import logging
import os
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from cspwh import settings

if TYPE_CHECKING:
    from great_expectations.data_context import FileDataContext

SITE = "reports"
# The datasource's connection string is this variable's name, so great_expectations.yml never holds a password.
URL_VARIABLE = "CSPWH_GX_WAREHOUSE_URL"
INDEX_RESULTS = 150  # validation results listed on the Data Docs index (about ten suites for two weeks of nights)


def project_dir() -> Path:
    return settings.home() / "gx"


def docs_dir() -> Path:
    return settings.reports_dir() / "data_docs"


def context() -> FileDataContext:
    """The project's file context (one per state folder and docs folder in a process)."""
    return _context(str(settings.home()), str(docs_dir()))


@functools.cache
def _context(home: str, docs: str) -> FileDataContext:
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
    # GX logs every decorator it registers at INFO; under Airflow's logging that floods task logs.
    logging.getLogger("great_expectations").setLevel(logging.WARNING)
    with quiet():
        import great_expectations as gx
        from great_expectations.data_context.types.base import ProgressBarsConfig

        Path(home).mkdir(parents=True, exist_ok=True)
        ctx = gx.get_context(mode="file", project_root_dir=home)
        if (
            ctx.variables.progress_bars != ProgressBarsConfig(globally=False)
            or ctx.variables.analytics_enabled is not False
        ):
            # in the project too, so whoever opens it later sends nothing and draws no progress bars
            ctx.variables.progress_bars = ProgressBarsConfig(globally=False)
            ctx.variables.analytics_enabled = False
            ctx.variables.save()
        site = {
            "class_name": "SiteBuilder",
            "show_how_to_buttons": False,
            "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": docs},
            # the index loads every result it lists (about 3 ms each): it lists the latest two weeks or so,
            # while every result and its page stay on disk (alerts link to them)
            "site_index_builder": {"class_name": "DefaultSiteIndexBuilder", "validation_results_limit": INDEX_RESULTS},
        }
        sites = dict(ctx.variables.data_docs_sites or {})
        if sites != {SITE: site}:
            # GX's default site sits in gx/uncommitted, where nobody reading the reports would look
            for name in sites:
                ctx.delete_data_docs_site(name)
            # GX's DataDocsSiteConfigTypedDict is incomplete (as its own note says): no show_how_to_buttons
            ctx.add_data_docs_site(SITE, site)  # type: ignore[arg-type]
    return ctx


@contextlib.contextmanager
def project_lock() -> Iterator[None]:
    """One gate at a time writes the project: two builds' gates would otherwise swap each other's assets (each names
    its own build schema) between writing a checkpoint and running it."""
    path = project_dir() / "gate.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)  # released when the file closes, also if the process dies
        yield


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """GX prints notices (a custom query without {batch}) and deprecation warnings on stdout and stderr; a nightly
    task's log should hold the gate's own lines."""
    with (
        contextlib.redirect_stdout(io.StringIO()),
        contextlib.redirect_stderr(io.StringIO()),
        warnings.catch_warnings(),
    ):
        warnings.simplefilter("ignore")
        yield

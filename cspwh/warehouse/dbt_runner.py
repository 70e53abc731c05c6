"""dbt build into a fresh build schema (the 'write' of write-audit-publish)."""

from __future__ import annotations

import collections
import dataclasses
import json
import logging
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import unquote, urlsplit

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

from cspwh import db, settings
from cspwh.catalogue import indicators, reference
from cspwh.warehouse import carry_forward

log = logging.getLogger(__name__)


def dbt_vars() -> dict:
    p = reference.partnership()
    return {
        "police_uk_force": p["police_uk_force"],
        "county_code": p["county_code"],
        "force_area_code": p["force_area_code"],
        "indicators": indicators.dbt_var(),
        "outcomes": indicators.outcomes(),
        **p.get("kpi", {}),
    }


def _env(build_schema: str) -> dict[str, str]:
    parts = urlsplit(settings.warehouse_url())
    return {
        "CSPWH_DBT_HOST": parts.hostname or "127.0.0.1",
        "CSPWH_DBT_PORT": str(parts.port or 5432),
        "CSPWH_DBT_USER": unquote(parts.username or ""),
        "CSPWH_DBT_PASSWORD": unquote(parts.password or ""),
        "CSPWH_DBT_DBNAME": parts.path.lstrip("/"),
        "CSPWH_BUILD_SCHEMA": build_schema,
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "False",
    }


class NodesFailed(RuntimeError):
    """dbt ran and some models or tests failed: the same data will fail the same way, so retrying is pointless."""


@dataclasses.dataclass
class NodeResult:
    unique_id: str
    status: str
    execution_time: float
    message: str | None


@dataclasses.dataclass
class Result:
    result: list[NodeResult]


def run(
    command: str, build_schema: str, *extra: str, previous_build: str | None = None, code: str | None = None
) -> Result:
    """Run a dbt command against the build schema in its own process, its lines (each model's and test's status,
    rows and timing) in this process's log; returns each node's result, raises with the failing nodes if dbt does not
    succeed.

    Its own process: dbt makes multiprocessing locks that only an orderly exit releases, and an Airflow task process
    ends without one (the resource tracker then logged "leaked semaphore objects" as errors after every build)."""
    work = settings.home() / "dbt"
    target = work / "target"
    dbt = Path(sys.executable).with_name("dbt")
    args = [
        *_dying_with_this_process(),
        str(dbt) if dbt.exists() else (shutil.which("dbt") or "dbt"),
        "--no-use-colors",
        command,
        "--project-dir",
        str(settings.DBT_DIR),
        "--profiles-dir",
        str(settings.DBT_DIR),
        "--target-path",
        str(target),
        "--log-path",
        str(work / "logs"),
        "--vars",
        json.dumps(dbt_vars()),
        *extra,
    ]
    seeds_env = {}
    if os.environ.get("CSPWH_REFERENCE_DIR"):
        # dbt writes each seed's run SQL to target/run/<project>/<seed path>, which for a seed path outside the
        # project is the seed file itself: it reads a copy, refreshed before every run, never the partnership's files
        seeds = work / "seeds"
        shutil.rmtree(seeds, ignore_errors=True)
        shutil.copytree(settings.reference_dir(), seeds)
        seeds_env["CSPWH_DBT_SEED_DIR"] = str(seeds)
    # the last published build, whose intermediate tables the incremental-by-load models carry forward
    # (dbt_project/macros/incremental_by_load.sql); CSPWH_INCREMENTAL=0 makes every build a full rebuild
    seeds_env["CSPWH_PREVIOUS_BUILD"] = previous_build or ""
    results = target / "run_results.json"
    results.unlink(missing_ok=True)
    # the manifest this run writes is stamped with the code it was parsed from (carry_forward reads the graph from it)
    carry_forward.stamp_manifest(None)
    began_at = time.time()
    began = time.monotonic()
    with subprocess.Popen(
        args,
        env={**os.environ, **_env(build_schema), **seeds_env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        bufsize=1,
    ) as process:
        tail: collections.deque[str] = collections.deque(maxlen=40)
        assert process.stdout is not None  # stdout=PIPE
        try:
            for line in process.stdout:
                line = line.rstrip()
                if line:
                    tail.append(line)
                    log.info("dbt: %s", line)
        except BaseException:
            # stopped (a task's timeout or an operator's stop reaches here as an exception): dbt stops too, rather
            # than building on into the working schemas after this build has let go of the build lock
            process.kill()
            raise
    nodes = _node_results(results)
    if code:
        carry_forward.stamp_manifest(code, written_after=began_at)
    if process.returncode not in (0, 1) or (process.returncode == 1 and not nodes):
        raise RuntimeError(
            f"dbt {command} could not run (exit {process.returncode} after "
            f"{time.monotonic() - began:.0f} s):\n" + "\n".join(tail)
        )
    failed = [
        f"{n.unique_id}: {n.status} {n.message or ''}".strip()
        for n in nodes
        if n.status in ("error", "fail", "runtime error")
    ]
    if process.returncode == 1 or failed:
        raise NodesFailed(f"dbt {command} failed in {build_schema}:\n" + "\n".join(failed or list(tail)))
    return Result(nodes)


# Run before dbt, in its process: Linux ends it (SIGKILL) when the process that started it dies. Killed outright (the
# out-of-memory killer, a worker lost, `kill -9`), this process once left dbt building on into the working schemas
# after the build lock it held was released with its connection, where the retry drops and rebuilds them: two builds
# writing the same tables. dbt's open transactions end with it, unfinished, so nothing of it is committed.
_DIE_WITH_PARENT = """import ctypes, os, signal, sys
ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
if os.getppid() != int(sys.argv[1]):  # it died before that was set
    sys.exit(f"dbt not started: the process that started it ({sys.argv[1]}) has ended")
os.execvp(sys.argv[2], sys.argv[2:])  # as Popen finds it: on PATH when not a path
"""


def _dying_with_this_process() -> list[str]:
    return [sys.executable, "-c", _DIE_WITH_PARENT, str(os.getpid())] if sys.platform == "linux" else []


def _node_results(path: Path) -> list[NodeResult]:
    if not path.exists():
        return []
    return [
        NodeResult(r["unique_id"], str(r["status"]).lower(), float(r.get("execution_time") or 0.0), r.get("message"))
        for r in json.loads(path.read_text()).get("results", [])
    ]


# The schemas a build is made in, renamed to the run's build schemas when dbt ends. dbt bakes the profile's schema into
# every node when it parses, so a profile naming each night's new schema made every build parse the whole project
# (about 7 s of 255 nodes); with the same name every night, dbt re-reads only the files that changed (partial
# parsing). One build runs at a time (nightly.build_lock), and the build holding the lock drops what a build that
# died left here (publish.drop_stale_builds drops any build_ schema without a run's stamp).
WORK_SCHEMA = "build_work"


def build(build_schema: str, previous_build: str | None = None) -> Result:
    """dbt build in the working schemas, renamed to `build_schema` afterwards, also when dbt fails (so the failed
    build can be looked at under its own name, and is dropped with the other stale builds). What has not changed
    since the published build `previous_build` is copied from it rather than built (carry_forward)."""
    _drop_schemas(WORK_SCHEMA)
    code = carry_forward.fingerprint(json.dumps(dbt_vars()), settings.reference_dir())
    selection: list[str] = []
    inputs = None
    try:
        plan = carry_forward.plan(code, previous_build)
        inputs = plan.record()
        _analyze(plan.changed_raw)
        if plan.carried or plan.skipped_tests:
            copied = carry_forward.copy(plan.carried, previous_build or "", WORK_SCHEMA)
            selection = plan.select_args()
            log.info(
                "carried forward %d tables (%d nodes) and %d passed tests %s",
                copied,
                len(plan.carried),
                len(plan.skipped_tests),
                plan.reason,
            )
        else:
            log.info("building every node: %s", plan.reason)
    except (LookupError, psycopg.Error, OSError, KeyError, ValueError) as e:
        # never a reason to fail the night: the build makes everything itself, as without a published build
        log.warning("could not carry forward from %s (%s): building every node", previous_build, e)
        _drop_schemas(WORK_SCHEMA)
        selection = []
    try:
        # unit tests check the models' logic on fixed rows, not the night's data: a failing one would stop the night
        # for a code fault the test suite (tests/integration/test_dbt_unit_tests.py) is there to catch before a release
        result = run(
            "build",
            WORK_SCHEMA,
            "--exclude-resource-type",
            "unit_test",
            *selection,
            previous_build=previous_build,
            code=code,
        )
    except BaseException:
        # the failed build under its own name too; a failed rename must not hide why dbt failed
        try:
            _rename_schemas(WORK_SCHEMA, build_schema)
        except Exception:
            log.exception("could not rename %s to %s after the failed build", WORK_SCHEMA, build_schema)
        raise
    _rename_schemas(WORK_SCHEMA, build_schema)
    if inputs is not None:
        with db.transaction() as conn:
            conn.execute("update audit.builds set inputs = %s where build_schema = %s", (Jsonb(inputs), build_schema))
    return result


def _analyze(raw_tables: list[str]) -> None:
    """Statistics of the raw tables written since the published build, before dbt reads them. The build reads and
    tests only the new loads (`_load_id = any(...)`); with the planner's statistics taken before those loads, it once
    scanned all 17 million police.uk records for each such test (4-5 s each, eight of them) rather than reading the
    new month's 460,000 through the index."""
    with db.connect(autocommit=True) as conn:
        for table in raw_tables:
            conn.execute(sql.SQL("analyze {}").format(sql.Identifier("raw", table)))


def _schemas(conn: psycopg.Connection, prefix: str) -> list[str]:
    # the schema itself and its layers (<prefix>_staging, ...): not another name that merely starts the same
    return [
        name
        for (name,) in conn.execute(
            r"select nspname from pg_namespace where nspname = %s or nspname like %s",
            (prefix, prefix.replace("_", r"\_") + r"\_%"),
        ).fetchall()
        if name == prefix or name[len(prefix) + 1 :].isalpha()
    ]


def _drop_schemas(prefix: str) -> None:
    with db.transaction() as conn:
        for name in _schemas(conn, prefix):
            conn.execute(sql.SQL("drop schema {} cascade").format(sql.Identifier(name)))


def _rename_schemas(prefix: str, build_schema: str) -> None:
    with db.transaction() as conn:
        for name in _schemas(conn, prefix):
            conn.execute(
                sql.SQL("alter schema {} rename to {}").format(
                    sql.Identifier(name), sql.Identifier(build_schema + name[len(prefix) :])
                )
            )

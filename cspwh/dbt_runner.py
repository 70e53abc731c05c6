"""dbt build into a fresh build schema (the 'write' of write-audit-publish)."""
from __future__ import annotations

import json
import os
from urllib.parse import unquote, urlsplit

from cspwh import indicators, reference, settings


def dbt_vars() -> dict:
    p = reference.partnership()
    return {"police_uk_force": p["police_uk_force"], "county_code": p["county_code"],
            "force_area_code": p["force_area_code"], "indicators": indicators.dbt_var(),
            "outcomes": indicators.outcomes(), **p.get("kpi", {})}


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


def run(command: str, build_schema: str, *extra: str):
    """Run a dbt command against the build schema; returns dbt's result, raises with the failing nodes if dbt does
    not succeed."""
    from dbt.cli.main import dbtRunner

    os.environ.update(_env(build_schema))
    work = settings.home() / "dbt"
    args = [command, "--project-dir", str(settings.DBT_DIR), "--profiles-dir", str(settings.DBT_DIR),
            "--target-path", str(work / "target"), "--log-path", str(work / "logs"),
            "--vars", json.dumps(dbt_vars()), *extra]
    if not os.environ.get("CSPWH_VERBOSE"):
        args.insert(1, "--quiet")  # errors still print; the full log is in <home>/dbt/logs
    result = dbtRunner().invoke(args)
    if result.exception is not None:
        raise RuntimeError(f"dbt {command} could not run: {result.exception}")
    if not result.success:
        failed = [f"{r.node.unique_id}: {r.status} {r.message or ''}".strip()
                  for r in (result.result or []) if str(r.status) in ("error", "fail")]
        raise NodesFailed(f"dbt {command} failed in {build_schema}:\n" + "\n".join(failed))
    return result


def build(build_schema: str) -> None:
    run("build", build_schema)

"""Consistency gate: the board's checks on the built marts (GX on Postgres), before anything is published.

Checks live in expectations/consistency/<family>.yml, each SQL returning the rows that break it, marked blocking or
warning, with the role it alerts. Every result is recorded in audit.check_results.
"""
from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import decimal
import io
import re
from pathlib import Path

import yaml
from psycopg.types.json import Jsonb

from cspwh import db, settings

EXAMPLE_ROWS = 5


@dataclasses.dataclass
class CheckResult:
    family: str
    name: str
    severity: str
    alert_role: str
    success: bool
    unexpected_count: int
    examples: list[dict]
    description: str
    what_to_do: str

    @property
    def message(self) -> str:
        if self.success:
            return f"{self.family}.{self.name}: passed"
        return (f"{self.family}.{self.name} ({self.severity}): {self.description} Failed on "
                f"{self.unexpected_count} row(s), e.g. {self.examples[:3]}. What to do: {self.what_to_do}")


def load_checks(directory: Path | None = None) -> list[dict]:
    checks = []
    for path in sorted((directory or settings.expectations_dir() / "consistency").glob("*.yml")):
        spec = yaml.safe_load(path.read_text())
        for check in spec["checks"]:
            checks.append({**check, "family": spec["family"]})
    return checks


def _sqlalchemy_url(url: str) -> str:
    return "postgresql+psycopg2://" + url.split("://", 1)[1]


def _plain(value):
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    return value


def run(build_schema: str, run_id: str) -> list[CheckResult]:
    from cspwh.gx_context import context

    marts = f"{build_schema}_marts"
    ctx = context()
    source_name = "build_" + re.sub(r"[^a-z0-9]+", "_", run_id.lower())
    source = ctx.data_sources.add_or_update_postgres(source_name, connection_string=_sqlalchemy_url(
        settings.warehouse_url()))
    try:
        results = [_validate(source, check, marts) for check in load_checks()]
    finally:
        ctx.data_sources.delete(source_name)  # a long-lived worker must not keep one engine per night
    _record(results, run_id)
    return results


def _validate(source, check: dict, marts: str) -> CheckResult:
    import great_expectations as gx

    asset_name = f"{check['family']}.{check['table']}"
    try:
        asset = source.get_asset(asset_name)
    except LookupError:
        # a query asset names the build's schema itself (GX deprecates a table asset's schema_name)
        asset = source.add_query_asset(asset_name, query=f'select * from "{marts}"."{check["table"]}"')
    try:
        batch_definition = asset.get_batch_definition("whole")
    except (KeyError, LookupError, ValueError):
        batch_definition = asset.add_batch_definition_whole_table("whole")
    # GX's own {batch} substitution differs between its metrics and Postgres versions (aliased or not), so the
    # table is named here and the query is plain SQL on every server; GX prints a notice when {batch} is absent.
    query = (check["unexpected_rows_query"].replace("{batch}", f"{marts}.{check['table']}")
             .replace("{marts}", marts))
    with contextlib.redirect_stdout(io.StringIO()):  # GX prints that notice on building and again on validating
        expectation = gx.expectations.UnexpectedRowsExpectation(unexpected_rows_query=query,
                                                                description=check["description"])
        outcome = batch_definition.get_batch().validate(expectation, result_format="COMPLETE")
    error = _raised(outcome.exception_info)
    if error:
        # a check that cannot run must never read as passed
        raise RuntimeError(f"consistency check {check['family']}.{check['name']} could not run: {error}")
    rows = (outcome.result.get("details") or {}).get("unexpected_rows") or []
    return CheckResult(
        family=check["family"], name=check["name"], severity=check["severity"],
        alert_role=check["alert_role"], success=bool(outcome.success),
        unexpected_count=int(outcome.result.get("observed_value") or len(rows)),
        examples=[{k: _plain(v) for k, v in dict(r).items()} for r in rows[:EXAMPLE_ROWS]],
        description=check["description"], what_to_do=check["what_to_do"],
    )


def _raised(info) -> str | None:
    """GX nests exception details per metric; find any that raised."""
    if not isinstance(info, dict):
        return None
    if info.get("raised_exception"):
        return str(info.get("exception_message"))
    return next((m for m in (_raised(v) for v in info.values()) if m), None)


def _record(results: list[CheckResult], run_id: str) -> None:
    with db.transaction() as conn, conn.cursor() as cur:
        for r in results:
            cur.execute(
                """insert into audit.check_results
                       (run_id, gate, check_name, severity, success, alert_role, message, details)
                   values (%s, 'consistency', %s, %s, %s, %s, %s, %s)""",
                (run_id, f"{r.family}.{r.name}", r.severity, r.success, r.alert_role, r.message,
                 Jsonb({"unexpected_count": r.unexpected_count, "examples": r.examples})),
            )


def blocking_failures(results: list[CheckResult]) -> list[CheckResult]:
    return [r for r in results if not r.success and r.severity == "blocking"]

"""Consistency gate: the board's checks on the built marts, before anything is published, as Great Expectations
suites run by checkpoints.

The checks live in expectations/consistency/<family>.yml, each marked blocking or warning with the role it alerts,
and each either one of GX's declarative expectations (`expectation` + `kwargs`) or, where the check needs SQL (sums
across tables, recomputations with a tolerance), the SQL returning the rows that break it (`unexpected_rows_query`,
run by GX's UnexpectedRowsExpectation). Every family's checks on one mart form a suite (`<family>.<table>`) run by
its checkpoint; GX keeps the results under <CSPWH_HOME>/gx and renders them as Data Docs beside the reports. Every
result is also recorded in audit.check_results, where the alerts and `explain` read it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import decimal
import os
from pathlib import Path
from typing import TYPE_CHECKING

import yaml
from psycopg.types.json import Jsonb

from cspwh import db, settings

if TYPE_CHECKING:  # GX costs seconds to import: only inside the functions that run it
    from great_expectations.core.expectation_validation_result import ExpectationValidationResult
    from great_expectations.data_context import FileDataContext
    from great_expectations.datasource.fluent import PostgresDatasource
    from great_expectations.expectations import Expectation

EXAMPLE_ROWS = 5
# GX's own severity levels, shown on each expectation in Data Docs
SEVERITIES = {"blocking": "critical", "warning": "warning", "notice": "info"}
DATASOURCE = "warehouse"
REQUIRED = ("name", "severity", "alert_role", "table", "description", "what_to_do")


class CheckDefinitionError(ValueError):
    """A check in expectations/consistency is not written the way the gate reads checks."""


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
    docs_url: str | None = None  # the Data Docs page of the validation that holds this result (file:// URL)
    docs_path: str | None = None  # the same page relative to the reports folder

    @property
    def message(self) -> str:
        if self.success:
            return f"{self.family}.{self.name}: passed"
        return (
            f"{self.family}.{self.name} ({self.severity}): {self.description} Failed on "
            f"{self.unexpected_count} row(s), e.g. {self.examples[:3]}. What to do: {self.what_to_do}"
        )


def load_checks(directory: Path | None = None) -> list[dict]:
    checks = []
    for path in sorted((directory or settings.expectations_dir() / "consistency").glob("*.yml")):
        spec = yaml.safe_load(path.read_text())
        keys = spec.get("keys") or {}
        for check in spec["checks"]:
            _check_definition(path, check)
            checks.append({**check, "family": spec["family"], "keys": list(keys.get(check["table"]) or [])})
    return checks


def _check_definition(path: Path, check: dict) -> None:
    where = f"{path}, check {check.get('name', '(no name)')}"
    missing = [k for k in REQUIRED if not check.get(k)]
    if missing:
        raise CheckDefinitionError(f"{where}: missing {', '.join(missing)}. Every check states {', '.join(REQUIRED)}.")
    if check["severity"] not in SEVERITIES:
        raise CheckDefinitionError(f"{where}: severity {check['severity']!r} is none of {', '.join(SEVERITIES)}.")
    if bool(check.get("expectation")) == bool(check.get("unexpected_rows_query")):
        raise CheckDefinitionError(
            f"{where}: give either `expectation` (a GX expectation class such as ExpectColumnValuesToBeBetween, "
            "with its `kwargs`) or `unexpected_rows_query` (SQL returning the rows that break the check), not both "
            "or neither."
        )


def _sqlalchemy_url(url: str) -> str:
    # the application name lets an operator (and a test) see the gate's connections in pg_stat_activity
    joiner = "&" if "?" in url else "?"
    return "postgresql+psycopg2://" + url.split("://", 1)[1] + joiner + "application_name=cspwh_consistency_gate"


def _plain(value: object) -> object:
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    return value


def run(build_schema: str, run_id: str) -> list[CheckResult]:
    from cspwh.warehouse import gx_context

    checks = load_checks()
    with gx_context.project_lock():
        results = _run(checks, build_schema, run_id)
    _record(results, run_id)
    return results


def _run(checks: list[dict], build_schema: str, run_id: str) -> list[CheckResult]:
    from cspwh.warehouse import gx_context

    marts = f"{build_schema}_marts"
    ctx = gx_context.context()
    os.environ[gx_context.URL_VARIABLE] = _sqlalchemy_url(settings.warehouse_url())
    with gx_context.quiet():
        source = ctx.data_sources.add_or_update_postgres(
            DATASOURCE, connection_string="${" + gx_context.URL_VARIABLE + "}"
        )
    by_check: dict[str, CheckResult] = {}
    try:
        suites: dict[tuple[str, str], list[dict]] = {}
        for check in checks:
            suites.setdefault((check["family"], check["table"]), []).append(check)
        validated = [
            _run_suite(ctx, source, family, table, group, marts, run_id) for (family, table), group in suites.items()
        ]
        with gx_context.quiet():
            # once for the night, not by each checkpoint's UpdateDataDocsAction: GX re-renders the index and
            # compiles its templates on every build, which took longer than the checks themselves
            ctx.build_data_docs(
                site_names=[gx_context.SITE],
                resource_identifiers=[i for identifiers, _ in validated for i in identifiers],
            )
        for (result_identifier, _), results in validated:
            [page] = ctx.get_docs_sites_urls(resource_identifier=result_identifier, site_names=[gx_context.SITE])
            for result in results:
                result.docs_url, result.docs_path = page["site_url"], _relative_to_reports(page["site_url"])
                by_check[f"{result.family}.{result.name}"] = result
    finally:
        _dispose(source)  # a long-lived worker must not keep one engine (and its connections) per night
    return [by_check[f"{c['family']}.{c['name']}"] for c in checks]


def _run_suite(
    ctx: FileDataContext,
    source: PostgresDatasource,
    family: str,
    table: str,
    checks: list[dict],
    marts: str,
    run_id: str,
) -> tuple[tuple, list[CheckResult]]:
    """Runs the suite's checkpoint; returns what Data Docs should render (the validation result and the suite) and
    the checks' results."""
    import great_expectations as gx
    from great_expectations.core.run_identifier import RunIdentifier
    from great_expectations.data_context.types.resource_identifiers import ExpectationSuiteIdentifier

    from cspwh.warehouse import gx_context

    name = f"{family}.{table}"
    with gx_context.quiet():
        with contextlib.suppress(LookupError):
            source.delete_asset(table)  # last night's asset reads last night's build
        # a query asset names the build's schema itself (GX deprecates a table asset's schema_name)
        asset = source.add_query_asset(table, query=f'select * from "{marts}"."{table}"')
        batch_definition = asset.add_batch_definition_whole_table("whole")
        # built whole and saved once: adding expectations one by one to a suite the project already holds saves it
        # again on every one
        suite = ctx.suites.add_or_update(
            gx.ExpectationSuite(
                name=name,
                expectations=[_expectation(check, marts) for check in checks],
                meta={"family": family, "table": table, "build": marts},
            )
        )
        validation = ctx.validation_definitions.add_or_update(
            gx.ValidationDefinition(name=name, data=batch_definition, suite=suite)
        )
        keys = checks[0]["keys"]
        checkpoint = ctx.checkpoints.add_or_update(
            gx.Checkpoint(
                name=f"consistency.{name}",
                validation_definitions=[validation],
                # COMPLETE: GX returns a custom query's rows only then (at most 200); a failing declarative check shows
                # which rows (by the mart's keys) and values broke it
                result_format={
                    "result_format": "COMPLETE",
                    "partial_unexpected_count": EXAMPLE_ROWS,
                    "return_unexpected_index_query": False,
                    **({"unexpected_index_column_names": keys} if keys else {}),
                },
            )
        )
        try:
            outcome = checkpoint.run(run_id=RunIdentifier(run_name=run_id))
        except Exception as exc:
            # a check that cannot run must never read as passed
            raise RuntimeError(
                f"consistency checks {', '.join(f'{family}.' + c['name'] for c in checks)} on "
                f"{marts}.{table} could not run: {exc}"
            ) from exc
    [(identifier, validation_result)] = outcome.run_results.items()
    by_name: dict[str, ExpectationValidationResult] = {}
    for r in validation_result.results:
        assert r.expectation_config is not None  # GX gives each result the configuration of the expectation it ran
        by_name[r.expectation_config.meta["check"]] = r
    return (
        (identifier, ExpectationSuiteIdentifier(name=name)),
        [_result(check, by_name[check["name"]]) for check in checks],
    )


def _expectation(check: dict, marts: str) -> Expectation:
    import great_expectations as gx

    common = {
        "description": check["description"],
        "severity": SEVERITIES[check["severity"]],
        "meta": {"check": check["name"], "alert_role": check["alert_role"], "what_to_do": check["what_to_do"]},
    }
    if check.get("unexpected_rows_query"):
        # GX's own {batch} substitution differs between its metrics and Postgres versions (aliased or not), so the
        # table is named here and the query is plain SQL on every server
        query = check["unexpected_rows_query"].replace("{batch}", f"{marts}.{check['table']}").replace("{marts}", marts)
        return gx.expectations.UnexpectedRowsExpectation(unexpected_rows_query=query, **common)
    kind = getattr(gx.expectations, check["expectation"], None)
    if kind is None:
        raise CheckDefinitionError(
            f"consistency check {check['family']}.{check['name']}: GX has no expectation "
            f"{check['expectation']!r}; use a class name from great_expectations.expectations "
            "(e.g. ExpectColumnValuesToBeBetween)."
        )
    try:
        return kind(**(check.get("kwargs") or {}), **common)
    except Exception as exc:  # pydantic names the wrong or missing argument
        raise CheckDefinitionError(
            f"consistency check {check['family']}.{check['name']}: {check['expectation']} "
            f"does not take these kwargs: {exc}"
        ) from exc


def _relative_to_reports(url: str | None) -> str | None:
    if not url:
        return None
    path = Path(url.removeprefix("file://"))
    try:
        return str(path.relative_to(settings.reports_dir()))
    except ValueError:
        return None


def _result(check: dict, outcome: ExpectationValidationResult) -> CheckResult:
    error = _raised(outcome.exception_info)
    if error:
        # a check that cannot run must never read as passed
        raise RuntimeError(f"consistency check {check['family']}.{check['name']} could not run: {error}")
    result = outcome.result or {}
    if check.get("unexpected_rows_query"):
        rows = (result.get("details") or {}).get("unexpected_rows") or []
        count, examples = int(result.get("observed_value") or len(rows)), rows
    elif "unexpected_count" in result:  # a column map expectation: rows, by the mart's keys if it has them
        count = int(result["unexpected_count"] or 0)
        examples = result.get("partial_unexpected_index_list") or [
            {"value": v} for v in result.get("partial_unexpected_list") or []
        ]
    else:  # an aggregate expectation (a row count, a set of values): what GX observed
        count = 0 if outcome.success else 1
        examples = (
            []
            if outcome.success
            else [{"observed_value": result.get("observed_value"), **(result.get("details") or {})}]
        )
    return CheckResult(
        family=check["family"],
        name=check["name"],
        severity=check["severity"],
        alert_role=check["alert_role"],
        success=bool(outcome.success),
        unexpected_count=count,
        examples=[{k: _plain(v) for k, v in dict(r).items()} for r in examples[:EXAMPLE_ROWS]],
        description=check["description"],
        what_to_do=check["what_to_do"],
    )


def _raised(info: object) -> str | None:
    """GX nests exception details per metric; find any that raised."""
    if not isinstance(info, dict):
        return None
    if info.get("raised_exception"):
        return str(info.get("exception_message"))
    return next((m for m in (_raised(v) for v in info.values()) if m), None)


def _dispose(source: object) -> None:
    engines = [getattr(source, "_engine", None), getattr(getattr(source, "_execution_engine", None), "engine", None)]
    for engine in engines:
        if engine is not None:
            engine.dispose()


def _record(results: list[CheckResult], run_id: str) -> None:
    with db.transaction() as conn, conn.cursor() as cur:
        for r in results:
            details = {"unexpected_count": r.unexpected_count, "examples": r.examples}
            if not r.success:
                details |= {"docs_url": r.docs_url, "docs_path": r.docs_path}
            cur.execute(
                """insert into audit.check_results
                       (run_id, gate, check_name, severity, success, alert_role, message, details)
                   values (%s, 'consistency', %s, %s, %s, %s, %s, %s)""",
                (run_id, f"{r.family}.{r.name}", r.severity, r.success, r.alert_role, r.message, Jsonb(details)),
            )


def blocking_failures(results: list[CheckResult]) -> list[CheckResult]:
    return [r for r in results if not r.success and r.severity == "blocking"]

"""File gate: a landed file against its feed's contract, with Great Expectations, before anything reaches raw.

The GX suite is built from the contract (never hand-copied per feed). Every finding says what was wrong, where (feed,
file, line, column), shows a few example values (never from personal-data columns) and what to do. Blocking findings
quarantine the file; warnings (a non-standard spelling, a dd/mm/yyyy date, a late or restating file, a new layout)
let it load and are recorded so the partner lead hears of them.
"""
from __future__ import annotations

import dataclasses
import statistics

import psycopg

from cspwh import reference, values
from cspwh.contracts import Column, Entity, Layout
from cspwh.file_reader import Table, Unreadable, read
from cspwh.landing import LandedFile

EXAMPLES = 5


@dataclasses.dataclass
class ParsedFile:
    """The file's rows under the contract's column names, in the matched layout."""
    table: Table
    layout: Layout
    columns: list[str]  # contract column name of each position
    rows: list[list[str | None]]
    line_numbers: list[int]

    def header_of(self, name: str) -> str:
        return self.layout.headers[self.layout.names.index(name)]


@dataclasses.dataclass
class Finding:
    check: str
    message: str
    what_to_do: str
    column: str | None = None
    unexpected_count: int | None = None
    example_lines: list[int] = dataclasses.field(default_factory=list)
    examples: list[str] = dataclasses.field(default_factory=list)
    severity: str = "blocking"

    def as_text(self) -> str:
        where = f" (lines {', '.join(map(str, self.example_lines))})" if self.example_lines else ""
        shown = f" e.g. {', '.join(repr(e) for e in self.examples)}" if self.examples else ""
        return f"- [{self.check}] {self.message}{where}{shown}. What to do: {self.what_to_do}"


@dataclasses.dataclass
class GateResult:
    findings: list[Finding]
    parsed: ParsedFile | None
    checks_run: list[tuple[str, bool]]

    @property
    def passed(self) -> bool:
        return not self.blocking

    @property
    def blocking(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "blocking"]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "warning"]

    def reason(self, landed: LandedFile) -> str:
        head = (f"Feed {landed.feed}, file {landed.file_name} (sha256 {landed.content_hash[:12]}): "
                f"{len(self.blocking)} check(s) failed; nothing from this file was loaded.")
        return "\n".join([head] + [f.as_text() for f in self.blocking])


# --- layout --------------------------------------------------------------------------------------------------------

def match_layout(table: Table, entity: Entity) -> tuple[Layout | None, Finding | None]:
    """The layout whose headers the file has (in order; any order for JSON), or a finding naming the differences."""
    ordered = entity.format != "json"
    for layout in entity.layouts:
        if (list(layout.headers) == table.header) if ordered else (set(layout.headers) >= set(table.header)):
            return layout, None
    best = min(entity.layouts, key=lambda lay: len(set(lay.headers) ^ set(table.header)))
    missing = [h for h in best.headers if h not in table.header]
    extra = [h for h in table.header if h not in best.headers]
    parts = ([f"missing {', '.join(repr(m) for m in missing)}"] if missing else []) + \
            ([f"unexpected {', '.join(repr(x) for x in extra)}"] if extra else [])
    known = " or ".join(f"{lay.version} ({', '.join(lay.headers)})" for lay in entity.layouts)
    where = entity.contract_path.relative_to(entity.contract_path.parents[2])
    if len(entity.layouts) == 1:
        message = (f"the header does not match the contract's {len(best.headers)} columns: "
                   f"{'; '.join(parts) or 'same columns in a different order'}")
        todo = f"re-export with exactly these columns in this order: {', '.join(best.headers)} ({where})"
    else:
        message = (f"the header matches no known layout; nearest is {best.version}: "
                   f"{'; '.join(parts) or 'same columns in a different order'}")
        todo = (f"if the provider changed the return, the platform team adds the new layout to {where} "
                f"(known: {known}); otherwise resend in a known layout")
    return None, Finding("columns", message, todo, example_lines=[1] if entity.format != "json" else [])


def _arrange(table: Table, layout: Layout) -> ParsedFile:
    positions = [table.header.index(h) if h in table.header else None for h in layout.headers]
    rows = [[row[p] if p is not None else None for p in positions] for row in table.rows]
    return ParsedFile(table, layout, list(layout.names), rows, table.line_numbers)


# --- derived columns: what GX checks beyond the raw text ----------------------------------------------------------

def _derived(parsed: ParsedFile, entity: Entity, landed: LandedFile) -> dict[str, list]:
    """Per-row helper columns (raw value where a rule is broken, else None) for the GX suite to check."""
    derived: dict[str, list] = {}
    bounds = values.period_bounds(landed.period) if landed.period else None
    for i, name in enumerate(parsed.columns):
        col = entity.column(name)
        raw = [row[i] for row in parsed.rows]
        if col.type in ("date", "timestamp"):
            parse = values.parse_date if col.type == "date" else values.parse_timestamp
            parsed_values = [parse(v) if v is not None else None for v in raw]
            derived[f"__bad__{name}"] = [v if v is not None and p is None else None for v, p in zip(raw, parsed_values)]
            derived[f"__variant__{name}"] = [v if p is not None and p[1] != "iso" else None
                                             for v, p in zip(raw, parsed_values)]
            if col.within_file_period and bounds:
                low, high = bounds
                derived[f"__outside__{name}"] = [
                    v if p is not None and not (low <= (p[0].date() if hasattr(p[0], "date") else p[0]) <= high)
                    else None for v, p in zip(raw, parsed_values)]
        if col.type == "district":
            resolved = [reference.resolve_geography(v) if v is not None else None for v in raw]
            derived[f"__unresolved__{name}"] = [v if v is not None and r is None else None
                                                for v, r in zip(raw, resolved)]
            derived[f"__alias__{name}"] = [v if r is not None and not r[1] else None for v, r in zip(raw, resolved)]
            if entity.expect_all_districts == name:
                derived[f"__code__{name}"] = [r[0] if r else None for r in resolved]
    return derived


SHAPES = {
    "integer": (r"^-?\d+$", "a whole number"),
    "numeric": (r"^-?\d+(?:\.\d+)?$", "a number"),
    "boolean": (r"^(?i:true|false|yes|no|y|n|1|0)$", "true or false"),
}


def build_suite(entity: Entity, parsed: ParsedFile, landed: LandedFile, derived: dict, bounds):
    import great_expectations as gx

    E = gx.expectations
    suite = gx.ExpectationSuite(name=f"{entity.feed}.{entity.name}.file_gate")

    def add(expectation, check, column=None, severity="blocking", **meta):
        expectation.meta = {"check": check, "column": column, "severity": severity, **meta}
        suite.add_expectation(expectation)

    for name in parsed.columns:
        col = entity.column(name)
        if col.required:
            add(E.ExpectColumnValuesToNotBeNull(column=name), "required", name)
        pattern, shape = (col.pattern, col.format) if col.pattern else SHAPES.get(col.type, (None, None))
        if pattern:
            add(E.ExpectColumnValuesToMatchRegex(column=name, regex=pattern), "format", name, shape=shape)
        if col.allowed_values:
            add(E.ExpectColumnValuesToBeInSet(column=name, value_set=list(col.allowed_values)), "allowed_values",
                name)
        if col.matches_file_period and landed.period:
            add(E.ExpectColumnValuesToBeInSet(column=name, value_set=[landed.period]), "file_period", name)
    for key in derived:
        kind, name = key[2:].split("__", 1)
        if kind == "code":
            codes = [d["geography_code"] for d in reference.districts()]
            add(E.ExpectColumnDistinctValuesToContainSet(column=key, value_set=codes), "all_districts", name)
            continue
        severity = "warning" if kind in ("variant", "alias") else "blocking"
        add(E.ExpectColumnValuesToBeNull(column=key), kind, name, severity)
    if entity.key:
        add(E.ExpectCompoundColumnsToBeUnique(column_list=list(entity.key)) if len(entity.key) > 1
            else E.ExpectColumnValuesToBeUnique(column=entity.key[0]), "unique_key", ",".join(entity.key))
    if bounds:
        low, high, median = bounds
        add(E.ExpectTableRowCountToBeBetween(min_value=low, max_value=high), "volume", median=median)
    return suite


# --- findings ---------------------------------------------------------------------------------------------------

def _finding(result, entity: Entity, parsed: ParsedFile, landed: LandedFile) -> Finding:
    meta = result.expectation_config.meta
    check, name, severity = meta["check"], meta["column"], meta["severity"]
    res = result.result or {}
    col: Column | None = entity.column(name) if name and name in parsed.columns else None
    header = parsed.header_of(name) if col else name
    indexes = res.get("partial_unexpected_index_list") or []
    lines = [parsed.line_numbers[i] for i in indexes[:EXAMPLES] if isinstance(i, int)]
    shown = [] if (col and col.personal) else [v for v in (res.get("partial_unexpected_list") or [])[:EXAMPLES]]
    count = res.get("unexpected_count")
    c = f"column '{header}'"
    period = landed.period

    def f(message, todo):
        return Finding(f"{check}:{header}" if col else check, message, todo, header, count, lines, shown, severity)

    if check == "required":
        return f(f"{c} is empty on {count} row(s)", f"fill {header} on every row and resend")
    if check == "format":
        shape = meta.get("shape") or f"the pattern {col.pattern}"
        return f(f"{c} has {count} value(s) not shaped as {shape}", f"correct the values to {shape} and resend")
    if check == "allowed_values":
        return f(f"{c} has {count} value(s) outside the {len(col.allowed_values)} allowed codes",
                 f"use only the codes listed for {header} in the contract, or ask the platform team to add a new code")
    if check == "file_period":
        return f(f"{c} has {count} row(s) for a month other than the file's {period}",
                 "send one file per month, named for the month its rows belong to")
    if check == "bad":
        return f(f"{c} has {count} value(s) that are not {'dates' if col.type == 'date' else 'date-times'}",
                 f"send {header} as YYYY-MM-DD{'' if col.type == 'date' else ' HH:MM'}")
    if check == "variant":
        return f(f"{c} has {count} value(s) as dd/mm/yyyy or Excel serial numbers; they were converted on load",
                 f"send {header} as YYYY-MM-DD{'' if col.type == 'date' else ' HH:MM'} (ISO 8601)")
    if check == "outside":
        return f(f"{c} has {count} date(s) outside the extract period {period}",
                 "check the extract's date filter and resend the period's file")
    if check == "unresolved":
        return f(f"{c} has {count} value(s) that are not a district of the partnership",
                 "use the district's name (see sources/reference/geographies.csv)")
    if check == "alias":
        return f(f"{c} has {count} value(s) spelt other than the canonical district name; they were matched through "
                 "sources/reference/geography_aliases.csv", "use the canonical district names in the extract")
    if check == "all_districts":
        absent = set(res.get("partial_missing_list") or [])
        missing = [d["geography_name"] for d in reference.districts() if d["geography_code"] in absent]
        return Finding(f"all_districts:{header}", f"no rows for {', '.join(missing)}: every district of the "
                       "partnership must be in the return", "add the missing district's rows (0 where there were "
                       "none) and resend", header, len(missing), [], [], severity)
    if check == "unique_key":
        return Finding("unique_key", f"key ({name}) is repeated on {count} row(s)",
                       "each row must have its own key; remove duplicate rows and resend", name, count, lines,
                       [], severity)
    if check == "volume":
        low, high = result.expectation_config.kwargs["min_value"], result.expectation_config.kwargs["max_value"]
        return Finding("volume", f"the file has {res.get('observed_value')} rows; this stream's recent files had a "
                       f"median of {meta['median']:g} (expected {low} to {high})",
                       "check the extract is complete (no filter or cut-off) and resend; if the change is genuine "
                       "(an event, a lockdown, a recording change), tell the platform team so the file can be accepted",
                       severity=severity)
    return Finding(check, f"expectation {result.expectation_config.type} failed", "see the contract",
                   severity=severity)


# --- history: what earlier files of the same stream say about this one ------------------------------------------

def volume_bounds(conn: psycopg.Connection, entity: Entity, landed: LandedFile):
    if not entity.volume:
        return None
    history = [r[0] for r in conn.execute(
        """select rows from landing.file_manifest
            where feed = %s and entity = %s and stream is not distinct from %s and outcome = 'loaded'
              and file_id <> %s and period is distinct from %s
            order by period desc nulls last, file_id desc limit %s""",
        (entity.feed, entity.name, landed.stream, landed.file_id, landed.period, entity.volume.history_files),
    ).fetchall()]
    if len(history) < entity.volume.min_history:
        return None
    median = statistics.median(history)
    return int(median * entity.volume.min_ratio), int(median * entity.volume.max_ratio) + 1, median


def history_findings(conn: psycopg.Connection, entity: Entity, landed: LandedFile, layout: Layout) -> list[Finding]:
    findings = []
    same_stream = """from landing.file_manifest where feed = %s and entity = %s and stream is not distinct from %s
                     and outcome = 'loaded' and file_id <> %s"""
    args = (entity.feed, entity.name, landed.stream, landed.file_id)
    if landed.period:
        restated = conn.execute(f"select file_name, received_at {same_stream} and period = %s "
                                "order by file_id desc limit 1", (*args, landed.period)).fetchone()
        if restated:
            findings.append(Finding(
                "restatement", f"the file restates period {landed.period}, already loaded from {restated[0]} "
                f"received {restated[1]:%Y-%m-%d}; the new file replaces it", "nothing, if the correction is "
                "intended; figures already reported for that period may change", severity="warning"))
        latest = conn.execute(f"select max(period) {same_stream}", args).fetchone()[0]
        if latest and landed.period < latest and not restated:
            findings.append(Finding(
                "late", f"the file for {landed.period} arrived after files for later periods (latest loaded: "
                f"{latest})", "send each period's file when it falls due", severity="warning"))
    if len(entity.layouts) > 1:
        previous = conn.execute(f"select layout_version {same_stream} order by file_id desc limit 1", args).fetchone()
        if previous and previous[0] and previous[0] != layout.version:
            findings.append(Finding(
                "layout_change", f"the file uses layout {layout.version} ({layout.note or 'see the contract'}); the "
                f"previous file used {previous[0]}: a series break", "check the provider or contract change is known; "
                "figures either side are flagged, not compared silently", severity="warning"))
    return findings


# --- the gate ---------------------------------------------------------------------------------------------------

def check(conn: psycopg.Connection, entity: Entity | None, landed: LandedFile, pattern_hint: str = "") -> GateResult:
    if entity is None:
        return GateResult([Finding("file_name", f"the file name does not match any of the feed's file patterns "
                                   f"({pattern_hint})", "rename the file as the contract says and resend")], None,
                          [("file_name", False)])
    try:
        table = read(landed.path, entity)
    except Unreadable as exc:
        return GateResult([Finding(exc.check, exc.message, exc.what_to_do, example_lines=exc.lines)], None,
                          [(exc.check, False)])
    findings = []
    if table.encoding_used and table.encoding_used != entity.encoding:
        findings.append(Finding("encoding", f"the file is {table.encoding_used}"
                                f"{' with a UTF-8 byte order mark' if table.had_bom else ''}, not {entity.encoding}; "
                                f"it was decoded as {table.encoding_used}", f"export the file as {entity.encoding}",
                                severity="warning"))
    layout, problem = match_layout(table, entity)
    if problem:
        return GateResult(findings + [problem], None, [("columns", False)])
    parsed = _arrange(table, layout)
    findings += history_findings(conn, entity, landed, layout)

    import pandas as pd

    derived = _derived(parsed, entity, landed)
    frame = pd.DataFrame(parsed.rows, columns=parsed.columns, dtype="object")
    for key, column in derived.items():
        frame[key] = pd.Series(column, dtype="object")
    batch_definition = _batch_definition(entity.feed, entity.name)  # creates the GX context the suite needs
    suite = build_suite(entity, parsed, landed, derived, volume_bounds(conn, entity, landed))
    batch = batch_definition.get_batch(batch_parameters={"dataframe": frame})
    result = batch.validate(suite, result_format={"result_format": "SUMMARY", "partial_unexpected_count": EXAMPLES})
    checks_run = [("columns", True)]
    for r in result.results:
        meta = r.expectation_config.meta
        header = parsed.header_of(meta["column"]) if meta.get("column") in parsed.columns else meta.get("column")
        checks_run.append((f"{meta['check']}:{header}" if header and meta["check"] != "unique_key"
                           else meta["check"], bool(r.success)))
        if not r.success:
            findings.append(_finding(r, entity, parsed, landed))
    return GateResult(findings, parsed, checks_run)


def _batch_definition(feed: str, entity: str):
    from cspwh.gx_context import context

    ctx = context()
    try:
        source = ctx.data_sources.get("landed_files")
    except (KeyError, ValueError):
        source = ctx.data_sources.add_pandas("landed_files")
    name = f"{feed}.{entity}"
    try:
        asset = source.get_asset(name)
    except LookupError:
        asset = source.add_dataframe_asset(name)
    try:
        return asset.get_batch_definition("file")
    except (KeyError, LookupError, ValueError):
        return asset.add_batch_definition_whole_dataframe("file")

"""File gate: a landed file against its feed's contract, before anything of it is published in raw.

The checks are built from the contract (never hand-copied per feed) as per-row SQL over the staged file
(landed_file.py). The loader evaluates them in the same pass that converts and copies the rows (Tally), and the load
commits only if no blocking check failed (judge). Every finding says what was wrong, where (feed, file, line,
column), shows a few example values (never from personal-data columns) and what to do. Blocking findings
quarantine the file; warnings (a non-standard spelling, a dd/mm/yyyy date, a late or restating file, a new layout)
let it load and are recorded so the partner lead hears of them.

Great Expectations runs the consistency gate on the built marts (consistency_gate.py). It is not used here: its
per-expectation scans of a pandas frame took 50 times a bare COPY on a million-row extract (bench/storm_load.py).
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import io
import os
import statistics
from pathlib import Path
from typing import Any

import duckdb
import psycopg

from cspwh import db
from cspwh.catalogue import reference
from cspwh.catalogue.contracts import Entity, Layout
from cspwh.ingest import file_periods, landed_file
from cspwh.ingest.file_reader import Unreadable, read
from cspwh.ingest.landed_file import BATCH_ROWS, StagedFile, ident, literal
from cspwh.ingest.landing import LandedFile

EXAMPLES = 5
FUTURE_TOLERANCE = dt.timedelta(days=1)  # clocks and time zones differ; a day ahead is already wrong
PARTIAL_SUFFIXES = (".part", ".partial", ".filepart", ".tmp", ".crdownload")  # uploads in progress


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
    checks_run: list[tuple[str, bool]]
    reread: bool = False  # DuckDB could not read the file as plain CSV: read it with file_reader.py instead
    restates: tuple | None = None  # (file_id, file_name, received_at, rows) of the loaded file this one restates

    @property
    def passed(self) -> bool:
        return not self.blocking

    @property
    def blocking(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "blocking"]

    @property
    def warnings(self) -> list[Finding]:
        """Everything that did not hold the file back: warnings, and notices of what was fixed on load."""
        return [f for f in self.findings if f.severity != "blocking"]

    def reason(self, landed: LandedFile) -> str:
        head = (
            f"Feed {landed.feed}, file {landed.file_name} (sha256 {landed.content_hash[:12]}): "
            f"{len(self.blocking)} check(s) failed; nothing from this file was loaded."
        )
        return "\n".join([head] + [f.as_text() for f in self.blocking])


# --- layout --------------------------------------------------------------------------------------------------------


def match_layout(header: list[str], entity: Entity) -> tuple[Layout | None, Finding | None]:
    """The layout whose headers the file has (in order; any order for JSON), or a finding naming the differences.

    The first line is file content: a file exported without its header row has a person's details there. So an
    unexpected header is quoted only when the line is a header after all (most of its fields are column names
    of the contract), and then cut short and made printable; otherwise the finding gives positions, not text."""
    ordered = entity.format != "json"
    for layout in entity.layouts:
        if (list(layout.headers) == header) if ordered else (set(layout.headers) >= set(header)):
            return layout, None
    known_headers = {h for lay in entity.layouts for h in lay.headers}
    is_header = sum(h in known_headers for h in header) * 2 >= max(len(header), 1)
    best = min(entity.layouts, key=lambda lay: len(set(lay.headers) ^ set(header)))
    missing = [h for h in best.headers if h not in header]
    extra = [(i, h) for i, h in enumerate(header, start=1) if h not in best.headers]
    where = entity.contract_path.relative_to(entity.contract_path.parents[2])
    if not is_header:
        message = (
            f"the first {'line' if ordered else 'record'} is not a header: {len(header) - len(extra)} of its "
            f"{len(header)} field(s) are column names of the contract, so the file was probably exported "
            "without its header row (the line itself is not shown: it may hold a person's details)"
        )
        todo = (
            f"re-export with the header row, exactly these columns in this order: {', '.join(best.headers)} ({where})"
        )
        return None, Finding("columns", message, todo, example_lines=[1] if ordered else [])
    shown = ", ".join(repr(_short(h)) for _, h in extra)
    parts = ([f"missing {', '.join(repr(m) for m in missing)}"] if missing else []) + (
        [f"unexpected {shown}"] if extra else []
    )
    known = " or ".join(f"{lay.version} ({', '.join(lay.headers)})" for lay in entity.layouts)
    if len(entity.layouts) == 1:
        message = (
            f"the header does not match the contract's {len(best.headers)} columns: "
            f"{'; '.join(parts) or 'same columns in a different order'}"
        )
        todo = f"re-export with exactly these columns in this order: {', '.join(best.headers)} ({where})"
    else:
        message = (
            f"the header matches no known layout; nearest is {best.version}: "
            f"{'; '.join(parts) or 'same columns in a different order'}"
        )
        todo = (
            f"if the provider changed the return, the platform team adds the new layout to {where} "
            f"(known: {known}); otherwise resend in a known layout"
        )
    return None, Finding("columns", message, todo, example_lines=[1] if entity.format != "json" else [])


def _short(text: str, limit: int = 40) -> str:
    from cspwh.ingest.landing import display_name

    text = display_name(text)
    return text if len(text) <= limit else text[:limit] + "..."


# --- the checks, as SQL over the staged file ----------------------------------------------------------------------

SHAPES = {
    "integer": (r"^-?\d{1,18}$", "a whole number"),  # 18 digits always fit the raw table's bigint
    "numeric": (r"^-?\d+(?:\.\d+)?$", "a number"),
    "boolean": (r"^(?i:true|false|yes|no|y|n|1|0)$", "true or false"),
}


@dataclasses.dataclass
class Check:
    kind: str  # required, format, allowed_values, file_period, bad, variant, outside, unresolved, alias
    column: str
    unexpected: str  # SQL: true on a row that breaks the check
    severity: str = "blocking"
    shape: str | None = None

    def name(self, staged: StagedFile) -> str:
        return f"{self.kind}:{staged.header_of(self.column)}"


def plan(entity: Entity, staged: StagedFile, landed: LandedFile) -> list[Check]:
    checks: list[Check] = []
    bounds = file_periods.period_bounds(landed.period) if landed.period else None
    for name in staged.columns:
        col, v = entity.column(name), f"src.{ident(name)}"
        if col.required:
            checks.append(Check("required", name, f"{v} is null"))
        pattern: str | None
        shape: str | None
        if col.pattern:
            pattern, shape = col.pattern, col.format
        else:
            pattern, shape = SHAPES.get(col.type, (None, None))
        if pattern:
            anchored = pattern if pattern.startswith("^") else "^" + pattern  # re.match semantics
            checks.append(
                Check("format", name, f"{v} is not null and not regexp_matches({v}, {literal(anchored)})", shape=shape)
            )
        if col.allowed_values:
            allowed = ", ".join(literal(a) for a in col.allowed_values)
            checks.append(Check("allowed_values", name, f"{v} is not null and {v} not in ({allowed})"))
        if col.matches_file_period and landed.period:
            checks.append(Check("file_period", name, f"{v} is not null and {v} <> {literal(landed.period)}"))
        if col.type in ("date", "timestamp"):
            parse, shape_of = ("parse_date", "date_shape") if col.type == "date" else ("parse_ts", "ts_shape")
            checks.append(Check("bad", name, f"{v} is not null and {parse}({v}) is null"))
            # converted on load: a notice (counted in the digest), not a problem a person must act on
            checks.append(Check("variant", name, f"{parse}({v}) is not null and {shape_of}({v}) <> 'iso'", "notice"))
            if col.not_after_now:  # an impossible future stamp must never reach raw (nor move an API cursor)
                latest = (dt.datetime.now(dt.UTC) + FUTURE_TOLERANCE).replace(tzinfo=None)
                checks.append(
                    Check(
                        "future",
                        name,
                        f"{parse}({v}) is not null and "
                        f"{parse}({v}) > timestamp '{latest.isoformat(sep=' ', timespec='seconds')}'",
                    )
                )
            if col.within_file_period and bounds:
                low, high = bounds
                checks.append(
                    Check(
                        "outside",
                        name,
                        f"{parse}({v}) is not null and {parse}({v})::date not between date '{low}' and date '{high}'",
                    )
                )
        if col.type == "district":
            checks.append(Check("unresolved", name, f"{v} is not null and district_code({v}) is null"))
            checks.append(Check("alias", name, f"not district_is_canonical({v})", "notice"))
    return checks


def _examples(
    cur: duckdb.DuckDBPyConnection, staged: StagedFile, entity: Entity, where: str, column: str | None
) -> tuple[list[int], list]:
    shown = column if column and not entity.column(column).personal else None
    value = f", src.{ident(shown)}" if shown else ""
    rows = cur.execute(f"select _line{value} from src where {where} order by _line limit {EXAMPLES}").fetchall()
    return [r[0] for r in rows], [r[1] for r in rows] if shown else []


def _message(check: Check, staged: StagedFile, entity: Entity, landed: LandedFile, count: int) -> tuple[str, str]:
    header = staged.header_of(check.column)
    col, c, kind = entity.column(check.column), f"column '{header}'", check.kind
    iso = f"YYYY-MM-DD{'' if col.type == 'date' else ' HH:MM'}"
    shaped = check.shape or f"the pattern {col.pattern}"  # a format check has a shape, or its column a pattern
    return {
        "required": lambda: (f"{c} is empty on {count} row(s)", f"fill {header} on every row and resend"),
        "format": lambda: (
            f"{c} has {count} value(s) not shaped as {shaped}",
            f"correct the values to {shaped} and resend",
        ),
        "allowed_values": lambda: (
            f"{c} has {count} value(s) outside the {len(col.allowed_values or ())} allowed codes",
            f"use only the codes listed for {header} in the contract, or ask the platform team to add a new code",
        ),
        "file_period": lambda: (
            f"{c} has {count} row(s) for a month other than the file's {landed.period}",
            "send one file per month, named for the month its rows belong to",
        ),
        "bad": lambda: (
            f"{c} has {count} value(s) that are not {'dates' if col.type == 'date' else 'date-times'}",
            f"send {header} as {iso}",
        ),
        "variant": lambda: (
            f"{c} has {count} value(s) as dd/mm/yyyy or Excel serial numbers; they were converted on load",
            f"send {header} as {iso} (ISO 8601)",
        ),
        "future": lambda: (
            f"{c} has {count} date-time(s) later than now (more than "
            f"{FUTURE_TOLERANCE.days} day ahead), which cannot be true",
            f"correct {header} at source and resend (an API page is asked for again on the next pull)",
        ),
        "outside": lambda: (
            f"{c} has {count} date(s) outside the extract period {landed.period}",
            "check the extract's date filter and resend the period's file",
        ),
        "unresolved": lambda: (
            f"{c} has {count} value(s) that are not a district of the partnership",
            "use the district's name (see sources/reference/geographies.csv)",
        ),
        "alias": lambda: (
            f"{c} has {count} value(s) spelt other than the canonical district name; they were "
            "matched through sources/reference/geography_aliases.csv",
            "use the canonical district names in the extract",
        ),
    }[kind]()


class Tally:
    """What the row checks need, gathered as the rows go past: for each check the number of rows breaking it, the
    key values (unique_key) and the district codes present (all_districts).

    The checks are per-row SQL expressions (`expressions`) that the loader selects beside the converted columns, so
    the file is read, converted and checked in one pass while Postgres copies it; `tally_file` gathers them from the
    file alone, for when there is no load to ride on."""

    def __init__(self, staged: StagedFile, entity: Entity, landed: LandedFile):
        self.checks = plan(entity, staged, landed)
        self.key = list(entity.key)
        self.district = entity.expect_all_districts if entity.expect_all_districts in staged.columns else None
        self.expressions = (
            [f"coalesce(({c.unexpected}), false)" for c in self.checks]
            + [f"src.{ident(k)}" for k in self.key]
            + ([f"district_code(src.{ident(self.district)})"] if self.district else [])
        )
        self.rows = 0
        self.failures = [0] * len(self.checks)
        self.key_chunks: list[list] = [[] for _ in self.key]
        self.districts: set[str] = set()

    def add(self, rows: int, columns: list) -> None:
        """One batch: `columns` are the Arrow arrays of `expressions`, in order."""
        import pyarrow.compute as pc

        self.rows += rows
        n = len(self.checks)
        for i, flags in enumerate(columns[:n]):
            self.failures[i] += pc.sum(flags).as_py() or 0
        for chunks, key_values in zip(self.key_chunks, columns[n : n + len(self.key)]):
            chunks.append(key_values)
        if self.district:
            self.districts.update(v for v in pc.unique(columns[-1]).to_pylist() if v is not None)

    def repeated_key_rows(self, cur: duckdb.DuckDBPyConnection) -> int:
        """Rows whose key another row also has (a key with any part present; nulls compare equal, as in SQL)."""
        import pyarrow as pa

        if not self.key or not self.rows:
            return 0
        keys = pa.table({f"k{i}": pa.chunked_array(chunks) for i, chunks in enumerate(self.key_chunks)})
        names = [f"k{i}" for i in range(len(self.key))]
        cur.register("tally_keys", keys)
        try:
            return cur.execute(f"""select coalesce(sum(n), 0)::bigint from (
                                     select count(*) as n from tally_keys
                                      where {" or ".join(f"{k} is not null" for k in names)}
                                      group by {", ".join(names)} having count(*) > 1)""").fetchall()[0][0]
        finally:
            cur.unregister("tally_keys")


def tally_file(staged: StagedFile, entity: Entity, tally: Tally) -> Tally:
    """The tally from the staged file alone (no load)."""
    cur = staged.cursor()
    try:
        query = f"select {', '.join(tally.expressions) or 'null'} from src"
        for batch in cur.sql(query).to_arrow_reader(BATCH_ROWS):
            tally.add(batch.num_rows, batch.columns if tally.expressions else [])
        return tally
    finally:
        cur.close()


def judge(
    staged: StagedFile,
    entity: Entity,
    landed: LandedFile,
    bounds: VolumeBounds | None,
    early: list[Finding],
    tally: Tally,
) -> GateResult:
    """The gate's verdict on a file from its tally, with example lines for every check that failed."""
    if not landed_file.lines_match(staged, tally.rows):
        return GateResult(list(early), [], reread=True)
    findings, checks_run = list(early), [("columns", True)]
    cur = staged.cursor()
    try:
        for check, count in zip(tally.checks, tally.failures):
            checks_run.append((check.name(staged), count == 0))
            if count:
                lines, shown = _examples(cur, staged, entity, check.unexpected, check.column)
                message, todo = _message(check, staged, entity, landed, count)
                header = staged.header_of(check.column)
                findings.append(
                    Finding(
                        check.name(staged),
                        message,
                        todo,
                        header,
                        count,
                        lines,
                        shown if check.kind != "required" else [],
                        check.severity,
                    )
                )
        if tally.district:
            header = staged.header_of(tally.district)
            missing = [d["geography_name"] for d in reference.districts() if d["geography_code"] not in tally.districts]
            checks_run.append((f"all_districts:{header}", not missing))
            if missing:
                findings.append(
                    Finding(
                        f"all_districts:{header}",
                        f"no rows for {', '.join(missing)}: every district of the partnership must be in the return",
                        "add the missing district's rows (0 where there were none) and resend",
                        header,
                        len(missing),
                    )
                )
        if entity.key:
            findings += _unique_key(cur, staged, entity, tally.repeated_key_rows(cur), checks_run)
        if bounds:
            low, high, median = bounds
            rows = tally.rows
            checks_run.append(("volume", low <= rows <= high))
            if not low <= rows <= high:
                findings.append(
                    Finding(
                        "volume",
                        f"the file has {rows} rows; this stream's recent files had a median of {median:g} "
                        f"(expected {low} to {high})",
                        "check the extract is complete (no filter or cut-off) and resend; "
                        "if the change is genuine (an event, a lockdown, a recording change), tell the platform "
                        "team so the file can be accepted",
                    )
                )
        return GateResult(findings, checks_run)
    finally:
        cur.close()


def run_checks(
    staged: StagedFile, entity: Entity, landed: LandedFile, bounds: VolumeBounds | None, early: list[Finding]
) -> GateResult:
    """Every row check over the file without loading it (one pass), then example lines for the ones that failed."""
    try:
        tally = tally_file(staged, entity, Tally(staged, entity, landed))
    except duckdb.Error:
        if staged.read_by_duckdb:  # not plain CSV after all: the file reader reads it
            return GateResult(list(early), [], reread=True)
        raise
    return judge(staged, entity, landed, bounds, early, tally)


def _unique_key(
    cur: duckdb.DuckDBPyConnection, staged: StagedFile, entity: Entity, count: int, checks_run: list[tuple[str, bool]]
) -> list[Finding]:
    checks_run.append(("unique_key", count == 0))
    if not count:
        return []
    keys = ", ".join(f"src.{ident(k)}" for k in entity.key)
    present = " or ".join(f"src.{ident(k)} is not null" for k in entity.key)
    repeated = f"({present}) and count(*) over (partition by {keys}) > 1"
    lines = [
        r[0]
        for r in cur.execute(
            f"select _line from (select _line, {repeated} as r from src) where r order by _line limit {EXAMPLES}"
        ).fetchall()
    ]
    return [
        Finding(
            "unique_key",
            f"key ({','.join(entity.key)}) is repeated on {count} row(s)",
            "each row must have its own key; remove duplicate rows and resend",
            ",".join(entity.key),
            count,
            lines,
        )
    ]


# --- history: what earlier files of the same stream say about this one ------------------------------------------


# (low, high, median): the rows a stream's next file is expected to have, from its recent files
VolumeBounds = tuple[int, int, float]


def volume_bounds(conn: psycopg.Connection, entity: Entity, landed: LandedFile) -> VolumeBounds | None:
    if not entity.volume:
        return None
    history = [
        r[0]
        for r in conn.execute(
            """select rows from landing.file_manifest
            where feed = %s and entity = %s and stream is not distinct from %s and outcome = 'loaded'
              and file_id <> %s and period is distinct from %s
            order by period desc nulls last, file_id desc limit %s""",
            (entity.feed, entity.name, landed.stream, landed.file_id, landed.period, entity.volume.history_files),
        ).fetchall()
    ]
    if len(history) < entity.volume.min_history:
        return None
    median = statistics.median(history)
    return int(median * entity.volume.min_ratio), int(median * entity.volume.max_ratio) + 1, median


def restated_file(conn: psycopg.Connection, entity: Entity, landed: LandedFile) -> tuple[Any, ...] | None:
    """(file_id, file_name, received_at, rows) of the loaded file of the same stream and period that this file would
    replace in staging (the latest, as dbt's latest_file_per_period keeps), or None."""
    if not landed.period:
        return None
    return conn.execute(
        """select file_id, file_name, received_at, rows from landing.file_manifest
            where feed = %s and entity = %s and stream is not distinct from %s and outcome = 'loaded'
              and file_id <> %s and period = %s
            order by file_id desc limit 1""",
        (entity.feed, entity.name, landed.stream, landed.file_id, landed.period),
    ).fetchone()


def history_findings(
    conn: psycopg.Connection, entity: Entity, landed: LandedFile, layout: Layout, restated: tuple | None = None
) -> list[Finding]:
    findings: list[Finding] = []
    same_stream = """from landing.file_manifest where feed = %s and entity = %s and stream is not distinct from %s
                     and outcome = 'loaded' and file_id <> %s"""
    args = (entity.feed, entity.name, landed.stream, landed.file_id)
    if landed.period:
        if restated:
            findings.append(
                Finding(
                    "restatement",
                    f"the file restates period {landed.period}, already loaded from {restated[1]} "
                    f"received {restated[2]:%Y-%m-%d} ({restated[3]} rows); the new file replaces it",
                    "nothing, if the correction is intended; figures already reported for that period may change",
                    severity="warning",
                )
            )
        latest = db.one(conn.execute(f"select max(period) {same_stream}", args))[0]
        # a period resent after its file was held back is a correction, not a late file
        resent = db.one(
            conn.execute(
                """select exists (select 1 from landing.file_manifest where feed = %s and entity = %s
                                         and stream is not distinct from %s and period = %s and file_id <> %s
                                         and outcome in ('quarantined', 'held'))""",
                (entity.feed, entity.name, landed.stream, landed.period, landed.file_id),
            )
        )[0]
        if latest and landed.period < latest and not restated and not resent:
            findings.append(
                Finding(
                    "late",
                    f"the file for {landed.period} arrived after files for later periods (latest loaded: {latest})",
                    "send each period's file when it falls due",
                    severity="warning",
                )
            )
    if len(entity.layouts) > 1:
        previous = conn.execute(f"select layout_version {same_stream} order by file_id desc limit 1", args).fetchone()
        if previous and previous[0] and previous[0] != layout.version:
            findings.append(
                Finding(
                    "layout_change",
                    f"the file uses layout {layout.version} ({layout.note or 'see the contract'}); the "
                    f"previous file used {previous[0]}: a series break",
                    "check the provider or contract change is known; "
                    "figures either side are flagged, not compared silently",
                    severity="warning",
                )
            )
    return findings


# Blocking findings a person may overrule for one file (`cspwh accept`): the file is plausible, only unusual.
ACCEPTABLE = ("restatement_shrink", "volume")


def max_shrink(entity: Entity) -> float:
    configured = os.environ.get("CSPWH_RESTATEMENT_MAX_SHRINK")
    return float(configured) if configured else entity.restatement_max_shrink


def shrink_findings(entity: Entity, landed: LandedFile, restated: tuple | None, rows: int) -> list[Finding]:
    """A restating file that would shrink its period by more than the configured share, or empty it, is held: the
    previous file stays in use until a person accepts the new one."""
    if not restated or landed.accepted:
        return []
    _, name, received, before = restated
    share = max_shrink(entity)
    if not before or (rows and rows >= before * (1 - share)):
        return []
    drop = "to nothing" if not rows else f"by {100 * (before - rows) / before:.0f}% (more than the {share:.0%} allowed)"
    new_received = f" received {landed.received_at:%Y-%m-%d}" if landed.received_at else ""
    return [
        Finding(
            "restatement_shrink",
            f"the file{new_received} restates period {landed.period} with {rows} row(s); the loaded file {name} "
            f"received {received:%Y-%m-%d} has {before} row(s): it would shrink the period {drop}. The file is held "
            f"and {name} stays in use",
            f"if the smaller file is right, accept it with: cspwh accept {landed.feed} {landed.file_id}; otherwise "
            "resend the period's complete file",
            unexpected_count=before - rows,
        )
    ]


# --- the gate ---------------------------------------------------------------------------------------------------


def _csv_header(path: Path, entity: Entity) -> list[str] | None:
    """The header row of a plain UTF-8 CSV, or None when it cannot be read that way (the reader will say why)."""
    with path.open("rb") as fh:
        first = fh.readline(1 << 20)
    try:
        return next(csv.reader(io.StringIO(first.decode("utf-8"), newline=""), delimiter=entity.delimiter), None)
    except (UnicodeDecodeError, csv.Error):
        return None


def open_file(
    conn: psycopg.Connection,
    entity: Entity | None,
    landed: LandedFile,
    pattern_hint: str = "",
    use_reader: bool = False,
) -> tuple[StagedFile | None, GateResult]:
    """The file staged under its layout, with what is known before the row checks (encoding, history); or, when it
    cannot be staged (name, encoding, shape, header), no staged file and the failed result."""
    if entity is None:
        partial = landed.file_name.endswith(PARTIAL_SUFFIXES)
        return None, GateResult(
            [
                Finding(
                    "file_name",
                    f"the file name does not match any of the feed's file patterns ({pattern_hint})"
                    + (
                        "; it looks like an upload that never completed (left longer than the upload grace period)"
                        if partial
                        else ""
                    ),
                    "resend the complete file" if partial else "rename the file as the contract says and resend",
                )
            ],
            [("file_name", False)],
        )
    if landed.period and not _real_period(landed.period):
        return None, GateResult(
            [
                Finding(
                    "file_name",
                    f"the period in the file name ({landed.period}) is not a real date or period",
                    "rename the file with the period its rows belong to and resend",
                )
            ],
            [("file_name", False)],
        )
    findings: list[Finding] = []
    header = None if use_reader or not landed_file.fast_path(landed.path, entity) else _csv_header(landed.path, entity)
    table = None
    if header is None:
        try:
            table = read(landed.path, entity)
        except Unreadable as exc:
            return None, GateResult(
                [Finding(exc.check, exc.message, exc.what_to_do, example_lines=exc.lines)], [(exc.check, False)]
            )
        header = table.header
        if table.encoding_used and table.encoding_used != entity.encoding:
            findings.append(
                Finding(
                    "encoding",
                    f"the file is {table.encoding_used}"
                    f"{' with a UTF-8 byte order mark' if table.had_bom else ''}, not "
                    f"{entity.encoding}; it was decoded as {table.encoding_used}",
                    f"export the file as {entity.encoding}",
                    severity="notice",
                )
            )
    layout, problem = match_layout(header, entity)
    if problem:
        return None, GateResult(findings + [problem], [("columns", False)])
    assert layout is not None  # match_layout gives a layout or a finding
    if table is None:
        try:
            staged = landed_file.from_csv(landed.path, entity, layout)
        except duckdb.Error:  # not plain CSV after all (a ragged row, a stray quote): the reader says where
            return open_file(conn, entity, landed, pattern_hint, use_reader=True)
    else:
        staged = landed_file.from_table(landed.path, table, layout)
    restated = restated_file(conn, entity, landed)
    findings += history_findings(conn, entity, landed, layout, restated)
    return staged, GateResult(findings, [("columns", True)], restates=restated)


def _real_period(period: str) -> bool:
    try:
        file_periods.period_bounds(period)
    except ValueError:  # 2022-13, 20221399: the shape is right, the date is not
        return False
    return True

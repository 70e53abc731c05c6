"""File gate: a landed file against its feed's contract, with Great Expectations, before anything reaches raw.

The GX suite is built from the contract (not hand-copied per feed). Every failure becomes a finding a person can act
on: what was wrong, where (feed, file, line, column), a few example values (never from personal-data columns) and
what to do.
"""
from __future__ import annotations

import csv
import dataclasses
import gzip
import io
import statistics
from pathlib import Path

import psycopg

from cspwh.contracts import Contract
from cspwh.landing import LandedFile

EXAMPLES = 5


@dataclasses.dataclass
class ParsedFile:
    header: list[str]
    rows: list[list[str]]
    line_numbers: list[int]


@dataclasses.dataclass
class Finding:
    check: str
    message: str
    what_to_do: str
    column: str | None = None
    unexpected_count: int | None = None
    example_lines: list[int] = dataclasses.field(default_factory=list)
    examples: list[str] = dataclasses.field(default_factory=list)

    def as_text(self) -> str:
        where = f" (lines {', '.join(map(str, self.example_lines))})" if self.example_lines else ""
        shown = f" e.g. {', '.join(repr(e) for e in self.examples)}" if self.examples else ""
        return f"- [{self.check}] {self.message}{where}{shown}. What to do: {self.what_to_do}"


@dataclasses.dataclass
class GateResult:
    passed: bool
    findings: list[Finding]
    parsed: ParsedFile | None
    checks_run: list[tuple[str, bool]]

    def reason(self, landed: LandedFile) -> str:
        head = (f"Feed {landed.feed}, file {landed.file_name} (sha256 {landed.content_hash[:12]}): "
                f"{len(self.findings)} check(s) failed; nothing from this file was loaded.")
        return "\n".join([head] + [f.as_text() for f in self.findings])


def read_text(path: Path, encoding: str) -> str:
    raw = path.read_bytes()
    if path.name.endswith(".gz"):
        raw = gzip.decompress(raw)
    return raw.decode(encoding)


def parse(path: Path, contract: Contract) -> tuple[ParsedFile | None, list[Finding]]:
    """Decode and split the file; a file that cannot be read as the contract's CSV fails here, before GX."""
    try:
        text = read_text(path, contract.encoding)
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        return None, [Finding("readable", f"the file cannot be decompressed or read ({exc})",
                              "resend the file; if gzipped, check the upload completed")]
    except UnicodeDecodeError as exc:
        raw = gzip.decompress(path.read_bytes()) if path.name.endswith(".gz") else path.read_bytes()
        line = raw[: exc.start].count(b"\n") + 1
        return None, [Finding("encoding", f"the file is not valid {contract.encoding}: byte {raw[exc.start]:#04x} "
                              f"at byte offset {exc.start}", f"export the file as {contract.encoding}",
                              example_lines=[line])]
    if text.startswith("\ufeff"):
        text = text[1:]
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=contract.delimiter)
    try:
        header = next(reader)
    except StopIteration:
        return None, [Finding("not_empty", "the file is empty (no header row)", "resend the complete extract")]
    rows, lines, ragged = [], [], []
    try:
        for row in reader:
            if row == []:
                continue
            if len(row) != len(header):
                ragged.append(reader.line_num)
            rows.append(row)
            lines.append(reader.line_num)
    except csv.Error as exc:
        return None, [Finding("csv", f"the file is not well-formed CSV: {exc}", "re-export the file as CSV",
                              example_lines=[reader.line_num])]
    if ragged:
        return None, [Finding("row_width", f"{len(ragged)} row(s) do not have the header's {len(header)} fields",
                              "re-export the file; check for unquoted delimiters in text fields",
                              unexpected_count=len(ragged), example_lines=ragged[:EXAMPLES])]
    return ParsedFile(header, rows, lines), []


def volume_bounds(conn: psycopg.Connection, contract: Contract, landed: LandedFile) -> tuple[int, int, float] | None:
    """Allowed row range from this stream's last loaded files, or None while there is too little history."""
    history = [r[0] for r in conn.execute(
        """select rows from landing.file_manifest
            where feed = %s and stream is not distinct from %s and outcome = 'loaded' and file_id <> %s
              and period is distinct from %s
            order by period desc nulls last, file_id desc limit %s""",
        (contract.feed, landed.stream, landed.file_id, landed.period, contract.volume.history_files),
    ).fetchall()]
    if len(history) < contract.volume.min_history:
        return None
    median = statistics.median(history)
    return int(median * contract.volume.min_ratio), int(median * contract.volume.max_ratio) + 1, median


def build_suite(contract: Contract, parsed: ParsedFile, landed: LandedFile, bounds):
    import great_expectations as gx

    E = gx.expectations
    suite = gx.ExpectationSuite(name=f"{contract.feed}.file_gate")
    suite.add_expectation(E.ExpectTableColumnsToMatchOrderedList(column_list=contract.headers,
                                                                 meta={"check": "columns"}))
    present = set(parsed.header)
    for col in contract.columns:
        if col.header not in present:
            continue
        if col.required:
            suite.add_expectation(E.ExpectColumnValuesToNotBeNull(column=col.header, meta={"check": "required"}))
        if col.pattern:
            suite.add_expectation(E.ExpectColumnValuesToMatchRegex(column=col.header, regex=col.pattern,
                                                                   meta={"check": "format"}))
        if col.allowed_values:
            suite.add_expectation(E.ExpectColumnValuesToBeInSet(column=col.header, value_set=list(col.allowed_values),
                                                                meta={"check": "allowed_values"}))
        if col.matches_file_period and landed.period:
            suite.add_expectation(E.ExpectColumnValuesToBeInSet(column=col.header, value_set=[landed.period],
                                                                meta={"check": "file_period"}))
    if bounds:
        low, high, median = bounds
        suite.add_expectation(E.ExpectTableRowCountToBeBetween(min_value=low, max_value=high,
                                                               meta={"check": "volume", "median": median}))
    return suite


def _finding(result, contract: Contract, parsed: ParsedFile, landed: LandedFile) -> Finding:
    cfg = result.expectation_config
    check = cfg.meta["check"]
    res = result.result or {}
    column_name = cfg.kwargs.get("column")
    col = contract.column(column_name) if column_name else None
    indexes = res.get("partial_unexpected_index_list") or []
    lines = [parsed.line_numbers[i] for i in indexes[:EXAMPLES]]
    values = [] if (col and col.personal) else [v for v in (res.get("partial_unexpected_list") or [])[:EXAMPLES]]
    count = res.get("unexpected_count")
    c = f"column '{column_name}'"
    if check == "columns":
        missing = [h for h in contract.headers if h not in parsed.header]
        extra = [h for h in parsed.header if h not in contract.headers]
        parts = ([f"missing {', '.join(repr(m) for m in missing)}"] if missing else []) + \
                ([f"unexpected {', '.join(repr(x) for x in extra)}"] if extra else [])
        detail = "; ".join(parts) or "same columns in a different order"
        return Finding("columns", f"the header does not match the contract's {len(contract.headers)} columns: "
                       f"{detail}", f"re-export with exactly these columns in this order: "
                       f"{', '.join(contract.headers)} ({contract.path.relative_to(contract.path.parents[2])})",
                       example_lines=[1])
    if check == "required":
        return Finding(f"required:{column_name}", f"{c} is empty on {count} row(s)",
                       f"fill {column_name} on every row and resend", column_name, count, lines)
    if check == "format":
        shape = col.format or f"the pattern {col.pattern}"
        return Finding(f"format:{column_name}", f"{c} has {count} value(s) not shaped as {shape}",
                       f"correct the values to {shape} and resend", column_name, count, lines, values)
    if check == "allowed_values":
        return Finding(f"allowed_values:{column_name}", f"{c} has {count} value(s) outside the "
                       f"{len(col.allowed_values)} allowed codes", f"use only the codes listed for {column_name} in "
                       "the contract, or ask the platform team to add a new code", column_name, count, lines, values)
    if check == "file_period":
        return Finding(f"file_period:{column_name}", f"{c} has {count} row(s) for a month other than the file's "
                       f"{landed.period}", "send one file per month, named for the month its rows belong to",
                       column_name, count, lines, values)
    if check == "volume":
        low, high, median = cfg.kwargs["min_value"], cfg.kwargs["max_value"], cfg.meta["median"]
        return Finding("volume", f"the file has {res.get('observed_value')} rows; this stream's recent files had a "
                       f"median of {median:g} (expected {low} to {high})",
                       "check the extract is complete (no filter or cut-off) and resend; if the change is genuine "
                       "(an event, a lockdown, a recording change), tell the platform team so the file can be accepted")
    return Finding(check, f"expectation {cfg.type} failed", "see the contract")


def check(conn: psycopg.Connection, contract: Contract, landed: LandedFile) -> GateResult:
    findings: list[Finding] = []
    match = contract.match_file(landed.file_name)
    if not match:
        findings.append(Finding("file_name", f"the file name does not match the feed's pattern "
                                f"{contract.file_pattern}", "rename the file as the contract says and resend"))
    parsed, parse_findings = parse(landed.path, contract)
    findings += parse_findings
    if parsed is None:
        return GateResult(False, findings, None, [(f.check, False) for f in findings])

    import pandas as pd

    frame = pd.DataFrame(parsed.rows, columns=_unique(parsed.header), dtype="object").replace("", None)
    batch_definition = _batch_definition(contract.feed)  # creates the GX context the suite needs
    suite = build_suite(contract, parsed, landed, volume_bounds(conn, contract, landed))
    batch = batch_definition.get_batch(batch_parameters={"dataframe": frame})
    result = batch.validate(suite, result_format={"result_format": "SUMMARY", "partial_unexpected_count": EXAMPLES})
    checks_run = []
    for r in result.results:
        name = r.expectation_config.meta["check"]
        column = r.expectation_config.kwargs.get("column")
        checks_run.append((f"{name}:{column}" if column else name, bool(r.success)))
        if not r.success:
            findings.append(_finding(r, contract, parsed, landed))
    return GateResult(not findings, findings, parsed, checks_run)


def _unique(header: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for h in header:
        seen[h] = seen.get(h, 0) + 1
        out.append(h if seen[h] == 1 else f"{h}.{seen[h]}")
    return out


def _batch_definition(feed: str):
    from cspwh.gx_context import context

    ctx = context()
    try:
        source = ctx.data_sources.get("landed_files")
    except (KeyError, ValueError):
        source = ctx.data_sources.add_pandas("landed_files")
    try:
        asset = source.get_asset(feed)
    except LookupError:
        asset = source.add_dataframe_asset(feed)
    try:
        return asset.get_batch_definition("file")
    except (KeyError, LookupError, ValueError):
        return asset.add_batch_definition_whole_dataframe("file")

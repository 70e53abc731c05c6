"""The as-published ledger (audit.reports + audit.reported_figures): every figure the board was shown, as printed.

`cspwh report` records the figures it prints; `cspwh ledger import FILE` loads figures published elsewhere (the
board's papers before the warehouse, ledger/board_published_figures.csv). A figure keeps its printed precision, so a
later value is a restatement only when it prints differently, and keeps what was printed beside it (period label,
RAG, rank, comparison word, footnote, source document and line). Figures the catalogue cannot key yet are kept,
marked unkeyed with the reason, so a catalogue entry added later keys them on the next import.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import re
from decimal import Decimal
from pathlib import Path

from cspwh import db
from cspwh.catalogue import indicators, reference
from cspwh.db import bootstrap

COLUMNS = (
    "report_quarter",
    "report_date",
    "report_title",
    "source_document",
    "source_line",
    "column_as_printed",
    "indicator_as_printed",
    "indicator_id",
    "geography_as_printed",
    "geography_code",
    "period_as_printed",
    "period_type",
    "period_label",
    "value",
    "unit",
    "comparator_as_printed",
    "rag",
    "rank_as_printed",
    "comparison_as_printed",
    "footnote",
    "note",
)
REQUIRED = (
    "report_quarter",
    "report_date",
    "source_document",
    "source_line",
    "column_as_printed",
    "indicator_as_printed",
    "value",
    "unit",
)
# the periods fct_kpi keys (dbt: int_reporting_periods); a year to date is read from papers but not in the mart
MART_PERIOD_TYPES = ("quarter", "rolling_12_months", "financial_year")
PERIOD_TYPES = (*MART_PERIOD_TYPES, "year_to_date")
QUARTER = r"(\d{4})-(\d{2})Q([1-4])"
PERIOD_LABELS = {
    "quarter": re.compile(rf"^{QUARTER}$"),
    "rolling_12_months": re.compile(rf"^R12 to {QUARTER}$"),
    "year_to_date": re.compile(rf"^YTD to {QUARTER}$"),
    "financial_year": re.compile(r"^(\d{4})-(\d{2})$"),
}
PERIOD_EXAMPLES = {
    "quarter": "2018-19Q1",
    "rolling_12_months": "R12 to 2018-19Q1",
    "year_to_date": "YTD to 2017-18Q3",
    "financial_year": "2017-18",
}
VALUE = re.compile(r"^-?\d+(\.\d+)?$")
RAGS = ("G", "A", "R")
ORIGIN = "ledger import"


class LedgerError(ValueError):
    """A ledger file that cannot be imported: every problem found, each with its line and column."""


@dataclasses.dataclass
class Figure:
    line: int  # in the ledger file
    row: dict
    decimals: int
    period_start: dt.date | None
    period_end: dt.date | None
    is_keyed: bool = True
    unkeyed_reason: str | None = None


def _quarter_bounds(fy_start: int, q: int) -> tuple[dt.date, dt.date]:
    month = 4 + (q - 1) * 3
    year = fy_start + (month > 12)
    month = (month - 1) % 12 + 1
    start = dt.date(year, month, 1)
    end = dt.date(year + (month + 3 > 12), (month + 2) % 12 + 1, 1) - dt.timedelta(days=1)
    return start, end


def period_bounds(period_type: str, label: str) -> tuple[dt.date, dt.date]:
    """First and last day of a period key, the way fct_kpi's int_reporting_periods labels it."""
    if period_type not in PERIOD_LABELS:
        raise ValueError(
            f"period_type must be one of {', '.join(PERIOD_TYPES)} (or empty when the paper states no "
            f"period), not {period_type!r}"
        )
    m = PERIOD_LABELS[period_type].match(label)
    if not m or (int(m.group(1)) + 1) % 100 != int(m.group(2)):
        raise ValueError(f"a {period_type} period_label looks like {PERIOD_EXAMPLES[period_type]!r}, not {label!r}")
    fy = int(m.group(1))
    if period_type == "financial_year":
        return dt.date(fy, 4, 1), dt.date(fy + 1, 3, 31)
    start, end = _quarter_bounds(fy, int(m.group(3)))
    if period_type == "rolling_12_months":
        start = dt.date(end.year - 1, end.month, 1) + dt.timedelta(days=32)
        start = start.replace(day=1)
    elif period_type == "year_to_date":
        start = dt.date(fy, 4, 1)
    return start, end


def read(path: Path) -> list[Figure]:
    """The ledger file's figures, validated; LedgerError lists every problem as file:line: column: what, what to do."""
    path = Path(path)
    if not path.is_file():
        raise LedgerError(
            f"{path}: no such file; give the path of a ledger CSV (e.g. ledger/board_published_figures.csv)"
        )
    problems: list[str] = []
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise LedgerError(f"{path}: not UTF-8 ({exc}); save the file as UTF-8 CSV") from None
    reader = csv.DictReader(text.splitlines())
    header = reader.fieldnames or []
    missing = [c for c in COLUMNS if c not in header]
    if missing:
        raise LedgerError(
            f"{path}:1: missing column(s) {', '.join(missing)}; the header must have "
            f"{','.join(COLUMNS)} (see ledger/README.md)"
        )
    units = tuple(indicators.UNITS)
    figures: list[Figure] = []
    seen: dict[tuple[str, str, str, str], int] = {}  # a figure's place on the page -> its line in the file
    for line, row in enumerate(reader, start=2):

        def bad(column: str, message: str, line: int = line) -> None:
            problems.append(f"{path}:{line}: column {column}: {message}")

        if None in row:
            bad(
                "(extra)",
                f"{len(row[None])} value(s) beyond the {len(header)} columns of the header; quote a "
                "value that contains a comma",
            )
            continue
        row = {k: (v or "").strip() for k, v in row.items()}
        for column in REQUIRED:
            if not row[column]:
                bad(column, "is empty; every figure needs it (see ledger/README.md)")
        if row["report_quarter"]:
            m = re.fullmatch(QUARTER, row["report_quarter"])
            if not m or (int(m.group(1)) + 1) % 100 != int(m.group(2)):
                bad("report_quarter", f"{row['report_quarter']!r} is not a financial quarter like 2018-19Q1")
        if row["report_date"]:
            try:
                dt.date.fromisoformat(row["report_date"])
            except ValueError:
                bad("report_date", f"{row['report_date']!r} is not a date; write it as YYYY-MM-DD")
        if row["source_line"] and not row["source_line"].isdigit():
            bad("source_line", f"{row['source_line']!r} is not a line number in the source document")
        decimals = 0
        if row["value"]:
            if not VALUE.match(row["value"]):
                bad(
                    "value",
                    f"{row['value']!r} is not a number; write the figure as printed without %, thousands "
                    "separators or footnote marks (put those in unit and footnote)",
                )
            else:
                decimals = len(row["value"].partition(".")[2])
        if row["unit"] and row["unit"] not in units:
            bad("unit", f"{row['unit']!r} is not one of {', '.join(units)}")
        if row["rag"] and row["rag"] not in RAGS:
            bad("rag", f"{row['rag']!r} is not a RAG letter (G, A or R; empty when none was printed)")
        start = end = None
        if row["period_type"] or row["period_label"]:
            try:
                start, end = period_bounds(row["period_type"], row["period_label"])
            except ValueError as exc:
                bad("period_type" if row["period_type"] not in PERIOD_TYPES else "period_label", str(exc))
        key = (row["source_document"], row["report_quarter"], row["source_line"], row["column_as_printed"])
        if key in seen:
            bad(
                "source_line",
                f"the figure at {row['source_document']}:{row['source_line']} "
                f"({row['column_as_printed']}) is already on line {seen[key]}; keep one",
            )
        seen[key] = line
        figures.append(Figure(line, row, decimals, start, end))
    if problems:
        shown = problems[:20]
        more = f"\n... and {len(problems) - 20} more" if len(problems) > 20 else ""
        raise LedgerError(
            f"{len(problems)} problem(s) in the ledger file; nothing was imported:\n" + "\n".join(shown) + more
        )
    if not figures:
        raise LedgerError(f"{path}: no figures under the header; nothing to import")
    return figures


def key(figures: list[Figure]) -> None:
    """Mark each figure keyed or unkeyed (with the reason) against the catalogue, the geographies and the periods."""
    catalogue = {i["id"]: i for i in indicators.catalogue()}
    codes = {g["geography_code"] for g in reference.geographies()}
    for f in figures:
        r = f.row
        reasons = []
        ind = catalogue.get(r["indicator_id"])
        if not r["indicator_id"]:
            reasons.append("indicator: no catalogue id given")
        elif ind is None:
            reasons.append(f"indicator: no {r['indicator_id']!r} in sources/reference/indicators.yml")
        elif ind["unit"] != r["unit"]:
            reasons.append(f"unit: printed as {r['unit']}, the catalogue's {ind['id']} is {ind['unit']}")
        if not r["geography_code"]:
            reasons.append(f"geography: {r['geography_as_printed'] or 'not printed'} has no code")
        elif r["geography_code"] not in codes:
            reasons.append(f"geography: no {r['geography_code']!r} in sources/reference/geographies.csv")
        if not r["period_type"]:
            reasons.append(f"period: {r['period_as_printed'] or 'not printed'} is not a definite period")
        elif r["period_type"] not in MART_PERIOD_TYPES:
            reasons.append(
                f"period: a {r['period_type'].replace('_', ' ')} ({r['period_as_printed']}) is not a "
                f"period the KPI mart keys ({', '.join(MART_PERIOD_TYPES)})"
            )
        if reasons and r["note"]:
            reasons.append(r["note"])
        f.is_keyed = not reasons
        f.unkeyed_reason = "; ".join(reasons) or None


def import_file(path: Path) -> dict:
    """Load a ledger file into audit.reports/audit.reported_figures in one transaction. Idempotent: a figure is one
    row per report, source line and column, so a re-import updates what changed and doubles nothing."""
    figures = read(path)
    key(figures)
    bootstrap.ensure()
    counts = {"figures": len(figures), "inserted": 0, "updated": 0, "unchanged": 0, "unkeyed": 0, "reports": 0}
    with db.transaction() as conn:
        report_ids: dict[tuple, int] = {}
        for f in figures:
            r = f.row
            paper = (r["source_document"], r["report_quarter"])
            if paper not in report_ids:
                report = conn.execute(
                    """insert into audit.reports (quarter, origin, source_document, report_date, title)
                       values (%s, %s, %s, %s, %s)
                       on conflict (source_document, quarter) where origin = 'ledger import'
                       do update set report_date = excluded.report_date, title = excluded.title
                       returning report_id""",
                    (r["report_quarter"], ORIGIN, r["source_document"], r["report_date"], r["report_title"] or None),
                )
                report_ids[paper] = db.one(report)[0]
            values = (
                report_ids[paper],
                r["indicator_id"] or None,
                r["geography_code"] or None,
                r["period_type"] or None,
                r["period_label"] or None,
                Decimal(r["value"]),
                f.decimals,
                r["unit"],
                f.period_start,
                f.period_end,
                r["rag"] or None,
                r["rank_as_printed"] or None,
                r["comparison_as_printed"] or None,
                r["indicator_as_printed"],
                r["geography_as_printed"] or None,
                r["period_as_printed"] or None,
                r["column_as_printed"],
                r["comparator_as_printed"] or None,
                r["footnote"] or None,
                r["note"] or None,
                int(r["source_line"]),
                f.is_keyed,
                f.unkeyed_reason,
            )
            row = conn.execute(
                """insert into audit.reported_figures as t (report_id, indicator_id, geography_code, period_type,
                       period_label, value, decimals, unit, period_start, period_end, rag, rank_as_printed,
                       comparison_as_printed, indicator_as_printed, geography_as_printed, period_as_printed,
                       column_as_printed, comparator_as_printed, footnote, note, source_line, is_keyed, unkeyed_reason)
                   values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
                   on conflict (report_id, source_line, column_as_printed) where source_line is not null
                   do update set indicator_id = excluded.indicator_id, geography_code = excluded.geography_code,
                       period_type = excluded.period_type, period_label = excluded.period_label,
                       value = excluded.value, decimals = excluded.decimals, unit = excluded.unit,
                       period_start = excluded.period_start, period_end = excluded.period_end, rag = excluded.rag,
                       rank_as_printed = excluded.rank_as_printed,
                       comparison_as_printed = excluded.comparison_as_printed,
                       indicator_as_printed = excluded.indicator_as_printed,
                       geography_as_printed = excluded.geography_as_printed,
                       period_as_printed = excluded.period_as_printed,
                       comparator_as_printed = excluded.comparator_as_printed, footnote = excluded.footnote,
                       note = excluded.note, is_keyed = excluded.is_keyed, unkeyed_reason = excluded.unkeyed_reason
                   where (t.indicator_id, t.geography_code, t.period_type, t.period_label, t.value, t.decimals, t.unit,
                          t.rag, t.rank_as_printed, t.comparison_as_printed, t.indicator_as_printed,
                          t.geography_as_printed, t.period_as_printed, t.comparator_as_printed, t.footnote, t.note,
                          t.is_keyed, t.unkeyed_reason)
                     is distinct from
                         (excluded.indicator_id, excluded.geography_code, excluded.period_type, excluded.period_label,
                          excluded.value, excluded.decimals, excluded.unit, excluded.rag, excluded.rank_as_printed,
                          excluded.comparison_as_printed, excluded.indicator_as_printed,
                          excluded.geography_as_printed, excluded.period_as_printed, excluded.comparator_as_printed,
                          excluded.footnote, excluded.note, excluded.is_keyed, excluded.unkeyed_reason)
                   returning (xmax = 0) as inserted""",
                values,
            ).fetchone()
            counts["inserted" if row and row[0] else "updated" if row else "unchanged"] += 1
            counts["unkeyed"] += not f.is_keyed
        counts["reports"] = len(report_ids)
    return counts


def fmt(value, decimals: int | None, unit: str | None) -> str:
    """A figure as it was printed: its own decimals, % for a percentage."""
    if value is None:
        return "–"
    text = f"{Decimal(value):,.{decimals if decimals is not None else 4}f}"
    return text + ("%" if unit == "percent" else "")


def figures_for(quarter: str) -> list[dict]:
    """Every figure published in the reports of a quarter (imported papers and cspwh reports), in page order."""
    bootstrap.ensure()
    with db.connect() as conn:
        cur = conn.execute(
            """select r.report_id, r.origin, r.source_document, r.report_date, r.title, r.published_at, f.*
                 from audit.reported_figures f join audit.reports r using (report_id)
                where r.quarter = %s
                order by r.report_id, f.source_line nulls last, f.figure_id""",
            (quarter,),
        )
        names = db.column_names(cur)
        return [dict(zip(names, row)) for row in cur.fetchall()]


def show(quarter: str) -> str:
    """The quarter's published figures as printed, each with its source, its key (or why it has none), and, where
    the partnership's rule can rate it, the RAG the rule gives beside the RAG printed."""
    rows = figures_for(quarter)
    if not rows:
        raise LookupError(
            f"no published figures for {quarter}: import the board's papers "
            "(cspwh ledger import ledger/board_published_figures.csv) or publish a report"
        )
    catalogue = {i["id"]: i for i in indicators.catalogue()}
    lines, report = [], None
    for r in rows:
        if r["report_id"] != report:
            report = r["report_id"]
            where = r["source_document"] or "cspwh report"
            when = r["report_date"] or r["published_at"].date()
            lines.append(f"{r['title'] or 'Report'} ({where}, {when}), as published:")
        label = r["indicator_as_printed"] or catalogue.get(r["indicator_id"], {}).get("name", r["indicator_id"])
        text = (
            f"  {fmt(r['value'], r['decimals'], r['unit']):>9}  {label[:70]}"
            f"  [{r['period_as_printed'] or r['period_label']}]"
        )
        extras = [
            f"{k} {r[c]}"
            for k, c in (("RAG", "rag"), ("rank", "rank_as_printed"), ("comparison", "comparison_as_printed"))
            if r[c] and r[c] != "-"
        ]
        ind = catalogue.get(r["indicator_id"])
        if r["rag"] and r["is_keyed"] and ind and r["comparator_as_printed"] is not None:
            comparator = Decimal(re.sub(r"[^0-9.\-]", "", r["comparator_as_printed"]) or "0")
            rule = ind["rag"]
            ours = indicators.rate(rule, r["value"], comparator, ind["up_is_good"])
            extras.append(f"{rule['rule']} rule gives {ours or 'no RAG'}")
        if extras:
            text += "  " + ", ".join(extras)
        source = f"{r['source_document']}:{r['source_line']}" if r["source_line"] else "cspwh report"
        key_text = (
            f"{r['indicator_id']} / {r['geography_code']} / {r['period_label']}"
            if r["is_keyed"]
            else f"UNKEYED ({r['unkeyed_reason']})"
        )
        lines.append(text)
        lines.append(f"             {source}; {key_text}")
    return "\n".join(lines)


def latest_published(conn, keys: list[tuple]) -> dict[tuple, dict]:
    """The latest published figure for each (indicator_id, geography_code, period_type, period_label): the paper's
    date orders imported papers and reports alike."""
    if not keys:
        return {}
    cur = conn.execute(
        """select distinct on (f.indicator_id, f.geography_code, f.period_type, f.period_label)
                  f.indicator_id, f.geography_code, f.period_type, f.period_label, f.value, f.decimals, f.unit,
                  f.rag, f.source_line, r.report_id, r.quarter, r.origin, r.source_document,
                  coalesce(r.report_date, r.published_at::date) as published_on
             from audit.reported_figures f join audit.reports r using (report_id)
            where f.is_keyed and (f.indicator_id, f.geography_code, f.period_type, f.period_label)
                  in (select * from unnest(%s::text[], %s::text[], %s::text[], %s::text[]))
            order by f.indicator_id, f.geography_code, f.period_type, f.period_label,
                     coalesce(r.report_date, r.published_at::date) desc, r.report_id desc, f.figure_id desc""",
        ([k[0] for k in keys], [k[1] for k in keys], [k[2] for k in keys], [k[3] for k in keys]),
    )
    names = db.column_names(cur)
    return {tuple(row[:4]): dict(zip(names, row)) for row in cur.fetchall()}


def differs(published: dict, now) -> bool:
    """A published figure differs from the value now only when the two print differently at its printed precision."""
    if now is None or published["value"] is None:
        return False
    decimals = published["decimals"] if published["decimals"] is not None else 4
    return round(Decimal(now), decimals) != round(Decimal(published["value"]), decimals)

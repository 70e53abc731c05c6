"""`cspwh report`: the board's quarterly Safer Communities Performance Dashboard, rendered from the published marts
as HTML and PDF (WeasyPrint), and recorded in the as-reported ledger (audit.reported_figures) when published."""

from __future__ import annotations

import dataclasses
import datetime as dt
import html
import re
from decimal import Decimal
from pathlib import Path

from cspwh import db, settings
from cspwh.catalogue import indicators, reference
from cspwh.db import bootstrap
from cspwh.reporting import ledger

QUARTER = re.compile(r"^(\d{4})-(\d{2})Q([1-4])$")
QUARTER_MONTHS = {1: "April to June", 2: "July to September", 3: "October to December", 4: "January to March"}
FLAG_NOTES = {
    "incomplete": "The data cover only part of the period; the value is shown for information and is not rated.",
    "estimated": "Rests on an estimate: the latest ONS mid-year population carried forward to a later year.",
    "indicative": "Indicative rather than definitive (the source is not the national system of record).",
    "series_break": "A classification change falls between the periods compared: not compared across the break.",
    "suppressed": "Suppressed: the number is too small to publish.",
    "protecting": "Withheld to protect another small number: with the figures beside it, it would give that number "
    "away by subtraction.",
    "prior_incomplete": "A comparator period is only partly covered by the data: shown for information, with no "
    "direction of travel or RAG.",
    "matched_months": "The data cover only part of the previous rolling 12 months: the direction of travel and RAG "
    "compare the calendar months both years cover (the arrow says how many), not the two years' totals.",
    "no_peer": "Peer rank not available: no other configured peer force has data for the whole period.",
    "files_incomplete": "Short: a file this figure needs was not loaded (quarantined, held back or never sent)",
}
FILES_NOTE_CHARS = 400


def files_footnote(row: Row, lead: str) -> str:
    """The row's own reason, from the mart's files_note (file names and periods, never records); a long one is cut,
    `cspwh explain` prints it whole."""
    text = (row.current or {}).get("files_note") or ""
    if len(text) > FILES_NOTE_CHARS:
        text = text[:FILES_NOTE_CHARS].rsplit(";", 1)[0] + "; ... (cspwh explain prints all)"
    return f"{row.indicator['name'].split(' (')[0]}: {lead}. {text}".strip()


RAG_WORDS = {"G": "Green", "A": "Amber", "R": "Red"}
NOT_RATED = {
    "current period incomplete": "part period",
    "no comparator": "no comparator",
    "comparator incomplete": "part prior year",
    "series break": "series break",
    "suppressed": "suppressed",
    "comparator is zero": "zero base",
}


@dataclasses.dataclass
class Row:
    indicator: dict
    current: dict | None
    districts: list[dict]
    force_area: dict | None
    flags: list[str] = dataclasses.field(default_factory=list)
    counts: dict = dataclasses.field(default_factory=dict)  # period label -> count, for count_with_rate rows


def parse_quarter(label: str) -> tuple[int, int]:
    m = QUARTER.match(label)
    if not m or (int(m.group(1)) + 1) % 100 != int(m.group(2)):
        raise ValueError(f"quarter must look like 2021-22Q2 (financial year and quarter), not {label!r}")
    return int(m.group(1)), int(m.group(3))


def quarter_title(label: str) -> str:
    year, q = parse_quarter(label)
    return f"Quarter {q}, {year}/{(year + 1) % 100:02d}"


def publication() -> tuple[str, str, dt.datetime]:
    with db.connect() as conn:
        row = conn.execute(
            "select build_schema, run_id, published_at from audit.publications order by publication_id desc limit 1"
        ).fetchone()
    if not row:
        raise RuntimeError("nothing is published yet: run the nightly job first (make demo)")
    return row


def _fetch(conn, query: str, params=()) -> list[dict]:
    cur = conn.execute(query, params)
    names = db.column_names(cur)
    return [dict(zip(names, r)) for r in cur.fetchall()]


def collect(quarter: str) -> dict:
    """Everything the dashboard shows for a quarter, read from the published marts."""
    parse_quarter(quarter)
    partnership = reference.partnership()
    geography_codes = {
        "county": partnership["county_code"],
        "force_area": partnership["force_area_code"],
        "yos_footprint": (partnership.get("kpi") or {}).get("yos_footprint"),
    }
    catalogue = indicators.catalogue()
    build, run_id, published_at = publication()
    with db.connect() as conn:
        kpis = _fetch(
            conn,
            """
            select k.*, d.geography_name, d.short_code, d.is_partnership_district, d.sort_order
              from marts.fct_kpi k join marts.dim_district d using (geography_code)
             where k.period_type in ('rolling_12_months', 'year_to_date') and k.reporting_quarter = %s""",
            (quarter,),
        )
        # a row shown as a count with its rate beside it prints its comparators' counts too
        counted = [i["id"] for i in catalogue if i["status"] == "active" and i.get("display") == "count_with_rate"]
        numerators = {
            (r[0], r[1], r[2]): r[3]
            for r in conn.execute(
                "select indicator_id, geography_code, period_label, numerator from marts.fct_kpi "
                "where indicator_id = any(%s)",
                (counted,),
            ).fetchall()
        }
        quarters = conn.execute("select max(reporting_quarter) from marts.fct_kpi where period_type = 'quarter'")
        latest = db.one(quarters)[0]
        names: dict[str, str] = dict(
            conn.execute("select geography_code, geography_name from marts.dim_district").fetchall()
        )
        # an indicator with no figure for any period is waiting for its feed to be connected, not for a period
        with_data = {r[0] for r in conn.execute("select distinct indicator_id from marts.fct_kpi").fetchall()}
    by_key = {(k["indicator_id"], k["geography_code"], k["period_type"]): k for k in kpis}
    rows = []
    for ind in catalogue:
        if ind["status"] != "active":
            continue
        shown = ind.get("dashboard_period", "rolling_12_months")
        current = by_key.get((ind["id"], geography_codes[ind["geography"]], shown))
        districts = sorted(
            (
                k
                for k in kpis
                if k["indicator_id"] == ind["id"] and k["is_partnership_district"] and k["period_type"] == shown
            ),
            key=lambda k: k["sort_order"],
        )
        force = by_key.get((ind["id"], geography_codes["force_area"], shown))
        row = Row(ind, current, districts, force)
        if current and ind.get("display") == "count_with_rate":
            row.counts = {
                label: numerators.get((ind["id"], current["geography_code"], label))
                for label in (current["period_label"], current["previous_period_label"], current["previous_fy_label"])
            }
        if current:
            row.flags = list(current["flags"] or [])
            if current.get("is_secondary_suppression"):
                row.flags = ["protecting" if f == "suppressed" else f for f in row.flags]
            if current.get("comparison_months"):
                row.flags.append("matched_months")
            elif current["previous_is_complete"] is False or current["previous_fy_is_complete"] is False:
                row.flags.append("prior_incomplete")
            if ind.get("peer") and not (force and force["peer_rank"]):
                row.flags.append("no_peer")
        rows.append(row)
    keys = [
        (r.indicator["id"], r.current["geography_code"], period_type, label)
        for r in rows
        if r.current
        for period_type, label in (
            (r.current["period_type"], r.current["period_label"]),
            (r.current["period_type"], r.current["previous_period_label"]),
            ("financial_year", r.current["previous_fy_label"]),
        )
        if label
    ]
    with db.connect() as conn:
        published = ledger.latest_published(conn, keys)
    if not any(r.current for r in rows):
        raise RuntimeError(
            f"the published marts have no dashboard figures for {quarter} (latest quarter with data: {latest})"
        )
    return {
        "quarter": quarter,
        "rows": rows,
        "catalogue": catalogue,
        "build": build,
        "run_id": run_id,
        "published_at": published_at,
        "partnership": partnership,
        "geography_names": names,
        "config": indicators.dashboard_config(),
        "published": published,
        "indicators_with_data": with_data,
    }


# ---- formatting -------------------------------------------------------------------------------------------------


MONTH_NAMES = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def period_words(label: str | None) -> str:
    """A period label as the board prints one: a rolling year as its months joined by an en dash (Apr 2021, Mar
    2022), a year to date the same with "(year to date)", a financial year as 2020/21. The mart's code (R12 to
    2021-22Q4) stays the key in the ledger and for `cspwh explain`."""
    m = re.match(r"^(R12|YTD) to (\d{4})-\d{2}Q([1-4])$", label or "")
    if m:
        kind, year, q = m.group(1), int(m.group(2)), int(m.group(3))
        end_year, end_month = (year, 3 + 3 * q) if q < 4 else (year + 1, 3)
        start = (end_year - 1, end_month + 1) if kind == "R12" and end_month < 12 else (end_year, 1)
        if kind == "YTD":
            start = (year, 4)
        first, last = f"{MONTH_NAMES[start[1] - 1]}", f"{MONTH_NAMES[end_month - 1]} {end_year}"
        text = f"{first} – {last}" if start[0] == end_year else f"{first} {start[0]} – {last}"
        return text + (" (year to date)" if kind == "YTD" else "")
    m = re.match(r"^(\d{4})-(\d{2})$", label or "")
    if m:
        return f"{m.group(1)}/{m.group(2)}"
    return label or ""


def fmt(value, ind: dict) -> str:
    if value is None:
        return "–"
    decimals = int(ind.get("decimals", 1))
    text = f"{Decimal(value):,.{decimals}f}"
    return text + ("%" if ind["unit"] == "percent" else "")


def change_words(k: dict, unit: str | None) -> str:
    """The size of a change: a percentage moves in points (34% from 30% is "4.0 pts", as the board wrote "an
    increase of 4%"), anything else by its relative change."""
    if (
        unit == "percent"
        and k["value"] is not None
        and k["comparator_value"] is not None
        and not k.get("comparison_months")
    ):
        return f"{abs(float(k['value']) - float(k['comparator_value'])):.1f} pts"
    return f"{abs(float(k['change_pct'])):.1f}%"


def arrow(k: dict | None, ind: dict) -> tuple[str, str, str]:
    """(symbol, css class, words) for the direction of travel of an indicator's figure."""
    if not k or not k["direction_of_travel"]:
        return "–", "none", "no comparison"
    symbol = {"up": "▲", "down": "▼", "level": "►"}[k["direction_of_travel"]]
    css = "level" if k["is_improving"] is None else ("better" if k["is_improving"] else "worse")
    words = k["direction_of_travel"]
    if k["change_pct"] is not None:
        words += f" {change_words(k, ind['unit'])}"
    if k.get("comparison_months"):
        # the change is not the two printed values' (a part-covered year against a whole one): print its own pair
        words += (
            f" on the {k['comparison_months']} months both years cover "
            f"({fmt(k['comparison_comparator_value'], ind)} to {fmt(k['comparison_value'], ind)})"
        )
    return symbol, css, words


CHART_WIDTH_PX = 160  # drawn at its own size (1 px = 1/96 in) in the District Comparison column, never scaled down
CHART_VALUE_FONT_PX, CHART_LABEL_FONT_PX = 8.5, 10.5  # 6.4 pt and 7.9 pt printed


def district_chart(row: Row) -> str:
    """A small inline SVG bar chart over the partnership's districts, with the headline value as a dashed line.
    A count's headline is the total of the districts, so it has no line and the bars use the whole height: drawn to
    the total, every district's bar would be squashed at the bottom."""
    values = [d["value"] for d in row.districts]
    if not row.districts or all(v is None for v in values):
        return '<span class="muted">no district data</span>'
    width, height, top, bottom = CHART_WIDTH_PX, 70, 12, 15
    county = row.current["value"] if row.current and row.indicator["unit"] != "count" else None
    peak = max([float(v) for v in values if v is not None] + ([float(county)] if county is not None else [])) or 1
    slot = width / len(row.districts)
    bar = slot * 0.7
    parts = [
        f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}">'
    ]
    scale = (height - top - bottom) / peak
    if county is not None:  # drawn first, so bars and their values print over it
        y = height - bottom - float(county) * scale
        parts.append(
            f'<line x1="0" x2="{width}" y1="{y:.1f}" y2="{y:.1f}" stroke="#999" stroke-width="0.8" '
            'stroke-dasharray="3,2"/>'
        )
    rule = row.indicator.get("rag") or {}
    for i, d in enumerate(row.districts):
        x = i * slot + (slot - bar) / 2
        label = html.escape(d["short_code"] or d["geography_name"][:2])
        if d["value"] is not None:
            h = float(d["value"]) * scale
            y = height - bottom - h
            fill = _bar_colour(d, row.indicator["unit"], rule)
            parts.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar:.1f}" height="{h:.1f}" fill="{fill}"/>')
            parts.append(
                f'<text x="{x + bar / 2:.1f}" y="{y - 2:.1f}" font-size="{CHART_VALUE_FONT_PX}" '
                f'text-anchor="middle" fill="#222">{html.escape(fmt(d["value"], row.indicator))}</text>'
            )
        else:  # withheld (a small number, or one that would give another away) or no data: said, not left blank
            parts.append(
                f'<text x="{x + bar / 2:.1f}" y="{height - bottom - 2:.1f}" font-size="{CHART_VALUE_FONT_PX}" '
                f'text-anchor="middle" fill="#666">{"w" if d.get("is_suppressed") else "–"}</text>'
            )
        parts.append(
            f'<text x="{x + bar / 2:.1f}" y="{height - 3:.1f}" font-size="{CHART_LABEL_FONT_PX}" '
            f'text-anchor="middle" fill="#111">{label}</text>'
        )
    parts.append(
        f'<line x1="0" x2="{width}" y1="{height - bottom}" y2="{height - bottom}" stroke="#888" '
        'stroke-width="0.5"/></svg>'
    )
    return "".join(parts)


def _bar_colour(d: dict, unit: str, rule: dict) -> str:
    """A band rule colours each district by the band (inside green, outside red); a rate or percentage colours the
    best district green and the worst red; a count is not coloured (a bigger district has more of everything)."""
    if rule.get("rule") == "band":
        low, high = rule["band"]
        return "#2e7d4f" if low <= float(d["value"]) <= high else "#b23b3b"
    if unit == "count":
        return "#5b7fa6"
    if d["district_rank"] == 1:
        return "#2e7d4f"
    return "#b23b3b" if d["district_rank"] == d["districts_ranked"] else "#5b7fa6"


def _month(text: str) -> dt.date:
    return dt.date.fromisoformat(f"{text}-01")


def _financial_year_span(label: str | None) -> tuple[dt.date, dt.date] | None:
    m = re.match(r"^(\d{4})-\d{2}$", label or "")
    return (dt.date(int(m.group(1)), 4, 1), dt.date(int(m.group(1)) + 1, 3, 31)) if m else None


def context_notes(k: dict | None, notes: list[dict], outcome: str | None = None) -> list[str]:
    """The configured context notes (dashboard.context_notes) whose months the row's current period or a comparator
    it prints touches, among those for the row's outcome (a note's `outcomes`; all when it names none): a 2021-22
    crime rate compared with a lockdown year gets the lockdown note, a MARAC row does not."""
    if not k:
        return []
    notes = [n for n in notes if not n.get("outcomes") or outcome is None or outcome in n["outcomes"]]
    spans = [(k["period_start"], k["period_end"])]
    if k.get("previous_value") is not None:
        # the same period a year earlier (periods start on a month's first and end on a quarter's last day)
        spans.append(
            (
                k["period_start"].replace(year=k["period_start"].year - 1),
                k["period_end"].replace(year=k["period_end"].year - 1),
            )
        )
    fy = _financial_year_span(k.get("previous_fy_label")) if k.get("previous_fy_value") is not None else None
    if fy:
        spans.append(fy)
    found = []
    for note in notes:
        start, end = _month(str(note["from"])), _month(str(note["to"]))
        if any(s <= end and start <= e for s, e in spans):
            found.append(note["note"].strip())
    return found


def county_comparison(row: Row, names: dict, region: str = "") -> str:
    """Against the regional average where the region's forces' files cover the period (as the board compares),
    else against the parent geography."""
    k = row.current
    if not k or k["value"] is None:
        return "–"
    if k.get("region_value") is not None:
        label = f"{region or 'Regional'} average ({k['region_forces_covered']} of {k['region_forces']} forces)"
        reference_value = k["region_value"]
    elif k["parent_value"] is not None:
        label, reference_value = names.get(k["parent_geography_code"], "parent"), k["parent_value"]
    else:
        return "–"
    parent = label
    k = {**k, "parent_value": reference_value}
    diff = (float(k["value"]) - float(k["parent_value"])) / float(k["parent_value"]) * 100 if k["parent_value"] else 0
    if abs(diff) <= 5:
        word = "Average"
    else:
        better = (diff > 0) == row.indicator["up_is_good"]
        word = "Better than average" if better else "Worse than average"
    return f"{word}<br><span class='muted'>{html.escape(parent)} {fmt(k['parent_value'], row.indicator)}</span>"


def as_published(data: dict, row: Row, period_type: str | None, label: str | None, now: object) -> str | None:
    """'as published X (where)' when the latest figure the board was shown for the period prints differently now."""
    if not label or not row.current:
        return None
    found = data["published"].get((row.indicator["id"], row.current["geography_code"], period_type, label))
    if not found or not ledger.differs(found, now):
        return None
    where = (
        f"{found['source_document']}:{found['source_line']}" if found["source_line"] else f"report {found['report_id']}"
    )
    return f"as published {ledger.fmt(found['value'], found['decimals'], found['unit'])} ({found['quarter']}, {where})"


def rag_rules(catalogue: list[dict]) -> list[str]:
    """The active indicators whose rule is not the default tolerance rule, in words for the legend."""
    words = []
    for ind in catalogue:
        rule = ind["rag"]
        if ind["status"] != "active" or rule["rule"] == "tolerance":
            continue
        name = ind["name"].split(" (")[0]
        if rule["rule"] == "band":
            low, high = (f"{b:g}" + ("%" if ind["unit"] == "percent" else "") for b in rule["band"])
            words.append(f"{name}: G within {low} to {high}, else R")
        else:
            words.append(f"{name}: G improving, R worsening")
    return words


def outcome_rag(rows: list[Row]) -> str | None:
    """The outcome's overall progress RAG: its worst rated indicator (R over A over G); none when nothing is rated."""
    rated = [r.current["rag"] for r in rows if r.current and r.current["rag"]]
    for letter in ("R", "A", "G"):
        if letter in rated:
            return letter
    return None


def exceptions(data: dict) -> dict[str, list[str]]:
    """Per outcome, what the board must look at: every figure rated Red, and any rated figure that moved beyond the
    exception threshold."""
    threshold = float(data["config"]["exception_threshold_pct"])
    found: dict[str, list[str]] = {}
    for row in data["rows"]:
        k = row.current
        if not k or k["rag"] is None:
            continue
        moved = k["change_pct"] is not None and abs(float(k["change_pct"])) >= threshold
        if not moved and k["rag"] != "R":
            continue
        ind = row.indicator
        # a percentage carries its sign; a ratio's unit is in the indicator's name
        name, unit = ind["name"].split(" (")[0], ind["unit_label"] if ind["unit"] not in ("percent", "ratio") else ""
        if k["change_pct"] is None:  # a band rule rates the level alone
            text = f"{name} is {fmt(k['value'], ind)} {unit}"
        elif k.get("comparison_months"):
            verb = "rose" if k["change_pct"] > 0 else "fell"
            text = (
                f"{name} {verb} {change_words(k, ind['unit'])} on the {k['comparison_months']} months both years "
                f"cover, from {fmt(k['comparison_comparator_value'], ind)} to {fmt(k['comparison_value'], ind)} "
                f"{unit} ({fmt(k['value'], ind)} over the whole of {period_words(k['period_label'])})"
            )
        else:
            verb = "rose" if k["change_pct"] > 0 else "fell"
            text = (
                f"{name} {verb} {change_words(k, ind['unit'])} to {fmt(k['value'], ind)} {unit} "
                f"(from {fmt(k['comparator_value'], ind)} in {period_words(k['comparator_label'])})"
            )
        if k["is_improving"] is not None and k["change_pct"] is not None:
            text += ": " + ("an improvement" if k["is_improving"] else "a deterioration")
        text += f", rated {RAG_WORDS[k['rag']]}."
        worst = [d for d in row.districts if d["value"] is not None and d["district_rank"] == d["districts_ranked"]]
        if worst:
            names = " and ".join(d["geography_name"] for d in worst)
            end = "Lowest" if ind["up_is_good"] else "Highest"  # the worst-ranked district
            text += f" {end} district{'s' if len(worst) > 1 else ''}: {names} ({fmt(worst[0]['value'], ind)})."
        found.setdefault(ind["outcome"], []).append(re.sub(r"\s+", " ", text).replace(" ,", ","))
    return found


def render_html(data: dict) -> str:
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
        autoescape=jinja2.select_autoescape(["html", "j2"]),
    )
    template = env.get_template("dashboard.html.j2")
    groups = []
    footnotes: list[str] = []
    for outcome in indicators.outcomes():
        in_group = [r for r in data["rows"] if r.indicator["outcome"] == outcome["id"]]
        rows = [r for r in in_group if r.current]
        # an active indicator whose feed sent nothing for the period waits like one with no mart or feed yet
        waiting = [
            {
                **r.indicator,
                "status": "no_data" if r.indicator["id"] in data.get("indicators_with_data", ()) else "awaiting_feed",
            }
            for r in in_group
            if not r.current
        ] + [i for i in data["catalogue"] if i["outcome"] == outcome["id"] and i["status"] != "active"]
        rendered = []
        for r in rows:
            rendered.append(_rendered_row(data, r, footnotes))
        # in the catalogue's order, as the board's appendix keeps an indicator's place while it waits for data
        order = [i["id"] for i in data["catalogue"]]
        entries = sorted([*rendered, *({**w, "waiting": True} for w in waiting)], key=lambda e: order.index(e["id"]))
        groups.append(
            {
                "name": outcome["name"],
                "id": outcome["id"],
                "rows": rendered,
                "entries": entries,
                "rag": outcome_rag(rows),
            }
        )
    found = exceptions(data)

    partnership = data["partnership"]
    county = data["geography_names"].get(partnership["county_code"], "")
    districts: list[dict] = next((r.districts for r in data["rows"] if r.districts), [])
    return template.render(
        district_key=", ".join(f"{d['short_code']} {d['geography_name']}" for d in districts),
        title=f"Safer Communities Performance Dashboard {quarter_title(data['quarter'])}",
        board=partnership.get("board", ""),
        county=county,
        quarter=data["quarter"],
        months=QUARTER_MONTHS[parse_quarter(data["quarter"])[1]],
        # at a year's last quarter the previous rolling 12 months are the previous financial year: one column
        show_fy=parse_quarter(data["quarter"])[1] != 4,
        groups=groups,
        footnotes=footnotes,
        exceptions=found,
        build=data["build"],
        published_at=data["published_at"],
        generated=dt.datetime.now(dt.UTC),
        config=data["config"],
        rag_words=RAG_WORDS,
        rag_rules=rag_rules(data["catalogue"]),
    )


def _rendered_row(data: dict, r: Row, footnotes: list[str]) -> dict:
    """One indicator's row as the template prints it; its footnotes are added to the report's list."""
    marks = []
    for flag in r.flags:
        note = FLAG_NOTES.get(flag) or FLAG_NOTES["files_incomplete"]
        if flag == "files_incomplete":
            note = files_footnote(r, note)
        if note not in footnotes:
            footnotes.append(note)
        marks.append(footnotes.index(note) + 1)
    if "files_incomplete" not in r.flags and (r.current or {}).get("files_note"):
        footnotes.append(files_footnote(r, "Files changed or held back for this period"))
        marks.append(len(footnotes))
    for note in context_notes(r.current, data["config"].get("context_notes") or [], r.indicator["outcome"]):
        if note not in footnotes:
            footnotes.append(note)
        marks.append(footnotes.index(note) + 1)
    if r.indicator["note"]:
        note = f"{r.indicator['name'].split(' (')[0]}: {r.indicator['note']}"
        footnotes.append(note)
        marks.append(len(footnotes))
    k = r.current or {}
    symbol, css, words = arrow(r.current, r.indicator)
    peer = "–"
    if r.indicator.get("peer"):
        f = r.force_area or {}
        peer = f"{f['peer_rank']}/{f['peers_ranked']}" if f.get("peer_rank") else "n/a"
    period_type = k.get("period_type")
    shown = {
        "previous": (fmt(k.get("previous_value"), r.indicator), k.get("previous_period_label")),
        "current": (fmt(k.get("value"), r.indicator), k.get("period_label")),
        "previous_fy": (fmt(k.get("previous_fy_value"), r.indicator), k.get("previous_fy_label")),
    }
    if r.indicator.get("display") == "count_with_rate":
        # the headline is the count; the rate it makes sits beside it
        for key, (rate, label) in shown.items():
            count = r.counts.get(label)
            shown[key] = (
                f"{int(count):,}" if count is not None else "–",
                f"{period_words(label)} · {rate} {r.indicator['unit_label']}" if label else None,
            )
    else:
        shown = {key: (value, period_words(label)) for key, (value, label) in shown.items()}
    not_rated = k.get("not_rated_reason")
    return {
        "published_previous": as_published(
            data, r, period_type, k.get("previous_period_label"), k.get("previous_value")
        ),
        "published_current": as_published(data, r, period_type, k.get("period_label"), k.get("value")),
        "published_previous_fy": as_published(
            data, r, "financial_year", k.get("previous_fy_label"), k.get("previous_fy_value")
        ),
        "id": r.indicator["id"],
        "name": r.indicator["name"],
        "marks": sorted(set(marks)),
        "previous": shown["previous"][0],
        "previous_label": shown["previous"][1],
        "current": shown["current"][0],
        "current_label": shown["current"][1],
        "previous_fy": shown["previous_fy"][0],
        "previous_fy_label": shown["previous_fy"][1],
        "previous_part": k.get("previous_is_complete") is False,
        "previous_fy_part": k.get("previous_fy_is_complete") is False,
        "incomplete": bool(k) and not k.get("is_complete"),
        "files_short": k.get("is_files_complete") is False,
        "months": f"{k.get('months_covered')} of {k.get('period_months')} months" if k else "",
        "arrow": symbol,
        "arrow_class": css,
        "arrow_words": words,
        "rag": k.get("rag"),
        "not_rated": NOT_RATED.get(not_rated, not_rated) if not_rated is not None else None,
        "peer": peer,
        "county": county_comparison(r, data["geography_names"], data["partnership"].get("region_name", "")),
        "chart": district_chart(r),
    }


def ledger_rows(data: dict) -> list[tuple]:
    """Every figure the report shows: the headline and district current values and both comparators, with the
    decimals and unit they print at and, for the headline, the RAG printed beside it."""
    rows = []
    for r in data["rows"]:
        ind = r.indicator
        shown = [k for k in [r.current, *r.districts] if k]
        for k in shown:
            rows.append(
                (
                    ind["id"],
                    k["geography_code"],
                    k["period_type"],
                    k["period_label"],
                    k["value"],
                    k["numerator"],
                    k["denominator"],
                    int(ind.get("decimals", 1)),
                    ind["unit"],
                    k["rag"] if k is r.current else None,
                )
            )
    return rows


def _record(data: dict, html_path: Path, pdf_path: Path) -> int:
    with db.transaction() as conn:
        inserted = conn.execute(
            """insert into audit.reports (quarter, build_schema, run_id, html_path, pdf_path)
               values (%s, %s, %s, %s, %s) returning report_id""",
            (data["quarter"], data["build"], data["run_id"], str(html_path), str(pdf_path)),
        )
        report_id = db.one(inserted)[0]
        figures = ledger_rows(data)
        # the comparators shown are figures of their own periods: record them as the report printed them
        with db.connect() as read:
            for r in data["rows"]:
                k = r.current
                if not k:
                    continue
                for label in (k["previous_period_label"], k["previous_fy_label"]):
                    if label:
                        for row in read.execute(
                            """select indicator_id, geography_code, period_type, period_label, value, numerator,
                                          denominator from marts.fct_kpi
                                    where indicator_id = %s and geography_code = %s and period_label = %s""",
                            (r.indicator["id"], k["geography_code"], label),
                        ).fetchall():
                            figures.append((*row, int(r.indicator.get("decimals", 1)), r.indicator["unit"], None))
        with conn.cursor() as cur:
            cur.executemany(
                """insert into audit.reported_figures (report_id, indicator_id, geography_code, period_type,
                       period_label, value, numerator, denominator, decimals, unit, rag)
                   values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
                   on conflict (report_id, indicator_id, geography_code, period_type, period_label)
                       where source_line is null do nothing""",
                [(report_id, *f) for f in figures],
            )
    return report_id


def render(quarter: str, out: Path | None = None, publish: bool = True) -> dict:
    """Write <out>/dashboard_<quarter>.html and .pdf; when publishing, record the figures in the ledger."""
    from weasyprint import HTML

    bootstrap.ensure()
    data = collect(quarter)
    out = Path(out or settings.reports_dir())
    out.mkdir(parents=True, exist_ok=True)
    html_text = render_html(data)
    html_path = out / f"dashboard_{quarter}.html"
    pdf_path = out / f"dashboard_{quarter}.pdf"
    html_path.write_text(html_text, encoding="utf-8")
    HTML(string=html_text, base_url=str(out)).write_pdf(pdf_path)
    report_id = _record(data, html_path, pdf_path) if publish else None
    return {
        "html": html_path,
        "pdf": pdf_path,
        "report_id": report_id,
        "build": data["build"],
        "figures": len(ledger_rows(data)),
    }

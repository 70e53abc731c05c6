"""The dashboard's rows as the board reads them on paper: context notes on the periods they touch, and district charts
that print at a readable size without a count's bars squashed under its total."""

import datetime as dt
import re
from decimal import Decimal

import pytest

from cspwh.catalogue import indicators
from cspwh.reporting import dashboard

MM_PER_PX = 25.4 / 96  # CSS pixels, as WeasyPrint prints them
PT_PER_PX = 72 / 96


def months_between(start: dt.date, end: dt.date) -> set[tuple[int, int]]:
    out, y, m = set(), start.year, start.month
    while (y, m) <= (end.year, end.month):
        out.add((y, m))
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return out


def lockdown() -> tuple[str, set[tuple[int, int]]]:
    [note] = [n for n in indicators.dashboard_config()["context_notes"] if "lockdown" in n["note"].lower()]
    start, end = (dt.date.fromisoformat(f"{note[k]}-01") for k in ("from", "to"))
    return note["note"].strip(), months_between(start, end)


def r12(quarter_end: dt.date, compared=True, previous_fy=None) -> dict:
    start = dt.date(quarter_end.year - 1, quarter_end.month, 1) + dt.timedelta(days=31)
    start = start.replace(day=1)
    return {
        "period_start": start,
        "period_end": quarter_end,
        "previous_value": Decimal("1.5") if compared else None,
        "previous_fy_label": previous_fy,
        "previous_fy_value": Decimal("2") if previous_fy else None,
    }


@pytest.mark.parametrize(
    "quarter_end, compared, previous_fy",
    [
        (dt.date(2022, 3, 31), True, "2020-21"),  # 2021-22 against a lockdown year
        (dt.date(2022, 3, 31), False, None),  # 2021-22 shown alone
        (dt.date(2023, 3, 31), True, "2021-22"),  # 2022-23 against 2021-22
        (dt.date(2021, 6, 30), True, "2020-21"),  # inside the lockdown
        (dt.date(2022, 6, 30), True, "2021-22"),  # against Jul 2020 - Jun 2021
    ],
)
def test_a_context_note_is_footnoted_on_every_period_it_touches(quarter_end, compared, previous_fy):
    text, months = lockdown()
    k = r12(quarter_end, compared, previous_fy)
    shown = months_between(k["period_start"], k["period_end"])
    if compared:
        shown |= months_between(
            k["period_start"].replace(year=k["period_start"].year - 1),
            k["period_end"].replace(year=k["period_end"].year - 1),
        )
    if previous_fy:
        year = int(previous_fy[:4])
        shown |= months_between(dt.date(year, 4, 1), dt.date(year + 1, 3, 31))
    notes = dashboard.context_notes(k, indicators.dashboard_config()["context_notes"])
    assert (text in notes) == bool(shown & months)


def chart_row(unit: str, values: list, headline) -> dashboard.Row:
    ind = {"unit": unit, "decimals": 0 if unit == "count" else 2, "up_is_good": False}
    ranked = sorted(v for v in values if v is not None)
    districts = [
        {
            "value": v,
            "short_code": f"D{i}",
            "geography_name": f"District {i}",
            "district_rank": ranked.index(v) + 1 if v is not None else None,
            "districts_ranked": len(ranked),
        }
        for i, v in enumerate(values)
    ]
    return dashboard.Row(ind, {"value": headline}, districts, None)


def svg_parts(svg: str):
    width, height = (float(x) for x in re.search(r'width="([\d.]+)" height="([\d.]+)"', svg).groups())
    bars = [
        tuple(float(x) for x in m)
        for m in re.findall(
            r'<rect x="([\d.]+)" y="([\d.]+)" width="[\d.]+" '
            r'height="([\d.]+)"',
            svg,
        )
    ]
    fonts = [float(f) for f in re.findall(r'font-size="([\d.]+)"', svg)]
    lines = re.findall(r"<line [^>]*stroke-dasharray[^>]*>", svg)
    baseline = float(re.findall(r'<line x1="0" x2="[\d.]+" y1="([\d.]+)"', svg)[-1])
    return width, height, bars, fonts, lines, baseline


def chart_column_mm() -> float:
    text = (dashboard.Path(dashboard.__file__).parent / "templates" / "dashboard.html.j2").read_text()
    widths = [float(w) for w in re.findall(r'<col style="width:([\d.]+)%">', text)]
    margins = [
        float(m)
        for m in re.search(
            r"@page \{ size: A4 landscape; margin: ([\d.]+)mm ([\d.]+)mm "
            r"([\d.]+)mm ([\d.]+)mm",
            text,
        ).groups()
    ]
    return (297 - margins[1] - margins[3]) * widths[-1] / sum(widths)


@pytest.mark.parametrize(
    "unit, values",
    [
        ("count", [120, 340, 95, 210, 60, 180, 75]),
        (
            "per_1000",
            [
                Decimal("31.2"),
                Decimal("48.9"),
                None,
                Decimal("22.4"),
                Decimal("27.0"),
                Decimal("35.5"),
                Decimal("40.1"),
            ],
        ),
    ],
)
def test_district_labels_print_at_a_readable_size(unit, values):
    headline = sum(v for v in values if v is not None) if unit == "count" else Decimal("33.3")
    width, _, _, fonts, _, _ = svg_parts(dashboard.district_chart(chart_row(unit, values, headline)))
    assert width * MM_PER_PX <= chart_column_mm()  # drawn at its size, not shrunk into the column
    assert fonts and min(fonts) * PT_PER_PX >= 6  # 6 pt at least, as printed
    assert max(fonts) * PT_PER_PX >= 7.5  # the district names


def test_a_count_chart_uses_the_height_and_draws_no_total_line():
    values = [120, 340, 95, 210, 60, 180, 75]
    _, _, bars, _, lines, baseline = svg_parts(dashboard.district_chart(chart_row("count", values, sum(values))))
    tallest = max(h for _, _, h in bars)
    top = min(y for _, y, _ in bars)
    assert lines == []  # the county's count is the districts' total: drawn, it would squash every bar
    assert tallest >= 0.6 * baseline and top < 0.35 * baseline
    for (_, _, h), v in zip(bars, values):  # bars stay proportional to the districts' counts
        assert h / tallest == pytest.approx(v / max(values), abs=0.01)


def test_a_rate_chart_draws_the_headline_rate_where_it_falls():
    values = [Decimal("31.2"), Decimal("48.9"), Decimal("22.4")]
    _, _, bars, _, lines, baseline = svg_parts(dashboard.district_chart(chart_row("per_1000", values, Decimal("33.3"))))
    [line] = lines
    y = float(re.search(r'y1="([\d.]+)"', line).group(1))
    tallest = max(h for _, _, h in bars)
    assert (baseline - y) / tallest == pytest.approx(33.3 / 48.9, abs=0.01)


def test_a_context_note_naming_outcomes_is_footnoted_only_on_their_rows():
    text, _ = lockdown()
    k = r12(dt.date(2022, 3, 31), True, "2020-21")  # 2021-22 against a lockdown year
    notes = indicators.dashboard_config()["context_notes"]
    assert text in dashboard.context_notes(k, notes, "crime") and text in dashboard.context_notes(k, notes, "asb")
    assert text not in dashboard.context_notes(k, notes, "vulnerable")  # MARAC and UAVA were not cut by lockdown

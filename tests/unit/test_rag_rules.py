"""The partnership's RAG rules (cspwh/catalogue/indicators.py `rate`, the twin of fct_kpi's RAG), the ledger's period
keys and
changes of percentages in points."""

import datetime as dt

import pytest

from cspwh.catalogue import indicators
from cspwh.reporting import dashboard, ledger

BAND = {"rule": "band", "band": [28.0, 40.0], "tolerance_pct": 5.0}
DIRECTION = {"rule": "direction", "tolerance_pct": 5.0}
TOLERANCE = {"rule": "tolerance", "tolerance_pct": 5.0}


@pytest.mark.parametrize(
    "value, comparator, expected",
    [(28, None, "G"), (40, 45, "G"), (34, 30, "G"), (27.9, 30, "R"), (40.1, 30, "R"), (None, 30, None)],
)
def test_band_rule_judges_the_level_alone(value, comparator, expected):
    assert indicators.rate(BAND, value, comparator, up_is_good=False) == expected


@pytest.mark.parametrize(
    "value, comparator, up_is_good, expected",
    [
        (42.8, 41, True, "G"),
        (41, 42.8, True, "R"),
        (0.60, 0.58, False, "R"),
        (0.28, 0.82, False, "G"),
        (5.4, 5.4, True, "A"),
        (1, None, True, None),
    ],
)
def test_direction_rule_counts_any_change(value, comparator, up_is_good, expected):
    assert indicators.rate(DIRECTION, value, comparator, up_is_good) == expected


@pytest.mark.parametrize(
    "value, comparator, up_is_good, expected",
    [
        (105.01, 100, True, "G"),
        (105, 100, True, "A"),
        (94.99, 100, True, "R"),
        (95, 100, False, "A"),
        (94.99, 100, False, "G"),
        (104, 100, False, "A"),
        (106, 100, False, "R"),
        (1, 0, True, None),
    ],
)
def test_tolerance_rule_is_the_change_beyond_the_tolerance_in_the_good_direction(
    value, comparator, up_is_good, expected
):
    assert indicators.rate(TOLERANCE, value, comparator, up_is_good) == expected


def test_a_band_rule_without_a_band_is_refused_with_what_to_write():
    with pytest.raises(ValueError, match=r"band: \[low, high\]"):
        indicators._rag_rule({"rule": "band", "comparator": "previous_period", "tolerance_pct": 5}, "x")
    with pytest.raises(ValueError, match="rag rule must be one of"):
        indicators._rag_rule({"rule": "target", "comparator": "previous_period", "tolerance_pct": 5}, "x")


def test_the_catalogue_gives_marac_the_safelives_band():
    marac = indicators.get("marac_repeat_pct")
    assert marac["rag"]["rule"] == "band" and marac["rag"]["band"] == [28.0, 40.0] and marac["rag"]["board_source"]


@pytest.mark.parametrize(
    "period_type, label, start, end",
    [
        ("quarter", "2018-19Q4", dt.date(2019, 1, 1), dt.date(2019, 3, 31)),
        ("rolling_12_months", "R12 to 2018-19Q1", dt.date(2017, 7, 1), dt.date(2018, 6, 30)),
        ("rolling_12_months", "R12 to 2016-17Q3", dt.date(2016, 1, 1), dt.date(2016, 12, 31)),
        ("financial_year", "2017-18", dt.date(2017, 4, 1), dt.date(2018, 3, 31)),
        ("year_to_date", "YTD to 2017-18Q3", dt.date(2017, 4, 1), dt.date(2017, 12, 31)),
    ],
)
def test_period_keys_have_the_marts_bounds(period_type, label, start, end):
    assert ledger.period_bounds(period_type, label) == (start, end)
    # the same months as the period's own length: 3 for a quarter, 12 for a year, 9 to Q3
    months = (end.year - start.year) * 12 + end.month - start.month + 1
    assert months == {"quarter": 3, "rolling_12_months": 12, "financial_year": 12, "year_to_date": 9}[period_type]


def test_a_percentage_changes_in_points_and_a_rate_in_percent():
    marac = {"value": 34, "comparator_value": 30, "change_pct": 13.33}
    assert dashboard.change_words(marac, "percent") == "4.0 pts"
    crime = {"value": 61.3, "comparator_value": 60.0, "change_pct": 2.17}
    assert dashboard.change_words(crime, "per_1000") == "2.2%"
    rising = {**marac, "direction_of_travel": "up", "is_improving": False}
    assert dashboard.arrow(rising, {"unit": "percent"})[2] == "up 4.0 pts"

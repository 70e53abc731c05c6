"""File periods: the days a file's period (from its name) covers. Value shapes are parsed in SQL (landed_file.py)."""

from __future__ import annotations

import calendar
import datetime as dt
import re


def period_bounds(period: str) -> tuple[dt.date, dt.date] | None:
    """First and last day of a file period: YYYYMMDD or YYYY-MM-DD (a day), YYYY-MM (a month), YYYY-QN (a
    calendar quarter) or YYYY-YY-QN (a financial quarter, April to March)."""
    if m := re.fullmatch(r"(\d{4})-?(\d{2})-?(\d{2})", period):
        day = dt.date(int(m[1]), int(m[2]), int(m[3]))
        return day, day
    if m := re.fullmatch(r"(\d{4})-(\d{2})", period):
        year, month = int(m[1]), int(m[2])
        return dt.date(year, month, 1), dt.date(year, month, calendar.monthrange(year, month)[1])
    if m := re.fullmatch(r"(\d{4})-(\d{2})-?Q([1-4])", period):  # financial year quarter, e.g. 2021-22Q2
        start_month = 4 + 3 * (int(m[3]) - 1)
        year = int(m[1]) + (start_month - 1) // 12
        month = (start_month - 1) % 12 + 1
        end_month = month + 2
        return dt.date(year, month, 1), dt.date(year, end_month, calendar.monthrange(year, end_month)[1])
    if m := re.fullmatch(r"(\d{4})-?Q([1-4])", period):
        year, first = int(m[1]), 3 * (int(m[2]) - 1) + 1
        return dt.date(year, first, 1), dt.date(year, first + 2, calendar.monthrange(year, first + 2)[1])
    return None

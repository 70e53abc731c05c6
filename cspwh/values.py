"""Parsing the value shapes partners send: ISO, dd/mm/yyyy and Excel serial dates, and file periods."""
from __future__ import annotations

import calendar
import datetime as dt
import re

ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
DMY_DATE = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})$")
ISO_TS = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2})?$")
DMY_TS = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4}) (\d{1,2}):(\d{2})(?::(\d{2}))?$")
SERIAL = re.compile(r"^\d{5}(\.\d+)?$")
EXCEL_EPOCH = dt.datetime(1899, 12, 30)  # Excel's day 0, allowing for its 1900 leap-year bug


def parse_date(text: str) -> tuple[dt.date, str] | None:
    """(date, shape) with shape iso | dmy | excel_serial, or None if it is not a date at all."""
    try:
        if ISO_DATE.match(text):
            return dt.date.fromisoformat(text), "iso"
        if m := DMY_DATE.match(text):
            return dt.date(int(m[3]), int(m[2]), int(m[1])), "dmy"
        if SERIAL.match(text):
            return (EXCEL_EPOCH + dt.timedelta(days=float(text))).date(), "excel_serial"
    except ValueError:
        return None
    return None


def parse_timestamp(text: str) -> tuple[dt.datetime, str] | None:
    try:
        if ISO_TS.match(text):
            return dt.datetime.fromisoformat(text.replace(" ", "T")), "iso"
        if m := DMY_TS.match(text):
            return dt.datetime(int(m[3]), int(m[2]), int(m[1]), int(m[4]), int(m[5]), int(m[6] or 0)), "dmy"
        if SERIAL.match(text):
            stamp = EXCEL_EPOCH + dt.timedelta(days=float(text))
            return stamp.replace(microsecond=0), "excel_serial"
    except ValueError:
        return None
    return None


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

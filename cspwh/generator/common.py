"""Shared by every feed generator: seeded randomness, obviously fake people, file writers, the ground truth."""

from __future__ import annotations

import csv
import datetime as dt
import functools
import hashlib
import io
import json
import math
import random
import re
import zipfile
from pathlib import Path

from cspwh.catalogue import reference


def rng_for(seed: int, *parts) -> random.Random:
    """A generator of its own for every (feed, period, ...): output never depends on the order things ran in."""
    digest = hashlib.sha256(":".join(map(str, (seed, *parts))).encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


@functools.cache
def _name_pools() -> tuple[list[str], list[str], list[str]]:
    from faker.providers.address.en_GB import Provider as Address
    from faker.providers.person.en_GB import Provider as Person

    firsts = sorted(set(Person.first_names_female) | set(Person.first_names_male))
    lasts = sorted(set(Person.last_names))
    streets = sorted(set(Address.street_suffixes))
    return firsts, lasts, streets


class People:
    """en_GB names from Faker's word lists, drama phone numbers (Ofcom's 07700 900xxx), postcodes with the
    unallocated unit 'ZZ': plausible, obviously fake, never a real person's."""

    def __init__(self, rng: random.Random):
        self.rng = rng
        self.firsts, self.lasts, self.streets = _name_pools()

    def name(self) -> str:
        return f"{self.rng.choice(self.firsts)} {self.rng.choice(self.lasts)}"

    def phone(self) -> str:
        return f"07700 900{self.rng.randint(0, 999):03d}"

    def postcode(self, district_number: int) -> str:
        return f"LE{district_number} {self.rng.randint(0, 9)}ZZ"

    def address(self) -> str:
        return f"{self.rng.randint(1, 250)} {self.rng.choice(self.lasts)} {self.rng.choice(self.streets)}"

    def date_of_birth(self, on: dt.date, min_age: int, max_age: int) -> dt.date:
        age_days = self.rng.randint(min_age * 365 + 1, max_age * 365 + 364)
        return on - dt.timedelta(days=age_days)


def weighted(rng: random.Random, pairs):
    """A value drawn from (value, weight) pairs whose weights add up to 1."""
    roll, total = rng.random(), 0.0
    for value, weight in pairs:
        total += weight
        if roll < total:
            return value
    return pairs[-1][0]


def poisson(rng: random.Random, lam: float) -> int:
    if lam <= 0:
        return 0
    if lam > 50:
        return max(0, round(rng.gauss(lam, math.sqrt(lam))))
    limit, k, p = math.exp(-lam), 0, rng.random()
    while p > limit:
        k += 1
        p *= rng.random()
    return k


def binomial(rng: random.Random, n: int, p: float) -> int:
    if n <= 0 or p <= 0:
        return 0
    if n > 200:
        return min(n, max(0, round(rng.gauss(n * p, math.sqrt(n * p * (1 - p))))))
    return sum(1 for _ in range(n) if rng.random() < p)


def scaled(rng: random.Random, n: int, scale: float) -> int:
    """n records at scale 1 as the copies at cfg.scale: each record int(scale) times, plus one with the remainder."""
    whole = int(scale)
    return n * whole + sum(1 for _ in range(n) if rng.random() < scale - whole)


def add_months(month: dt.date, n: int) -> dt.date:
    index = month.year * 12 + month.month - 1 + n
    return dt.date(index // 12, index % 12 + 1, 1)


def quarter_label(start: dt.date) -> str:
    """The financial quarter a month starts, as the board writes it: 2021-22Q1 is April to June 2021."""
    fy = start.year if start.month >= 4 else start.year - 1
    return f"{fy}-{(fy + 1) % 100:02d}Q{(start.month - 4) % 12 // 3 + 1}"


def quarters(months: list[dt.date]) -> list[dt.date]:
    """First months of the financial quarters whose three months are all in the run."""
    present = set(months)
    return [
        m for m in months if m.month in (1, 4, 7, 10) and add_months(m, 1) in present and add_months(m, 2) in present
    ]


def years_before(day: dt.date, years: int) -> dt.date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February
        return day.replace(year=day.year - years, day=28)


@functools.cache
def district_population() -> dict[str, int]:
    """The latest ONS mid-year population of each of the partnership's districts."""
    codes = {d["geography_code"] for d in reference.districts()}
    latest: dict[str, tuple[int, int]] = {}
    for row in reference.rows("ons_population_mid_year.csv"):
        code, year = row["geography_code"], int(row["mid_year"])
        if code in codes and year > latest.get(code, (0, 0))[0]:
            latest[code] = (year, int(row["population"]))
    return {code: latest.get(code, (0, 1))[1] for code in sorted(codes)}


# postcode districts by local authority, for plausible (fake) addresses
POSTCODE_DISTRICTS = {
    "E07000129": [3, 8, 9, 19],
    "E07000130": [11, 12, 7],
    "E07000131": [16, 17, 8],
    "E07000132": [9, 10, 67],
    "E07000133": [13, 14],
    "E07000134": [65, 67, 12],
    "E07000135": [2, 18],
    "E06000016": [1, 2, 3, 4, 5],
    "E06000017": [15],
}


@functools.cache
def aliases_by_code() -> dict[str, list[str]]:
    """Spellings partners use for each district (not the canonical name): the district_aliases fault."""
    out: dict[str, list[str]] = {}
    for row in reference.rows("geography_aliases.csv"):
        resolved = reference.resolve_geography(row["alias"])
        # single letters are the dashboard's axis, not what an extract says; and only spellings the gate
        # cannot tell from the canonical name ('Oadby & Wigston') are planted as aliases
        if len(row["alias"]) > 2 and resolved and not resolved[1]:
            out.setdefault(row["geography_code"], []).append(row["alias"])
    return out


def district_name(code: str, rng: random.Random, alias_rate: float) -> tuple[str, bool]:
    """The district as a partner writes it; True when an alias was planted."""
    names = {g["geography_code"]: g["geography_name"] for g in reference.geographies()}
    if alias_rate and rng.random() < alias_rate and aliases_by_code().get(code):
        return rng.choice(aliases_by_code()[code]), True
    return names[code], False


def date_text(value: dt.date | dt.datetime, rng: random.Random, cfg) -> tuple[str, str | None]:
    """A date (or date-time) as written, and the planted shape if any (dmy_dates / excel_serial_dates)."""
    roll = rng.random()
    is_ts = isinstance(value, dt.datetime)
    if roll < cfg.rate("dmy_dates"):
        return value.strftime("%d/%m/%Y %H:%M" if is_ts else "%d/%m/%Y"), "dmy_dates"
    if roll < cfg.rate("dmy_dates") + cfg.rate("excel_serial_dates"):
        base = dt.datetime(1899, 12, 30)
        moment = value if is_ts else dt.datetime.combine(value, dt.time())
        days = (moment - base).total_seconds() / 86400
        return (f"{days:.5f}" if is_ts else str(int(days))), "excel_serial_dates"
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ", timespec="minutes"), None
    return value.isoformat(), None


def csv_bytes(header: list[str], rows: list[list], bom_cp1252: bool = False) -> bytes:
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\r\n" if bom_cp1252 else "\n")
    writer.writerow(header)
    writer.writerows(["" if v is None else v for v in row] for row in rows)
    text = buffer.getvalue()
    if bom_cp1252:  # what an Excel "CSV" save produces on a Windows desktop
        return b"\xef\xbb\xbf" + text.encode("cp1252", errors="replace")
    return text.encode("utf-8")


def xlsx_bytes(sheet_name: str, header: list[str], rows: list[list], title: str) -> bytes:
    """An xlsx whose bytes depend only on its content: fixed document dates and zip entry times."""
    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = sheet_name
    sheet.append(header)
    for row in rows:
        sheet.append(row)
    fixed = dt.datetime(2000, 1, 1)
    book.properties.created = book.properties.modified = fixed
    book.properties.creator = "generator"
    book.properties.title = title
    raw = io.BytesIO()
    book.save(raw)
    out = io.BytesIO()
    with zipfile.ZipFile(raw) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in sorted(src.infolist(), key=lambda i: i.filename):
            data = src.read(info.filename)
            if info.filename == "docProps/core.xml":  # openpyxl stamps 'modified' at save whatever it was set to
                text = re.sub(
                    r"<dcterms:modified[^>]*>[^<]*</dcterms:modified>",
                    '<dcterms:modified xsi:type="dcterms:W3CDTF">2000-01-01T00:00:00Z</dcterms:modified>',
                    data.decode(),
                )
                data = text.encode()
            entry = zipfile.ZipInfo(info.filename, date_time=(2000, 1, 1, 0, 0, 0))
            entry.compress_type = zipfile.ZIP_DEFLATED
            dst.writestr(entry, data)
    return out.getvalue()


class Output:
    """Where generated feeds go: drop folders, the API's data, and the ground truth (streamed, never held)."""

    def __init__(self, root: Path):
        self.root = root
        self.drop = root / "drop"
        self.api = root / "api"
        self.truth = root / "ground_truth"
        for folder in (self.drop, self.api, self.truth):
            folder.mkdir(parents=True, exist_ok=True)
        self._truth_files: dict[str, tuple] = {}

    def write(self, feed: str, name: str, data: bytes, delivered_on: dt.date) -> Path:
        path = self.drop / feed / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        self.truth_row("deliveries", {"delivered_on": delivered_on.isoformat(), "feed": feed, "file": name})
        return path

    def fault(self, fault: str, feed: str, file: str, expected_check: str, severity: str, lines=(), detail=""):
        self.truth_row(
            "faults",
            {
                "fault": fault,
                "feed": feed,
                "file": file,
                "lines": ";".join(map(str, lines)),
                "expected_check": expected_check,
                "severity": severity,
                "detail": detail,
            },
        )

    def truth_row(self, name: str, row: dict) -> None:
        if name not in self._truth_files:
            fh = (self.truth / f"{name}.csv").open("w", newline="")
            writer = csv.DictWriter(fh, fieldnames=list(row), lineterminator="\n")
            writer.writeheader()
            self._truth_files[name] = (fh, writer)
        self._truth_files[name][1].writerow(row)

    def close(self, summary: dict) -> None:
        for fh, _ in self._truth_files.values():
            fh.close()
        (self.truth / "summary.json").write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")

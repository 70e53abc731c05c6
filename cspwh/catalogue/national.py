"""National reference data for England and Wales (sources/national/): the geography from LSOA to district, CSP,
county, police force area and region, and population by district, read with the published data's traps handled.

The traps (sources/national/README.md): district codes are 2019 codes in the lookups and April 2021 codes in the
population files (Buckinghamshire and Northamptonshire were reorganised between), bridged through
la_all_codes; two districts are split between CSPs (East Suffolk, Bournemouth Christchurch and Poole), divided here by
the former district their LSOA names still carry; some codes and names end with a non-breaking space. Force-area and
county populations are always summed from their districts: the one published force-area file is wrong for three forces
and has no Welsh ones.
"""

from __future__ import annotations

import collections
import csv
import functools
import gzip
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from cspwh import settings

MYE5_YEARS = range(2001, 2021)
# mid-2021 is Census-2021 based, the years before are rolled forward from 2011: a partly method-made step
CENSUS_2021_YEAR = 2021


def national_dir() -> Path:
    return settings.SOURCES_DIR / "national"


def _clean(value: str | None) -> str:
    # str.strip() also strips U+00A0, which ends some published codes and names (E06000061\xa0)
    return (value or "").strip()


def read(relative: str) -> list[dict]:
    path = national_dir() / relative
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", newline="", encoding="utf-8") as fh:
        return [{_clean(k): _clean(v) for k, v in row.items()} for row in csv.DictReader(fh)]


@dataclass(frozen=True)
class LocalAuthority:
    code: str  # the code active in 2021 (population files use it)
    name: str
    county_code: str  # upper tier: a shire county, or the authority itself
    county_name: str
    force_area_code: str
    region_code: str
    region_name: str
    former: tuple = ()  # (2019 code, name) merged into it since


@dataclass
class Part:
    """A piece of a district split between CSPs: the former district its LSOAs are named after."""

    code: str
    name: str
    district_code: str
    lsoas: list = field(default_factory=list)


@functools.cache
def active_code() -> dict[str, tuple[str, str]]:
    """Any district code since 2011 -> (the code active in May 2021, its name)."""
    return {
        r["LADCD"]: (r["LADCD_ACTIVE"], r["LADNM_ACTIVE"]) for r in read("geography/la_all_codes_2021-05_ew.csv.gz")
    }


@functools.cache
def _la_codes_rows() -> list[dict]:
    return read("geography/la_all_codes_2021-05_ew.csv.gz")


@functools.cache
def lad_csp_pfa() -> list[dict]:
    return read("geography/lad19_csp19_pfa19_ew.csv.gz")


@functools.cache
def force_areas() -> dict[str, dict]:
    """Force area code -> its ONS name and police.uk slug (sources/national/police_uk_forces.csv)."""
    return {r["force_area_code"]: r for r in read("police_uk_forces.csv")}


@functools.cache
def local_authorities() -> dict[str, LocalAuthority]:
    """Every district active in 2021, keyed by code, with its county, force area and region."""
    utla = {r["LTLA19CD"]: (r["UTLA19CD"], r["UTLA19NM"]) for r in read("geography/ltla19_utla19_ew.csv.gz")}
    pfa = {}
    for r in lad_csp_pfa():
        pfa[active_code()[r["LAD19CD"]][0]] = r["PFA19CD"]
    rows = {r["LADCD"]: r for r in _la_codes_rows()}
    former = collections.defaultdict(list)
    for r in _la_codes_rows():
        if r["LADCD"] != r["LADCD_ACTIVE"]:
            former[r["LADCD_ACTIVE"]].append((r["LADCD"], r["LADNM"]))
    result = {}
    for code in sorted(pfa):
        row = rows[code]
        if code[:3] in ("E06", "W06", "E08", "E09"):
            county = (code, row["LADNM"]) if code[:3] in ("E06", "W06") else utla.get(code, (code, row["LADNM"]))
        else:
            county = utla[code]
        if code.startswith("W"):
            region = ("W92000004", "Wales")
        else:
            region = (row["RGNCD"], row["RGNNM"])
        result[code] = LocalAuthority(
            code,
            row["LADNM"],
            county[0],
            county[1],
            pfa[code],
            region[0],
            region[1],
            tuple(sorted(former.get(code, ()))),
        )
    return result


@functools.cache
def lsoas() -> dict[str, tuple[str, str]]:
    """2011 LSOA code -> (its name, the 2021 district code)."""
    return {
        r["LSOA11CD"]: (r["LSOA11NM"], active_code()[r["LAD19CD"]][0])
        for r in read("geography/lsoa11_wd19_lad19_ew.csv.gz")
    }


def lsoa_prefix(name: str) -> str:
    return re.sub(r"\s+\d{3}[A-Z]$", "", name)


@functools.cache
def split_districts() -> dict[str, dict[str, list[Part]]]:
    """district code -> CSP code -> the parts of the district in that CSP, for districts split between CSPs.

    A CSP whose name is a part's LSOA prefix takes that part; the parts no CSP is named after go to the CSP that is
    named after none (Christchurch to Dorset)."""
    by_lad = collections.defaultdict(list)
    for r in lad_csp_pfa():
        by_lad[r["LAD19CD"]].append(r)
    former_by_name = {(r["LADCD_ACTIVE"], r["LADNM"]): r["LADCD"] for r in _la_codes_rows()}
    result = {}
    for lad, rows in by_lad.items():
        if len(rows) < 2:
            continue
        parts: dict[str, Part] = {}
        for lsoa, (name, district) in lsoas().items():
            if district != lad:
                continue
            prefix = lsoa_prefix(name)
            code = former_by_name.get((lad, prefix))
            if code is None:
                raise ValueError(f"LSOA {lsoa} '{name}' of split district {lad} is not named after a former district")
            parts.setdefault(prefix, Part(code, prefix, lad)).lsoas.append(lsoa)
        csp_names = {r["CSP19NM"]: r["CSP19CD"] for r in rows}
        unnamed = [c for n, c in csp_names.items() if n not in parts]
        assignment = collections.defaultdict(list)
        for prefix, part in sorted(parts.items()):
            if prefix in csp_names:
                assignment[csp_names[prefix]].append(part)
            elif len(unnamed) == 1:
                assignment[unnamed[0]].append(part)
            else:
                raise ValueError(f"cannot tell which CSP holds the {prefix} part of district {lad}")
        result[lad] = dict(assignment)
    return result


@functools.cache
def population() -> dict[str, dict[int, int]]:
    """ONS mid-year population, every area code -> year -> persons: mid-2001 to mid-2020 from MYE5 (pre-Census-2021
    vintage) and mid-2021 from MYE2 (Census-2021 based)."""
    result: dict[str, dict[int, int]] = collections.defaultdict(dict)
    for r in read("population/mye5_population_mid2001_mid2020_2021geog.csv.gz"):
        for year in MYE5_YEARS:
            result[r["code"]][year] = int(r[f"mid_{year}"])
    for r in read("population/mye2_persons_sya_mid2021_2021geog.csv.gz"):
        result[r["code"]][CENSUS_2021_YEAR] = int(r["all_ages"])
    return dict(result)


@functools.cache
def single_year_of_age(sex: str, year: int) -> dict[str, dict]:
    return {r["code"]: r for r in read(f"population/mye2_{sex}_sya_mid{year}_2021geog.csv.gz")}


def ages(row: dict, low: int, high: int) -> int:
    return sum(int(row[f"age_{a}"]) for a in range(low, high + 1))


def adult_females(code: str, year: int) -> int:
    row = single_year_of_age("females", year)[code]
    return int(row["all_ages"]) - ages(row, 0, 17)


def summed_population(local_authority_codes: Iterable[str], year: int) -> int:
    return sum(population()[c][year] for c in local_authority_codes)


def force_area_districts() -> dict[str, list[str]]:
    result = collections.defaultdict(list)
    for la in local_authorities().values():
        result[la.force_area_code].append(la.code)
    return dict(result)


def county_districts() -> dict[str, list[str]]:
    result = collections.defaultdict(list)
    for la in local_authorities().values():
        result[la.county_code].append(la.code)
    return dict(result)


def force_area_population(force_area_code: str, year: int) -> int:
    return summed_population(force_area_districts()[force_area_code], year)


def part_population(part: Part, year: int) -> int:
    """A split district's part, by its share of the district's LSOAs: LSOAs were drawn to hold similar populations,
    and no population of the former districts is published on 2021 geography. An estimate, and said so."""
    total = sum(1 for _, d in lsoas().values() if d == part.district_code)
    return round(population()[part.district_code][year] * len(part.lsoas) / total)

"""The national reference data: populations of force areas and counties summed from their districts, held against
the totals ONS and the Home Office published (where those are right), and the data's traps."""

import csv
import gzip

import pytest

from cspwh import settings
from cspwh.catalogue import national

# the one published force-area series (ONS estimates by force, wide: a column per force), vendored as published
PUBLISHED_FORCES = settings.SOURCES_DIR / "national" / "published" / "population_policeforces_2009_2019.csv.gz"
# the published force-area file is wrong for these (sources/national/README.md): checked to differ, not to agree
WRONG_IN_PUBLISHED = {"Nottinghamshire", "Thames Valley", "Metropolitan Police"}


def published_forces() -> dict[tuple[str, int], int]:
    with gzip.open(PUBLISHED_FORCES, "rt", newline="") as fh:
        return {
            (force, int(r["year"])): int(value)
            for r in csv.DictReader(fh)
            for force, value in r.items()
            if force not in ("", "year")
        }


def by_name() -> dict[str, str]:
    return {f["force_area_name"]: code for code, f in national.force_areas().items()}


def test_force_area_sums_equal_the_published_totals_where_those_are_right():
    published = published_forces()
    names = by_name()
    agreeing = {
        (force, year)
        for (force, year), value in published.items()
        if force not in WRONG_IN_PUBLISHED and national.force_area_population(names[force], year) == value
    }
    right = {key for key in published if key[0] not in WRONG_IN_PUBLISHED}
    assert agreeing == right
    assert len({f for f, _ in right}) == 36 and len({y for _, y in right}) == 11


def test_the_three_wrong_forces_differ_as_the_readme_says():
    published = published_forces()
    names = by_name()
    lads = national.force_area_districts()
    for year in range(2009, 2020):
        notts = national.force_area_population(names["Nottinghamshire"], year)
        cherwell = national.population()["E07000177"][year]
        assert "E07000177" in lads[names["Thames Valley"]]
        assert published[("Nottinghamshire", year)] == notts + cherwell
        assert (
            published[("Thames Valley", year)]
            == national.force_area_population(names["Thames Valley"], year) - cherwell
        )
        met = national.force_area_population(names["Metropolitan Police"], year)
        assert 0.05 < 1 - published[("Metropolitan Police", year)] / met < 0.07


def test_welsh_forces_are_derived_although_never_published():
    published_names = {f for f, _ in published_forces()}
    welsh = [code for code in national.force_areas() if code.startswith("W15")]
    assert len(welsh) == 4 and not {national.force_areas()[c]["force_area_name"] for c in welsh} & published_names
    wales = national.population()["W92000004"]
    for year in (2001, 2011, 2020, 2021):
        assert sum(national.force_area_population(c, year) for c in welsh) == wales[year]


def mye5_rows() -> list[dict]:
    path = settings.SOURCES_DIR / "national" / "population" / "mye5_population_mid2001_mid2020_2021geog.csv.gz"
    with gzip.open(path, "rt", newline="") as fh:
        return list(csv.DictReader(fh))


def test_county_sums_equal_the_published_county_totals():
    # shire counties (upper tier); a metropolitan county has no council, its districts are their own upper tier
    counties = {r["code"].strip(): r for r in mye5_rows() if r["geography"] == "County"}
    assert len(counties) == 24
    districts = national.county_districts()
    for code, row in counties.items():
        for year in (2001, 2011, 2015, 2020):
            assert national.summed_population(districts[code], year) == int(row[f"mid_{year}"]), (code, year)


def test_every_lsoa_reaches_a_2021_district_and_a_force_area():
    las = national.local_authorities()
    lsoas = national.lsoas()
    assert len(lsoas) == 34753
    assert all(district in las for _, district in lsoas.values())
    # the reorganised districts are reached through the bridge, their old codes never
    reached = {district for _, district in lsoas.values()}
    assert {"E06000060", "E06000061", "E06000062"} <= reached
    assert not {"E07000004", "E07000150", "E07000151"} & reached
    assert len(las) == 331 and len({la.force_area_code for la in las.values()}) == 43


def test_codes_with_a_trailing_non_breaking_space_still_join():
    raw = [r["code"] for r in mye5_rows()]
    assert "E06000061\xa0" in raw  # the quirk is still in the vendored file, so the strip is what makes it join
    assert national.population()["E06000061"][2020] > 300000


def test_split_districts_are_divided_by_the_former_district_their_lsoas_are_named_after():
    split = national.split_districts()
    assert set(split) == {"E07000244", "E06000058"}
    for district, by_csp in split.items():
        lsoas = [code for code, (_, d) in national.lsoas().items() if d == district]
        parts = [p for ps in by_csp.values() for p in ps]
        assert sorted(code for p in parts for code in p.lsoas) == sorted(lsoas)
        for p in parts:
            assert all(national.lsoas()[code][0].startswith(p.name + " ") for code in p.lsoas)
        for year in (2011, 2020):
            assert sum(national.part_population(p, year) for p in parts) == pytest.approx(
                national.population()[district][year], abs=len(parts)
            )
    names = {csp: [p.name for p in ps] for csp, ps in split["E06000058"].items()}
    assert names == {"E22000063": ["Bournemouth"], "E22000067": ["Poole"], "E22000367": ["Christchurch"]}


def test_the_vintage_break_is_pinned():
    # pre-Census-2021 mid-2020 against the Census-based mid-2021 (sources/national/README.md)
    assert [national.population()["E06000016"][y] for y in (2020, 2021)] == [354036, 366018]
    assert national.adult_females("E06000016", 2020) == 134804
    assert national.adult_females("E06000016", 2021) == 143003

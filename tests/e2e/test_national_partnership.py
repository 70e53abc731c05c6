"""A partnership the project was never configured for, set up from `cspwh init` alone: its force's police.uk files
dropped in, a real night (Airflow's police.uk and warehouse DAGs, dbt, the consistency gate, publish), and the
published counts compared with counts taken straight from the files and the national ONS lookups (read here with
csv and gzip, no cspwh code)."""

import collections
import csv
import gzip

import pytest
from conftest import VENDORED, _activate, create_database

from cspwh import cli, settings
from cspwh.catalogue import indicators, reference
from cspwh.local import dag_runs

NATIONAL = settings.SOURCES_DIR / "national" / "geography"
QUARTER, QUARTER_MONTHS = "2021-22Q4", ["2022-01", "2022-02", "2022-03"]
PARTNERSHIPS = {
    # a multi-district English CSP inside a county it shares with other CSPs and a city; a whole financial year, so
    # the dashboard's rolling 12 months are complete for it and its region's forces with files here
    "south_nottinghamshire": (
        "South Nottinghamshire",
        "nottinghamshire",
        [f"2021-{m:02d}" for m in range(4, 13)] + QUARTER_MONTHS,
    ),
    # a Welsh CSP of two unitaries
    "cwm_taf": ("Cwm Taf", "south-wales", ["2022-02", "2022-03"]),
}


def national_rows(name: str) -> list[dict]:
    with gzip.open(NATIONAL / name, "rt", newline="") as fh:
        return [{k.strip(): (v or "").strip() for k, v in r.items()} for r in csv.DictReader(fh)]


def counts_from_files(csp_name: str, force: str, months: list[str]) -> collections.Counter:
    """(geography, month, 'asb' | 'crime') -> records: each record's LSOA -> 2019 district -> CSP and force area,
    2019 codes bridged to 2021 ones, for the CSP, its districts and the force area."""
    bridge = {r["LADCD"]: r["LADCD_ACTIVE"] for r in national_rows("la_all_codes_2021-05_ew.csv.gz")}
    lad_rows = national_rows("lad19_csp19_pfa19_ew.csv.gz")
    csp = [r for r in lad_rows if r["CSP19NM"] == csp_name]
    csp_code, force_code = csp[0]["CSP19CD"], csp[0]["PFA19CD"]
    csp_lads = {r["LAD19CD"] for r in csp}
    force_lads = {r["LAD19CD"] for r in lad_rows if r["PFA19CD"] == force_code}
    lsoa_lad = {r["LSOA11CD"]: r["LAD19CD"] for r in national_rows("lsoa11_wd19_lad19_ew.csv.gz")}
    counts = collections.Counter()
    for month in months:
        with gzip.open(VENDORED.parent / force / f"{month}-{force}-street.csv.gz", "rt", newline="") as fh:
            for row in csv.DictReader(fh):
                lad = lsoa_lad.get(row["LSOA code"])
                if lad not in force_lads:
                    continue
                kind = "asb" if row["Crime type"] == "Anti-social behaviour" else "crime"
                places = {force_code} | ({csp_code, bridge[lad]} if lad in csp_lads else set())
                for place in places:
                    counts[(place, row["Month"], kind)] += 1
    return counts


# files of other forces in the partnership's region (its default comparison group), dropped beside its own
REGION_FILES = {"south_nottinghamshire": ["leicestershire", "northamptonshire"]}


def force_population(force_code: str, year: int) -> int:
    """The force area's people: its 2019 districts bridged to 2021 ones, summed from ONS MYE2 (mid-2021)."""
    bridge = {r["LADCD"]: r["LADCD_ACTIVE"] for r in national_rows("la_all_codes_2021-05_ew.csv.gz")}
    lads = {bridge[r["LAD19CD"]] for r in national_rows("lad19_csp19_pfa19_ew.csv.gz") if r["PFA19CD"] == force_code}
    assert year == 2021
    with gzip.open(NATIONAL.parent / "population" / "mye2_persons_sya_mid2021_2021geog.csv.gz", "rt") as fh:
        return sum(int(r["all_ages"]) for r in csv.DictReader(fh) if r["code"].strip() in lads)


def force_records(force: str, months: list[str], asb: bool) -> int:
    count = 0
    for month in months:
        with gzip.open(VENDORED.parent / force / f"{month}-{force}-street.csv.gz", "rt", newline="") as fh:
            count += sum((r["Crime type"] == "Anti-social behaviour") == asb for r in csv.DictReader(fh))
    return count


def state(run) -> str:
    return str(run.state).rsplit(".", 1)[-1].lower()


def clear_configuration_caches():
    for cached in (reference.partnership, reference.geographies, reference.alias_index):
        cached.cache_clear()


@pytest.fixture(scope="module", params=sorted(PARTNERSHIPS))
def night(request, server_url, airflow_ready, mailbox, tmp_path_factory):
    name, force, months = PARTNERSHIPS[request.param]
    root = tmp_path_factory.mktemp(request.param)
    with pytest.MonkeyPatch.context() as mp:
        warehouse = _activate(mp, create_database(server_url, f"m_national_{request.param}"), root)
        assert cli.main(["init", name, "--out", str(root / "reference")]) == 0
        mp.setenv("CSPWH_REFERENCE_DIR", str(root / "reference"))
        clear_configuration_caches()
        warehouse.stage(
            *[f"{m}-{f}-street.csv.gz" for m in months for f in [force] + REGION_FILES.get(request.param, [])]
        )
        assert [state(dag_runs.run(d)) for d in ("police_uk", "nightly_warehouse")] == ["success", "success"]
        yield warehouse, name, force, months, root
    clear_configuration_caches()


def test_published_counts_equal_counts_from_the_files(night):
    warehouse, name, force, months, _ = night
    expected = counts_from_files(name, force, months)
    published = warehouse.query(
        """select f.geography_code, to_char(f.month_start, 'YYYY-MM'), f.crime_category, f.incident_count
             from marts.fct_street_crime_monthly f join marts.dim_district d using (geography_code)
            where f.crime_category in ('anti-social-behaviour', 'total-crime')
              and (d.is_partnership_district or d.geography_level in ('county', 'force_area'))"""
    )
    geographies = {g for g, _, _ in expected}
    seen = {(g, m, "asb" if c == "anti-social-behaviour" else "crime"): n for g, m, c, n in published}
    assert {g for g, _, _ in seen} >= geographies
    for key in expected:
        assert seen[key] == expected[key], key
    # the partnership's own rows were all compared, and they are not trivially small
    csp_code = next(r["CSP19CD"] for r in national_rows("lad19_csp19_pfa19_ew.csv.gz") if r["CSP19NM"] == name)
    assert sum(expected[(csp_code, m, "crime")] for m in months) > 1000 * len(months)
    assert len(published) >= len(expected)


def test_the_partnership_is_the_one_configured(night):
    warehouse, name, force, _, _ = night
    rows = warehouse.query(
        "select geography_name, geography_level from marts.dim_district "
        "where geography_level = 'county' and is_partnership_district is false "
        "and geography_code = %s",
        (reference.partnership()["county_code"],),
    )
    assert rows == [(name, "county")]
    assert reference.partnership()["police_uk_force"] == force


def test_regional_average_and_peer_rank_from_the_region_s_files(night):
    warehouse, name, force, months, _ = night
    if force != "nottinghamshire":
        pytest.skip("only this partnership's region has other forces' files here")
    codes = {"nottinghamshire": "E23000019", "leicestershire": "E23000021", "northamptonshire": "E23000022"}
    # the quarter's months are 2022: the latest estimate (mid-2021) carried forward
    rates = {
        f: force_records(f, QUARTER_MONTHS, asb=False) * 1000 / force_population(code, 2021)
        for f, code in codes.items()
    }
    pooled = (
        sum(force_records(f, QUARTER_MONTHS, asb=False) for f in codes)
        * 1000
        / sum(force_population(c, 2021) for c in codes.values())
    )
    rows = warehouse.query(
        """select geography_level, value, region_value, region_forces_covered, region_forces, peer_rank, peers_ranked
             from marts.fct_kpi
            where indicator_id = 'total_crime_rate' and period_type = 'quarter' and period_label = %s""",
        (QUARTER,),
    )
    assert rows and all(float(r[2]) == pytest.approx(pooled, abs=1e-4) for r in rows)
    assert {(r[3], r[4]) for r in rows} == {(3, 5)}  # Derbyshire and Lincolnshire have no files here
    force_row = next(r for r in rows if r[0] == "force_area")
    # ranked on whole-force totals (every record the force published), lower crime first
    assert (force_row[5], force_row[6]) == (1 + sum(v < rates["nottinghamshire"] for v in rates.values()), 3)


def test_the_public_dashboard_from_police_uk_and_ons_alone(night, tmp_path):
    """The board's report for the new partnership: crime and ASB rows with figures, partner rows awaiting their
    feeds, the comparison against the regional average and the rank in the group where the files allow."""
    warehouse, name, force, months, _ = night
    assert cli.main(["report", "--quarter", QUARTER, "--draft", "--out", str(tmp_path)]) == 0
    page = next(tmp_path.glob("*.html")).read_text()
    assert f"{name} Community Safety Partnership" in page
    partner_rows = [
        i["name"]
        for i in indicators.catalogue()
        if i["status"] == "active" and i["source"]["model"] != "fct_street_crime_monthly"
    ]
    assert partner_rows and "awaiting feed" in page
    for indicator_name in partner_rows:
        assert indicator_name.split(" (")[0] in page
    if force == "nottinghamshire":
        assert "East Midlands average (3 of 5 forces)" in page


def test_the_next_night_changes_nothing_and_leaves_the_configuration_alone(night, tmp_path):
    warehouse, name, _, _, root = night
    tables = ("fct_street_crime_monthly", "fct_kpi", "dim_district")

    # compared as sorted rows: no short column list orders every mart totally (fct_kpi repeats its first four
    # columns across periods), and an order that differs between nights is not a change
    def rows():
        return {t: sorted(warehouse.query(f"select * from marts.{t}"), key=repr) for t in tables}

    before = rows()
    assert [state(dag_runs.run(d)) for d in ("police_uk", "nightly_warehouse")] == ["success", "success"]
    assert rows() == before
    # the builds read the partnership's files and never wrote to them: they are still what init writes
    assert cli.main(["init", name, "--out", str(tmp_path / "again")]) == 0
    for path in sorted((root / "reference").iterdir()):
        assert path.read_bytes() == (tmp_path / "again" / path.name).read_bytes(), path.name

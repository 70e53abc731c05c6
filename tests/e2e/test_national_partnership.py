"""A partnership the project was never configured for, set up from `cspwh init` alone: its force's police.uk files
dropped in, a real night (Airflow's police.uk and warehouse DAGs, dbt, the consistency gate, publish), and the
published counts compared with counts taken straight from the files and the national ONS lookups (read here with
csv and gzip, no cspwh code)."""
import collections
import csv
import gzip

import pytest

from conftest import VENDORED, _activate, create_database
from cspwh import cli, dag_runs, indicators, reference, settings

NATIONAL = settings.SOURCES_DIR / "national" / "geography"
PARTNERSHIPS = {
    # a multi-district English CSP inside a county it shares with other CSPs and a city
    "south_nottinghamshire": ("South Nottinghamshire", "nottinghamshire", ["2021-04", "2021-05", "2021-06"]),
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
        warehouse.stage(*[f"{m}-{force}-street.csv.gz" for m in months])
        assert [state(dag_runs.run(d)) for d in ("police_uk", "nightly_warehouse")] == ["success", "success"]
        yield warehouse, name, force, months
    clear_configuration_caches()


def test_published_counts_equal_counts_from_the_files(night):
    warehouse, name, force, months = night
    expected = counts_from_files(name, force, months)
    published = warehouse.query(
        """select f.geography_code, to_char(f.month_start, 'YYYY-MM'), f.crime_category, f.incident_count
             from marts.fct_street_crime_monthly f join marts.dim_district d using (geography_code)
            where f.crime_category in ('anti-social-behaviour', 'total-crime')
              and (d.is_partnership_district or d.geography_level in ('county', 'force_area'))""")
    geographies = {g for g, _, _ in expected}
    seen = {(g, m, "asb" if c == "anti-social-behaviour" else "crime"): n for g, m, c, n in published}
    assert {g for g, _, _ in seen} >= geographies
    for key in expected:
        assert seen[key] == expected[key], key
    # the partnership's own rows were all compared, and they are not trivially small
    csp_code = next(r["CSP19CD"] for r in national_rows("lad19_csp19_pfa19_ew.csv.gz") if r["CSP19NM"] == name)
    assert sum(expected[(csp_code, m, "crime")] for m in months) > 1000 * len(months)


def test_the_partnership_is_the_one_configured(night):
    warehouse, name, force, _ = night
    rows = warehouse.query("select geography_name, geography_level from marts.dim_district "
                           "where geography_level = 'county' and is_partnership_district is false "
                           "and geography_code = %s", (reference.partnership()["county_code"],))
    assert rows == [(name, "county")]
    assert reference.partnership()["police_uk_force"] == force

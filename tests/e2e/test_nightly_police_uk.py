"""The nightly job for real: Airflow runs the police.uk DAG and the warehouse DAG (dag.test) on a real Postgres;
the published marts are checked against counts taken straight from the police.uk files."""

import collections
import csv
import gzip
import shutil

import psycopg
import pytest
from conftest import VENDORED

from cspwh import db, settings
from cspwh.local import dag_runs

MONTHS = ["2021-04", "2021-05", "2021-06", "2021-07"]
FILES = [f"{m}-leicestershire-street.csv.gz" for m in MONTHS]
MART_TABLES = ["dim_date", "dim_district", "fct_street_crime_monthly", "fct_street_crime_unallocated"]


def independent_counts() -> collections.Counter:
    """(geography, month, 'asb' | 'crime') -> records, counted from the files and the ONS lookup alone."""
    lookup = {
        r["lsoa11cd"]: r["lad19cd"]
        for r in csv.DictReader((settings.SOURCES_DIR / "reference" / "ons_lsoa11_to_lad19.csv").open())
    }
    districts = {
        r["geography_code"]
        for r in csv.DictReader((settings.SOURCES_DIR / "reference" / "geographies.csv").open())
        if r["geography_level"] == "district"
    }
    counts = collections.Counter()
    for name in FILES:
        with gzip.open(VENDORED / name, "rt", newline="") as fh:
            for row in csv.DictReader(fh):
                lad = lookup.get(row["LSOA code"])
                if lad is None:
                    continue
                kind = "asb" if row["Crime type"] == "Anti-social behaviour" else "crime"
                # Leicestershire and Rutland (a combined footprint) is the county's districts and Rutland
                footprint = {"LEICS_RUTLAND"} if lad in districts or lad == "E06000017" else set()
                for geography in {lad, "E23000021"} | ({"E10000018"} if lad in districts else set()) | footprint:
                    counts[(geography, row["Month"], kind)] += 1
    return counts


def marts_snapshot(warehouse) -> dict[str, list[tuple]]:
    # sorted whole rows: a few leading columns do not order every mart totally (fct_street_crime_unallocated repeats
    # its first three across crime types), and rows in another order are not a change
    return {t: sorted(warehouse.query(f"select * from marts.{t}"), key=repr) for t in MART_TABLES}


def run_night(expect=("success", "success")):
    states = (dag_runs.run("police_uk").state, dag_runs.run("nightly_warehouse").state)
    assert tuple(str(s).rsplit(".", 1)[-1].lower() for s in states) == expect
    return states


@pytest.fixture(scope="module")
def first_night(module_warehouse, airflow_ready, mailbox):
    mailbox.messages.clear()  # the mailbox is the session's; this module reads only what it caused
    module_warehouse.stage(*FILES)
    run_night()
    assert mailbox.messages == [], "a clean night sends no alerts"
    return module_warehouse


def test_published_district_month_counts_equal_counts_from_the_files(first_night):
    published = first_night.query(
        """select geography_code, to_char(month_start, 'YYYY-MM'), crime_category, incident_count
             from marts.fct_street_crime_monthly
            where crime_category in ('anti-social-behaviour', 'total-crime')"""
    )
    assert len(published) == 12 * len(MONTHS) * 2  # 7 districts, county, 2 unitaries, L&R, force area
    expected = independent_counts()
    for geography, month, category, count in published:
        kind = "asb" if category == "anti-social-behaviour" else "crime"
        assert count == expected[(geography, month, kind)], (geography, month, category)
    assert sum(c for g, _, _, c in published if g == "E10000018") > 10000


def test_unplaced_records_are_reported_not_dropped(first_night):
    total_rows = sum(sum(1 for _ in gzip.open(VENDORED / f, "rt")) - 1 for f in FILES)
    placed = first_night.query("""select sum(incident_count) from marts.fct_street_crime_monthly
                                   where geography_code = 'E23000021' and crime_category <> 'total-crime'""")[0][0]
    unplaced = first_night.query("select sum(record_count) from marts.fct_street_crime_unallocated")[0][0]
    assert unplaced > 0 and placed + unplaced == total_rows


def test_rates_use_the_ons_population(first_night):
    ons = {
        (r["geography_code"], r["mid_year"]): int(r["population"])
        for r in csv.DictReader((settings.SOURCES_DIR / "reference" / "ons_population_mid_year.csv").open())
    }
    count, population, year, carried, rate = first_night.query(
        """select incident_count, population_mid_year, population_year, population_is_carried_forward, rate_per_1000
             from marts.fct_street_crime_monthly
            where geography_code = 'E07000130' and month_start = '2021-06-01' and crime_category = 'total-crime'"""
    )[0]
    # Charnwood in 2021: the latest ONS estimate in the seeds is mid-2020, carried forward
    assert (population, year, carried) == (ons[("E07000130", "2020")], 2020, True)
    assert float(rate) == pytest.approx(count * 1000 / population, abs=5e-5)


def test_running_the_night_again_changes_nothing(first_night):
    before = marts_snapshot(first_night)
    loads = first_night.query("select count(*) from landing.file_manifest")[0][0]
    run_night()
    assert first_night.query("select count(*) from landing.file_manifest")[0][0] == loads
    assert marts_snapshot(first_night) == before
    assert first_night.query("select count(*) from audit.publications")[0][0] == 2


def test_malformed_files_are_quarantined_and_marts_stay_as_they_were(first_night, mailbox):
    before = marts_snapshot(first_night)
    folder = first_night.drop / "police_uk"
    with gzip.open(VENDORED / "2021-08-leicestershire-street.csv.gz", "rt", newline="") as fh:
        rows = list(csv.reader(fh))
    no_month = "2021-08-leicestershire-street.csv"
    with (folder / no_month).open("w", newline="") as fh:
        csv.writer(fh).writerows([r[:1] + r[2:] for r in rows])
    bad_month = "2021-09-leicestershire-street.csv"
    rows = [r[:] for r in rows]
    for r in rows[1:]:
        r[1] = "09/2021"
    with (folder / bad_month).open("w", newline="") as fh:
        csv.writer(fh).writerows(rows)

    run_night()
    quarantined = dict(
        first_night.query("select file_name, reason from landing.file_manifest where outcome = 'quarantined'")
    )
    assert set(quarantined) == {no_month, bad_month}
    assert "missing 'Month'" in quarantined[no_month]
    assert "column 'Month'" in quarantined[bad_month] and "YYYY-MM" in quarantined[bad_month]
    assert marts_snapshot(first_night) == before
    # one digest for the feed's lead, naming both files and what failed, with line references
    [digest] = mailbox.to("police-performance@example.org")
    body = digest.get_content()
    subject = str(digest["Subject"])
    assert subject == "[cspwh] police_performance_lead: 2 files held back"
    assert f"file {no_month}, check columns" in body and "missing 'Month'" in body
    assert f"file {bad_month}, check format:Month" in body and "(lines 2, 3, 4, 5, 6)" in body
    assert f"file {bad_month}, check file_period:Month" in body
    # the dashboard's owner is copied in: the months those files carry are marked short until they are corrected
    [copy] = mailbox.to("community-safety@example.org")
    assert str(copy["Subject"]) == "[cspwh] community_safety_coordinator: 2 files held back"
    assert "marked short on the dashboard" in copy.get_content()


def test_a_blocking_consistency_failure_publishes_nothing(first_night, tmp_path, monkeypatch, mailbox):
    checks = tmp_path / "expectations"
    shutil.copytree(settings.expectations_dir(), checks)
    (checks / "consistency" / "planted.yml").write_text("""
family: planted
checks:
  - name: charnwood_never_has_burglary
    severity: blocking
    alert_role: community_safety_coordinator
    table: fct_street_crime_monthly
    description: A planted rule that real data breaks, to prove a blocking failure stops publication.
    what_to_do: Nothing; this is a test.
    unexpected_rows_query: |
      with batch as (select * from {batch})
      select * from batch where geography_code = 'E07000130' and crime_category = 'burglary' and incident_count > 0
""")
    monkeypatch.setenv("CSPWH_EXPECTATIONS_DIR", str(checks))
    before = marts_snapshot(first_night)
    published = first_night.query("select count(*) from audit.publications")[0][0]
    assert dag_runs.run("nightly_warehouse").state.lower().endswith("failed")
    assert marts_snapshot(first_night) == before
    assert first_night.query("select count(*) from audit.publications")[0][0] == published
    failed = first_night.query("""select check_name, severity, details->>'unexpected_count' from audit.check_results
                                   where gate = 'consistency' and not success""")
    assert [(n, s) for n, s, _ in failed] == [("planted.charnwood_never_has_burglary", "blocking")]
    assert int(failed[0][2]) == len(MONTHS)
    # the shared failure callback recorded which task failed and why
    assert first_night.query(
        "select dag_id, task_id, error like '%charnwood_never_has_burglary%' from audit.task_failures"
    ) == [("nightly_warehouse", "consistency_gate", True)]
    # the check's role is told once, with the counts and example rows; Charnwood's CSP officer is copied in
    [digest] = planted_digests(mailbox)
    assert "check planted.charnwood_never_has_burglary" in digest.get_content()
    assert f"Failed on {len(MONTHS)} row(s)" in digest.get_content()
    assert len(mailbox.to("csp-charnwood@example.org")) == 1
    # the same unresolved failure the next night is not sent again as new
    assert dag_runs.run("nightly_warehouse").state.lower().endswith("failed")
    assert len(planted_digests(mailbox)) == 1


def planted_digests(mailbox) -> list:
    return [m for m in mailbox.to("community-safety@example.org") if "planted." in m.get_content()]


def test_the_analyst_reads_marts_and_nothing_else(first_night):
    from cspwh.local import demo

    url = demo.analyst_url()
    assert url.startswith("postgresql://analyst:") and db.database_name(url) == db.database_name(first_night.url)
    with psycopg.connect(url, autocommit=True) as conn:
        assert conn.execute("select count(*) from fct_street_crime_monthly").fetchone()[0] > 0  # search_path
        for table in ("raw.police_uk__street_crimes", "landing.file_manifest", "audit.check_results"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(f"select count(*) from {table}")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("create table marts.mine (x int)")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("delete from marts.dim_district")

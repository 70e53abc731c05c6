"""Anomaly checks on the published series, on real police.uk months: Leicestershire's ASB fell by half across the
force in the winter 2020-21 lockdown (real, and said to be force-wide); a month in which the force geocoded fewer
records (planted: two districts' records lose their location, as the force's did in spring 2020, outside the months
vendored here) is said to be a no-location problem. Warnings: nothing blocks."""

import csv
import gzip
import io

import pytest
from psycopg.rows import dict_row

from cspwh import db
from cspwh.ingest import feed_run
from cspwh.warehouse import consistency_gate, nightly

MONTHS = ["2020-05", "2020-06", "2020-07", "2020-08", "2020-09", "2020-10", "2020-11", "2020-12", "2021-01"]
UNLOCATED = ("Melton", "Oadby and Wigston")  # planted in 2021-01
CHECK = "district_category_against_its_own_history"


def unlocate(path, districts) -> int:
    """The force's geocoding failed for nearly all these districts' records: no coordinates, 'No Location', no LSOA."""
    with gzip.open(path, "rt", newline="") as fh:
        rows = list(csv.reader(fh))
    header, lost = rows[0], 0
    col = {name: i for i, name in enumerate(header)}
    for n, row in enumerate(rows[1:]):
        if row[col["LSOA name"]][:-5] in districts and n % 60:  # a few stay located, as in the real month
            for name in ("Longitude", "Latitude", "LSOA code", "LSOA name"):
                row[col[name]] = ""
            row[col["Location"]] = "No Location"
            lost += 1
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerows(rows)
    path.write_bytes(gzip.compress(out.getvalue().encode(), mtime=0))
    return lost


@pytest.fixture(scope="module")
def flagged(module_warehouse):
    staged = module_warehouse.stage(*[f"{m}-leicestershire-street.csv.gz" for m in MONTHS])
    lost = unlocate(staged[-1], UNLOCATED)
    assert lost > 400
    assert {o.outcome for o in feed_run.ingest_feed("police_uk", "anomalies", module_warehouse.drop)} == {"loaded"}
    build = nightly.build(nightly.new_build_schema(), "anomalies")
    results = consistency_gate.run(build, "anomalies")
    assert not consistency_gate.blocking_failures(results)
    [result] = [r for r in results if r.name == CHECK]
    # every flagged row, not only the five examples an alert shows: the check's own query on the build
    [check] = [c for c in consistency_gate.load_checks() if c["name"] == CHECK]
    marts = f"{build}_marts"
    query = check["unexpected_rows_query"].replace("{batch}", f"{marts}.{check['table']}").replace("{marts}", marts)
    with db.connect(module_warehouse.url) as conn:
        rows = conn.cursor(row_factory=dict_row).execute(query).fetchall()
    assert len(rows) == result.unexpected_count
    return result, rows


def test_the_lockdown_fall_in_asb_is_warned_as_force_wide(flagged):
    result, examples = flagged
    assert not result.success and result.severity == "warning"
    by_key = {(e["geography_name"], e["crime_category"], f"{e['month_start']:%Y-%m}"): e for e in examples}
    blaby = by_key.get(("Blaby", "anti-social-behaviour", "2020-12"))
    assert blaby, sorted(by_key)
    assert blaby["looks_like"].startswith("force-wide") and blaby["ratio"] < 0.5 and blaby["force_ratio"] < 0.67


def test_districts_that_lost_their_locations_are_warned_as_a_no_location_problem(flagged):
    _, examples = flagged
    totals = {
        e["geography_name"]: e
        for e in examples
        if e["crime_category"] == "total-crime" and f"{e['month_start']:%Y-%m}" == "2021-01"
    }
    assert set(totals) == set(UNLOCATED), sorted(totals)
    for e in totals.values():
        assert e["incident_count"] < 0.1 * float(e["usual_median"])
        assert e["looks_like"].startswith("data: records without a location rose")
        assert e["force_no_location_pct"] > 5 > e["usual_no_location_pct"]

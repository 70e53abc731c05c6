"""The incremental-by-load models (dbt_project/macros/incremental_by_load.sql) against full rebuilds: after a new
month and after a restated month, a build seeded from the published build holds exactly the rows a full rebuild
(CSPWH_INCREMENTAL=0) of the same data holds, in every mart and in the incremental models themselves; and the
whole-force counts equal counts taken straight from the files."""

from __future__ import annotations

import collections
import csv
import gzip
import io
import logging
import re

from tests.conftest import VENDORED

FORCES = VENDORED.parent
INCREMENTAL = ("int_street_crimes_located", "int_police_uk_load_counts", "int_police_uk_force_monthly")


def build(monkeypatch, incremental: bool) -> str:
    from cspwh.warehouse import nightly

    monkeypatch.setenv("CSPWH_INCREMENTAL", "1" if incremental else "0")
    return nightly.build(nightly.new_build_schema(), "test")


def publish(schema: str) -> None:
    from cspwh.warehouse import publish as pub

    pub.publish(schema, "test")


def tables(wh, schema: str) -> list[str]:
    return [r[0] for r in wh.query("select tablename from pg_tables where schemaname = %s order by 1", (schema,))]


def differences(wh, a: str, b: str) -> dict[str, tuple[int, int]]:
    """Per table: rows only in a, rows only in b (as multisets; rows compared as their text, so json columns too)."""
    out = {}
    assert tables(wh, a) == tables(wh, b)
    for t in tables(wh, a):
        only_a, only_b = wh.query(
            f'select (select count(*) from (select x::text from "{a}"."{t}" x except all '
            f'select y::text from "{b}"."{t}" y) d), '
            f'(select count(*) from (select y::text from "{b}"."{t}" y except all '
            f'select x::text from "{a}"."{t}" x) d)'
        )[0]
        if only_a or only_b:
            out[t] = (only_a, only_b)
    return out


def file_counts(paths) -> collections.Counter:
    """(force, month, crime type) -> records, read straight from the files (the current file of each force-month)."""
    counts = collections.Counter()
    for path in paths:
        force = re.match(r"\d{4}-\d{2}-(.+)-street\.csv", path.name).group(1)
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rt", newline="") as fh:
            for row in csv.DictReader(fh):
                counts[(force, row["Month"] + "-01", row["Crime type"])] += 1
    return counts


def plan_lines(caplog) -> dict[str, str]:
    """What each incremental model's plan said in the dbt log of the last build."""
    lines = {}
    for record in caplog.records:
        m = re.search(r"(int_\w+): (.+ \(\d+ current loads, \d+ carried forward, \d+ computed\))", record.getMessage())
        if m:
            lines[m.group(1)] = m.group(2)
    caplog.clear()
    return lines


def stage(wh, *names: str) -> None:
    from cspwh.ingest import feed_run

    # load ids of several digits, as in any real warehouse (single digits once hid a misread of the state's array)
    wh.execute(
        "select setval('landing.file_manifest_file_id_seq', greatest(1000, "
        "(select last_value from landing.file_manifest_file_id_seq)))"
    )

    wh.stage(*names)
    for outcome in feed_run.ingest_feed("police_uk", "test", wh.drop):
        assert outcome.outcome == "loaded", outcome


def test_incremental_builds_equal_full_rebuilds_after_a_new_month_and_a_restatement(
    warehouse, monkeypatch, caplog, tmp_path
):
    caplog.set_level(logging.INFO, logger="cspwh.warehouse.dbt_runner")
    first = [
        "2021-04-leicestershire-street.csv.gz",
        "2021-05-leicestershire-street.csv.gz",
        "2021-04-nottinghamshire-street.csv.gz",
        "2021-05-nottinghamshire-street.csv.gz",
    ]
    stage(warehouse, *first)
    b1 = build(monkeypatch, incremental=True)
    assert all(line.startswith("no published build") for line in plan_lines(caplog).values())
    publish(b1)

    # a new month, for the partnership's force and a peer
    new = ["2021-06-leicestershire-street.csv.gz", "2021-06-nottinghamshire-street.csv.gz"]
    stage(warehouse, *new)
    b2 = build(monkeypatch, incremental=True)
    plans = plan_lines(caplog)
    assert plans == {
        # the partnership's force only: a peer's new month is not read
        "int_street_crimes_located": f"incremental from {b1} (3 current loads, 2 carried forward, 1 computed)",
        "int_police_uk_load_counts": f"incremental from {b1} (6 current loads, 4 carried forward, 2 computed)",
    }
    b3 = build(monkeypatch, incremental=False)
    assert all(line.startswith("CSPWH_INCREMENTAL is off") for line in plan_lines(caplog).values())
    assert differences(warehouse, f"{b2}_marts", f"{b3}_marts") == {}
    for schema in (b2, b3):
        assert tables(warehouse, f"{schema}_marts")  # the comparison compared something
    diff = differences(warehouse, f"{b2}_intermediate", f"{b3}_intermediate")
    assert diff == {}, diff
    counted = {
        (f, str(m), t): n
        for f, m, t, n in warehouse.query(
            "select force_slug, month_start, crime_type, sum(incident_count) "
            f"from {b2}_intermediate.int_police_uk_load_counts "
            "group by 1, 2, 3"
        )
    }
    assert counted == dict(file_counts([next(FORCES.glob(f"*/{n}")) for n in first + new]))
    publish(b2)

    # May restated for the partnership's force: 60 records recategorised, the rest unchanged (same row count, so the
    # file gate loads it as a restatement rather than holding it)
    source = next(FORCES.glob("*/2021-05-leicestershire-street.csv.gz"))
    with gzip.open(source, "rt", newline="") as fh:
        rows = list(csv.reader(fh))
    crime_type = rows[0].index("Crime type")
    changed = 0
    for row in rows[1:]:
        if row[crime_type] == "Violence and sexual offences" and changed < 60:
            row[crime_type], changed = "Criminal damage and arson", changed + 1
    assert changed == 60
    restated = tmp_path / "2021-05-leicestershire-street.csv"
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerows(rows)
    restated.write_text(buffer.getvalue())
    folder = warehouse.drop / "police_uk"
    (folder / restated.name).write_bytes(restated.read_bytes())
    from cspwh.ingest import feed_run

    [outcome] = feed_run.ingest_feed("police_uk", "test", warehouse.drop)
    assert outcome.outcome == "loaded", outcome

    b4 = build(monkeypatch, incremental=True)
    assert plan_lines(caplog) == {
        "int_street_crimes_located": f"incremental from {b2} (3 current loads, 2 carried forward, 1 computed)",
        "int_police_uk_load_counts": f"incremental from {b2} (6 current loads, 5 carried forward, 1 computed)",
    }
    b5 = build(monkeypatch, incremental=False)
    plan_lines(caplog)
    assert differences(warehouse, f"{b4}_marts", f"{b5}_marts") == {}
    assert differences(warehouse, f"{b4}_intermediate", f"{b5}_intermediate") == {}
    # the restated month replaced, not doubled: the counts are the restated file's
    current = [next(FORCES.glob(f"*/{n}")) for n in first + new if not n.startswith("2021-05-leic")] + [restated]
    counted = {
        (f, str(m), t): n
        for f, m, t, n in warehouse.query(
            "select force_slug, month_start, crime_type, sum(incident_count) "
            f"from {b4}_intermediate.int_police_uk_load_counts "
            "group by 1, 2, 3"
        )
    }
    assert counted == dict(file_counts(current))
    located = warehouse.query(
        f"select count(*) filter (where crime_type = 'Criminal damage and arson'), count(*) "
        f"from {b4}_intermediate.int_street_crimes_located where month_start = '2021-05-01'"
    )[0]
    expected = file_counts([restated])
    assert located == (expected[("leicestershire", "2021-05-01", "Criminal damage and arson")], sum(expected.values()))


def test_changed_reference_data_rebuilds_the_models_that_join_it_in_full(warehouse, monkeypatch, caplog, tmp_path):
    import shutil

    from cspwh import settings

    caplog.set_level(logging.INFO, logger="cspwh.warehouse.dbt_runner")
    stage(warehouse, "2021-04-leicestershire-street.csv.gz", "2021-04-nottinghamshire-street.csv.gz")
    b1 = build(monkeypatch, incremental=True)
    publish(b1)
    plan_lines(caplog)

    # an LSOA re-mapped from Blaby to Charnwood: every record already placed there must move
    reference = tmp_path / "reference"
    shutil.copytree(settings.reference_dir(), reference)
    lookup = reference / "ons_lsoa11_to_lad19.csv"
    text = lookup.read_text()
    assert "E01025631,Blaby 002A,E07000129,Blaby," in text
    lookup.write_text(
        text.replace("E01025631,Blaby 002A,E07000129,Blaby,", "E01025631,Blaby 002A,E07000130,Charnwood,")
    )
    monkeypatch.setenv("CSPWH_REFERENCE_DIR", str(reference))
    stage(warehouse, "2021-05-leicestershire-street.csv.gz")

    b2 = build(monkeypatch, incremental=True)
    plans = plan_lines(caplog)
    assert (
        plans["int_street_crimes_located"]
        == "its reference data changed since " + b1 + " (2 current loads, 0 carried forward, 2 computed)"
    )
    # the per-load counts join no reference data: still incremental
    assert (
        plans["int_police_uk_load_counts"] == f"incremental from {b1} (3 current loads, 2 carried forward, 1 computed)"
    )
    b3 = build(monkeypatch, incremental=False)
    assert differences(warehouse, f"{b2}_marts", f"{b3}_marts") == {}
    assert differences(warehouse, f"{b2}_intermediate", f"{b3}_intermediate") == {}
    moved = warehouse.query(
        f"select count(*) filter (where local_authority_code = 'E07000130'), count(*) "
        f"from {b2}_intermediate.int_street_crimes_located where lsoa_code = 'E01025631'"
    )[0]
    assert moved[1] > 0 and moved == (moved[1], moved[1])


def test_a_changed_model_is_rebuilt_in_full_and_the_others_stay_incremental(warehouse, monkeypatch, caplog, tmp_path):
    """A deployment that changes a model's code (here one comment in int_street_crimes_located) must not carry
    forward rows the old code made: that model rebuilds in full, the unchanged ones stay incremental, and the
    marts equal a full rebuild."""
    import shutil

    from cspwh import settings

    caplog.set_level(logging.INFO, logger="cspwh.warehouse.dbt_runner")
    # the copied project reads the seeds from their absolute path, as a partnership's folder is read
    monkeypatch.setenv("CSPWH_REFERENCE_DIR", str(settings.reference_dir()))
    stage(warehouse, "2021-04-leicestershire-street.csv.gz", "2021-04-nottinghamshire-street.csv.gz")
    b1 = build(monkeypatch, incremental=True)
    publish(b1)
    plan_lines(caplog)

    project = tmp_path / "dbt_project"
    shutil.copytree(settings.DBT_DIR, project, ignore=shutil.ignore_patterns("target", "logs", "dbt_packages"))
    model = project / "models" / "intermediate" / "crime" / "int_street_crimes_located.sql"
    model.write_text(model.read_text() + "\n-- a new release of this model\n")
    monkeypatch.setattr(settings, "DBT_DIR", project)
    stage(warehouse, "2021-05-leicestershire-street.csv.gz")

    b2 = build(monkeypatch, incremental=True)
    plans = plan_lines(caplog)
    assert (
        plans["int_street_crimes_located"]
        == f"the model or its vars changed since {b1} (2 current loads, 0 carried forward, 2 computed)"
    )
    assert (
        plans["int_police_uk_load_counts"] == f"incremental from {b1} (3 current loads, 2 carried forward, 1 computed)"
    )
    b3 = build(monkeypatch, incremental=False)
    assert differences(warehouse, f"{b2}_marts", f"{b3}_marts") == {}
    assert differences(warehouse, f"{b2}_intermediate", f"{b3}_intermediate") == {}

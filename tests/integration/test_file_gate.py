"""Landing and the file gate on a real Postgres with real GX: what loads, what is quarantined, and what it says."""

import csv
import gzip
import io

from conftest import VENDORED

from cspwh.ingest import feed_run

JUNE = "2021-06-leicestershire-street.csv.gz"


def read_rows(name: str) -> list[list[str]]:
    with gzip.open(VENDORED / name, "rt", newline="") as fh:
        return list(csv.reader(fh))


def write_csv(warehouse, name: str, rows: list[list[str]], encoding="utf-8") -> bytes:
    buffer = io.StringIO(newline="")
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    data = (
        gzip.compress(buffer.getvalue().encode(encoding), mtime=0)
        if name.endswith(".gz")
        else buffer.getvalue().encode(encoding)
    )
    folder = warehouse.drop / "police_uk"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(data)
    return data


def run(warehouse, run_id="test"):
    return {o.file_name: o for o in feed_run.ingest_feed("police_uk", run_id, warehouse.drop)}


def raw_rows_of(warehouse, file_name):
    return warehouse.query("select count(*) from raw.police_uk__street_crimes where _source_file = %s", (file_name,))[
        0
    ][0]


def test_a_good_file_loads_with_lineage_and_is_never_loaded_twice(warehouse):
    warehouse.stage(JUNE)
    expected = len(read_rows(JUNE)) - 1
    outcome = run(warehouse)[JUNE]
    assert (outcome.outcome, outcome.rows) == ("loaded", expected)
    assert warehouse.query(
        """select count(*), min(_line_number), max(_line_number), count(distinct _load_id), min(month)::text
             from raw.police_uk__street_crimes"""
    )[0] == (expected, 2, expected + 1, 1, "2021-06-01")
    manifest = warehouse.query("select feed, file_name, rows, outcome, length(content_hash) from landing.file_manifest")
    assert manifest == [("police_uk", JUNE, expected, "loaded", 64)]

    # the same bytes again, even under another name, are recognised and not loaded again
    (warehouse.drop / "police_uk" / "copy-2021-06-leicestershire-street.csv.gz").write_bytes(
        (VENDORED / JUNE).read_bytes()
    )
    again = run(warehouse, "second")
    assert {o.outcome for o in again.values()} == {"already_received"}
    assert warehouse.query("select count(*) from raw.police_uk__street_crimes")[0][0] == expected
    assert warehouse.query("select times_received from landing.file_manifest")[0][0] == 2
    assert not list((warehouse.drop / "police_uk").iterdir()), "landed files leave the drop folder"


def test_missing_column_is_quarantined_byte_for_byte_with_an_actionable_reason(warehouse):
    rows = [r[:1] + r[2:] for r in read_rows(JUNE)]  # drop Month
    name = "2021-06-leicestershire-street.csv"
    sent = write_csv(warehouse, name, rows)
    outcome = run(warehouse)[name]
    assert outcome.outcome == "quarantined"
    assert "police_uk" in outcome.reason and name in outcome.reason
    assert "missing 'Month'" in outcome.reason and "lines 1" in outcome.reason
    assert "What to do: re-export with exactly these columns" in outcome.reason
    quarantined = warehouse.root / "quarantine" / "police_uk"
    kept = [p for p in quarantined.rglob(name)]
    assert len(kept) == 1 and kept[0].read_bytes() == sent
    assert "missing 'Month'" in kept[0].with_name(name + ".reason.txt").read_text()
    assert raw_rows_of(warehouse, name) == 0
    assert warehouse.query("select outcome from landing.file_manifest where file_name = %s", (name,)) == [
        ("quarantined",)
    ]
    failed = warehouse.query("""select check_name, alert_role from audit.check_results
                                 where gate = 'file' and not success""")
    assert ("columns", "police_performance_lead") in failed


def test_bad_months_name_their_lines_column_and_values_and_the_other_files_still_load(warehouse):
    rows = read_rows(JUNE)
    for i in (5, 9, 12):  # rows[i] is on line i + 1
        rows[i][1] = "2021/06"
    rows[20][1] = "2021-05"
    bad = "2021-06-leicestershire-street.csv"
    write_csv(warehouse, bad, rows)
    warehouse.stage("2021-07-leicestershire-street.csv.gz")
    outcomes = run(warehouse)
    assert outcomes["2021-07-leicestershire-street.csv.gz"].outcome == "loaded"
    reason = outcomes[bad].reason
    assert outcomes[bad].outcome == "quarantined"
    assert (
        "[format:Month] column 'Month' has 3 value(s) not shaped as YYYY-MM (lines 6, 10, 13) e.g. '2021/06'" in reason
    )
    assert "[file_period:Month] column 'Month' has 4 row(s) for a month other than the file's 2021-06" in reason
    assert "lines 6, 10, 13, 21" in reason
    assert raw_rows_of(warehouse, bad) == 0


def test_unknown_crime_type_and_ragged_rows_are_caught(warehouse):
    rows = read_rows(JUNE)
    rows[3][9] = "Burglery"
    write_csv(warehouse, "2021-06-leicestershire-street.csv", rows)
    ragged = read_rows("2021-07-leicestershire-street.csv.gz")
    ragged[7] = ragged[7] + ["extra"]
    write_csv(warehouse, "2021-07-leicestershire-street.csv", ragged)
    outcomes = run(warehouse)
    june = outcomes["2021-06-leicestershire-street.csv"].reason
    assert (
        "[allowed_values:Crime type] column 'Crime type' has 1 value(s) outside the 14 allowed codes (lines 4)"
        " e.g. 'Burglery'" in june
    )
    july = outcomes["2021-07-leicestershire-street.csv"].reason
    assert "[row_width] 1 row(s) do not have the header's 12 fields (lines 8)" in july


def test_a_file_that_is_not_utf8_says_where(warehouse):
    rows = read_rows(JUNE)
    rows[2][6] = "On or near Caf\u00e9 Street"
    name = "2021-06-leicestershire-street.csv"
    write_csv(warehouse, name, rows, encoding="cp1252")
    reason = run(warehouse)[name].reason
    assert "[encoding] the file is not valid utf-8: byte 0xe9" in reason and "(lines 3)" in reason


def test_a_file_far_below_the_streams_recent_volume_is_held_back(warehouse):
    warehouse.stage(*(f"2021-0{m}-leicestershire-street.csv.gz" for m in (1, 2, 3)))
    assert {o.outcome for o in run(warehouse).values()} == {"loaded"}
    rows = read_rows("2021-04-leicestershire-street.csv.gz")[:501]
    name = "2021-04-leicestershire-street.csv"
    write_csv(warehouse, name, rows)
    outcome = run(warehouse, "night-2")[name]
    assert outcome.outcome == "quarantined"
    assert "[volume] the file has 500 rows; this stream's recent files had a median of" in outcome.reason
    assert "check the extract is complete" in outcome.reason

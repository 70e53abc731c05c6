"""The raw load itself, on a real Postgres: a file large enough for DuckDB to read it on both cores still gives
every row its own line, pseudonym and parsed dates; values that need quoting survive the CSV COPY and the binary
one alike; the C HMAC and the SQL one agree."""

import csv
import gzip
import hashlib
import hmac
import io

import pytest
from conftest import VENDORED

from cspwh.catalogue import contracts
from cspwh.ingest import fast_hmac, feed_run, landed_file, pseudonymise

# the header as Storm sends it, from the one definition of the feed
STORM_HEADER = list(contracts.load("storm_asb").entity("incidents").layouts[0].headers)


def storm_rows(count: int) -> list[list[str]]:
    return [
        [
            f"LP-20210615-{i:06d}",
            f"2021-06-15 {i % 24:02d}:{i % 60:02d}",
            "",
            "Nuisance",
            "Noise",
            f"On or near Street {i % 97}",
            "E01025678",
            "Charnwood" if i % 2 else "Blaby",
            f"Caller {i}",
            f"07700 {i:06d}",
            "1 A Road",
            "LE11 1AA",
            "loud music",
        ]
        for i in range(count)
    ]


def drop_csv(warehouse, feed: str, name: str, header: list[str], rows: list[list[str]]) -> None:
    folder = warehouse.drop / feed
    folder.mkdir(parents=True, exist_ok=True)
    text = io.StringIO(newline="")
    csv.writer(text, lineterminator="\n").writerows([header] + rows)
    (folder / name).write_text(text.getvalue(), encoding="utf-8")


def pseudonym(value: str) -> str:
    return hmac.new(pseudonymise._key(), " ".join(value.split()).lower().encode(), hashlib.sha256).hexdigest()[:32]


def test_a_large_extract_keeps_every_rows_line_pseudonym_and_time(warehouse):
    # ~50 MB: more than one of DuckDB's CSV buffers, so both threads convert and the order is what keeps the lines
    count = 200_000
    drop_csv(warehouse, "storm_asb", "storm_asb_20210615.csv", STORM_HEADER, storm_rows(count))
    [outcome] = feed_run.ingest_feed("storm_asb", "test", warehouse.drop)
    assert (outcome.outcome, outcome.rows) == ("loaded", count), outcome.reason
    misplaced = warehouse.query(
        """select count(*) filter (where _line_number <> split_part(incident_number, '-', 3)::int + 2),
                  count(*) filter (where opened_at is null or closed_at is not null),
                  count(distinct caller_name), min(_line_number), max(_line_number)
             from raw.storm_asb__incidents"""
    )[0]
    assert misplaced == (0, 0, count, 2, count + 1), warehouse.query(
        "select incident_number, _line_number from raw.storm_asb__incidents order by _line_number limit 3"
    )
    for i in (0, 131_071, count - 1):  # first, inside a later batch, last
        row = warehouse.query(
            """select caller_name, caller_phone, opened_at::text, district_code, caller_postcode
                                   from raw.storm_asb__incidents where _line_number = %s""",
            (i + 2,),
        )[0]
        assert row == (
            pseudonym(f"Caller {i}"),
            pseudonym(f"07700 {i:06d}"),
            f"2021-06-15 {i % 24:02d}:{i % 60:02d}:00",
            "E07000130" if i % 2 else "E07000129",
            "LE11",
        )


@pytest.mark.parametrize("feed", ["storm_asb", "police_uk"])  # a binary COPY, and a CSV one (numeric columns)
def test_values_with_commas_quotes_and_spaces_load_exactly(warehouse, feed):
    awkward = 'On or near "The Crescent", Park Road  '
    if feed == "storm_asb":
        rows = storm_rows(3)
        rows[1][5] = awkward
        drop_csv(warehouse, feed, "storm_asb_20210615.csv", STORM_HEADER, rows)
        table = "raw.storm_asb__incidents"
    else:
        with gzip.open(VENDORED / "2021-06-leicestershire-street.csv.gz", "rt", newline="") as fh:
            header, *real = list(csv.reader(fh))[:4]
        for row in real:
            row[header.index("Location")] = awkward
        drop_csv(warehouse, feed, "2021-06-leicestershire-street.csv", header, real)
        table = "raw.police_uk__street_crimes"
    [outcome] = feed_run.ingest_feed(feed, "test", warehouse.drop)
    assert outcome.outcome == "loaded", outcome.reason
    column = "location_street" if feed == "storm_asb" else "location"
    assert awkward in [r[0] for r in warehouse.query(f"select {column} from {table}")]


def test_the_compiled_hmac_is_used_here_and_agrees_with_the_sql_one(monkeypatch):
    assert fast_hmac.library() is not None, "the C HMAC should build on any machine with a C compiler"
    values = [
        "J Smith",
        "  j \t SMITH\r\n",
        "Zoë Ångström",
        " ÉLODIE  Dupont",
        "",
        "  ",
        "x" * 300,
        None,
        "07700 900123",
        "a\x0bb",
        "O'Neil\fMary",
    ]
    fast = landed_file._session()
    monkeypatch.setattr(fast_hmac, "register", lambda con, pads: False)  # as on a machine with no C compiler
    slow = landed_file._session()
    try:

        def computed(con, expression):
            con.execute("create table v (s varchar)")
            con.executemany("insert into v values (?)", [[x] for x in values * 1000])
            return con.execute(f"select {expression} from v").fetchall()

        fast_rows = computed(fast, "hmac_sha256(s), pseudonym(s), pseudonym_ascii(s) is not null")
        slow_rows = computed(slow, "hmac_sha256(s), pseudonym(s)")
        assert [r[:2] for r in fast_rows] == slow_rows
        assert sum(r[2] for r in fast_rows) == 8000  # 8 of the 11 are plain ASCII and not null: normalised in C
        expected = [
            None if x is None else hmac.new(pseudonymise._key(), x.encode(), hashlib.sha256).hexdigest() for x in values
        ]
        assert [r[0] for r in slow_rows[:11]] == expected
    finally:
        fast.close()
        slow.close()


def test_a_row_postgres_refuses_part_way_quarantines_the_file_and_says_what_postgres_said(warehouse):
    rows = storm_rows(120_000)  # the refused row comes in a later batch, after rows were already copied
    rows[110_000][5] = "On or near \x00 Street"  # Postgres text cannot hold a NUL byte; the contract has no rule for it
    drop_csv(warehouse, "storm_asb", "storm_asb_20210615.csv", STORM_HEADER, rows)
    [outcome] = feed_run.ingest_feed("storm_asb", "test", warehouse.drop)
    assert outcome.outcome == "quarantined"
    assert "[load] the rows could not be stored" in outcome.reason and "0x00" in outcome.reason
    assert warehouse.query("select count(*) from raw.storm_asb__incidents")[0][0] == 0


def test_free_text_an_earlier_contract_kept_in_raw_is_dropped_with_its_values(warehouse):
    """Sentinel's typed Storm reference was loaded as text before the contract dropped it at landing: the next
    bootstrap removes the column, and a view over it, instead of keeping free text in raw for ever."""
    from cspwh.db import bootstrap

    warehouse.execute(
        "alter table raw.sentinel_asb__cases add column storm_reference text;"
        "create schema old_build_staging;"
        "create view old_build_staging.cases as select storm_reference from raw.sentinel_asb__cases"
    )
    bootstrap.ensure(warehouse.url)
    columns = {
        c
        for (c,) in warehouse.query(
            "select column_name from information_schema.columns "
            "where table_schema = 'raw' and table_name = 'sentinel_asb__cases'"
        )
    }
    assert "storm_reference" not in columns and {"storm_reference_key", "storm_reference_form"} <= columns
    assert warehouse.query(
        "select count(*) from information_schema.views where table_schema = 'old_build_staging'"
    ) == [(0,)]

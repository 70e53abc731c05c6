"""The rules the loader runs in SQL (landed_file.py, loader.py) give what an independent Python computation of the
contract's rules gives: RFC 2104 HMAC-SHA256 of the respaced, lower-cased value; ISO, dd/mm/yyyy and Excel serial
dates; generalised postcodes and dates of birth; district spellings through reference.py."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re

import pytest

from cspwh.catalogue import reference
from cspwh.ingest import landed_file, pseudonymise

EXCEL_EPOCH = dt.datetime(1899, 12, 30)
SERIAL = r"\d{5}(\.\d+)?"


def normalise(value: str) -> str:
    return re.sub(r"[ \t\n\f\r]+", " ", value).strip(" ").lower()


def pseudonym(value: str | None) -> str | None:
    return (
        None
        if value is None
        else hmac.new(pseudonymise._key(), normalise(value).encode(), hashlib.sha256).hexdigest()[:32]
    )


def parse_date(text: str) -> tuple[dt.date, str] | None:
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            return dt.date.fromisoformat(text), "iso"
        if m := re.fullmatch(r"(\d{1,2})/(\d{1,2})/(\d{4})", text):
            return dt.date(int(m[3]), int(m[2]), int(m[1])), "dmy"
        if re.fullmatch(SERIAL, text):
            return (EXCEL_EPOCH + dt.timedelta(days=float(text))).date(), "excel_serial"
    except ValueError:
        return None
    return None


def parse_timestamp(text: str) -> tuple[dt.datetime, str] | None:
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2})?", text):
            return dt.datetime.fromisoformat(text.replace(" ", "T")), "iso"
        if m := re.fullmatch(r"(\d{1,2})/(\d{1,2})/(\d{4}) (\d{1,2}):(\d{2})(?::(\d{2}))?", text):
            return dt.datetime(int(m[3]), int(m[2]), int(m[1]), int(m[4]), int(m[5]), int(m[6] or 0)), "dmy"
        if re.fullmatch(SERIAL, text):
            return (EXCEL_EPOCH + dt.timedelta(days=float(text))).replace(microsecond=0), "excel_serial"
    except ValueError:
        return None
    return None


def age_band(born: dt.date, on: dt.date) -> str:
    age = on.year - born.year - ((on.month, on.day) < (born.month, born.day))
    low, high = next(
        b
        for b in [(0, 9), (10, 17), (18, 24), (25, 34), (35, 44), (45, 54), (55, 64), (65, 200)]
        if b[0] <= age <= b[1]
    )
    return f"{low}+" if high >= 200 else f"{low}-{high}"


NAMES = ["J Smith", "  j   SMITH ", "Zoë Ångström", "O'Neil\tMary", "07700 900123", "a\nb", "ÉLODIE", "x\u00a0y", ""]


@pytest.fixture(scope="module")
def duck():
    con = landed_file._session()
    yield con
    con.close()


def one(con, expression: str, value):
    return con.execute(f"select {expression}", [value]).fetchone()[0]


def test_pseudonyms_are_the_keyed_hmac_of_the_normalised_value(duck):
    for name in NAMES:
        assert one(duck, "pseudonym($1::varchar)", name) == pseudonym(name), name
    assert one(duck, "pseudonym($1::varchar)", " J  Smith") == one(duck, "pseudonym($1::varchar)", "j smith")
    assert one(duck, "pseudonym($1::varchar)", None) is None


def test_every_district_spelling_resolves_as_reference_resolves_it(duck):
    spellings = (
        [g["geography_name"] for g in reference.geographies()]
        + [a["alias"] for a in reference.rows("geography_aliases.csv")]
        + ["Nowhere", "N.W. Leics", "Hinckley & Bos"]
    )
    for text in spellings:
        row = duck.execute("select district_code($1::varchar), district_is_canonical($1::varchar)", [text]).fetchone()
        assert (tuple(row) if row != (None, None) else None) == reference.resolve_geography(text), text


@pytest.mark.parametrize(
    "text",
    [
        "2021-06-15 10:23",
        "2021-06-15T10:23:45",
        "15/06/2021 10:23",
        "5/6/2021 9:05",
        "44362.5",
        "44362.123456",
        "2021-02-30 10:00",
        "2021/06/15 10:00",
        "yesterday",
        "15/06/2021",
    ],
)
def test_timestamps_parse_in_the_shapes_partners_send(duck, text):
    parsed = parse_timestamp(text)
    got = duck.execute("select parse_ts($1::varchar), ts_shape($1::varchar)", [text]).fetchone()
    assert got[0] == (parsed[0] if parsed else None)
    if parsed:
        assert got[1] == parsed[1]


@pytest.mark.parametrize("text", ["2021-06-15", "15/06/2021", "1/2/1990", "32874", "2021-13-01", "31/02/2020", "x"])
def test_dates_parse_in_the_shapes_partners_send(duck, text):
    parsed = parse_date(text)
    assert one(duck, "parse_date($1::varchar)", text) == (parsed[0] if parsed else None)


def test_generalising_keeps_only_the_coarse_value(duck):
    from cspwh.catalogue.contracts import Column
    from cspwh.ingest.loader import _converted

    def sql_of(to, value):
        column = Column(
            name="v",
            header="v",
            type="date" if to != "postcode_district" else "text",
            personal="generalise",
            generalise_to=to,
        )
        return duck.execute(f"select {_converted(column)} from (select $1::varchar as v) src", [value]).fetchone()[0]

    assert sql_of("postcode_district", " le11  3tu ") == normalise(" le11  3tu ").upper().split(" ")[0] == "LE11"
    assert sql_of("year", "1990-05-17") == 1990
    assert sql_of("month", "17/05/1990") == dt.date(1990, 5, 1)
    thirty = dt.date.today().replace(year=dt.date.today().year - 30)
    assert sql_of("age_band", thirty.isoformat()) == age_band(thirty, dt.date.today()) == "25-34"


def test_the_key_can_come_from_an_airflow_connection(tmp_path):
    """In a process of its own: importing Airflow here would fix this test process's Airflow settings (its metadata
    database) before the tests that configure them run."""
    import os
    import subprocess
    import sys

    script = """
import os
import airflow.sdk  # the key is asked of Airflow only in a process that runs it
from cspwh.ingest import pseudonymise
assert pseudonymise._key() == b"from-airflow", pseudonymise._key()
os.environ["CSPWH_HMAC_KEY"] = "from-env"  # the environment wins
pseudonymise._key.cache_clear()
assert pseudonymise._key() == b"from-env"
print("OK")
"""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "CSPWH_HMAC_KEY"))}
    env.update(
        AIRFLOW_HOME=str(tmp_path),
        CSPWH_HOME=str(tmp_path),
        AIRFLOW_CONN_CSPWH_HMAC_KEY='{"conn_type": "generic", "password": "from-airflow"}',
    )
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and "OK" in done.stdout, done.stderr[-3000:]

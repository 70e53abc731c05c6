"""The rules the loader runs in SQL (staged_file.py, loader.py) give what their Python references give."""
from __future__ import annotations

import datetime as dt

import pytest

from cspwh import pseudonymise, reference, staged_file, values

NAMES = ["J Smith", "  j   SMITH ", "Zoë Ångström", "O'Neil\tMary", "07700 900123", "a\nb", "ÉLODIE", "x\u00a0y", ""]


@pytest.fixture(scope="module")
def duck():
    con = staged_file._session()
    yield con
    con.close()


def one(con, expression: str, value):
    return con.execute(f"select {expression}", [value]).fetchone()[0]


def test_pseudonyms_are_the_keyed_hmac_of_the_normalised_value(duck):
    for name in NAMES:
        assert one(duck, "pseudonym($1::varchar)", name) == pseudonymise.pseudonym(name), name
    assert one(duck, "pseudonym($1::varchar)", " J  Smith") == one(duck, "pseudonym($1::varchar)", "j smith")
    assert one(duck, "pseudonym($1::varchar)", None) is None


def test_every_district_spelling_resolves_as_reference_resolves_it(duck):
    spellings = [g["geography_name"] for g in reference.geographies()] + [
        a["alias"] for a in reference.rows("geography_aliases.csv")] + ["Nowhere", "N.W. Leics", "Hinckley & Bos"]
    for text in spellings:
        row = duck.execute("select code, canonical from geo_alias where name_norm = norm_name($1::varchar)",
                           [text]).fetchone()
        assert (tuple(row) if row else None) == reference.resolve_geography(text), text


@pytest.mark.parametrize("text", ["2021-06-15 10:23", "2021-06-15T10:23:45", "15/06/2021 10:23", "5/6/2021 9:05",
                                  "44362.5", "44362.123456", "2021-02-30 10:00", "2021/06/15 10:00", "yesterday",
                                  "15/06/2021"])
def test_timestamps_parse_with_the_shapes_values_py_knows(duck, text):
    parsed = values.parse_timestamp(text)
    got = duck.execute("select parse_ts($1::varchar), ts_shape($1::varchar)", [text]).fetchone()
    assert got[0] == (parsed[0] if parsed else None)
    if parsed:
        assert got[1] == parsed[1]


@pytest.mark.parametrize("text", ["2021-06-15", "15/06/2021", "1/2/1990", "32874", "2021-13-01", "31/02/2020", "x"])
def test_dates_parse_with_the_shapes_values_py_knows(duck, text):
    parsed = values.parse_date(text)
    assert one(duck, "parse_date($1::varchar)", text) == (parsed[0] if parsed else None)


def test_generalising_keeps_only_the_coarse_value(duck):
    from cspwh.contracts import Column
    from cspwh.loader import _converted

    def sql_of(to, value):
        column = Column(name="v", header="v", type="date" if to != "postcode_district" else "text",
                        personal="generalise", generalise_to=to)
        return duck.execute(f"select {_converted(column)} from (select $1::varchar as v) src", [value]).fetchone()[0]

    assert sql_of("postcode_district", " le11  3tu ") == pseudonymise.generalise(" le11  3tu ", "postcode_district")
    assert sql_of("year", "1990-05-17") == 1990
    assert sql_of("month", "17/05/1990") == dt.date(1990, 5, 1)
    assert sql_of("age_band", dt.date.today().replace(year=dt.date.today().year - 30).isoformat()) == \
        pseudonymise.generalise(dt.date.today().replace(year=dt.date.today().year - 30).isoformat(), "age_band")


def test_the_key_can_come_from_an_airflow_connection(monkeypatch):
    import airflow.sdk  # noqa: F401  (the key is asked of Airflow only in a process that runs it)

    monkeypatch.delenv("CSPWH_HMAC_KEY", raising=False)
    monkeypatch.setenv("AIRFLOW_CONN_CSPWH_HMAC_KEY", '{"conn_type": "generic", "password": "from-airflow"}')
    pseudonymise._key.cache_clear()
    try:
        assert pseudonymise._key() == b"from-airflow"
        monkeypatch.setenv("CSPWH_HMAC_KEY", "from-env")  # the environment wins
        pseudonymise._key.cache_clear()
        assert pseudonymise._key() == b"from-env"
    finally:
        pseudonymise._key.cache_clear()

"""Carry forward (cspwh/warehouse/carry_forward.py): a night's build copies from the published build the tables no
new load reaches, and dbt builds only the rest. Checked on real dbt builds: with only police.uk new, the Storm ASB
tables are copied, not built, and the build equals a full rebuild of the same data in every table; with Storm new,
they are built again and hold the new incidents; a change of code or vars builds everything."""

from __future__ import annotations

import json
import logging

import pytest

from cspwh import settings
from cspwh.generator import generate
from cspwh.generator.config import Config
from cspwh.ingest import feed_run
from tests.integration.test_incremental_build import differences, publish, stage

STORM_TABLES = ("int_asb_incidents_linked", "fct_asb_incident")


def build(monkeypatch, incremental: bool = True) -> tuple[str, set[str]]:
    """A nightly build; returns its schema and the models and seeds dbt itself built."""
    from cspwh.warehouse import nightly

    monkeypatch.setenv("CSPWH_INCREMENTAL", "1" if incremental else "0")
    schema = nightly.build(nightly.new_build_schema(), "test")
    results = json.loads((settings.home() / "dbt" / "target" / "run_results.json").read_text())["results"]
    return schema, {r["unique_id"].split(".")[-1] for r in results if r["unique_id"].split(".")[0] in ("model", "seed")}


def deliver_storm(warehouse, files) -> None:
    folder = warehouse.drop / "storm_asb"
    folder.mkdir(parents=True, exist_ok=True)
    for path in files:
        (folder / path.name).write_bytes(path.read_bytes())
    for path in feed_run.pending_files("storm_asb", warehouse.drop):
        assert feed_run.ingest_file("storm_asb", path, "test").outcome == "loaded"


def carried(caplog) -> str:
    lines = [r.getMessage() for r in caplog.records if r.name == "cspwh.warehouse.dbt_runner"]
    caplog.clear()
    return next((line for line in lines if line.startswith(("carried forward", "building every node"))), "")


@pytest.fixture
def storm_files(tmp_path):
    generated = tmp_path / "generated"
    generate(Config.without_faults(generated, start="2021-04", end="2021-05"))
    return sorted((generated / "drop" / "storm_asb").rglob("*.csv"))


def test_a_night_carries_what_no_new_load_reaches_and_equals_a_full_rebuild(
    warehouse, monkeypatch, caplog, storm_files
):
    caplog.set_level(logging.INFO, logger="cspwh.warehouse.dbt_runner")
    april = [p for p in storm_files if "202104" in p.name]
    assert april and len(april) < len(storm_files)
    deliver_storm(warehouse, april)
    stage(warehouse, "2021-04-leicestershire-street.csv.gz")
    b1, built = build(monkeypatch)
    assert carried(caplog).startswith("building every node: no published build")
    assert set(STORM_TABLES) <= built
    publish(b1)

    # a new police.uk month only: the Storm tables are copied from the published build, not built
    stage(warehouse, "2021-05-leicestershire-street.csv.gz")
    b2, built = build(monkeypatch)
    said = carried(caplog)
    assert said.startswith("carried forward") and f"from {b1}" in said, said
    assert not set(STORM_TABLES) & built and "int_police_uk_load_counts" in built
    b3, _ = build(monkeypatch, incremental=False)
    assert carried(caplog).startswith("building every node: CSPWH_INCREMENTAL is off")
    for layer in ("marts", "intermediate", "reference"):
        assert differences(warehouse, f"{b2}_{layer}", f"{b3}_{layer}") == {}, layer
    storm_in_b2 = warehouse.query(f"select count(*) from {b2}_marts.fct_asb_incident")[0][0]
    assert storm_in_b2 > 0  # the comparison compared rows
    # the copies keep what dbt gave the tables: the descriptions analysts read, of the table and its columns
    table = f"{b2}_marts.fct_asb_incident"
    assert warehouse.query(
        "select obj_description(%s::regclass, 'pg_class'), col_description(%s::regclass, 1)", (table, table)
    ) == warehouse.query(
        "select obj_description(%s::regclass, 'pg_class'), col_description(%s::regclass, 1)",
        (f"{b3}_marts.fct_asb_incident",) * 2,
    )
    assert all(warehouse.query("select obj_description(%s::regclass, 'pg_class')", (table,))[0])
    publish(b2)

    # Storm's May arrives: the Storm tables are built again, with the new incidents
    deliver_storm(warehouse, [p for p in storm_files if p not in april])
    b4, built = build(monkeypatch)
    assert carried(caplog).startswith("carried forward")
    assert set(STORM_TABLES) <= built and "int_police_uk_load_counts" not in built
    assert warehouse.query(f"select count(*) from {b4}_marts.fct_asb_incident")[0][0] > storm_in_b2
    publish(b4)

    # other vars (or code, or reference data): everything is built
    from cspwh.warehouse import dbt_runner

    real = dbt_runner.dbt_vars
    monkeypatch.setattr(dbt_runner, "dbt_vars", lambda: {**real(), "suppression_threshold": 6})
    _, built = build(monkeypatch)
    assert carried(caplog).startswith("building every node: the code, reference data or vars changed")
    assert set(STORM_TABLES) <= built and "int_police_uk_load_counts" in built

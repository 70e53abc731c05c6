"""Tests by load (dbt_project/macros/tested_by_load.sql): the row tests on police.uk's raw table and staging view
read only the loads new since the published build, every load in a full rebuild, and every load again when a seed
they read changes. Its own module, so it runs beside test_incremental_build.py rather than after it."""

from __future__ import annotations

import re

from tests.integration.test_incremental_build import build, publish, stage


def failing_tests(error) -> dict[str, int]:
    """Failing test (its name before the hash) -> failing rows, from the message of a failed build."""
    out = {}
    for line in str(error).splitlines():
        m = re.match(r"test\.\w+\.(\w+?)(?:\.[0-9a-f]{10})?: fail Got (\d+) results?", line)
        if m:
            out[m.group(1)] = int(m.group(2))
    return out


def test_staging_row_tests_run_once_per_load(warehouse, monkeypatch, tmp_path):
    """The police.uk staging tests (macros/tested_by_load.sql): an incremental build tests the loads new since the
    published build and only those; a full rebuild, or a changed seed a test reads, tests every load again. Rows are
    spoilt straight in raw (the file gate would refuse them in a file) so that a test has something to find."""
    import shutil

    import pytest

    from cspwh import settings
    from cspwh.warehouse import dbt_runner

    stage(warehouse, "2021-04-leicestershire-street.csv.gz", "2021-04-nottinghamshire-street.csv.gz")
    publish(build(monkeypatch, incremental=True))
    [april] = warehouse.query(
        "select file_id from landing.file_manifest where file_name = '2021-04-leicestershire-street.csv.gz'"
    )[0]

    def spoil(load_id: int) -> None:
        """One row of the load gets a crime type police.uk does not have, another repeats its line number."""
        warehouse.execute(
            "update raw.police_uk__street_crimes set crime_type = 'Not a police.uk type' "
            f"where _load_id = {load_id} and _line_number = 2"
        )
        warehouse.execute(
            f"update raw.police_uk__street_crimes set _line_number = 3 where _load_id = {load_id} and _line_number = 4"
        )

    spoil(april)  # already tested by the published build: an incremental build does not read it again
    stage(warehouse, "2021-05-leicestershire-street.csv.gz")
    [may] = warehouse.query(
        "select file_id from landing.file_manifest where file_name = '2021-05-leicestershire-street.csv.gz'"
    )[0]
    spoil(may)
    relationships = "relationships_stg_police_uk__street_crimes_crime_type"
    unique = "unique_within_load_stg_police_uk__street_crimes_street_crime_record_id"

    with pytest.raises(dbt_runner.NodesFailed) as incremental:
        build(monkeypatch, incremental=True)
    failed = failing_tests(incremental.value)
    assert [v for k, v in failed.items() if k.startswith(relationships)] == [1], failed
    assert [v for k, v in failed.items() if k.startswith(unique)] == [1], failed
    assert not [k for k in failed if "not_null" in k], failed
    # the raw table's own tests (not null lineage, which its constraints already hold) read May's load alone
    from cspwh import settings as cspwh_settings

    [compiled] = (cspwh_settings.home() / "dbt" / "target" / "run").rglob(
        "source_not_null_police_uk_street_crimes__source_file.sql"
    )
    assert f"_load_id = any(array[{may}]::bigint[])" in compiled.read_text()

    with pytest.raises(dbt_runner.NodesFailed) as full:
        build(monkeypatch, incremental=False)
    failed = failing_tests(full.value)
    assert [v for k, v in failed.items() if k.startswith(relationships)] == [2], failed
    assert [v for k, v in failed.items() if k.startswith(unique)] == [2], failed

    # a crime type removed from the categories seed: the relationships test reads it, so every load is tested again
    reference = tmp_path / "reference"
    shutil.copytree(settings.reference_dir(), reference)
    seed = reference / "police_uk_crime_categories.csv"
    lines = seed.read_text().splitlines(keepends=True)
    seed.write_text("".join(line for line in lines if "Bicycle theft" not in line))
    monkeypatch.setenv("CSPWH_REFERENCE_DIR", str(reference))
    with pytest.raises(dbt_runner.NodesFailed) as changed:
        build(monkeypatch, incremental=True)
    [(bicycles, unknown)] = warehouse.query(
        "select count(*) filter (where crime_type = 'Bicycle theft'), "
        "count(*) filter (where crime_type = 'Not a police.uk type') from raw.police_uk__street_crimes"
    )
    assert bicycles > 0 and unknown == 2  # the spoilt rows of April and May
    failed = failing_tests(changed.value)
    assert [v for k, v in failed.items() if k.startswith(relationships)] == [bicycles + unknown], failed

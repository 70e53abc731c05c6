"""The dbt unit tests (`unit_tests:` in the models' YAML) on a real Postgres: the rules that decide published figures
on hand-worked rows at their boundaries (the ASB linker's Storm-number plausibility, one-to-one assignment and
threshold; the ETE age rule and hours; first-time entrants' ages; MARAC repeats at 12 months; small-number and
secondary suppression; RAG and direction of travel). The nightly build leaves them out
(cspwh/warehouse/dbt_runner.py), so this is where they run."""

from cspwh.warehouse import dbt_runner

# the unit tests written so far: one removed, or made to select nothing, fails here
AT_LEAST = 11


def test_every_dbt_unit_test_passes(warehouse):
    schema = "build_unit_tests"
    # dbt reads the column types of a unit test's inputs from their relations, so the models and seeds upstream of
    # every unit-tested model are built first, over the empty raw tables of a new warehouse (`--empty` would be
    # quicker, but its row-limiting subquery breaks the models' `from {{ ref(...) }} as alias`)
    dbt_runner.run("build", schema, "--select", "+test_type:unit", "--exclude-resource-type", "test", "unit_test")
    # raises with dbt's diff of actual and expected rows if any fails
    results = dbt_runner.run("test", schema, "--select", "test_type:unit").result
    # the project's on-run-start hook (macros/tested_by_load.sql) is reported as an operation beside the tests
    results = [r for r in results if not r.unique_id.startswith("operation.")]
    assert all(r.unique_id.startswith("unit_test.") for r in results)
    assert len(results) >= AT_LEAST, [r.unique_id for r in results]
    assert {r.status for r in results} == {"pass"}, [(r.unique_id, r.status) for r in results]

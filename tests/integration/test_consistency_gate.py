"""The consistency gate on a real Postgres with real GX: failures carry their rows; a check that cannot run never
reads as passed."""
import pytest

from cspwh import consistency_gate

CHECK = """
family: probe
checks:
  - name: {name}
    severity: {severity}
    alert_role: community_safety_coordinator
    table: counts
    description: Counts are never negative.
    what_to_do: Fix the source.
    unexpected_rows_query: |
      with batch as (select * from {{batch}})
      select * from batch where {condition}
"""


@pytest.fixture
def build(warehouse, tmp_path, monkeypatch):
    warehouse.execute("""create schema build_probe_marts;
                       create table build_probe_marts.counts (district text, n int);
                       insert into build_probe_marts.counts values ('B', 3), ('C', -1), ('H', -2)""")
    (tmp_path / "checks" / "consistency").mkdir(parents=True)
    monkeypatch.setenv("CSPWH_EXPECTATIONS_DIR", str(tmp_path / "checks"))
    return tmp_path / "checks" / "consistency"


def test_failures_report_their_rows_and_are_recorded(warehouse, build):
    (build / "probe.yml").write_text(CHECK.format(name="non_negative", severity="blocking", condition="n < 0"))
    [result] = consistency_gate.run("build_probe", "run1")
    assert (result.success, result.unexpected_count) == (False, 2)
    assert sorted(r["district"] for r in result.examples) == ["C", "H"]
    assert consistency_gate.blocking_failures([result]) == [result]
    assert warehouse.query("select check_name, severity, success from audit.check_results") == [
        ("probe.non_negative", "blocking", False)]


def test_a_check_whose_sql_fails_raises_instead_of_passing(warehouse, build):
    (build / "probe.yml").write_text(CHECK.format(name="broken", severity="warning", condition="no_such_column > 0"))
    with pytest.raises(RuntimeError, match="probe.broken could not run"):
        consistency_gate.run("build_probe", "run2")

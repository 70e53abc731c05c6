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


def test_a_district_month_is_missing_only_inside_the_storm_extracts_months(warehouse, build):
    """Issue #11: Sentinel cases dated just before Storm's first extract made a month of zeros that blocked every
    night. The real check from expectations/consistency/asb.yml, on a small fct_asb_monthly: March has Sentinel
    cases only (outside Storm's months, not missing); in May, Charnwood has no Storm rows (missing)."""
    import yaml

    from cspwh import settings

    family = yaml.safe_load((settings.PROJECT_ROOT / "expectations" / "consistency" / "asb.yml").read_text())
    family["checks"] = [c for c in family["checks"] if c["name"] == "asb_every_district_month_present"]
    (build / "asb.yml").write_text(yaml.safe_dump(family))
    warehouse.execute("""
        create table build_probe_marts.dim_district (geography_code text, geography_name text,
                                                     is_partnership_district boolean);
        insert into build_probe_marts.dim_district values ('B', 'Blaby', true), ('C', 'Charnwood', true),
                                                          ('L', 'Leicestershire', false);
        create table build_probe_marts.fct_asb_monthly (geography_code text, month_start date, storm_incidents int,
                                                        sentinel_cases int);
        insert into build_probe_marts.fct_asb_monthly values
            ('B', '2021-03-01', 0, 4), ('C', '2021-03-01', 0, 1), ('L', '2021-03-01', 0, 5),
            ('B', '2021-04-01', 60, 30), ('C', '2021-04-01', 80, 40), ('L', '2021-04-01', 140, 70),
            ('B', '2021-05-01', 55, 20), ('C', '2021-05-01', 0, 35), ('L', '2021-05-01', 55, 55)""")
    [result] = consistency_gate.run("build_probe", "run3")
    assert (result.success, result.unexpected_count) == (False, 1)
    assert [(r["geography_name"], str(r["month_start"])) for r in result.examples] == [("Charnwood", "2021-05-01")]

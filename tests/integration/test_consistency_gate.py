"""The consistency gate on a real Postgres with real GX: failures carry their rows; a check that cannot run never
reads as passed; the checks are GX suites run by checkpoints in a file context whose results are kept and rendered
as Data Docs beside the reports."""

import re
import urllib.parse
from pathlib import Path

import pytest

from cspwh import settings
from cspwh.alerts import digests
from cspwh.warehouse import consistency_gate

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
    # a state folder (and so a GX project and reports folder) of the test's own
    monkeypatch.setenv("CSPWH_HOME", str(tmp_path / "home"))
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
        ("probe.non_negative", "blocking", False)
    ]


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


PLANTED = """
family: probe
keys:
  counts: [district]
  totals: [district]
checks:
  - name: counts_not_negative
    severity: blocking
    alert_role: community_safety_coordinator
    table: counts
    description: Counts are never negative.
    what_to_do: Fix the model.
    expectation: ExpectColumnValuesToBeBetween
    kwargs: {column: n, min_value: 0}
  - name: counts_add_up_to_the_total
    severity: blocking
    alert_role: community_safety_coordinator
    table: counts
    description: Each district's count equals its total in another table.
    what_to_do: Fix the model.
    unexpected_rows_query: |
      with batch as (select * from {batch})
      select b.district, b.n, t.total from batch as b join {marts}.totals as t using (district) where b.n <> t.total
  - name: totals_present
    severity: warning
    alert_role: community_safety_coordinator
    table: totals
    description: Every total is stated.
    what_to_do: Fix the model.
    expectation: ExpectColumnValuesToNotBeNull
    kwargs: {column: total}
"""


@pytest.fixture
def planted(warehouse, build):
    warehouse.execute("""create table build_probe_marts.totals (district text, total int);
                       insert into build_probe_marts.totals values ('B', 3), ('C', 1), ('H', -2), ('L', null)""")
    (build / "probe.yml").write_text(PLANTED)
    return build


def independent(warehouse) -> dict[str, set]:
    """What each planted check should find, computed from the tables without GX."""
    counts = dict(warehouse.query("select district, n from build_probe_marts.counts"))
    totals = dict(warehouse.query("select district, total from build_probe_marts.totals"))
    return {
        "counts_not_negative": {d for d, n in counts.items() if n < 0},
        "counts_add_up_to_the_total": {d for d, n in counts.items() if totals.get(d) is not None and totals[d] != n},
        "totals_present": {d for d, t in totals.items() if t is None},
    }


def test_a_declarative_and_a_custom_sql_expectation_fail_with_their_counts_and_block(warehouse, planted):
    expected = independent(warehouse)
    assert all(expected.values())  # every planted check has something to find
    results = {r.name: r for r in consistency_gate.run("build_probe", "run-planted")}
    for name, districts in expected.items():
        result = results[name]
        assert (result.success, result.unexpected_count) == (False, len(districts)), name
        assert {e["district"] for e in result.examples} == districts, name
    # the declarative check's examples carry the table's keys and the value that broke it
    assert sorted((e["district"], e["n"]) for e in results["counts_not_negative"].examples) == [("C", -1), ("H", -2)]
    assert {r.name for r in consistency_gate.blocking_failures(list(results.values()))} == {
        "counts_not_negative",
        "counts_add_up_to_the_total",
    }
    recorded = {
        name: (severity, success, details["unexpected_count"])
        for name, severity, success, details in warehouse.query("""select check_name, severity, success, details
                                    from audit.check_results
                                    where run_id = 'run-planted' and gate = 'consistency'""")
    }
    assert recorded == {
        f"probe.{name}": (results[name].severity, False, len(districts)) for name, districts in expected.items()
    }


def test_results_are_kept_across_runs_and_rendered_as_data_docs_beside_the_reports(warehouse, planted):
    import great_expectations as gx

    consistency_gate.run("build_probe", "night-1")
    warehouse.execute("update build_probe_marts.counts set n = 5 where district = 'C'")
    second = {r.name: r for r in consistency_gate.run("build_probe", "night-2")}
    assert second["counts_not_negative"].unexpected_count == 1  # H only: the second night saw the fix

    # a fresh GX context on the project folder, as an analyst would open it, holds both nights' results
    ctx = gx.get_context(mode="file", project_root_dir=str(settings.home()))
    kept = {(k.expectation_suite_identifier.name, k.run_id.run_name) for k in ctx.validation_results_store.list_keys()}
    assert kept == {(suite, night) for suite in ("probe.counts", "probe.totals") for night in ("night-1", "night-2")}
    assert {s.name for s in ctx.suites.all()} == {"probe.counts", "probe.totals"}
    assert {c.name for c in ctx.checkpoints.all()} == {"consistency.probe.counts", "consistency.probe.totals"}
    assert "${CSPWH_GX_WAREHOUSE_URL}" in (settings.home() / "gx" / "great_expectations.yml").read_text()
    password = urllib.parse.urlsplit(settings.warehouse_url()).password
    assert password and not [
        p
        for folder in (settings.home() / "gx", settings.reports_dir())
        for p in folder.rglob("*")
        if p.is_file() and password in p.read_text(errors="replace")
    ]
    assert ctx.variables.analytics_enabled is False

    docs = settings.reports_dir() / "data_docs"
    index = (docs / "index.html").read_text()
    assert "night-1" in index and "night-2" in index
    failing = second["counts_not_negative"]
    page = settings.reports_dir() / failing.docs_path
    assert page.is_file() and failing.docs_url == page.as_uri()
    # the page is the validation of this check's suite on the second night, and shows the failing check
    assert page.relative_to(docs).parts[:4] == ("validations", "probe", "counts", "night-2")
    text = page.read_text()
    assert "Counts are never negative." in text and "night-2" in text
    [details] = warehouse.query("""select details from audit.check_results
                                    where run_id = 'night-2' and check_name = 'probe.counts_not_negative'""")[0]
    assert details["docs_path"] == failing.docs_path and details["docs_url"] == failing.docs_url


def test_the_alert_links_each_failing_check_to_its_result_page(warehouse, planted, mailbox, monkeypatch):
    monkeypatch.setenv("CSPWH_ALERT_ROUTES", str(settings.PROJECT_ROOT / "expectations" / "alert_routes.yml"))
    mailbox.messages.clear()
    results = consistency_gate.run("build_probe", "night-alert")
    [digest] = digests.dispatch("night-alert")
    links = re.findall(r"result page \(GX Data Docs\): (\S+)", digest.body)
    assert len(links) == sum(not r.success for r in results) == 3
    for link in links:
        assert link.startswith("file://") and Path(link.removeprefix("file://")).is_file(), link
    [mail] = mailbox.to(digest.address)
    assert links[0] in mail.get_content()


def test_a_declarative_check_that_cannot_run_raises(warehouse, build):
    (build / "probe.yml").write_text(
        PLANTED.replace("{column: n, min_value: 0}", "{column: no_such_column, min_value: 0}")
    )
    with pytest.raises(RuntimeError, match="probe.counts_not_negative could not run"):
        consistency_gate.run("build_probe", "run-broken")


def test_a_check_on_a_table_the_build_lacks_raises(warehouse, build):
    (build / "probe.yml").write_text(
        CHECK.format(name="missing", severity="warning", condition="n < 0").replace(
            "table: counts", "table: no_such_table"
        )
    )
    with pytest.raises(RuntimeError, match="probe.missing"):
        consistency_gate.run("build_probe", "run-missing")


@pytest.mark.parametrize(
    "change, says",
    [
        (
            lambda text: text.replace("    expectation: ExpectColumnValuesToBeBetween\n", ""),
            "give either `expectation`",
        ),
        (
            lambda text: text.replace("ExpectColumnValuesToBeBetween", "ExpectColumnValuesToBeSensible"),
            "GX has no expectation",
        ),
        (lambda text: text.replace("min_value: 0", "minimum: 0"), "does not take these kwargs"),
        (lambda text: text.replace("severity: warning", "severity: urgent"), "severity 'urgent' is none of"),
    ],
)
def test_a_wrongly_written_check_says_what_and_where(warehouse, planted, change, says):
    (planted / "probe.yml").write_text(change(PLANTED))
    with pytest.raises(consistency_gate.CheckDefinitionError, match=re.escape(says)):
        consistency_gate.run("build_probe", "run-wrong")


def test_the_gate_leaves_no_connection_open(warehouse, build):
    (build / "probe.yml").write_text(CHECK.format(name="non_negative", severity="blocking", condition="n < 0"))
    for night in ("night-1", "night-2"):
        consistency_gate.run("build_probe", night)
    assert warehouse.query("""select count(*) from pg_stat_activity
                               where application_name = 'cspwh_consistency_gate'""") == [(0,)]


def test_the_converted_sentinel_check_finds_what_its_former_sql_found(warehouse, build):
    """asb.sentinel_above_police is now GX's ExpectColumnPairValuesAToBeGreaterThanB with a row condition: the rows
    it finds are those the former SQL (district or county, complete month, Sentinel above Storm) finds."""
    import yaml

    family = yaml.safe_load((settings.PROJECT_ROOT / "expectations" / "consistency" / "asb.yml").read_text())
    family["checks"] = [c for c in family["checks"] if c["name"] == "sentinel_above_police"]
    (build / "asb.yml").write_text(yaml.safe_dump(family))
    rows = [
        ("B", "district", "2021-04-01", 10, 12, True),
        ("B", "district", "2021-05-01", 10, 9, True),
        ("C", "district", "2021-04-01", 5, 6, False),
        ("K", "county", "2021-04-01", 15, 18, True),
        ("L", "force_area", "2021-04-01", 20, 30, True),
        ("C", "district", "2021-05-01", 7, 7, True),
    ]
    warehouse.execute(
        """create table build_probe_marts.fct_asb_monthly (geography_code text, geography_level text,
                           month_start date, storm_incidents int, sentinel_cases int, combined_is_complete boolean);
                         insert into build_probe_marts.fct_asb_monthly values """
        + ", ".join(f"('{g}', '{lvl}', '{m}', {s}, {n}, {c})" for g, lvl, m, s, n, c in rows)
    )
    [result] = consistency_gate.run("build_probe", "run-sentinel")
    expected = {(g, m) for g, lvl, m, s, n, c in rows if lvl in ("district", "county") and c and n > s}
    assert expected and result.unexpected_count == len(expected)
    assert {(e["geography_code"], e["month_start"]) for e in result.examples} == expected

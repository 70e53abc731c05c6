"""The board's dashboard for real: two years of police.uk files and a quarter of generated Storm and Sentinel feeds
through their DAGs and the nightly build; the KPI mart checked against the files, the report rendered as HTML and
PDF, figures explained back to their files and loads, and a corrected file for a reported quarter restated."""

import csv
import gzip
import re

import pytest
from conftest import VENDORED

from cspwh import cli, settings
from cspwh.catalogue import indicators
from cspwh.generator import deliveries, generate
from cspwh.generator.config import DEFAULT_FAULTS, Config
from cspwh.local import dag_runs
from cspwh.local.sentinel_api import SentinelAPI
from cspwh.reporting import dashboard

QUARTER = "2022-23Q1"  # April to June 2022: rolling 12 months Jul 2021-Jun 2022 against Jul 2020-Jun 2021
MONTHS = [f"{y}-{m:02d}" for y, m in [(2020 + (6 + i) // 12, (6 + i) % 12 + 1) for i in range(24)]]
PEER_MONTHS = ["2022-04", "2022-05", "2022-06"]  # a configured peer force's files for the quarter
COUNTY, CHARNWOOD, FORCE_AREA = "E10000018", "E07000130", "E23000021"


def state(run) -> str:
    return str(run.state).rsplit(".", 1)[-1].lower()


@pytest.fixture(scope="module")
def night(module_warehouse, airflow_ready, mailbox, tmp_path_factory):
    assert MONTHS[0] == "2020-07" and MONTHS[-1] == "2022-06"
    module_warehouse.stage(
        *[f"{m}-leicestershire-street.csv.gz" for m in MONTHS], *[f"{m}-lancashire-street.csv.gz" for m in PEER_MONTHS]
    )
    generated = tmp_path_factory.mktemp("feeds")
    faults = {**{k: 0 for k in DEFAULT_FAULTS}, "cross_system_duplicates": 0.35}
    generate(Config(out=generated, start="2022-04", end="2022-06", faults=faults))
    storm = [f for _, n in deliveries.schedule(generated) for f in n if f[0] == "storm_asb"]
    deliveries.deliver(generated, module_warehouse.drop, storm)
    with SentinelAPI(generated / "api" / "sentinel" / "cases.jsonl") as api, pytest.MonkeyPatch.context() as mp:
        mp.setenv("CSPWH_SENTINEL_API_URL", api.base_url)
        assert [state(dag_runs.run(d)) for d in ("police_uk", "storm_asb", "sentinel_asb", "nightly_warehouse")] == [
            "success"
        ] * 4
    return module_warehouse


@pytest.fixture(scope="module")
def published_report(night, tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    assert cli.main(["report", "--quarter", QUARTER, "--out", str(out)]) == 0
    return out


def county_crimes_from_files(months: list[str], crime_type: str | None = None) -> int:
    """Records in the county's districts, counted from the police.uk files and the ONS lookup alone."""
    lookup = {
        r["lsoa11cd"]: r["lad19cd"]
        for r in csv.DictReader((settings.SOURCES_DIR / "reference" / "ons_lsoa11_to_lad19.csv").open())
    }
    districts = {
        r["geography_code"]
        for r in csv.DictReader((settings.SOURCES_DIR / "reference" / "geographies.csv").open())
        if r["parent_code"] == COUNTY
    }
    count = 0
    for month in months:
        with gzip.open(VENDORED / f"{month}-leicestershire-street.csv.gz", "rt", newline="") as fh:
            for row in csv.DictReader(fh):
                wanted = row["Crime type"] == crime_type if crime_type else row["Crime type"] != "Anti-social behaviour"
                count += wanted and lookup.get(row["LSOA code"]) in districts
    return count


def force_crimes_from_files(force: str, months: list[str]) -> int:
    """Every crime record (ASB excluded) a force published for the months, located or not."""
    count = 0
    for month in months:
        with gzip.open(VENDORED.parent / force / f"{month}-{force}-street.csv.gz", "rt", newline="") as fh:
            count += sum(row["Crime type"] != "Anti-social behaviour" for row in csv.DictReader(fh))
    return count


def kpi(warehouse, indicator, geography, period_label):
    cur_rows = warehouse.query(
        """select value, numerator, denominator, previous_value, change_pct, direction_of_travel, rag,
                  not_rated_reason, district_rank, districts_ranked, flags, is_complete, peer_rank, peers_ranked
             from marts.fct_kpi where indicator_id = %s and geography_code = %s and period_label = %s""",
        (indicator, geography, period_label),
    )
    assert len(cur_rows) == 1, (indicator, geography, period_label)
    keys = (
        "value",
        "numerator",
        "denominator",
        "previous_value",
        "change_pct",
        "direction",
        "rag",
        "not_rated",
        "district_rank",
        "districts_ranked",
        "flags",
        "is_complete",
        "peer_rank",
        "peers_ranked",
    )
    return dict(zip(keys, cur_rows[0]))


def test_a_part_covered_previous_year_is_compared_on_the_months_both_years_cover(night):
    """The files begin in July 2020: the year to 2021-22 Q4 has a previous year with 9 of its 12 months, enough for
    the default rule (rag.matched_months_min 9), so its change is July to March against July to March a year
    earlier, recomputed here from the files; the year to 2021-22 Q3 has 6 and is not rated."""
    rows = night.query(
        """select change_pct, direction_of_travel, rag, not_rated_reason, comparison_months, previous_value
             from marts.fct_kpi where indicator_id = 'total_crime_rate' and geography_code = %s
              and period_label = 'R12 to 2021-22Q4'""",
        (COUNTY,),
    )
    [(change_pct, direction, rag, not_rated, months, previous_value)] = rows
    assert months == 9 and not_rated is None and previous_value is not None

    def population(month: str) -> float:
        return float(
            night.query(
                """select population_mid_year from marts.fct_street_crime_monthly
                    where geography_code = %s and month_start = %s and crime_category = 'total-crime'""",
                (COUNTY, f"{month}-01"),
            )[0][0]
        )

    now = county_crimes_from_files(MONTHS[12:21]) * 1000 / population("2022-03")
    then = county_crimes_from_files(MONTHS[:9]) * 1000 / population("2021-03")
    change = (round(now, 4) - round(then, 4)) * 100 / round(then, 4)
    assert float(change_pct) == pytest.approx(change, abs=0.01)
    tolerance = indicators.get("total_crime_rate")["rag"]["tolerance_pct"]
    assert rag == ("R" if change > tolerance else ("G" if change < -tolerance else "A"))
    assert direction == ("up" if change > 0 else "down")

    [(rag, not_rated, months)] = night.query(
        """select rag, not_rated_reason, comparison_months from marts.fct_kpi
            where indicator_id = 'total_crime_rate' and geography_code = %s and period_label = 'R12 to 2021-22Q3'""",
        (COUNTY,),
    )
    assert (rag, not_rated, months) == (None, "comparator incomplete", None)


def test_kpi_mart_recomputes_from_the_files(night):
    current = kpi(night, "total_crime_rate", COUNTY, f"R12 to {QUARTER}")
    previous = kpi(night, "total_crime_rate", COUNTY, "R12 to 2021-22Q1")
    assert current["numerator"] == county_crimes_from_files(MONTHS[12:]) > 40000
    assert previous["numerator"] == county_crimes_from_files(MONTHS[:12])
    population = night.query(
        """select population_mid_year from marts.fct_street_crime_monthly
                                 where geography_code = %s and month_start = '2022-06-01'
                                   and crime_category = 'total-crime'""",
        (COUNTY,),
    )[0][0]
    assert current["denominator"] == population
    assert float(current["value"]) == pytest.approx(float(current["numerator"]) * 1000 / population, abs=5e-5)
    change = (float(current["value"]) - float(previous["value"])) / float(previous["value"]) * 100
    assert float(current["change_pct"]) == pytest.approx(change, abs=0.01)
    tolerance = indicators.get("total_crime_rate")["rag"]["tolerance_pct"]
    expected_rag = "R" if change > tolerance else ("G" if change < -tolerance else "A")  # up is bad
    assert current["rag"] == expected_rag and current["direction"] == ("up" if change > 0 else "down")
    assert current["flags"] == ["estimated"]  # 2022 rates use the mid-2020 population carried forward

    burglary = kpi(night, "burglary_rate", COUNTY, f"R12 to {QUARTER}")
    assert burglary["numerator"] == county_crimes_from_files(MONTHS[12:], "Burglary")

    # district rank: 1 = the lowest rate of the seven, as recomputed from the district rows
    rates = dict(
        night.query(
            """select geography_code, value from marts.fct_kpi
                                 where indicator_id = 'vehicle_crime_rate' and period_label = %s
                                   and geography_level = 'district'""",
            (f"R12 to {QUARTER}",),
        )
    )
    assert len(rates) == 7
    charnwood = kpi(night, "vehicle_crime_rate", CHARNWOOD, f"R12 to {QUARTER}")
    assert charnwood["district_rank"] == 1 + sum(v < rates[CHARNWOOD] for v in rates.values())
    assert charnwood["districts_ranked"] == 7

    # ASB covers one quarter: its rolling 12 months are flagged incomplete and never rated
    asb = kpi(night, "asb_rate", COUNTY, f"R12 to {QUARTER}")
    assert not asb["is_complete"] and asb["rag"] is None and "incomplete" in asb["flags"]
    assert asb["not_rated"] == "current period incomplete"
    # peer rank: the quarter's whole-force total crime per 1,000, Leicestershire against Lancashire, from the files
    seed = settings.SOURCES_DIR / "reference" / "ons_population_police_force_areas.csv"
    rows = list(csv.DictReader(seed.open()))
    latest = max(int(r["mid_year"]) for r in rows if int(r["mid_year"]) <= 2022)  # carried forward to 2022
    population = {r["force_name"]: int(r["population"]) for r in rows if int(r["mid_year"]) == latest}
    force_rates = {
        force: force_crimes_from_files(force, PEER_MONTHS) / population[force.title()]
        for force in ("leicestershire", "lancashire")
    }
    quarter = kpi(night, "total_crime_rate", FORCE_AREA, QUARTER)
    expected_rank = 1 + (force_rates["lancashire"] < force_rates["leicestershire"])  # lower crime ranks first
    assert (quarter["peer_rank"], quarter["peers_ranked"]) == (expected_rank, 2), force_rates
    # the rolling 12 months have no peer rank: the peer's files cover one quarter of them
    assert kpi(night, "total_crime_rate", FORCE_AREA, f"R12 to {QUARTER}")["peer_rank"] is None
    # the partnership's override of the RAG rule reaches the mart; an indicator whose feed sent nothing has no rows
    catalogue = dict(night.query("select indicator_id, rag_tolerance_pct from marts.dim_indicator"))
    assert float(catalogue["asb_rate"]) == 10 and float(catalogue["total_crime_rate"]) == 5
    assert {"uava_referrals", "marac_repeat_pct", "yos_fte_rate"} <= set(catalogue)
    assert night.query("select count(*) from marts.fct_kpi where indicator_id = 'uava_referrals'")[0][0] == 0


def test_report_renders_the_dashboard_as_html_and_pdf(night, published_report):
    html = (published_report / f"dashboard_{QUARTER}.html").read_text()
    pdf = (published_report / f"dashboard_{QUARTER}.pdf").read_bytes()
    assert pdf.startswith(b"%PDF") and len(pdf) > 20000
    assert "Safer Communities Performance Dashboard Quarter 1, 2022/23" in html
    from html import escape

    shown = 0
    for ind in indicators.active():
        assert escape(ind["name"]) in html, ind["id"]
        found = night.query(
            """select k.value, i.decimals from marts.fct_kpi k join marts.dim_indicator i using (indicator_id)
                where k.indicator_id = %s and k.geography_code = %s and k.period_label = %s""",
            (ind["id"], COUNTY, f"R12 to {QUARTER}"),
        )
        if not found:  # the domestic abuse and offending feeds were never connected here: awaiting their feed
            assert f"{escape(ind['name'])} (awaiting feed)" in html, ind["id"]
            continue
        value, decimals = found[0]
        assert f">{float(value):,.{decimals}f}<" in html, ind["id"]
        shown += 1
    assert shown >= 8
    for outcome in indicators.outcomes():
        assert escape(outcome["name"]) in html
    assert html.count('<svg class="chart"') == shown
    assert "Awaiting data" in html and "UAVA referrals" in html
    assert "Exception summary" in html and "Total crime rate rose" in html
    assert "Peer rank not available" in html
    from weasyprint import HTML

    assert len(HTML(string=html).render().pages) >= 2
    # the as-reported ledger holds what the report showed
    reported = night.query(
        """select f.value, k.value from audit.reported_figures f join audit.reports r
                                using (report_id)
                              join marts.fct_kpi k using (indicator_id, geography_code, period_type, period_label)
                              where r.quarter = %s""",
        (QUARTER,),
    )
    # county and 7 districts per indicator, and the county's two comparators for the five police.uk indicators
    # (ASB has one quarter of data: no comparators)
    assert len(reported) == shown * 8 + 5 * 2 and all(a == b for a, b in reported)
    # each with the decimals it was printed at, and the headline with the RAG printed beside it
    printed = night.query(
        """select f.indicator_id, f.geography_code, f.period_label, f.decimals, f.unit, f.rag,
                                    k.rag
                               from audit.reported_figures f join audit.reports r using (report_id)
                               join marts.fct_kpi k using (indicator_id, geography_code, period_type, period_label)
                              where r.quarter = %s""",
        (QUARTER,),
    )
    for indicator_id, geography, label, decimals, unit, rag, kpi_rag in printed:
        ind = indicators.get(indicator_id)
        assert (decimals, unit) == (ind["decimals"], ind["unit"])
        headline = geography == COUNTY and label == f"R12 to {QUARTER}"
        assert rag == (kpi_rag if headline else None), (indicator_id, geography, label)
    assert any(rag for *_, rag, _ in printed)


def test_explain_traces_a_figure_to_its_files_and_loads(night, capsys):
    assert cli.main(["explain", "total_crime_rate", "--geo", "Charnwood", "--period", QUARTER]) == 0
    text = capsys.readouterr().out
    current = kpi(night, "total_crime_rate", CHARNWOOD, f"R12 to {QUARTER}")
    assert f"numerator {current['numerator']:,}" in text and f"denominator {current['denominator']:,}" in text
    files = night.query("""select file_id, file_name from landing.file_manifest
                            where feed = 'police_uk' and file_name between '2021-07' and '2022-06-z'
                              and file_name like '%-leicestershire-%'""")
    assert len(files) == 12
    for file_id, name in files:
        assert re.search(rf"load {file_id}\s+{re.escape(name)}\s", text), name
    assert "2021-06-leicestershire-street" not in text and "lancashire" not in text  # a district: own force only
    assert "passed  street_crime.districts_add_up_to_county" in text and "passed  dashboard.kpi_recomputes" in text

    assert cli.main(["explain", "asb_rate", "--geo", "O&W", "--period", QUARTER, "--period-type", "quarter"]) == 0
    text = capsys.readouterr().out
    storm, sentinel, linked, combined = night.query(
        """select sum(storm_incidents), sum(sentinel_cases), sum(linked_sentinel_cases), sum(combined_matters)
             from marts.fct_asb_monthly where geography_code = 'E07000135'"""
    )[0]
    assert linked > 0
    assert (
        f"storm_incidents {storm:,}, sentinel_cases {sentinel:,}, linked_sentinel_cases {linked:,}, "
        f"combined_matters {combined:,}"
    ) in text
    assert f"combined = {storm:,} + {sentinel:,} - {linked:,}" in text
    named = set(re.findall(r"load (\d+)\s+(storm_asb_\d{8}\.csv)", text))
    loaded = {
        (str(i), n)
        for i, n in night.query(
            "select file_id, file_name from landing.file_manifest where feed = 'storm_asb' and outcome = 'loaded'"
        )
    }
    assert len(named) > 20 and named <= loaded
    assert "stg_sentinel_asb__cases" in text
    assert "passed  asb.combined_is_storm_plus_sentinel_minus_linked" in text


def test_a_corrected_file_for_a_reported_quarter_is_a_restatement(night, published_report, capsys, tmp_path):
    reported = kpi(night, "total_crime_rate", COUNTY, f"R12 to {QUARTER}")
    with gzip.open(VENDORED / "2022-06-leicestershire-street.csv.gz", "rt", newline="") as fh:
        rows = list(csv.reader(fh))
    # the force resends June 2022 with 1 in 40 crimes withdrawn
    corrected = [rows[0]] + [r for i, r in enumerate(rows[1:]) if i % 40 or r[9] == "Anti-social behaviour"]
    with (night.drop / "police_uk" / "2022-06-leicestershire-street.csv").open("w", newline="") as fh:
        csv.writer(fh).writerows(corrected)
    assert [state(dag_runs.run(d)) for d in ("police_uk", "nightly_warehouse")] == ["success", "success"]

    restated = kpi(night, "total_crime_rate", COUNTY, f"R12 to {QUARTER}")
    assert restated["numerator"] < reported["numerator"]
    success, message, details = night.query(
        """select success, message, details from audit.check_results
            where check_name = 'dashboard.reported_figures_restated' order by check_result_id desc limit 1"""
    )[0]
    assert not success and "restatement" in message
    # every crime indicator's June-affected figures moved: county and districts, current and previous FY...
    assert details["unexpected_count"] > 10
    first = details["examples"][0]
    assert first["reported_in_report"] == QUARTER and first["reported_value"] != first["new_value"]
    # ...and the message names the reported and the new value
    assert f"'reported_value': {first['reported_value']}, 'new_value': {first['new_value']}" in message
    assert cli.main(["explain", "total_crime_rate", "--geo", "Leicestershire", "--period", QUARTER]) == 0
    text = capsys.readouterr().out
    assert f"showed {reported['value']} (RESTATED: now {restated['value']})" in text
    # the next edition shows the board both: the figure as published beside the value now
    decimals = indicators.get("total_crime_rate")["decimals"]
    then, now = (f"{float(v):,.{decimals}f}" for v in (reported["value"], restated["value"]))
    assert then != now
    assert cli.main(["report", "--quarter", QUARTER, "--out", str(tmp_path), "--draft"]) == 0
    html = (tmp_path / f"dashboard_{QUARTER}.html").read_text()
    label = re.escape(dashboard.period_words(f"R12 to {QUARTER}"))
    assert re.search(
        rf">{re.escape(now)}<span class=\"label\">{label}(<br>[^<]*)?</span>"
        rf"<span class=\"published\">as published {re.escape(then)} \({QUARTER}, report \d+\)</span>",
        html,
    )


# --- analysts: lineage from marts, every column documented, the docs site --------------------------------------


def test_the_analyst_explains_a_figure_from_marts_alone(night, capsys, monkeypatch):
    from cspwh import db
    from cspwh.local import demo

    assert cli.main(["explain", "asb_rate", "--geo", "Charnwood", "--period", QUARTER]) == 0
    as_owner = capsys.readouterr().out
    analyst = demo.analyst_url()
    with db.connect(analyst) as conn, pytest.raises(Exception, match="permission denied"):
        conn.execute("select 1 from landing.file_manifest limit 1")  # really the analyst: no landing, no audit
    monkeypatch.setenv("WAREHOUSE_URL", analyst)
    assert cli.main(["explain", "asb_rate", "--geo", "Charnwood", "--period", QUARTER]) == 0
    assert capsys.readouterr().out == as_owner
    loads = set(re.findall(r"load (\d+)\s+storm_asb_\d{8}\.csv", as_owner))
    with db.connect(analyst) as conn:
        storm = {
            str(i)
            for (i,) in conn.execute(
                """select distinct load_id from marts.fct_kpi_source_records
                where indicator_id = 'asb_rate' and relation = 'stg_storm_asb__incidents'
                  and geography_code = %s""",
                (CHARNWOOD,),
            ).fetchall()
        }
    assert loads and loads == storm


def undocumented(built: list[tuple[str, str]], manifest: dict) -> list[str]:
    """The built mart columns without a description as dbt compiled it (the manifest): a `doc()` block counts by
    what it renders to, so an empty block or a column the YAML does not name is undocumented."""
    documented = {
        node["name"]: {name: (col.get("description") or "").strip() for name, col in node["columns"].items()}
        for node in manifest["nodes"].values()
        if node["resource_type"] == "model" and node["original_file_path"].startswith("models/marts/")
    }
    return [f"{t}.{c}" for t, c in built if not documented.get(t, {}).get(c)]


def test_the_documentation_check_counts_what_the_manifest_renders():
    manifest = {
        "nodes": {
            "model.cspwh.fct_x": {
                "name": "fct_x",
                "resource_type": "model",
                "original_file_path": "models/marts/x/_x__models.yml",
                "columns": {
                    "rendered": {"description": "First day of the period."},
                    "empty_block": {"description": " "},
                },
            }
        }
    }
    built = [("fct_x", "rendered"), ("fct_x", "empty_block"), ("fct_x", "not_in_yaml"), ("fct_y", "no_model")]
    assert undocumented(built, manifest) == ["fct_x.empty_block", "fct_x.not_in_yaml", "fct_y.no_model"]


def test_every_published_mart_column_is_documented(night):
    import json

    built = night.query("""select table_name, column_name from information_schema.columns
                            where table_schema = 'marts' order by table_name, ordinal_position""")
    assert len({t for t, _ in built}) >= 15
    # the manifest of the night's build (cspwh/warehouse/dbt_runner.py), where doc() blocks are rendered
    manifest = json.loads((settings.home() / "dbt" / "target" / "manifest.json").read_text())
    missing = undocumented(built, manifest)
    assert missing == [], f"describe these in the marts' YAML (or a docs block in models/docs/): {missing}"
    # and the descriptions reach the analyst's SQL client as comments
    comments = night.query("""select count(*) from information_schema.columns c
                               join pg_class t on t.relname = c.table_name
                               join pg_namespace n on n.oid = t.relnamespace and n.nspname = c.table_schema
                              where c.table_schema = 'marts' and t.relkind in ('r', 'p')
                                and col_description(t.oid, c.ordinal_position) is null""")
    assert comments == [(0,)]


def test_docs_builds_the_site_and_serves_it(night, tmp_path):
    import json
    import urllib.request

    from cspwh.reporting import docs

    assert cli.main(["docs", "--build-only", "--out", str(tmp_path)]) == 0
    catalog = json.loads((tmp_path / "catalog.json").read_text())
    kpi_node = catalog["nodes"]["model.cspwh.fct_kpi"]
    assert kpi_node["metadata"]["schema"] == "marts"  # catalogued where analysts read it
    built = {
        c
        for t, c in night.query(
            "select table_name, column_name from information_schema.columns "
            "where table_schema = 'marts' and table_name = 'fct_kpi'"
        )
    }
    assert set(kpi_node["columns"]) == built
    assert (tmp_path / "index.html").stat().st_size > 10_000
    httpd = docs.serve_in_background(tmp_path, port=0)
    try:
        base = f"http://127.0.0.1:{httpd.server_address[1]}"
        with urllib.request.urlopen(f"{base}/") as page:
            assert page.status == 200 and b"dbt" in page.read()
        with urllib.request.urlopen(f"{base}/manifest.json") as manifest:
            nodes = json.load(manifest)["nodes"]
        assert nodes["model.cspwh.fct_kpi"]["columns"]["is_suppressed"]["description"]
    finally:
        httpd.shutdown()
        httpd.server_close()


# --- the board's rows: hate incidents from Sentinel, context notes -------------------------------------------------


def test_hate_incidents_are_sentinels_hate_cases(night, published_report):
    districts = {
        r["geography_code"]
        for r in csv.DictReader((settings.SOURCES_DIR / "reference" / "geographies.csv").open())
        if r["parent_code"] == COUNTY
    }
    # counted from raw (the cases as pulled, their latest version), not from any model
    [(start, end, numerator, value, population)] = night.query(
        """select period_start, period_end, numerator, value, denominator from marts.fct_kpi
            where indicator_id = 'hate_incident_rate' and geography_code = %s and period_label = %s""",
        (COUNTY, f"R12 to {QUARTER}"),
    )
    [(cases,)] = night.query(
        """select count(*) from (
               select distinct on (case_id) case_type, district_code, incident_on from raw.sentinel_asb__cases
                order by case_id, updated_at desc, _load_id desc) latest
            where case_type = 'Hate incident' and district_code = any(%s) and incident_on between %s and %s""",
        (sorted(districts), start, end),
    )
    assert cases > 0 and numerator == cases
    assert float(value) == pytest.approx(cases * 1000 / float(population), abs=0.00006)
    html = (published_report / f"dashboard_{QUARTER}.html").read_text()
    assert f">{float(value):,.2f}<" in html
    assert "Reported hate incidents (per 1,000 population) (" not in html  # not listed as awaiting


def test_a_comparison_with_lockdown_months_carries_the_context_note(night, published_report):
    import html as html_lib

    page = (published_report / f"dashboard_{QUARTER}.html").read_text()
    [note] = [n for n in indicators.dashboard_config()["context_notes"] if "lockdown" in n["note"].lower()]
    notes = re.findall(r"<li>(.*?)</li>", page.split('<div class="notes">')[1], re.S)
    number = [html_lib.unescape(n).strip() for n in notes].index(note["note"].strip()) + 1
    # R12 to 2022-23Q1 is compared with July 2020 to June 2021, inside the configured months: total crime has it
    row = page[page.index(html_lib.escape(indicators.get("total_crime_rate")["name"])) :]
    marks = re.match(r"[^<]*((?:<sup>[^<]*</sup>)*)", row).group(1)
    assert str(number) in re.findall(r"\d+", marks)

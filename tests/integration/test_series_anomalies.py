"""Anomaly checks on the ASB and partner series, on generated feeds whose Storm incidents are real police.uk ASB
records (Leicestershire; the winter 2020-21 lockdown is in them), with one planted fault: MARAC's October to
December 2021 files lose most of Charnwood's cases (a district coded wrongly at source, or a missing extract).
Warnings only: nothing blocks."""

import csv
import json
import statistics

import pytest
from psycopg.rows import dict_row

from cspwh import db
from cspwh.generator import deliveries, generate
from cspwh.generator.config import Config
from cspwh.ingest import feed_run, sentinel_pull
from cspwh.local.sentinel_api import SentinelAPI
from cspwh.warehouse import consistency_gate, nightly

CHARNWOOD = "E07000130"
PLANTED = ("2021-10", "2021-11", "2021-12")
FILE_FEEDS = ("storm_asb", "marac", "uava_return", "yos", "crc_rat")
# ASB from June to the December 2020 lockdown is enough history for its series, and keeps the test short
ASB_FROM, ASB_TO = "2020-06-01", "2020-12-31"


def thin_out(path, keep_one_in: int) -> int:
    """Keep one in `keep_one_in` of Charnwood's rows; returns how many were dropped."""
    with path.open(newline="", encoding="utf-8-sig") as fh:
        rows = list(csv.reader(fh))
    district = rows[0].index("District")
    kept, dropped, seen = [rows[0]], 0, 0
    for row in rows[1:]:
        if row[district] in ("Charnwood", CHARNWOOD):
            seen += 1
            if seen % keep_one_in:
                dropped += 1
                continue
        kept.append(row)
    with path.open("w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows(kept)
    return dropped


def in_asb_span(feed: str, name: str) -> bool:
    day = name[10:18]
    return feed != "storm_asb" or ASB_FROM.replace("-", "") <= day <= ASB_TO.replace("-", "")


def rows_of(url: str, build: str, name: str) -> list[dict]:
    [check] = [c for c in consistency_gate.load_checks() if c["name"] == name]
    marts = f"{build}_marts"
    query = check["unexpected_rows_query"].replace("{batch}", f"{marts}.{check['table']}").replace("{marts}", marts)
    with db.connect(url) as conn:
        return conn.cursor(row_factory=dict_row).execute(query).fetchall()


@pytest.fixture(scope="module")
def judged(module_warehouse, tmp_path_factory):
    wh = module_warehouse
    generated = tmp_path_factory.mktemp("feeds")
    generate(Config(out=generated, start="2020-05", end="2022-03"))
    dropped = sum(thin_out(generated / "drop" / "marac" / f"marac_cases_{m}.csv", 8) for m in PLANTED)
    assert dropped > 20
    files = [f for _, night in deliveries.schedule(generated) for f in night if f[0] in FILE_FEEDS and in_asb_span(*f)]
    deliveries.deliver(generated, wh.drop, files)
    for feed in FILE_FEEDS:
        feed_run.ingest_feed(feed, "anomalies", wh.drop)
    cases = generated / "api" / "sentinel" / "cases.jsonl"
    span = [line for line in cases.read_text().splitlines() if ASB_FROM <= json.loads(line)["opened_on"] <= ASB_TO]
    (generated / "span.jsonl").write_text("\n".join(span) + "\n")
    with SentinelAPI(generated / "span.jsonl") as api:
        sentinel_pull.pull(api.base_url, wh.drop, page_size=500)
    feed_run.ingest_feed("sentinel_asb", "anomalies", wh.drop)
    sentinel_pull.settle("anomalies")
    build = nightly.build(nightly.new_build_schema(), "anomalies")
    results = {r.name: r for r in consistency_gate.run(build, "anomalies")}
    assert not [r for r in results.values() if not r.success and r.severity == "blocking"], results
    return wh, build, results


def test_the_thinned_out_district_quarter_is_warned_as_one_district_alone(judged):
    wh, build, results = judged
    result = results["partner_kpi_against_its_own_history"]
    assert not result.success and result.severity == "warning"
    rows = rows_of(wh.url, build, "partner_kpi_against_its_own_history")
    [row] = [
        r
        for r in rows
        if (r["kpi_code"], r["geography_code"], r["period_label"]) == ("marac_cases_heard", CHARNWOOD, "2021-22Q3")
    ]
    # independently: Charnwood's cases heard in the eight quarters before, from the mart's own quarter rows
    with db.connect(wh.url) as conn:
        series = dict(
            conn.execute(
                f"""select period_label, numerator from {build}_marts.fct_domestic_abuse_kpi
                 where kpi_code = 'marac_cases_heard' and geography_code = %s and period_type = 'quarter'
                   and breakdown_type = 'all' and is_complete order by period_end""",
                (CHARNWOOD,),
            ).fetchall()
        )
    before = [v for label, v in series.items() if label < "2021-22Q3"][-8:]
    assert float(row["usual_median"]) == pytest.approx(statistics.median(before))
    assert row["ratio"] < 0.5 and row["rest_of_county_ratio"] > 0.8
    assert row["looks_like"].startswith("real change: one district moved alone")
    # the county moved only because Charnwood did: it is not called partnership-wide
    assert not [
        r
        for r in rows
        if r["kpi_code"] == "marac_cases_heard"
        and r["period_label"] == "2021-22Q3"
        and r["geography_code"] != CHARNWOOD
        and r["looks_like"].startswith("partnership-wide")
    ]


def test_the_lockdown_fall_in_asb_is_warned_as_county_wide(judged):
    wh, build, results = judged
    assert not results["asb_against_its_own_history"].success
    rows = rows_of(wh.url, build, "asb_against_its_own_history")
    december = {r["geography_code"]: r for r in rows if f"{r['month_start']:%Y-%m}" == "2020-12"}
    assert len(december) >= 2, rows  # districts halved; the county itself fell to about half, at the line
    code, row = next(iter(december.items()))
    with db.connect(wh.url) as conn:
        before = [
            n
            for (n,) in conn.execute(
                f"""select combined_matters from {build}_marts.fct_asb_monthly where geography_code = %s
                 and month_start between '2020-06-01' and '2020-11-01' order by month_start""",
                (code,),
            )
        ]
    assert float(row["usual_median"]) == pytest.approx(statistics.median(before))
    assert float(row["ratio"]) == pytest.approx(row["combined_matters"] / statistics.median(before), abs=0.006)
    for row in december.values():
        assert row["ratio"] < 0.5 and row["looks_like"].startswith("county-wide"), row
    # Storm and Sentinel fell together: never taken for one source missing
    assert not [r for r in rows if r["looks_like"].startswith("data: one source")]

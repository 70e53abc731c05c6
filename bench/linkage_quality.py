"""Measuring the ASB linker against the generator's ground truth (bench/linking.py and the linking quality test).

`load_generated` puts generated Storm and Sentinel feeds into raw through the feeds' own ingest path (land, file
gate, raw), file by file as the DAGs do, without Airflow around it. A Storm file holding a planted blocking fault is
quarantined by the gate; the links it would have had are reported as unreachable and left out of the recall's
denominator. So the rows the linker sees are the rows the nightly run would load.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

from cspwh import db, settings
from cspwh.ingest import feed_run
from cspwh.warehouse import dbt_runner

PAGE = 5000  # Sentinel cases per API page file


def _truth(generated: Path, name: str) -> list[dict]:
    with (generated / "ground_truth" / f"{name}.csv").open(newline="") as fh:
        return list(csv.DictReader(fh))


def _sentinel_pages(generated: Path) -> list[Path]:
    """The API's cases as the pull writes them: JSON pages under the contract's file pattern."""
    folder = generated / "pages" / "sentinel_asb"
    folder.mkdir(parents=True, exist_ok=True)
    pages, batch = [], []

    def flush():
        path = folder / f"sentinel_cases_20000101T000000_p{len(pages) + 1:04d}.json"
        path.write_text(json.dumps({"cases": batch}))
        pages.append(path)

    with (generated / "api" / "sentinel" / "cases.jsonl").open() as fh:
        for line in fh:
            batch.append(json.loads(line))
            if len(batch) == PAGE:
                flush()
                batch = []
    if batch:
        flush()
    return pages


def load_generated(url: str, generated: Path) -> dict[str, int]:
    """Storm's daily files and Sentinel's cases into raw (the database of WAREHOUSE_URL, which must be `url`);
    returns rows loaded per feed and the Storm files the gate held back."""
    assert db.database_name(url) == db.database_name(settings.warehouse_url()), "ingest writes to WAREHOUSE_URL"
    loaded = {"storm_asb": 0, "sentinel_asb": 0, "storm_files_held_back": 0}
    work = [("storm_asb", p) for p in sorted((generated / "drop" / "storm_asb").glob("*.csv"))]
    work += [("sentinel_asb", p) for p in _sentinel_pages(generated)]
    for feed, path in work:
        outcome = feed_run.ingest_file(feed, path, "linking")
        if outcome.outcome == "loaded":
            loaded[feed] += outcome.rows
        elif outcome.outcome == "quarantined" and feed == "storm_asb":
            loaded["storm_files_held_back"] += 1
    return loaded


def build_staging(build_schema: str) -> None:
    """The staging tables and the LSOA lookup seed the linker reads (real dbt)."""
    dbt_runner.run("seed", build_schema, "--select", "ons_lsoa11_to_lad19")
    dbt_runner.run("run", build_schema, "--select", "stg_storm_asb__incidents", "stg_sentinel_asb__cases")


def run_linker(build_schema: str) -> float:
    """The linker model alone, built as the nightly build does (real dbt); returns the seconds dbt reports for the
    model (its SQL, hooks and comments; not dbt's start and parse)."""
    result = dbt_runner.run("run", build_schema, "--select", "int_asb_incidents_linked")
    return sum(r.execution_time for r in result.result)


def links(url: str, build_schema: str) -> set[tuple[str, str]]:
    with db.connect(url) as conn:
        return set(
            conn.execute(
                f"select case_id, incident_number from {build_schema}_intermediate.int_asb_incidents_linked"
            ).fetchall()
        )


def quality(found: set[tuple[str, str]], generated: Path, url: str, build_schema: str) -> dict:
    """Precision and recall of (case_id, incident_number) links against the ground truth pairs whose two records
    reached staging (a pair with a held-back Storm file cannot be linked by anyone)."""
    with db.connect(url) as conn:
        storm = {
            n for (n,) in conn.execute(f"select incident_number from {build_schema}_staging.stg_storm_asb__incidents")
        }
        cases = {c for (c,) in conn.execute(f"select case_id from {build_schema}_staging.stg_sentinel_asb__cases")}
    truth = {(r["sentinel_case_id"], r["storm_incident_number"]) for r in _truth(generated, "storm_sentinel_links")}
    reachable = {(c, n) for c, n in truth if c in cases and n in storm}
    hits = len(found & reachable)
    return {
        "links": len(found),
        "true_links": len(reachable),
        "unreachable": len(truth) - len(reachable),
        "precision": hits / len(found) if found else 0.0,
        "recall": hits / len(reachable) if reachable else 0.0,
    }


def combined_error(found: set[tuple[str, str]], generated: Path, url: str, build_schema: str) -> dict:
    """How far combined ASB made from these links (Storm incidents + Sentinel cases no link took, each in its
    district and month, as fct_asb_monthly counts them) is from the generator's true matters: the county's
    relative error over all months, its worst month, and the worst district-month (districts with 50+ matters)."""
    import collections

    with db.connect(url) as conn:
        storm = dict(
            conn.execute(
                f"select incident_number, district_code || '|' || to_char(incident_date, 'YYYY-MM') "
                f"from {build_schema}_staging.stg_storm_asb__incidents"
            ).fetchall()
        )
        cases = dict(
            conn.execute(
                f"select case_id, district_code || '|' || to_char(incident_on, 'YYYY-MM') "
                f"from {build_schema}_staging.stg_sentinel_asb__cases where case_type = 'ASB'"
            ).fetchall()
        )
    linked = {c for c, _ in found}
    ours = collections.Counter(storm.values()) + collections.Counter(v for c, v in cases.items() if c not in linked)
    truth = collections.Counter()
    for r in _truth(generated, "asb_matters"):
        truth[f"{r['geography_code']}|{r['month']}"] += int(r["matters"])
    with (settings.reference_dir() / "geographies.csv").open(newline="") as fh:
        county = {r["geography_code"] for r in csv.DictReader(fh) if r["geography_level"] == "district"}
    months = sorted({k.split("|")[1] for k in truth})
    by_month = []
    for month in months:
        t = sum(truth[f"{d}|{month}"] for d in county)
        o = sum(ours[f"{d}|{month}"] for d in county)
        by_month.append((o - t) / t if t else 0.0)
    t_all = sum(truth[f"{d}|{m}"] for d in county for m in months)
    o_all = sum(ours[f"{d}|{m}"] for d in county for m in months)
    district = [(ours[k] - n) / n for k, n in truth.items() if n >= 50 and k.split("|")[0] in county]
    return {
        "county_error": (o_all - t_all) / t_all if t_all else 0.0,
        "county_month_worst": max(by_month, key=abs, default=0.0),
        "district_month_worst": max(district, key=abs, default=0.0),
    }

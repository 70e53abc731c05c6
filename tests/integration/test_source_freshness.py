"""`dbt source freshness` judges each feed by its contract's cadence (cspwh/warehouse/dbt_sources.py): files of three
feeds loaded for real, their load times set back, and dbt reports the nightly feed two nights late as a warning, the
monthly feed a day short of its grace as fresh and the monthly feed two deliveries late as an error."""

import json
import os
import subprocess
import sys
from pathlib import Path

from cspwh import settings
from cspwh.ingest import feed_run
from cspwh.warehouse import dbt_runner

STORM = (
    "Incident Number,Opened At,Closed At,PEN Category,ASB Type,Location,LSOA Code,District,Caller Name,"
    "Caller Phone,Caller Address,Caller Postcode,Log Text\n"
    "LP-20210615-000001,2021-06-15 10:00,,Nuisance,Noise,On or near Park Road,E01025678,Charnwood,A Caller,"
    "07700 900001,1 A Road,LE11 1AA,loud music\n"
)
MARAC = (
    "Case Reference,Conference Date,Victim ID,Perpetrator ID,Victim DOB,Victim Gender,District,Referring Agency,"
    "Previous Referral Date,Repeat\n"
    "MRC-000001,2021-06-10,V1,P1,1990-05-01,Female,Charnwood,Police,,N\n"
)


def drop(warehouse, feed: str, name: str, text: str) -> None:
    folder = warehouse.drop / feed
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(text, encoding="utf-8")


def source_freshness(out: Path, *sources: str) -> tuple[int, dict[str, str]]:
    """Run `dbt source freshness` as the nightly runs dbt (cspwh/warehouse/dbt_runner.py); each source table's
    status."""
    work = settings.home() / "dbt"
    args = [
        str(Path(sys.executable).with_name("dbt")),
        "--no-use-colors",
        "source",
        "freshness",
        "--project-dir",
        str(settings.DBT_DIR),
        "--profiles-dir",
        str(settings.DBT_DIR),
        "--target-path",
        str(work / "target"),
        "--log-path",
        str(work / "logs"),
        "--vars",
        json.dumps(dbt_runner.dbt_vars()),
        "--output",
        str(out),
        "--select",
        *[f"source:{s}" for s in sources],
    ]
    # a stale source exits 1: the caller reads the statuses and the code
    done = subprocess.run(
        args, env={**os.environ, **dbt_runner._env("build_freshness")}, capture_output=True, text=True, check=False
    )
    assert out.exists(), done.stdout[-3000:] + done.stderr[-3000:]
    results = json.loads(out.read_text())["results"]
    return done.returncode, {r["unique_id"]: r["status"] for r in results}


def test_a_feed_is_stale_when_its_last_load_is_older_than_its_cadence_allows(warehouse, tmp_path):
    warehouse.stage("2021-06-leicestershire-street.csv.gz")
    drop(warehouse, "storm_asb", "storm_asb_20210615.csv", STORM)
    drop(warehouse, "marac", "marac_cases_2021-06.csv", MARAC)
    for feed in ("police_uk", "storm_asb", "marac"):
        [outcome] = feed_run.ingest_feed(feed, "test", warehouse.drop)
        assert outcome.outcome == "loaded", outcome.reason

    # nightly (warn after 2 days, error after 4): the last Storm extract loaded three days ago
    warehouse.execute("update raw.storm_asb__incidents set _loaded_at = now() - interval '3 days'")
    # monthly (warn after 40 days, error after 70): MARAC's month 39 days ago, police.uk's 71 days ago
    warehouse.execute("update raw.marac__cases set _loaded_at = now() - interval '39 days'")
    warehouse.execute("update raw.police_uk__street_crimes set _loaded_at = now() - interval '71 days'")

    code, status = source_freshness(tmp_path / "sources.json", "storm_asb", "marac", "police_uk")
    assert status == {
        "source.cspwh.storm_asb.incidents": "warn",
        "source.cspwh.marac.cases": "pass",
        "source.cspwh.police_uk.street_crimes": "error",
    }
    assert code == 1  # a stale source fails the command, so a scheduler can alert on it

    # the next delivery loads: fresh again
    warehouse.execute("update raw.police_uk__street_crimes set _loaded_at = now() - interval '1 day'")
    code, status = source_freshness(tmp_path / "again.json", "police_uk")
    assert (code, status) == (0, {"source.cspwh.police_uk.street_crimes": "pass"})

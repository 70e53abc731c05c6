"""police.uk street-level files: drop folder -> landing -> file gate -> raw, updating the raw.police_uk Asset."""
from __future__ import annotations

from airflow.sdk import dag, task

from common.defaults import DEFAULT_ARGS, START, raw_asset

FEED = "police_uk"


@dag(
    dag_id="police_uk",
    description="Land, gate and load the data.police.uk street-level files waiting in the drop folder",
    schedule="0 1 * * *",
    start_date=START,
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["feed", "police_uk", "crime", "asb"],
)
def police_uk():
    @task(outlets=[raw_asset(FEED)])
    def land_gate_load(run_id: str | None = None) -> dict:
        """Each waiting file on its own: a bad file is quarantined with its reason, the others still load."""
        from cspwh import ingest

        outcomes = ingest.ingest_feed(FEED, run_id or "manual")
        summary = {o: sum(1 for x in outcomes if x.outcome == o) for o in ("loaded", "quarantined",
                                                                            "already_received")}
        summary["rows_loaded"] = sum(x.rows or 0 for x in outcomes)
        summary["quarantined_files"] = [x.file_name for x in outcomes if x.outcome == "quarantined"]
        return summary

    @task(trigger_rule="all_done")
    def alert(run_id: str | None = None) -> int:
        """One digest per partner lead for what this run found; nothing already reported is sent again as new."""
        from cspwh import alerts

        return len(alerts.dispatch(run_id or "manual"))

    land_gate_load() >> alert()


police_uk_dag = police_uk()

"""Every DAG imports cleanly, carries the shared defaults, and imports nothing heavy at parse time."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

DAGS = Path(__file__).resolve().parent.parent / "dags"
DAG_FILES = sorted(p for p in DAGS.glob("*.py"))
HEAVY = ("great_expectations", "pandas", "dbt", "numpy", "sqlalchemy_utils")

PROBE = r"""
import importlib.util, json, sys
sys.path.insert(0, sys.argv[1])
spec = importlib.util.spec_from_file_location("probe", sys.argv[2])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
from airflow.sdk import DAG
dags = [v for v in vars(module).values() if isinstance(v, DAG)]
from airflow.serialization.serialized_objects import DagSerialization
for d in dags:  # what the DAG processor stores: a schedule it cannot serialise is an import error there
    DagSerialization.to_dict(d)
print(json.dumps({
    "dags": [{
        "dag_id": d.dag_id, "tags": sorted(d.tags), "owners": sorted({t.owner for t in d.tasks}),
        "tasks": [{"task_id": t.task_id, "retries": t.retries,
                   "timeout": t.execution_timeout.total_seconds() if t.execution_timeout else None,
                   "callbacks": [c.__name__ for c in (t.on_failure_callback or [])]} for t in d.tasks],
    } for d in dags],
    "heavy": sorted({m.split(".")[0] for m in sys.modules} & set(sys.argv[3].split(","))),
}))
"""


def test_there_are_dags_and_airflow_will_parse_them():
    assert {p.stem for p in DAG_FILES} >= {
        "police_uk",
        "storm_asb",
        "sentinel_asb",
        "nightly_warehouse",
        "uava_return",
        "marac",
        "yos",
        "crc_rat",
    }
    for path in DAG_FILES:  # safe-mode parsing skips a file that does not mention both words
        text = path.read_text().lower()
        assert "airflow" in text and "dag" in text, path.name


@pytest.mark.parametrize("dag_file", DAG_FILES, ids=lambda p: p.stem)
def test_dag_imports_with_defaults_and_nothing_heavy(dag_file, tmp_path):
    env = {"AIRFLOW_HOME": str(tmp_path), "PATH": "/usr/bin:/bin", "AIRFLOW__CORE__LOAD_EXAMPLES": "False"}
    out = subprocess.run(
        [sys.executable, "-c", PROBE, str(DAGS), str(dag_file), ",".join(HEAVY)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert report["heavy"] == [], f"{dag_file.name} imports {report['heavy']} at parse time"
    assert len(report["dags"]) == 1
    dag = report["dags"][0]
    assert dag["dag_id"] == dag_file.stem
    assert dag["tags"], "every DAG needs tags"
    assert dag["owners"] == ["data-platform"]
    for task in dag["tasks"]:
        assert "on_failure" in task["callbacks"], task
        # the consistency gate fails on purpose, without retrying: data does not change between tries; an alert
        # not delivered stays in the outbox for the next alert task; outcome only fails a run that already failed;
        # the wait for the night's feeds is a sensor that pokes again by itself
        assert task["retries"] >= 1 or task["task_id"] in ("consistency_gate", "alert", "outcome", "wait_for_feeds"), (
            task
        )
        # nothing runs unbounded: a stuck server or lock ends the task, and the run shows it
        assert task["timeout"] and task["timeout"] <= 3 * 3600, task
    # every run ends by alerting, and a feed run whose work failed is a failed run (not a green one)
    ids = {t["task_id"] for t in dag["tasks"]}
    assert "alert" in ids
    if dag_file.stem != "nightly_warehouse":
        assert {"land_gate_load", "announce", "outcome"} <= ids

"""Run the project's DAGs for real, in this process, with `dag.test()` against the configured metadata database."""

from __future__ import annotations

import importlib.util
import sys

from cspwh import settings
from cspwh.local import airflow_env


def prepare() -> None:
    airflow_env.configure()
    airflow_env.migrate()


def load_dag(dag_id: str):
    if str(settings.DAGS_DIR) not in sys.path:
        sys.path.insert(0, str(settings.DAGS_DIR))  # as Airflow's DAG processor does, so `common` imports
    path = settings.DAGS_DIR / f"{dag_id}.py"
    spec = importlib.util.spec_from_file_location(f"cspwh_dag_{dag_id}", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load the DAG file {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return next(v for v in vars(module).values() if getattr(v, "dag_id", None) == dag_id and hasattr(v, "test"))


def run(dag_id: str, run_conf: dict | None = None):
    """One real DAG run; returns the DagRun (state 'success' or 'failed')."""
    dag = load_dag(dag_id)
    return dag.test(run_conf=run_conf)

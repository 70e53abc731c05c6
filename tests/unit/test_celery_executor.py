"""The CeleryExecutor imports with the locked packages (issue 16 item 3: celery 5.7.0 fails with Airflow 3.3.2,
"cannot import name 'retry' from 'celery.backends.database'"; uv.lock pins 5.6.3)."""

import importlib.metadata
import os
import subprocess
import sys


def test_the_celery_executor_imports_under_the_deployment_environment(tmp_path):

    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "CSPWH_", "WAREHOUSE_"))}
    env.update(
        CSPWH_HOME=str(tmp_path),
        CSPWH_CELERY_BROKER_URL="redis://127.0.0.1:6379/0",
        WAREHOUSE_URL="postgresql://u:p@127.0.0.1:1/warehouse",
        AIRFLOW__DATABASE__SQL_ALCHEMY_CONN="postgresql+psycopg2://u:p@127.0.0.1:1/airflow",
    )
    script = """
import os
from cspwh.local import airflow_service
os.environ.update(airflow_service.environment(airflow_service.Deployment(port=18080, executor="celery")))
from airflow.configuration import conf
from airflow.providers.celery.executors.celery_executor import CeleryExecutor
import celery
assert conf.get("core", "executor") == "CeleryExecutor"
print("OK", CeleryExecutor.__name__, celery.__version__)
"""
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "OK CeleryExecutor 5.6.3" in done.stdout
    assert importlib.metadata.version("redis")  # the broker's client

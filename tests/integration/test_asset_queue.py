"""Issue 16 item 5: in-process `dag.test()` runs (the demo, tests) leave asset-triggered runs queued in Airflow's
metadata; `cspwh airflow up` clears those before a real scheduler starts, and keeps any a real run queued."""

import os

import pytest

from cspwh.local import airflow_service, dag_runs


def queued(warehouse) -> list[str]:
    import psycopg

    url = "postgresql://" + os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].split("://", 1)[1]
    with psycopg.connect(url) as conn:
        return [
            d
            for (d,) in conn.execute(
                "select target_dag_id from asset_dag_run_queue q join asset a "
                "on a.id = q.asset_id where a.name = 'raw.police_uk'"
            )
        ]


@pytest.fixture
def sql(airflow_ready):
    import psycopg

    url = "postgresql://" + os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].split("://", 1)[1]
    with psycopg.connect(url, autocommit=True) as conn:
        yield conn


def test_runs_queued_only_by_dag_test_are_cleared_and_real_ones_kept(warehouse, airflow_ready, sql):
    warehouse.stage("2022-04-leicestershire-street.csv.gz")
    run = dag_runs.run("police_uk")
    assert str(run.state).endswith("success")
    assert "nightly_warehouse" in queued(warehouse)
    conn_url = os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
    assert airflow_service.clear_test_asset_events(conn_url) >= 1
    assert queued(warehouse) == []

    # the same event, had a scheduled run made it, stays queued for the scheduler
    sql.execute(
        "update dag_run set triggered_by = 'TIMETABLE' where dag_id = 'police_uk' and run_id = %s", (run.run_id,)
    )
    sql.execute(
        """insert into asset_dag_run_queue (asset_id, target_dag_id, created_at)
                   select e.asset_id, 'nightly_warehouse', e.timestamp from asset_event e
                    where e.source_dag_id = 'police_uk' and e.source_run_id = %s""",
        (run.run_id,),
    )
    assert airflow_service.clear_test_asset_events(conn_url) == 0
    assert queued(warehouse) == ["nightly_warehouse"]
    sql.execute("delete from asset_dag_run_queue")

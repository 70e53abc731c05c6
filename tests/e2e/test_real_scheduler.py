"""The real deployment (issue 16): `cspwh airflow up` starts the api-server, scheduler, DAG processor and triggerer as
separate processes on the test's Postgres; no dag.test(). A month of Storm's nightly extracts waits in the drop folder
and Sentinel's cases behind its API stand-in; the feed DAGs run from their crons (the latest interval, due at first
start), raw's Asset events schedule nightly_warehouse, the marts publish, digests reach a real SMTP server; then the
operator triggers a feed again through the REST API.

Only the three DAGs the night needs are unpaused (the others, paused at creation here, would only add empty runs to
a 2-core machine). Every process started is stopped at the end, whatever failed."""

from __future__ import annotations

import csv
import json
import socket
import time

import pytest
from conftest import create_database

from cspwh.generator import deliveries, generate
from cspwh.generator.config import DEFAULT_FAULTS, Config
from cspwh.local import airflow_service
from cspwh.local.sentinel_api import SentinelAPI

pytestmark = pytest.mark.scheduler

# faults that load with warnings (so digests go out), none that hold a file back
FAULTS = {**{k: 0 for k in DEFAULT_FAULTS}, "district_aliases": 0.05, "dmy_dates": 0.03}
FEEDS = ("storm_asb", "sentinel_asb")
DONE = {"success", "failed"}


def free_port_block(size: int = 4) -> int:
    """A port whose next `size - 1` neighbours are free too (the UI, scheduler health and the two log servers)."""
    for _ in range(50):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            base = probe.getsockname()[1]
        if base + size > 65535:
            continue
        try:
            held = []
            for port in range(base, base + size):
                s = socket.socket()
                held.append(s)
                s.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
        finally:
            for s in held:
                s.close()
    raise RuntimeError("no free block of ports")


def wait_for(check, what: str, timeout: float, client=None):
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout:.0f} s" + (_runs_now(client) if client else ""))
        time.sleep(2)


def _runs_now(client) -> str:
    """Every run and its tasks' states, for the message of a wait that timed out."""
    lines = []
    for dag_id in ("nightly_warehouse", *FEEDS):
        for r in client.runs(dag_id):
            states = client.task_states(dag_id, r["dag_run_id"])
            lines.append(f"{dag_id} {r['run_type']} {r['state']} {r['start_date']}..{r['end_date']} {states}")
    return "\nruns now:\n" + "\n".join(lines)


def finished(client, dag_id: str) -> list[dict] | None:
    runs = client.runs(dag_id)
    return runs if runs and all(r["state"] in DONE for r in runs) else None


@pytest.fixture(scope="module")
def deployment(module_warehouse, mailbox, server_url, tmp_path_factory):
    mailbox.messages.clear()
    generated = tmp_path_factory.mktemp("scheduler_feeds")
    generate(Config(out=generated, start="2021-04", end="2021-04", faults=FAULTS))
    storm = [f for _, night in deliveries.schedule(generated) for f in night if f[0] == "storm_asb"]
    dropped = deliveries.deliver(generated, module_warehouse.drop, storm)
    port = free_port_block()
    timings = {}
    with SentinelAPI(generated / "api" / "sentinel" / "cases.jsonl") as api, pytest.MonkeyPatch.context() as mp:
        mp.setenv("CSPWH_SENTINEL_API_URL", api.base_url)
        # the session's in-process Airflow settings (conftest's airflow_ready) are not the deployment's
        mp.delenv("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", raising=False)
        metadata = "cspwh_test_scheduler_airflow"
        create_database(server_url, metadata)  # fresh metadata: no runs but this test's
        try:
            started = time.monotonic()
            deployed = airflow_service.up(
                port=port,
                airflow_db=metadata,
                timeout=150,
                extra_env={
                    "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
                    # a failing feed fails within the test, not after minutes
                    "CSPWH_TASK_RETRY_DELAY_SECONDS": "1",
                    # a warehouse run set off by a feed's event waits for feeds still running: it looks again soon
                    "CSPWH_FEEDS_POKE_SECONDS": "10",
                    "CSPWH_SENTINEL_RETRIES": "0",
                },
            )
            timings["up"] = time.monotonic() - started
            client = airflow_service.Client(deployed)
            for dag_id in ("nightly_warehouse", *FEEDS):  # the crons' latest interval is due: the feeds run now
                client.patch(f"/api/v2/dags/{dag_id}", {"is_paused": False})
            night = time.monotonic()
            feed_runs = {f: wait_for(lambda f=f: finished(client, f), f"{f}'s run", 120, client) for f in FEEDS}
            nightly = wait_for(lambda: finished(client, "nightly_warehouse"), "nightly_warehouse's run", 240, client)
            timings["night"] = time.monotonic() - night
            for dag_id in (*FEEDS, "nightly_warehouse"):
                for r in client.runs(dag_id):
                    print(f"{dag_id} {r['run_type']} {r['state']} {r['start_date']} .. {r['end_date']}")
            yield {
                "client": client,
                "warehouse": module_warehouse,
                "generated": generated,
                "dropped": dropped,
                "feed_runs": feed_runs,
                "nightly": nightly,
                "api": api,
                "mailbox": mailbox,
                "timings": timings,
            }
        finally:
            for component in airflow_service.components("local"):
                print(f"--- {component} log (end) ---\n{airflow_service._tail(component, 1500)}")
            stopping = time.monotonic()
            airflow_service.down()
            timings["down"] = time.monotonic() - stopping
            print(f"timings: {timings}")
    assert not [c for c in airflow_service.components("celery") if airflow_service.pid_of(c)]


def test_the_components_run_as_separate_processes_and_stop(deployment):
    pids = {c: airflow_service.pid_of(c) for c in airflow_service.components("local")}
    assert all(pids.values()) and len(set(pids.values())) == 4, pids
    assert "scheduler" in airflow_service.status() and "LocalExecutor" in airflow_service.status()


def test_the_night_runs_from_the_crons_and_succeeds(deployment):
    for feed, runs in deployment["feed_runs"].items():
        assert [(r["run_type"], r["state"]) for r in runs] == [("scheduled", "success")], (feed, runs)
        states = deployment["client"].task_states(feed, runs[0]["dag_run_id"])
        assert states.pop("outcome") == "skipped" and set(states.values()) == {"success"}, states
    nightly = deployment["nightly"]
    assert nightly and {r["run_type"] for r in nightly} == {"asset_triggered"}
    assert {r["state"] for r in nightly} == {"success"}, nightly
    # one build and one publication a night: a feed's later event finds the night published and builds nothing
    built = [deployment["client"].task_states("nightly_warehouse", r["dag_run_id"]) for r in nightly]
    assert [s["publish"] for s in built].count("success") == 1, built
    # the build's log shows dbt's lines, model by model, and no spurious errors at the end
    [run] = [r for r, s in zip(nightly, built) if s["build"] == "success"]
    log = json.dumps(
        deployment["client"].get(
            f"/api/v2/dags/nightly_warehouse/dagRuns/{run['dag_run_id']}/taskInstances/build/logs/1"
        )
    )
    assert "OK created sql table model" in log and "fct_asb_monthly" in log, log[-3000:]
    assert "leaked semaphore" not in log and '"level": "error"' not in log.lower(), log[-3000:]


def test_raw_holds_exactly_the_files(deployment):
    warehouse = deployment["warehouse"]
    rows = 0
    for path in deployment["dropped"]:
        with (deployment["generated"] / "drop" / "storm_asb" / path.name).open(newline="") as fh:
            rows += sum(1 for _ in csv.DictReader(fh))
    assert warehouse.query("select count(*) from raw.storm_asb__incidents")[0][0] == rows > 0
    assert not [p for p in deployment["dropped"] if p.exists()], "decided files leave the drop folder"
    cases = (deployment["generated"] / "api" / "sentinel" / "cases.jsonl").read_text().splitlines()
    assert warehouse.query("select count(*) from raw.sentinel_asb__cases")[0][0] == len(cases) > 0


def test_the_marts_are_published(deployment):
    warehouse = deployment["warehouse"]
    publications = warehouse.query("select build_schema from audit.publications")
    assert len(publications) == 1, publications  # at most once a night
    assert (
        warehouse.query("select sum(combined_matters) from marts.fct_asb_monthly where geography_level = 'county'")[0][
            0
        ]
        > 0
    )


def test_what_the_pipeline_fixed_itself_mails_no_lead(deployment):
    # converted dates and matched district spellings are notices: counted in the next digest, never sent alone
    assert (
        deployment["warehouse"].query(
            "select count(*) from audit.check_results where severity = 'notice' and not success"
        )[0][0]
        > 0
    )
    assert not deployment["mailbox"].to("police-asb-lead@example.org")


def test_a_feed_triggered_through_the_api_again_loads_nothing_twice(deployment):
    client, warehouse = deployment["client"], deployment["warehouse"]
    before = warehouse.query("select count(*) from raw.storm_asb__incidents")[0][0]
    run_id = client.trigger("storm_asb")
    run = wait_for(
        lambda: next((r for r in client.runs("storm_asb") if r["dag_run_id"] == run_id and r["state"] in DONE), None),
        "the triggered run",
        90,
    )
    assert run["run_type"] == "manual" and run["state"] == "success"
    assert warehouse.query("select count(*) from raw.storm_asb__incidents")[0][0] == before
    # a run that loaded nothing sends no raw Asset event, so it sets off no warehouse run (the night's own runs
    # may still be settling: a feed's event queued behind the running warehouse run is created after it ends)
    assert client.task_states("storm_asb", run_id)["announce"] == "skipped"
    events = client.get("/api/v2/assets/events", source_dag_id="storm_asb", source_run_id=run_id)
    assert events["total_entries"] == 0, events
    wait_for(lambda: finished(client, "nightly_warehouse"), "the warehouse runs", 240, client)
    assert len(warehouse.query("select 1 from audit.publications")) == 1


def test_a_feed_that_fails_is_a_failed_run_and_the_platform_role_is_mailed(deployment):
    client, api, mailbox = deployment["client"], deployment["api"], deployment["mailbox"]
    nightly_before = len(client.runs("nightly_warehouse"))
    api.failures[1] = [503] * 100  # Sentinel's API is down
    run_id = client.trigger("sentinel_asb")
    run = wait_for(
        lambda: next(
            (r for r in client.runs("sentinel_asb") if r["dag_run_id"] == run_id and r["state"] in DONE), None
        ),
        "the failing run",
        150,
    )
    assert run["state"] == "failed"  # not green because its alert task succeeded
    states = client.task_states("sentinel_asb", run_id)
    assert (states["pull_from_api"], states["land_gate_load"], states["alert"], states["outcome"]) == (
        "failed",
        "upstream_failed",
        "success",
        "failed",
    ), states
    [mail] = wait_for(lambda: mailbox.to("data-platform@example.org"), "the platform role's digest", 30)
    assert "sentinel_asb.pull_from_api failed" in mail.get_content() and run_id in mail.get_content()
    assert str(mail["Subject"]) == "[cspwh] platform_operations: 1 run failed"
    assert len(client.runs("nightly_warehouse")) == nightly_before  # nothing loaded, nothing to build

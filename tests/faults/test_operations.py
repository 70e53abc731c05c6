"""The operations faults of a production night, on the real components: a real SMTP server stopped and started, a
webhook that fails, a local Sentinel API that misbehaves (impossible timestamps, a trickle, absurd page counts, a
Retry-After of hours), two real dbt builds at once, and the analyst's limits tried for real on Postgres. Each case
asserts what the operator is told, that nothing is lost or doubled, and that a rerun recovers."""

import csv
import gzip
import json
import os
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import psycopg
import pytest

from cspwh import db
from cspwh.alerts import digests
from cspwh.db import bootstrap
from cspwh.generator import generate
from cspwh.generator.config import Config
from cspwh.ingest import feed_run, sentinel_pull
from cspwh.local import dag_runs, demo
from cspwh.local.sentinel_api import SentinelAPI
from cspwh.warehouse import nightly, publish

ENDPOINT = "/api/v1/cases"


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("feeds")
    generate(Config.without_faults(out, start="2021-06", end="2021-06"))
    return out


# --- alerts: an outbox, sent only when the server accepted ------------------------------------------------------


class SwitchableSMTP:
    """A real SMTP server (aiosmtpd) on a fixed loopback port that can be stopped and started again."""

    def __init__(self):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.messages: list = []
        self.controller = None

    def start(self):
        import email
        import email.policy

        from aiosmtpd.controller import Controller

        box = self

        class Handler:
            async def handle_DATA(self, server, session, envelope):
                box.messages.append(email.message_from_bytes(envelope.content, policy=email.policy.default))
                return "250 OK"

        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def stop(self):
        self.controller.stop()
        self.controller = None


@pytest.fixture
def smtp(monkeypatch):
    server = SwitchableSMTP()
    monkeypatch.setenv("CSPWH_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("CSPWH_SMTP_PORT", str(server.port))
    yield server
    if server.controller:
        server.stop()


def plant_bad_storm_file(warehouse, generated) -> str:
    """A Storm day with an unknown PEN category on line 3: quarantined, its lead alerted."""
    source = generated / "drop" / "storm_asb" / "storm_asb_20210615.csv"
    rows = list(csv.reader(source.open(newline="")))
    rows[2][3] = "Unknown"
    target = warehouse.drop / "storm_asb" / source.name
    target.parent.mkdir(parents=True, exist_ok=True)
    with target.open("w", newline="") as fh:
        csv.writer(fh).writerows(rows)
    return source.name


def outbox(warehouse) -> list[tuple]:
    return warehouse.query(
        "select role, channel, attempts, sent_at is not null, last_error from audit.alert_outbox order by outbox_id"
    )


def test_smtp_down_keeps_the_digest_until_the_server_accepts_it_and_sends_it_once(warehouse, generated, smtp):
    name = plant_bad_storm_file(warehouse, generated)
    [outcome] = feed_run.ingest_feed("storm_asb", "night-1", warehouse.drop)
    assert outcome.outcome == "quarantined"

    with pytest.raises(digests.NotDelivered) as failed:  # the server is down: the task fails, the run shows it
        digests.dispatch("night-1")
    # the feed's lead and the dashboard's owner (the file leaves figures short): neither digest is lost
    assert "2 alert digest(s) not delivered" in str(failed.value) and "police_asb_lead" in str(failed.value)
    pending = outbox(warehouse)
    assert [(role, channel, attempts, sent) for role, channel, attempts, sent, _ in pending] == [
        ("community_safety_coordinator", "email", 1, False),
        ("police_asb_lead", "email", 1, False),
    ]
    assert all("Connection" in error for *_, error in pending)
    # a retry of the same run finds nothing new to queue, but the digests are still pending: it fails again
    with pytest.raises(digests.NotDelivered):
        digests.dispatch("night-1")
    assert [row[2:4] for row in outbox(warehouse)] == [(2, False), (2, False)]
    assert "Alert digests NOT delivered: 2" in demo.summary()

    smtp.start()
    assert digests.dispatch("night-2") == []  # nothing new tonight, and last night's digests go out
    assert [m["To"] for m in smtp.messages] == ["community-safety@example.org", "police-asb-lead@example.org"]
    mail = smtp.messages[1]
    assert f"feed storm_asb, file {name}, check allowed_values:PEN Category" in mail.get_content()
    assert outbox(warehouse) == [
        ("community_safety_coordinator", "email", 3, True, None),
        ("police_asb_lead", "email", 3, True, None),
    ]
    digests.dispatch("night-3")
    assert len(smtp.messages) == 2  # sent once, never again


def test_with_smtp_down_the_feeds_night_fails_and_the_next_night_delivers(warehouse, generated, smtp, airflow_ready):
    plant_bad_storm_file(warehouse, generated)
    run = dag_runs.run("storm_asb")
    assert str(run.state).rsplit(".", 1)[-1].lower() == "failed"
    assert warehouse.query("select count(*) from raw.storm_asb__incidents")[0][0] == 0  # the file held back
    assert warehouse.query("select task_id from audit.task_failures where dag_id = 'storm_asb'") == [("alert",)]
    assert [row[:4] for row in outbox(warehouse)] == [
        ("community_safety_coordinator", "email", 1, False),
        ("police_asb_lead", "email", 1, False),
    ]

    smtp.start()
    run = dag_runs.run("storm_asb")  # an empty drop folder, and the pending digests
    assert str(run.state).rsplit(".", 1)[-1].lower() == "success"
    # last night's digests, then the platform's: last night's alert task failed (recorded after it had dispatched)
    assert [m["To"] for m in smtp.messages] == [
        "community-safety@example.org",
        "police-asb-lead@example.org",
        "data-platform@example.org",
    ]
    assert "storm_asb.alert failed" in smtp.messages[2].get_content()
    run = dag_runs.run("storm_asb")
    assert len(smtp.messages) == 3  # each failure is told once


def task_states(run) -> dict[str, str]:
    from airflow.models import TaskInstance
    from airflow.utils.session import create_session

    with create_session() as session:
        return {
            ti.task_id: str(ti.state).rsplit(".", 1)[-1].lower()
            for ti in session.query(TaskInstance).filter(
                TaskInstance.dag_id == run.dag_id, TaskInstance.run_id == run.run_id
            )
        }


def raw_events(feed: str) -> list[dict]:
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session

    with create_session() as session:
        return [
            e.extra
            for e in session.query(AssetEvent)
            .join(AssetModel, AssetEvent.asset_id == AssetModel.id)
            .filter(AssetModel.name == f"raw.{feed}")
            .order_by(AssetEvent.id)
        ]


def test_a_feed_whose_pull_fails_is_a_failed_run_and_the_platform_is_told(
    warehouse, mailbox, airflow_ready, monkeypatch
):
    mailbox.messages.clear()  # the session's mailbox: only this test's mail
    with socket.socket() as probe:  # a port nothing listens on: the partner's API is down
        probe.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{probe.getsockname()[1]}"
    monkeypatch.setenv("CSPWH_SENTINEL_API_URL", dead)
    monkeypatch.setattr(sentinel_pull, "RETRIES", 1)
    dag = dag_runs.load_dag("sentinel_asb")
    for task in dag.tasks:  # Airflow's own retries wait minutes; the failure after them is what is under test
        task.retries = 0
    before = len(raw_events("sentinel_asb"))
    run = dag.test()
    assert str(run.state).rsplit(".", 1)[-1].lower() == "failed"  # not green because the alert task succeeded
    states = task_states(run)
    assert states["pull_from_api"] == "failed" and states["land_gate_load"] == "upstream_failed"
    assert states["alert"] == "success" and states["outcome"] == "failed"
    assert len(raw_events("sentinel_asb")) == before  # nothing loaded, nothing announced
    assert warehouse.query("select task_id from audit.task_failures where dag_id = 'sentinel_asb'") == [
        ("pull_from_api",)
    ]
    assert warehouse.query("select outcome, files_loaded from audit.feed_runs where dag_id = 'sentinel_asb'") == [
        ("failed", 0)
    ]
    [mail] = mailbox.to("data-platform@example.org")
    body = mail.get_content()
    assert "sentinel_asb.pull_from_api failed" in body and run.run_id in body
    assert dead not in body  # the first line of the error only; no URL, row or value from the partner


def test_a_feed_run_that_loads_nothing_sends_no_raw_event(warehouse, generated, airflow_ready):
    before = len(raw_events("storm_asb"))
    run = dag_runs.run("storm_asb")  # an empty drop folder
    assert str(run.state).rsplit(".", 1)[-1].lower() == "success"
    assert task_states(run)["announce"] == "skipped" and task_states(run)["outcome"] == "skipped"
    assert len(raw_events("storm_asb")) == before
    plant_bad_storm_file(warehouse, generated)  # quarantined: still nothing loaded, nothing to rebuild
    dag_runs.run("storm_asb")
    assert len(raw_events("storm_asb")) == before
    source = generated / "drop" / "storm_asb" / "storm_asb_20210616.csv"
    (warehouse.drop / "storm_asb" / source.name).write_bytes(source.read_bytes())
    run = dag_runs.run("storm_asb")
    assert task_states(run)["announce"] == "success"
    [*_, event] = raw_events("storm_asb")
    assert event["files"] == 1 and event["rows"] == len(source.read_text().splitlines()) - 1
    assert event["scheduled"] is False and event["night"]
    assert warehouse.query(
        "select outcome, files_loaded from audit.feed_runs where dag_id = 'storm_asb' order by ended_at"
    ) == [("nothing_new", 0), ("nothing_new", 0), ("loaded", 1)]


@pytest.fixture
def flaky_webhook(monkeypatch):
    """A webhook that refuses the first `failures` posts (HTTP 503), then accepts; it keeps what it accepted."""
    state = {"failures": 1, "received": [], "refused": 0}

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            if state["failures"] > 0:
                state["failures"] -= 1
                state["refused"] += 1
                self.send_response(503)
            else:
                state["received"].append(body)
                self.send_response(200)
            self.end_headers()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/hooks/secret-token-XYZ"
    monkeypatch.setenv("CSPWH_ALERT_WEBHOOK", url)
    monkeypatch.delenv("CSPWH_SMTP_HOST", raising=False)  # the e-mail goes to the local outbox folder
    yield state
    server.shutdown()
    server.server_close()


def test_a_failing_webhook_is_retried_and_its_url_never_stored(warehouse, generated, flaky_webhook):
    plant_bad_storm_file(warehouse, generated)
    feed_run.ingest_feed("storm_asb", "night-1", warehouse.drop)
    with pytest.raises(digests.NotDelivered) as failed:
        digests.dispatch("night-1")
    assert "the webhook answered HTTP 503" in str(failed.value)
    # the first webhook post (the dashboard owner's copy) is refused; the lead's, after it, goes through
    assert [(r, c, s) for r, c, _, s, _ in outbox(warehouse)] == [
        ("community_safety_coordinator", "email", True),
        ("community_safety_coordinator", "webhook", False),
        ("police_asb_lead", "email", True),
        ("police_asb_lead", "webhook", True),
    ]
    digests.dispatch("night-2")
    first, retried = flaky_webhook["received"]
    assert "police_asb_lead" in first["text"] and "community_safety_coordinator" in retried["text"]
    assert all(sent for *_, sent, _ in outbox(warehouse))
    stored = json.dumps(warehouse.query("select row_to_json(o) from audit.alert_outbox o"))
    assert "secret-token-XYZ" not in stored and "secret-token-XYZ" not in str(failed.value)


HOSTILE = (
    "```\n<!channel> *URGENT* <https://evil.example|click here> [here](https://evil.example) \u202egnp.exe\x1b[31m"
)


def test_header_text_cannot_break_out_of_the_webhook_message():
    body = f"* [blocking] feed storm_asb, file f.csv, check columns:\n  unexpected {HOSTILE!s}\n"
    slack = digests.webhook_payload("slack", "cspwh: 1 new problem", body)["text"]
    assert slack.startswith("*cspwh: 1 new problem*\n```") and slack.endswith("```")
    assert slack.count("```") == 2  # the code block opened is the one closed: nothing after it is formatted
    assert "<" not in slack and ">" not in slack  # no <!channel>, no <url|link>
    assert "\u202e" not in slack and "\x1b" not in slack
    assert "&lt;!channel&gt;" in slack  # the text is still there to read
    card = digests.webhook_payload("teams", "cspwh: 1 new problem", body)["attachments"][0]["content"]
    runs = [run for block in card["body"] for run in block["inlines"]]
    assert {r["type"] for r in runs} == {"TextRun"}  # plain text runs: Markdown is not read in them
    assert "[here](https://evil.example)" in runs[1]["text"] and "\u202e" not in runs[1]["text"]


# --- Sentinel: the cursor moves only over pages that loaded; the pull is bounded ----------------------------------


def case_lines(generated) -> list[dict]:
    return [json.loads(line) for line in (generated / "api" / "sentinel" / "cases.jsonl").read_text().splitlines()]


def write_cases(path: Path, cases: list[dict]) -> Path:
    path.write_text("".join(json.dumps(c, sort_keys=True, separators=(",", ":")) + "\n" for c in cases))
    return path


def night(warehouse, source: Path, run_id: str, **misbehaviour) -> tuple[sentinel_pull.PullResult, list, object]:
    with SentinelAPI(source, **misbehaviour) as api:
        result = sentinel_pull.pull(api.base_url, warehouse.drop, page_size=100)
        requests_made = list(api.requests)
    outcomes = feed_run.ingest_feed("sentinel_asb", run_id, warehouse.drop)
    settled = sentinel_pull.settle(run_id)
    return result, outcomes, (settled, requests_made)


@pytest.mark.parametrize("stamp", ["2099-01-01T00:00:00", "not-a-date"])
def test_an_impossible_timestamp_holds_the_cursor_each_night_until_corrected_at_source(
    warehouse, generated, tmp_path, mailbox, stamp
):
    mailbox.messages.clear()
    cases = case_lines(generated)
    total = len(cases)
    bad = dict(cases[-1], updated_at=stamp)  # the API serves it last: 'n' and 2099 sort after every real stamp
    source = write_cases(tmp_path / "cases.jsonl", [*cases[:-1], bad])
    start = 100 * ((total - 1) // 100)  # the first case of the last page, the bad one's
    assert start >= 200

    # night 1: the page with the bad case is quarantined, the cursor moves only over the pages before it
    result, outcomes, (settled, _) = night(warehouse, source, "night-1")
    assert [o.outcome for o in outcomes][-1] == "quarantined" and set(o.outcome for o in outcomes[:-1]) == {"loaded"}
    assert settled.held_page["page"] == len(result.pages) and settled.cursor <= cases[start - 1]["updated_at"]
    assert sentinel_pull.read_cursor(ENDPOINT) == settled.cursor < cases[start]["updated_at"]
    # the pages before the held one loaded; the cursor is at or before their last stamp (before it where the next
    # page shares that second, as updated_since is exclusive)
    loaded = warehouse.query("select count(*), count(distinct case_id) from raw.sentinel_asb__cases")[0]
    assert loaded == (start, start) and sum(c["updated_at"] <= settled.cursor for c in cases) <= start
    digests.dispatch("night-1")
    [mail] = mailbox.to("sentinel-lead@example.org")
    body = mail.get_content()
    assert f"the Sentinel cursor is held at {settled.cursor}" in body
    assert f"cases updated {cases[start]['updated_at']} to" in body  # the period the held page covers
    assert ("later than now" if stamp.startswith("2099") else "that are not date-times") in body
    # the quarantined page is named by the changes it carries, not only by its cursor-and-page file name
    assert f"file {result.pages[-1].name} (page {len(result.pages)} of the changes since " in body
    assert f": cases updated {cases[start]['updated_at'][:10]}" in body

    # night 2, nothing corrected: the page is asked for again, quarantined again, and the operator told again
    _, outcomes, (again, requests_made) = night(warehouse, source, "night-2")
    assert all(f"updated_since={settled.cursor[:10]}" in r for r in requests_made)
    assert again.cursor == settled.cursor and again.held_page
    held = warehouse.query("select cursor_after, held->>'outcome' from landing.api_pulls order by pull_id desc limit 1")
    assert held == [(settled.cursor, "quarantined")]
    assert f"Sentinel cursor held at {settled.cursor}: page {again.held_page['page']}" in demo.summary()
    digests.dispatch("night-2")
    assert len(mailbox.to("sentinel-lead@example.org")) == 2
    assert "cursor is held" in mailbox.to("sentinel-lead@example.org")[1].get_content()

    # night 3, corrected at source: the held cases load, the cursor moves past them, nothing lost or doubled
    fixed = write_cases(tmp_path / "fixed.jsonl", [*cases[:-1], dict(cases[-1], updated_at="2025-01-02T09:00:00")])
    _, outcomes, (recovered, _) = night(warehouse, fixed, "night-3")
    # a page asked for again exactly as it came before is recognised as already received, not loaded twice
    assert "loaded" in {o.outcome for o in outcomes} <= {"loaded", "already_received"}
    assert recovered.held_page is None
    assert recovered.cursor == "2025-01-02T09:00:00"
    assert warehouse.query(
        "select count(*) from audit.alerts where alert_key like '%cursor_held%' and resolved_at is null"
    ) == [(0,)]  # the held nights' alerts are resolved
    # every case once: a version loaded on night 1 and received again (it shares the held cursor's second) is not
    # loaded twice (the contract's version_column)
    assert warehouse.query("select count(*), count(distinct case_id) from raw.sentinel_asb__cases")[0] == (total, total)
    assert warehouse.query("select sum(rows) from landing.file_manifest where feed = 'sentinel_asb'")[0][0] == total
    _, outcomes, (quiet, _) = night(warehouse, fixed, "night-4")
    assert outcomes == [] and quiet.cursor == recovered.cursor


def test_a_page_quarantined_mid_pull_holds_the_cursor_before_it_and_no_case_is_lost(warehouse, generated, tmp_path):
    cases = case_lines(generated)
    broken = [dict(c, district="Atlantis") if i == 150 else c for i, c in enumerate(cases)]  # page 2 of 100s
    source = write_cases(tmp_path / "cases.jsonl", broken)
    result, outcomes, (settled, _) = night(warehouse, source, "night-1")
    assert [o.outcome for o in outcomes][:3] == ["loaded", "quarantined", "loaded"]
    # the cursor is held at the end of page 1 (or before, where page 1 and 2 share a stamp)
    assert settled.held_page["page"] == 2 and settled.cursor <= cases[99]["updated_at"]
    assert settled.cursor < cases[100]["updated_at"]

    fixed = write_cases(tmp_path / "fixed.jsonl", cases)
    _, outcomes, (recovered, _) = night(warehouse, fixed, "night-2")
    # page 1 comes again unchanged where the cursor was held before its end: already received, not loaded twice
    assert "loaded" in {o.outcome for o in outcomes} <= {"loaded", "already_received"}
    assert recovered.cursor == max(c["updated_at"] for c in cases)
    versions = warehouse.query(
        "select count(distinct case_id), count(distinct (case_id, updated_at)) from raw.sentinel_asb__cases"
    )[0]
    assert versions == (len(cases), len(cases))  # every case, in its one version; none lost
    # and none doubled: the pages after the held one, asked for again, add no second copy of a version
    assert warehouse.query("select count(*) from raw.sentinel_asb__cases")[0][0] == len(cases)


def test_a_trickling_server_cannot_stretch_the_pull(warehouse, generated, monkeypatch):
    monkeypatch.setattr(sentinel_pull, "RESPONSE_DEADLINE", 2.0)
    started = time.monotonic()
    with SentinelAPI(generated / "api" / "sentinel" / "cases.jsonl", trickle=0.2) as api:
        with pytest.raises(sentinel_pull.PullFailed, match=r"page 1 was still arriving after 2 s"):
            sentinel_pull.pull(api.base_url, warehouse.drop, page_size=100)
    assert time.monotonic() - started < 10  # a byte every 0.2 s: each read returns, the deadline still holds
    assert sentinel_pull.read_cursor(ENDPOINT) == sentinel_pull.EPOCH
    assert warehouse.query("select count(*) from landing.api_pulls")[0][0] == 0


def test_headers_trickled_a_byte_at_a_time_cannot_stretch_the_pull(warehouse, generated, monkeypatch):
    monkeypatch.setattr(sentinel_pull, "RESPONSE_DEADLINE", 1.0)
    started = time.monotonic()
    with SentinelAPI(generated / "api" / "sentinel" / "cases.jsonl", trickle=0.1, trickle_headers=True) as api:
        with pytest.raises(sentinel_pull.PullFailed, match=r"did not answer page 1 in time"):
            sentinel_pull.pull(api.base_url, warehouse.drop, page_size=100)
    assert time.monotonic() - started < 8  # about 80 header bytes at 0.1 s each would take longer
    assert sentinel_pull.read_cursor(ENDPOINT) == sentinel_pull.EPOCH


def test_a_whole_pull_has_a_deadline(warehouse, generated, monkeypatch):
    monkeypatch.setenv("CSPWH_SENTINEL_PULL_DEADLINE", "1")
    with SentinelAPI(generated / "api" / "sentinel" / "cases.jsonl", trickle=0.05) as api:
        with pytest.raises(sentinel_pull.PullFailed):
            sentinel_pull.pull(api.base_url, warehouse.drop, page_size=100)
    assert sentinel_pull.read_cursor(ENDPOINT) == sentinel_pull.EPOCH


def test_an_absurd_total_pages_is_refused_at_once(warehouse, generated):
    started = time.monotonic()
    with SentinelAPI(generated / "api" / "sentinel" / "cases.jsonl", total_pages=10**9) as api:
        with pytest.raises(sentinel_pull.PullFailed, match=r"total_pages=1,000,000,000"):
            sentinel_pull.pull(api.base_url, warehouse.drop, page_size=100)
        assert len(api.requests) == 1
    assert time.monotonic() - started < 10
    assert sentinel_pull.read_cursor(ENDPOINT) == sentinel_pull.EPOCH


def test_a_retry_after_of_six_hours_is_not_waited_for_and_a_short_one_is(warehouse, generated, monkeypatch):
    source = generated / "api" / "sentinel" / "cases.jsonl"
    started = time.monotonic()
    with SentinelAPI(source, failures={1: [429]}, retry_after="21600") as api:
        with pytest.raises(
            sentinel_pull.PullFailed,
            match=r"HTTP 429 asking to be asked again in 21,600 s \(Retry-After\), more than the 120 s",
        ):
            sentinel_pull.pull(api.base_url, warehouse.drop, page_size=100)
    assert time.monotonic() - started < 10
    assert sentinel_pull.read_cursor(ENDPOINT) == sentinel_pull.EPOCH

    monkeypatch.setenv("CSPWH_SENTINEL_MAX_RETRY_AFTER", "2")
    started = time.monotonic()
    with SentinelAPI(source, failures={1: [429, 429]}, retry_after="1") as api:
        result = sentinel_pull.pull(api.base_url, warehouse.drop, page_size=100)
        assert sum("page=1&" in r for r in api.requests) == 3
    assert 2 <= time.monotonic() - started < 15 and result.cases == len(case_lines(generated))


# --- builds: one at a time, never dropping another's schemas ------------------------------------------------------

BUILD = "import sys; from cspwh.warehouse import nightly; nightly.build(sys.argv[1])"


def schemas(warehouse, build: str) -> set[str]:
    return {n for (n,) in warehouse.query("select nspname from pg_namespace where nspname like %s", (build + "%",))}


def test_two_builds_at_once_are_serialised_and_neither_drops_the_others_schemas(warehouse):
    warehouse.stage("2021-06-leicestershire-street.csv.gz")
    [loaded] = feed_run.ingest_feed("police_uk", "night-1", warehouse.drop)
    first = nightly.new_build_schema()
    time.sleep(1.1)  # the names start with their second: the second is the newer
    second = nightly.new_build_schema()
    env = dict(os.environ)
    started = time.monotonic()
    a = subprocess.Popen([sys.executable, "-c", BUILD, first], env=env, stderr=subprocess.PIPE, text=True)
    time.sleep(1)
    b = subprocess.Popen([sys.executable, "-c", BUILD, second], env=env, stderr=subprocess.PIPE, text=True)
    out_a, out_b = a.communicate(timeout=900), b.communicate(timeout=900)
    assert a.returncode == 0, out_a[1][-2000:]
    assert b.returncode == 0, out_b[1][-2000:]
    # whichever took the lock first, the other waited for it
    assert f"{second} waits for the build {first}" in out_b[1] or f"{first} waits for the build {second}" in out_a[1]
    both = dict(warehouse.query("select build_schema, state from audit.builds"))
    assert both == {first: "built", second: "built"}
    assert f"{first}_marts" in schemas(warehouse, first) and f"{second}_marts" in schemas(warehouse, second)
    print(f"two builds, serialised: {time.monotonic() - started:.1f} s")

    # both publish in turn; the older one, published after the newer, would take the marts back: it is refused
    counts = nightly.publish_build(second, "night-1")
    assert counts["fct_street_crime_monthly"] > 0
    with pytest.raises(publish.Superseded):
        nightly.publish_build(first, "night-1")
    rows = warehouse.query(
        "select sum(incident_count) from marts.fct_street_crime_monthly "
        "where geography_code = 'E23000021' and crime_category = 'total-crime'"
    )[0][0]
    assert rows > 0 and loaded.rows > rows  # total-crime is every type but ASB


def test_a_build_killed_outright_takes_dbt_with_it_and_the_retry_publishes_the_files_counts(warehouse):
    import psutil

    [staged] = warehouse.stage("2021-06-leicestershire-street.csv.gz")
    with gzip.open(staged, "rt") as fh:
        rows = sum(1 for _ in csv.DictReader(fh))
    [loaded] = feed_run.ingest_feed("police_uk", "night-1", warehouse.drop)
    killed = nightly.new_build_schema()
    script = "import logging; logging.basicConfig(level=logging.INFO); " + BUILD  # dbt's lines, to know when
    build = subprocess.Popen([sys.executable, "-c", script, killed], stderr=subprocess.PIPE, text=True)
    assert build.stderr is not None
    said = []
    for line in build.stderr:  # until dbt is building models
        said.append(line)
        if " START sql table model " in line:
            break
    else:
        pytest.fail(f"the build ended before dbt built a model (exit {build.wait()}):\n" + "".join(said[-30:]))
    # dbt, and what it started (multiprocessing's resource tracker)
    [dbt] = [p for p in psutil.Process(build.pid).children() if "dbt" in " ".join(p.cmdline())]
    started = [dbt, *dbt.children(recursive=True)]
    build.kill()  # SIGKILL: no exception, no cleanup, the build lock released with its connection
    build.wait()
    build.stderr.close()
    gone, alive = psutil.wait_procs(started, timeout=3)
    assert not alive, "dbt went on building after the process that started it was killed"
    time.sleep(1.1)  # the names start with their second: the retry is the newer

    retry = nightly.new_build_schema()
    nightly.build(retry, "night-1-retry")
    counts = nightly.publish_build(retry, "night-1-retry")
    assert counts["fct_street_crime_monthly"] > 0
    assert dict(warehouse.query("select build_schema, state from audit.builds")) == {
        killed: "failed",
        retry: "published",
    }
    assert schemas(warehouse, killed) == set() and schemas(warehouse, "build_work") == set()
    # every record of the file counted once, placed in the force area or reported unplaced
    placed = warehouse.query(
        "select sum(incident_count) from marts.fct_street_crime_monthly "
        "where geography_code = 'E23000021' and crime_category <> 'total-crime'"
    )[0][0]
    unplaced = warehouse.query("select sum(record_count) from marts.fct_street_crime_unallocated")[0][0]
    assert loaded.rows == rows and placed + unplaced == rows


def test_files_loaded_before_one_that_could_not_be_decided_still_set_off_the_warehouse(
    warehouse, generated, airflow_ready, monkeypatch, tmp_path
):
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("")  # the quarantine area is unusable: the bad file cannot be decided this run
    monkeypatch.setenv("CSPWH_QUARANTINE_DIR", str(blocked / "quarantine"))
    plant_bad_storm_file(warehouse, generated)
    good = generated / "drop" / "storm_asb" / "storm_asb_20210616.csv"
    (warehouse.drop / "storm_asb" / good.name).write_bytes(good.read_bytes())
    dag = dag_runs.load_dag("storm_asb")
    for task in dag.tasks:
        task.retries = 0
    before = len(raw_events("storm_asb"))
    run = dag.test()
    assert str(run.state).rsplit(".", 1)[-1].lower() == "failed"
    states = task_states(run)
    assert states["land_gate_load"] == "failed" and states["announce"] == "success"
    [*_, event] = raw_events("storm_asb")
    assert len(raw_events("storm_asb")) == before + 1 and event["files"] == 1
    assert warehouse.query("select outcome, files_loaded from audit.feed_runs where dag_id = 'storm_asb'") == [
        ("failed", 1)
    ]


def fake_build(warehouse, stamp: str, marker: int) -> str:
    """A built schema with one marts table, as dbt leaves it (the publish step is under test, not dbt)."""
    build = f"build_{stamp}_beef"
    with db.connect(warehouse.url, autocommit=True) as conn:
        conn.execute(f"create schema {build}_marts")
        conn.execute(f"create table {build}_marts.marker as select {marker} as night")
    publish.record_build(build, "built")
    return build


def test_the_schedule_publishes_once_a_night_and_an_operator_can_ask_for_more(warehouse):
    import datetime as dt

    bootstrap.ensure(warehouse.url)
    night, next_night = dt.date(2026, 12, 2), dt.date(2026, 12, 3)
    assert nightly.no_build_needed(night, force=False, from_feeds=True) is None  # never published: build
    nightly.publish_build(fake_build(warehouse, "20261202t013500", 1), "night-1", night, force=False)
    # nothing loaded since: a feed's late event rebuilds nothing, even when forced
    assert "nothing was loaded" in nightly.no_build_needed(night, force=True, from_feeds=True)
    assert nightly.no_build_needed(night, force=True, from_feeds=False) is None  # an operator's own run builds
    warehouse.stage("2021-06-leicestershire-street.csv.gz")
    feed_run.ingest_feed("police_uk", "night-1-late", warehouse.drop)
    assert "already published" in nightly.no_build_needed(night, force=False, from_feeds=True)
    late = fake_build(warehouse, "20261202t030000", 2)
    with pytest.raises(publish.AlreadyPublishedTonight, match='"force": true'):
        nightly.publish_build(late, "night-1-late", night, force=False)
    assert warehouse.query("select night from marts.marker") == [(1,)]  # analysts saw one change tonight
    nightly.publish_build(late, "operator", night, force=True)  # an operator asked
    assert warehouse.query("select night from marts.marker") == [(2,)]
    # the operator's publication does not use up the next night's
    assert "already published" not in (nightly.no_build_needed(next_night, force=False, from_feeds=True) or "")
    nightly.publish_build(fake_build(warehouse, "20261203t013500", 3), "night-2", next_night, force=False)
    assert warehouse.query("select night, forced from audit.publications order by publication_id") == [
        (night, False),
        (night, True),
        (next_night, False),
    ]


def test_a_build_waits_for_the_lock_then_gives_up_and_says_who_held_it(warehouse):
    holder = "build_20000101t000000_abcd"
    publish.record_build(holder, "building")
    with db.connect(autocommit=True) as conn:
        conn.execute("select pg_advisory_lock(hashtext('cspwh.build'))")
        started = time.monotonic()
        with pytest.raises(nightly.BuildBusy, match=holder):
            nightly.build(nightly.new_build_schema(), wait=3)
        assert 3 <= time.monotonic() - started < 15


# --- the analyst: bounded, and only this database ------------------------------------------------------------------


def test_the_analyst_login_is_bounded_and_reaches_only_the_warehouse(warehouse, monkeypatch):
    monkeypatch.setenv("CSPWH_ANALYST_CONNECTION_LIMIT", "3")
    monkeypatch.setenv("CSPWH_ANALYST_STATEMENT_TIMEOUT", "1s")
    monkeypatch.setenv("CSPWH_ANALYST_TEMP_FILE_LIMIT", "1MB")
    bootstrap.ensure(warehouse.url)
    analyst = db.with_credentials(warehouse.url, "analyst", "analyst")
    held = [psycopg.connect(analyst) for _ in range(3)]
    try:
        with pytest.raises(psycopg.OperationalError, match="too many connections for role"):
            psycopg.connect(analyst)
        with pytest.raises(psycopg.errors.QueryCanceled):
            held[0].execute("select pg_sleep(3)")
        held[1].execute("set work_mem = '64kB'")
        with pytest.raises(psycopg.errors.ConfigurationLimitExceeded, match="temp_file_limit"):
            held[1].execute("select count(*) from (select g from generate_series(1, 2000000) g order by g desc) s")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):  # an analyst cannot lift the temp-file limit
            held[2].execute("set temp_file_limit = -1")
    finally:
        for conn in held:
            conn.close()
    for other in ("postgres", "cspwh_test_airflow"):
        if warehouse.query("select 1 from pg_database where datname = %s", (other,)):
            with pytest.raises(psycopg.OperationalError, match="permission denied for database"):
                psycopg.connect(db.with_database(analyst, other))
    monkeypatch.delenv("CSPWH_ANALYST_CONNECTION_LIMIT")
    bootstrap.ensure(warehouse.url)  # back to the default for the tests after this one
    assert warehouse.query("select rolconnlimit from pg_roles where rolname = 'analyst'") == [(10,)]


def test_on_a_plain_owner_login_the_limits_it_cannot_set_are_named(warehouse, monkeypatch, caplog):
    """The owner of a managed database is no superuser: it can set the connection limit and statement timeout,
    and says what a superuser must grant for the temp-file limit."""
    owner = "cspwh_plain_owner"
    warehouse.execute(
        f"drop role if exists cspwh_plain_analyst; drop role if exists {owner}; "
        f"create role {owner} login password 'owner' createrole nosuperuser"
    )
    server = db.with_database(warehouse.url, "postgres")
    with db.connect(server, autocommit=True) as conn:
        conn.execute("drop database if exists cspwh_plain with (force)")
        conn.execute(f"create database cspwh_plain owner {owner}")
    url = db.with_database(db.with_credentials(warehouse.url, owner, "owner"), "cspwh_plain")
    monkeypatch.setenv("CSPWH_ANALYST_ROLE", "cspwh_plain_analyst")
    try:
        bootstrap.ensure(url)
        said = caplog.text
        assert "GRANT SET ON PARAMETER temp_file_limit TO cspwh_plain_owner" in said
        with db.connect(url) as conn:
            limits = conn.execute("select rolconnlimit from pg_roles where rolname = 'cspwh_plain_analyst'").fetchone()
            settings = conn.execute(
                "select setconfig from pg_db_role_setting s join pg_roles r on r.oid = "
                "s.setrole where r.rolname = 'cspwh_plain_analyst'"
            ).fetchone()[0]
        assert limits == (10,) and "statement_timeout=5min" in settings
    finally:
        with db.connect(server, autocommit=True) as conn:
            conn.execute("drop database if exists cspwh_plain with (force)")
            conn.execute("drop role if exists cspwh_plain_analyst")
            conn.execute(f"drop role if exists {owner}")

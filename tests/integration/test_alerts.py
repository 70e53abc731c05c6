"""Alerts from a real gate run: one digest per role by SMTP and webhook, naming file, check and lines, never the
personal data in the file, and not sent again while the problem stays open."""

import csv
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from cspwh.alerts import digests
from cspwh.generator import generate
from cspwh.generator.config import Config
from cspwh.ingest import feed_run


@pytest.fixture
def webhook(monkeypatch):
    received = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_POST(self):
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(200)
            self.end_headers()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("CSPWH_ALERT_WEBHOOK", f"http://127.0.0.1:{server.server_address[1]}/hook")
    yield received
    server.shutdown()
    server.server_close()


def test_a_quarantined_storm_file_alerts_its_lead_without_personal_data(warehouse, mailbox, webhook, tmp_path):
    mailbox.messages.clear()
    generate(Config.without_faults(tmp_path / "feeds", start="2021-06", end="2021-06"))
    source = tmp_path / "feeds" / "drop" / "storm_asb" / "storm_asb_20210615.csv"
    rows = list(csv.reader(source.open(newline="")))
    rows[2][3], rows[5][3] = "Unknown", "Unknown"  # the PEN category on lines 3 and 6
    target = warehouse.drop / "storm_asb" / source.name
    target.parent.mkdir(parents=True, exist_ok=True)
    with target.open("w", newline="") as fh:
        csv.writer(fh).writerows(rows)
    [outcome] = feed_run.ingest_feed("storm_asb", "night-1", warehouse.drop)
    assert outcome.outcome == "quarantined"

    # the feed's lead, and the dashboard's owner: the figures the file feeds are short until it is corrected
    sent = {d.role: d for d in digests.dispatch("night-1")}
    assert set(sent) == {"police_asb_lead", "community_safety_coordinator"}
    assert sent["police_asb_lead"].address == "police-asb-lead@example.org"
    [mail] = mailbox.to("police-asb-lead@example.org")
    body = mail.get_content()
    assert f"feed storm_asb, file {source.name}, check allowed_values:PEN Category" in body
    assert "has 2 value(s) outside the 3 allowed codes (lines 3, 6)" in body
    assert "marked short on the dashboard" in body
    [copy] = mailbox.to("community-safety@example.org")
    assert str(copy["Subject"]) == "[cspwh] community_safety_coordinator: 1 file held back"
    assert f"file {source.name}" in copy.get_content() and "marked short on the dashboard" in copy.get_content()
    assert len(webhook) == 2 and {"police_asb_lead", "community_safety_coordinator"} == {
        role for role in ("police_asb_lead", "community_safety_coordinator") for hook in webhook if role in hook["text"]
    }
    personal = {v for row in rows[1:] for v in (row[8], row[9], row[10], row[11], row[12])}
    for text in (body, copy.get_content(), *(hook["text"] for hook in webhook), outcome.reason):
        assert not [v for v in personal if v and v in text]

    # the same open problem found again the next night is not sent as new
    feed_run.ingest_feed("storm_asb", "night-2", warehouse.drop)
    assert digests.dispatch("night-1") == [] and len(mailbox.messages) == 2


def test_teams_webhooks_get_an_adaptive_card_with_the_digest():
    assert digests.webhook_format("https://hooks.slack.com/services/T0/B0/x") == "slack"
    assert digests.webhook_format("https://contoso.webhook.office.com/webhookb2/abc") == "teams"
    assert digests.webhook_format("https://prod-12.uksouth.logic.azure.com:443/workflows/abc") == "teams"
    payload = digests.webhook_payload("teams", "cspwh: 1 new data-quality problem", "- feed storm_asb, file f.csv")
    [attachment] = payload["attachments"]
    assert payload["type"] == "message" and attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    # TextRuns: Adaptive Cards never read them as Markdown, so a file's header text cannot format the card
    runs = [run for block in attachment["content"]["body"] for run in block["inlines"]]
    assert {run["type"] for run in runs} == {"TextRun"}
    assert [run["text"] for run in runs] == ["cspwh: 1 new data-quality problem", "- feed storm_asb, file f.csv"]
    with pytest.raises(ValueError):
        digests.webhook_payload("pager", "s", "b")


def write_rows(path, rows):
    with path.open("w", newline="") as fh:
        csv.writer(fh).writerows(rows)


def test_notices_are_counted_not_alerted_and_a_superseded_file_closes_its_alert(warehouse, mailbox, tmp_path):
    mailbox.messages.clear()
    generate(Config.without_faults(tmp_path / "feeds", start="2021-06", end="2021-06"))
    days = sorted((tmp_path / "feeds" / "drop" / "storm_asb").glob("storm_asb_202106*.csv"))
    target = warehouse.drop / "storm_asb"
    target.mkdir(parents=True, exist_ok=True)

    def dmy(source):  # the day's second incident opened as dd/mm/yyyy: converted on load, a notice
        rows = list(csv.reader(source.open(newline="")))
        stamp = rows[2][1]
        rows[2][1] = f"{stamp[8:10]}/{stamp[5:7]}/{stamp[:4]} {stamp[11:16]}"
        write_rows(target / source.name, rows)

    for source in days[:5]:
        dmy(source)
    assert [o.outcome for o in feed_run.ingest_feed("storm_asb", "night-1", warehouse.drop)] == ["loaded"] * 5
    assert digests.dispatch("night-1") == [] and mailbox.messages == []  # nothing a person must do
    assert warehouse.query("select count(*) from audit.alerts")[0][0] == 0

    # night 2: a day with an unknown PEN category is held back, two more days have converted dates
    bad = list(csv.reader(days[5].open(newline="")))
    bad[3][3] = "Unknown"
    write_rows(target / days[5].name, bad)
    for source in days[6:8]:
        dmy(source)
    feed_run.ingest_feed("storm_asb", "night-2", warehouse.drop)
    sent = {d.role: d for d in digests.dispatch("night-2")}
    assert sent["police_asb_lead"].subject == "[cspwh] police_asb_lead: 1 file held back"
    assert sent["community_safety_coordinator"].subject == "[cspwh] community_safety_coordinator: 1 file held back"
    body = mailbox.to("police-asb-lead@example.org")[0].get_content()
    assert f"feed storm_asb, file {days[5].name}, check allowed_values:PEN Category" in body
    # night 1's notices sent no mail of their own: they are counted in this, the lead's next digest, with tonight's
    assert (
        "* storm_asb: dates sent in another shape, converted to ISO on load (Opened At): 7 file(s), 7 value(s)"
    ) in body
    assert "variant:" not in body.split("Fixed on load")[0]  # never listed as a problem
    assert "Fixed on load" not in sent["community_safety_coordinator"].body  # notices go to the feed's lead

    # night 3: the force resends the day corrected, under the same name: the held-back file's alert closes
    write_rows(target / days[5].name, list(csv.reader(days[5].open(newline=""))))
    assert [o.outcome for o in feed_run.ingest_feed("storm_asb", "night-3", warehouse.drop)] == ["loaded"]
    assert digests.dispatch("night-3") == []
    [(resolution,)] = warehouse.query("select distinct resolution from audit.alerts where resolved_at is not null")
    assert resolution.startswith(f"superseded: {days[5].name}, received ")

    # night 4: the next digest says what was resolved
    late = list(csv.reader(days[8].open(newline="")))
    late[2][3] = "Unknown"
    write_rows(target / days[8].name, late)
    feed_run.ingest_feed("storm_asb", "night-4", warehouse.drop)
    [digest] = [d for d in digests.dispatch("night-4") if d.role == "police_asb_lead"]
    assert "Fixed on load" not in digest.body  # every notice was counted once, in night 2's digest
    assert "Resolved since the last digest" in digest.body and f"superseded: {days[5].name}" in digest.body
    assert "still open" not in digest.body  # nothing else is open

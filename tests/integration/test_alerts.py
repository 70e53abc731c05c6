"""Alerts from a real gate run: one digest per role by SMTP and webhook, naming file, check and lines, never the
personal data in the file, and not sent again while the problem stays open."""
import csv
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from cspwh import alerts, ingest
from cspwh.generator import generate
from cspwh.generator.config import Config


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
    [outcome] = ingest.ingest_feed("storm_asb", "night-1", warehouse.drop)
    assert outcome.outcome == "quarantined"

    [digest] = alerts.dispatch("night-1")
    assert digest.role == "police_asb_lead" and digest.address == "police-asb-lead@example.org"
    [mail] = mailbox.to("police-asb-lead@example.org")
    body = mail.get_content()
    assert f"feed storm_asb, file {source.name}, check allowed_values:PEN Category" in body
    assert "has 2 value(s) outside the 3 allowed codes (lines 3, 6)" in body
    assert len(webhook) == 1 and "police_asb_lead" in webhook[0]["text"]  # Slack's shape, the default
    personal = {v for row in rows[1:] for v in (row[8], row[9], row[10], row[11], row[12])}
    for text in (body, webhook[0]["text"], outcome.reason):
        assert not [v for v in personal if v and v in text]

    # the same open problem found again the next night is not sent as new
    ingest.ingest_feed("storm_asb", "night-2", warehouse.drop)
    assert alerts.dispatch("night-1") == [] and len(mailbox.messages) == 1


def test_teams_webhooks_get_an_adaptive_card_with_the_digest():
    assert alerts.webhook_format("https://hooks.slack.com/services/T0/B0/x") == "slack"
    assert alerts.webhook_format("https://contoso.webhook.office.com/webhookb2/abc") == "teams"
    assert alerts.webhook_format("https://prod-12.uksouth.logic.azure.com:443/workflows/abc") == "teams"
    payload = alerts.webhook_payload("teams", "cspwh: 1 new data-quality problem", "- feed storm_asb, file f.csv")
    [attachment] = payload["attachments"]
    assert payload["type"] == "message" and attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    # TextRuns: Adaptive Cards never read them as Markdown, so a file's header text cannot format the card
    runs = [run for block in attachment["content"]["body"] for run in block["inlines"]]
    assert {run["type"] for run in runs} == {"TextRun"}
    assert [run["text"] for run in runs] == ["cspwh: 1 new data-quality problem", "- feed storm_asb, file f.csv"]
    with pytest.raises(ValueError):
        alerts.webhook_payload("pager", "s", "b")


def test_a_warning_many_files_share_is_one_entry_in_the_digest(warehouse, mailbox, tmp_path):
    mailbox.messages.clear()
    generate(Config.without_faults(tmp_path / "feeds", start="2021-06", end="2021-06"))
    days = sorted((tmp_path / "feeds" / "drop" / "storm_asb").glob("storm_asb_2021060[1-5].csv"))
    target = warehouse.drop / "storm_asb"
    target.mkdir(parents=True, exist_ok=True)
    for source in days:  # each day's second incident opened as dd/mm/yyyy: a warning, the file still loads
        rows = list(csv.reader(source.open(newline="")))
        stamp = rows[2][1]
        rows[2][1] = f"{stamp[8:10]}/{stamp[5:7]}/{stamp[:4]} {stamp[11:16]}"
        with (target / source.name).open("w", newline="") as fh:
            csv.writer(fh).writerows(rows)
    outcomes = ingest.ingest_feed("storm_asb", "night-1", warehouse.drop)
    assert [o.outcome for o in outcomes] == ["loaded"] * 5

    [digest] = alerts.dispatch("night-1")
    body = mailbox.to("police-asb-lead@example.org")[0].get_content()
    assert digest.subject.endswith("5 new data-quality problem(s) for police_asb_lead")
    assert body.count("check variant:Opened At") == 1 and "check variant:Opened At: 5 file(s)" in body
    assert f"{days[0].name}: [variant:Opened At] column 'Opened At' has 1 value(s)" in body and "(lines 3)" in body
    assert f"and 2 more: {days[3].name}, {days[4].name}" in body

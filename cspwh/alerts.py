"""Data-quality alerts: one digest per role per run, routed by configuration (feed, district, check -> role ->
address), by email (SMTP) and optionally a Teams/Slack webhook. A failure already alerted and still unresolved is
not sent again as new; a failure that stops failing is marked resolved. Alerts name the feed, file, check, counts
and example row references, never personal data (the gates never put personal values in their findings)."""
from __future__ import annotations

import collections
import dataclasses
import email.message
import functools
import json
import logging
import os
import smtplib
from pathlib import Path

import yaml

from cspwh import contracts, db, settings

log = logging.getLogger(__name__)


@dataclasses.dataclass
class Failure:
    key: str
    gate: str
    feed: str | None
    file_name: str | None
    check: str
    severity: str
    message: str
    role: str
    extra_roles: list[str]


@dataclasses.dataclass
class Digest:
    role: str
    address: str | None
    subject: str
    body: str
    new: list[Failure]
    still_open: int


@functools.cache
def routes(path: str | None = None) -> dict:
    file = Path(path or os.environ.get("CSPWH_ALERT_ROUTES") or settings.expectations_dir() / "alert_routes.yml")
    return yaml.safe_load(file.read_text())


def _role_for(check_name: str, feed: str | None, stated_role: str | None) -> str:
    r = routes()
    if check_name in (r.get("checks") or {}):
        return r["checks"][check_name]
    if feed and feed in (r.get("feeds") or {}):
        return r["feeds"][feed]
    if stated_role:
        return stated_role
    return contracts.load(feed).owner_role if feed else "community_safety_coordinator"


def _district_roles(details: dict | None) -> list[str]:
    districts = routes().get("districts") or {}
    codes = {str(row.get("geography_code")) for row in (details or {}).get("examples", []) if isinstance(row, dict)}
    return sorted({districts[c] for c in codes if c in districts})


def failures(run_id: str) -> list[Failure]:
    """This run's failed checks (file gate and consistency gate), each with the role it goes to."""
    with db.connect() as conn:
        rows = conn.execute(
            """select r.gate, r.feed, m.file_name, r.check_name, r.severity, r.message, r.alert_role, r.details
                 from audit.check_results r left join landing.file_manifest m using (file_id)
                where r.run_id = %s and not r.success
                order by r.check_result_id""", (run_id,)).fetchall()
    out = []
    for gate, feed, file_name, check, severity, message, stated, details in rows:
        key = f"file:{feed}:{file_name}:{check}" if gate == "file" else f"consistency:{check}"
        out.append(Failure(key, gate, feed, file_name, check, severity, message or check,
                           _role_for(check, feed, stated), _district_roles(details)))
    return out


def _compose(role: str, run_id: str, new: list[Failure], still_open: int) -> Digest:
    blocking = sum(f.severity == "blocking" for f in new)
    subject = (f"[cspwh] {len(new)} new data-quality problem(s) for {role}"
               f"{f' ({blocking} blocking)' if blocking else ''}")
    lines = [f"Data-quality digest for the role {role}, run {run_id}.", ""]
    sections = (("file", "blocking", "Files held back"), ("file", "warning", "Files loaded with warnings"),
                ("consistency", None, "Checks on the marts"))
    for gate, severity, title in sections:
        items = [f for f in new if f.gate == gate and severity in (None, f.severity)]
        if not items:
            continue
        lines += [title, "-" * len(title)]
        if gate == "file" and severity == "warning":
            lines += _grouped_warnings(items)
        else:
            for f in items:
                where = f"feed {f.feed}, file {f.file_name}" if f.gate == "file" else "the built marts"
                lines.append(f"* [{f.severity}] {where}, check {f.check}:")
                lines += [f"  {line}" for line in f.message.splitlines()]
        lines.append("")
    if still_open:
        lines.append(f"{still_open} problem(s) reported before are still open; they are not repeated here.")
    lines.append("Blocking problems kept the file out of raw, or the marts from being published; analysts still "
                 "see the last good data. Reply to the platform team if a finding is wrong.")
    address = (routes()["roles"].get(role) or {}).get("email")
    return Digest(role, address, subject, "\n".join(lines) + "\n", new, still_open)


SHOWN_PER_CHECK = 3


def _grouped_warnings(items: list[Failure]) -> list[str]:
    """A warning many files share is one entry (a night of Storm files with dd/mm/yyyy dates is one problem to fix
    at source): the first few files in full, then how many more."""
    lines = []
    groups: dict[tuple, list[Failure]] = collections.defaultdict(list)
    for f in items:
        groups[(f.feed, f.check)].append(f)
    for (feed, check), group in groups.items():
        files = f"{len(group)} file(s)" if len(group) > 1 else f"file {group[0].file_name}"
        lines.append(f"* [warning] feed {feed}, check {check}: {files}")
        for f in group[:SHOWN_PER_CHECK]:
            message = f.message.splitlines()
            lines.append(f"  {f.file_name}: {message[0].lstrip('- ')}" if len(group) > 1 else f"  {message[0]}")
            lines += [f"    {line}" for line in message[1:]]
        if len(group) > SHOWN_PER_CHECK:
            rest = [f.file_name for f in group[SHOWN_PER_CHECK:]]
            lines.append(f"  and {len(rest)} more: {', '.join(rest[:10])}{', ...' if len(rest) > 10 else ''}")
    return lines


def dispatch(run_id: str) -> list[Digest]:
    """Send this run's digests; returns what was sent (a role with nothing new gets nothing)."""
    found = failures(run_id)
    with db.transaction() as conn:
        open_before = {(k, r) for k, r in conn.execute(
            "select alert_key, role from audit.alerts where resolved_at is null").fetchall()}
        per_role: dict[str, list[Failure]] = collections.defaultdict(list)
        for f in found:
            for role in [f.role, *f.extra_roles]:
                per_role[role].append(f)
        seen = {(f.key, role) for role, items in per_role.items() for f in items}
        # a consistency check that passes again is resolved; a file stays as it was (a new file is a new key)
        for key, role in open_before - seen:
            if key.startswith("consistency:") and _passed_in(conn, run_id, key.split(":", 1)[1]):
                conn.execute("update audit.alerts set resolved_at = now() where alert_key = %s and role = %s",
                             (key, role))
        digests = []
        for role, items in sorted(per_role.items()):
            new = [f for f in items if (f.key, role) not in open_before]
            still = len(items) - len(new)
            for f in items:
                conn.execute(
                    """insert into audit.alerts (alert_key, role, first_run_id, last_run_id, summary)
                       values (%s, %s, %s, %s, %s)
                       on conflict (alert_key, role) do update set last_run_id = excluded.last_run_id,
                           last_seen_at = now(), resolved_at = null""",
                    (f.key, role, run_id, run_id, f.message.splitlines()[0][:500]))
            if new:
                digests.append(_compose(role, run_id, new, still))
    for digest in digests:
        _send(digest)
    return digests


def _passed_in(conn, run_id: str, check: str) -> bool:
    return conn.execute("select bool_and(success) from audit.check_results where run_id = %s and check_name = %s",
                        (run_id, check)).fetchone()[0] is True


def _send(digest: Digest) -> None:
    if digest.address:
        message = email.message.EmailMessage()
        message["From"] = os.environ.get("CSPWH_ALERT_FROM", "cspwh-alerts@example.org")
        message["To"] = digest.address
        message["Subject"] = digest.subject
        message.set_content(digest.body)
        host = os.environ.get("CSPWH_SMTP_HOST")
        if host:
            with smtplib.SMTP(host, int(os.environ.get("CSPWH_SMTP_PORT", "25")), timeout=30) as smtp:
                smtp.send_message(message)
            log.info("alert digest sent to %s (%s): %d new", digest.role, digest.address, len(digest.new))
        else:  # no mail server configured (the local demo): the digest is kept where a person can read it
            outbox = settings.home() / "outbox"
            outbox.mkdir(parents=True, exist_ok=True)
            target = outbox / f"{digest.role}-{len(list(outbox.glob(digest.role + '-*.eml'))) + 1:04d}.eml"
            target.write_bytes(bytes(message))
            log.info("no CSPWH_SMTP_HOST: alert digest for %s written to %s", digest.role, target)
    role = routes()["roles"].get(digest.role) or {}
    webhook = role.get("webhook") or os.environ.get("CSPWH_ALERT_WEBHOOK")
    if webhook:
        import requests

        kind = role.get("webhook_format") or os.environ.get("CSPWH_ALERT_WEBHOOK_FORMAT") or webhook_format(webhook)
        requests.post(webhook, data=json.dumps(webhook_payload(kind, digest.subject, digest.body)),
                      headers={"Content-Type": "application/json"}, timeout=10).raise_for_status()


def webhook_format(url: str) -> str:
    """Teams (a Workflows or connector URL) takes an Adaptive Card; Slack and most others take {"text": ...}."""
    from urllib.parse import urlsplit

    host = (urlsplit(url).hostname or "").lower()
    return "teams" if host.endswith(("webhook.office.com", "logic.azure.com", "powerplatform.com")) else "slack"


def webhook_payload(kind: str, subject: str, body: str) -> dict:
    if kind == "teams":
        card = {"$schema": "http://adaptivecards.io/schemas/adaptive-card.json", "type": "AdaptiveCard",
                "version": "1.4", "body": [
                    {"type": "TextBlock", "text": subject, "weight": "Bolder", "size": "Medium", "wrap": True},
                    {"type": "TextBlock", "text": body, "wrap": True, "fontType": "Monospace"}]}
        return {"type": "message", "attachments": [
            {"contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": None, "content": card}]}
    if kind == "slack":
        return {"text": f"*{subject}*\n```{body}```"}
    raise ValueError(f"unknown webhook format {kind!r} (slack or teams)")

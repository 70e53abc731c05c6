"""Data-quality alerts: one digest per role per run, routed by configuration (feed, district, check -> role ->
address), by email (SMTP) and optionally a Teams/Slack webhook. A failure already alerted and still unresolved is
not sent again as new; a failure that stops failing is marked resolved. Alerts name the feed, file, check, counts
and example row references, never personal data (the gates never put personal values in their findings).

Digests go through an outbox (audit.alert_outbox), queued with the alerts that caused them and marked sent only when
the server accepted them; every dispatch first delivers what is still pending, so a mail server down tonight delays a
digest, never loses it (at least once: a crash between acceptance and the mark sends it again)."""

from __future__ import annotations

import collections
import dataclasses
import datetime as dt
import email.message
import functools
import json
import logging
import os
import re
import smtplib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import psycopg
import yaml

from cspwh import db, settings
from cspwh.catalogue import contracts, night
from cspwh.ingest import private_files

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
    file_id: int | None = None
    details: dict | None = None
    result_id: int | None = None


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


RESULTS = """select r.gate, r.feed, m.file_name, r.check_name, r.severity, r.message, r.alert_role, r.details,
                    r.file_id, m.period, r.check_result_id
               from audit.check_results r left join landing.file_manifest m using (file_id)"""
NOTICES_KEPT = "30 days"


def failures(run_id: str) -> list[Failure]:
    """This run's failed checks (file gate and consistency gate), each with the role it goes to."""
    with db.connect() as conn:
        rows = conn.execute(
            RESULTS + " where r.run_id = %s and not r.success order by r.check_result_id", (run_id,)
        ).fetchall()
        # and any failure recorded after its own run's alert task had dispatched (the alert task itself failing,
        # a failure callback that ran late): every failure is told once
        tasks = conn.execute(
            """select f.dag_id, f.task_id, f.error, f.failed_at, f.run_id from audit.task_failures f
                                 where f.run_id = %s
                                    or (f.failed_at > now() - interval '14 days' and not exists (
                                        select 1 from audit.alerts a
                                         where a.alert_key = 'task:' || f.dag_id || ':' || f.task_id || ':' ||
                                         f.run_id))
                                 order by f.task_failure_id""",
            (run_id,),
        ).fetchall()
        out = [_task_failure(*row) for row in tasks] + _from_results(conn, rows, run_id)
    return out


def _untold_notices(conn: psycopg.Connection) -> list[Failure]:
    """Notices of any run not yet counted in a digest: a night with notices but nothing to act on sends no mail,
    so its notices wait for the role's next digest (kept 30 days)."""
    rows = conn.execute(
        RESULTS
        + f""" where r.severity = 'notice' and not r.success
                                      and r.checked_at > now() - interval '{NOTICES_KEPT}'
                                      and not exists (select 1 from audit.notices_told t
                                                       where t.check_result_id = r.check_result_id)
                                    order by r.check_result_id"""
    ).fetchall()
    return _from_results(conn, rows, None)


def _from_results(conn: psycopg.Connection, rows: list[tuple[Any, ...]], run_id: str | None) -> list[Failure]:
    out: list[Failure] = []
    page_labels = (
        _api_pages(conn)
        if any(row[1] and contracts.load(row[1]).transport.get("kind") == "api" for row in rows)
        else {}
    )
    for gate, feed, file_name, check, severity, message, stated, details, file_id, period, result_id in rows:
        # a file by its manifest id: a corrected file sent under the same name is a new file with its own alerts
        key = f"file:{feed}:{file_id or file_name}:{check}" if gate == "file" else f"consistency:{check}"
        if check == "cursor_held":  # told every night it stays held, not once
            key += f":{run_id}"
        role, copied = _role_for(check, feed, stated), _district_roles(details)
        if gate == "file" and severity == "blocking" and check != "cursor_held":  # the held page is told itself
            if period:
                message = (message or check) + SHORT_FIGURES
            owner = routes().get("dashboard_owner")
            if owner and owner != role and owner not in copied:
                copied.append(owner)
        out.append(
            Failure(
                key,
                gate,
                feed,
                page_labels.get(file_name, file_name),
                check,
                severity,
                message or check,
                role,
                copied,
                file_id,
                details,
                result_id,
            )
        )
    return out


SHORT_FIGURES = (
    "\nThe figures this file feeds are marked short on the dashboard (and in fct_kpi and `cspwh explain`) "
    "until a corrected file for its period loads."
)


def _api_pages(conn: psycopg.Connection) -> dict[str, str]:
    """An API page by the period it covers (its file name is the pull's cursor and a page number, which says
    nothing to a lead): file name -> 'page 3 of changes since ..., cases updated ... to ...'."""
    labels = {}
    for since, pages in conn.execute("select since, pages from landing.api_pulls order by pull_id").fetchall():
        for page in pages or []:
            first, last = (page.get("first") or "")[:10], (page.get("last") or "")[:10]
            covers = (f"cases updated {first}" + (f" to {last}" if last != first else "")) if first else "no dated case"
            labels[page["file_name"]] = (
                f"{page['file_name']} (page {page['page']} of the changes since "
                f"{since[:16].replace('T', ' ')}: {covers})"
            )
    return labels


def _task_failure(dag_id: str, task_id: str, error: str | None, failed_at: dt.datetime, run_id: str) -> Failure:
    # the exception's first line only: a database error's DETAIL can quote a row's values
    lines = (error or "").strip().splitlines()
    first = lines[0][:300] if lines else "no error recorded"
    local = failed_at.astimezone(night.config().timezone)
    message = (
        f"{dag_id}.{task_id} failed at {local:%Y-%m-%d %H:%M %Z} after its retries: {first}\n"
        f"The run {run_id} is marked failed; its log in Airflow has the whole error. Fix the cause and clear "
        "the task, or let the next scheduled run pick the work up."
    )
    feed = dag_id if dag_id in contracts.all_feeds() else None
    return Failure(
        f"task:{dag_id}:{task_id}:{run_id}",
        "task",
        feed,
        None,
        "task_failed",
        "blocking",
        message,
        routes().get("task_failures") or "platform_operations",
        [],
    )


NOTICE_KINDS = {
    "variant": "dates sent in another shape, converted to ISO on load",
    "alias": "district names spelt another way, matched through geography_aliases.csv",
    "encoding": "files in another encoding, decoded on load",
}


def _subject(role: str, new: list[Failure]) -> str:
    """What matters first: runs failed, files held back, checks blocking publication, then warnings."""

    def count(n: int, one: str, many: str) -> str | None:
        return f"{n} {one if n == 1 else many}" if n else None

    parts = [
        count(len({f.key for f in new if f.gate == "task"}), "run failed", "runs failed"),
        count(
            len({f.file_id or f.file_name for f in new if f.gate == "file" and f.severity == "blocking"}),
            "file held back",
            "files held back",
        ),
        count(
            sum(f.gate == "consistency" and f.severity == "blocking" for f in new),
            "check blocks publishing",
            "checks block publishing",
        ),
        count(sum(f.severity == "warning" for f in new), "warning", "warnings"),
    ]
    return f"[cspwh] {role}: " + ", ".join(p for p in parts if p)


def _compose(
    role: str,
    run_id: str,
    new: list[Failure],
    still_open: int,
    notices: Sequence[Failure] = (),
    resolved: Sequence[tuple[str, str]] = (),
) -> Digest:
    lines = [f"Data-quality digest for the role {role}, run {run_id}.", ""]
    sections = (
        ("task", None, "Runs that failed"),
        ("file", "blocking", "Files held back"),
        ("consistency", "blocking", "Checks that block publishing"),
        ("file", "warning", "Files loaded with warnings"),
        ("consistency", "warning", "Warnings on the marts"),
    )
    for gate, severity, title in sections:
        items = [f for f in new if f.gate == gate and severity in (None, f.severity)]
        if not items:
            continue
        lines += [title, "-" * len(title)]
        if gate == "file" and severity == "warning":
            lines += _grouped_warnings(items)
        else:
            for f in items:
                where = {"file": f"feed {f.feed}, file {f.file_name}", "task": "the run"}.get(f.gate, "the built marts")
                lines.append(f"* [{f.severity}] {where}, check {f.check}:")
                lines += [f"  {line}" for line in f.message.splitlines()]
                docs_url = (f.details or {}).get("docs_url")
                if f.gate == "consistency" and docs_url:
                    lines.append(f"  The check's result page (GX Data Docs): {docs_url}")
        lines.append("")
    if resolved:
        lines += ["Resolved since the last digest", "-" * 30]
        lines += [f"* {summary} ({why})" for summary, why in resolved] + [""]
    if notices:
        lines += ["Fixed on load (no action needed)", "-" * 32] + _notice_lines(notices) + [""]
    if still_open:
        lines.append(f"{still_open} problem(s) reported before are still open; they are not repeated here.")
    lines.append(
        "Blocking problems kept the file out of raw, or the marts from being published; analysts still "
        "see the last good data. Reply to the platform team if a finding is wrong."
    )
    address = (routes()["roles"].get(role) or {}).get("email")
    return Digest(role, address, _subject(role, new), "\n".join(lines) + "\n", new, still_open)


def _notice_lines(notices: Sequence[Failure]) -> list[str]:
    """One line per feed and kind: how many files and values the pipeline fixed itself."""
    groups: dict[tuple, list[Failure]] = collections.defaultdict(list)
    for f in notices:
        kind, _, column = f.check.partition(":")
        groups[(f.feed, kind, column)].append(f)
    lines = []
    for (feed, kind, column), group in sorted(groups.items(), key=lambda g: tuple(str(x) for x in g[0])):
        values = sum(int((f.details or {}).get("unexpected_count") or 0) for f in group)
        files = len({f.file_id or f.file_name for f in group})
        label = NOTICE_KINDS.get(kind, kind)
        lines.append(
            f"* {feed}: {label}{f' ({column})' if column else ''}: {files} file(s)"
            f"{f', {values} value(s)' if values else ''}"
        )
    return lines


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
            rest = [str(f.file_name) for f in group[SHOWN_PER_CHECK:]]  # a file's warning names its file
            lines.append(f"  and {len(rest)} more: {', '.join(rest[:10])}{', ...' if len(rest) > 10 else ''}")
    return lines


class NotDelivered(RuntimeError):
    """Some digests were not accepted by the mail server or webhook: they stay in audit.alert_outbox and every
    later dispatch tries them again; the task fails so the run shows it."""


def dispatch(run_id: str) -> list[Digest]:
    """Queue this run's digests in the outbox (a role with nothing new gets nothing; notices alone send nothing) and
    deliver everything pending, this run's and any earlier run's. Returns this run's digests; raises NotDelivered,
    after recording each attempt, when a server did not accept one."""
    found = [f for f in failures(run_id) if f.severity != "notice"]
    with db.transaction() as conn:
        notices = _untold_notices(conn)
        _close_what_is_gone(conn)
        open_before = {
            (k, r)
            for k, r in conn.execute("select alert_key, role from audit.alerts where resolved_at is null").fetchall()
        }
        per_role: dict[str, list[Failure]] = collections.defaultdict(list)
        notices_of: dict[str, list[Failure]] = collections.defaultdict(list)
        for f in found:
            for role in [f.role, *f.extra_roles]:
                per_role[role].append(f)
        for f in notices:
            notices_of[f.role].append(f)
        seen = {(f.key, role) for role, items in per_role.items() for f in items}
        # a consistency check that passes again is resolved; a file's alerts close in _close_what_is_gone
        for key, role in open_before - seen:
            if key.startswith("consistency:") and _passed_in(conn, run_id, key.split(":", 1)[1]):
                conn.execute(
                    """update audit.alerts set resolved_at = now(), resolution = 'the check passes again'
                                 where alert_key = %s and role = %s""",
                    (key, role),
                )
        digests = []
        for role, items in sorted(per_role.items()):
            new = [f for f in items if (f.key, role) not in open_before]
            still = len(items) - len(new)
            for f in items:
                # a file's warning is told once and closes (the file is loaded: there is nothing to resolve)
                told_once = f.gate == "file" and f.severity == "warning"
                conn.execute(
                    """insert into audit.alerts (alert_key, role, first_run_id, last_run_id, summary, file_id,
                                                 resolved_at, resolution, resolution_told)
                       values (%s, %s, %s, %s, %s, %s, case when %s then now() end,
                               case when %s then 'told once' end, %s)
                       on conflict (alert_key, role) do update set last_run_id = excluded.last_run_id,
                           last_seen_at = now(), resolved_at = excluded.resolved_at,
                           resolution = excluded.resolution, resolution_told = excluded.resolution_told""",
                    (
                        f.key,
                        role,
                        run_id,
                        run_id,
                        f.message.splitlines()[0][:500],
                        f.file_id,
                        told_once,
                        told_once,
                        told_once,
                    ),
                )
            if new:
                resolved = conn.execute(
                    """update audit.alerts set resolution_told = true
                        where role = %s and resolved_at is not null and not resolution_told
                       returning summary, resolution""",
                    (role,),
                ).fetchall()
                digest = _compose(role, run_id, new, still, notices_of.get(role, []), resolved)
                conn.cursor().executemany(
                    "insert into audit.notices_told (check_result_id, role) values (%s, %s) on conflict do nothing",
                    [(f.result_id, role) for f in notices_of.get(role, [])],
                )
                digests.append(digest)
                # in the same transaction as audit.alerts: a digest is either queued or its problems are still new
                for channel in _channels(digest):
                    conn.execute(
                        """insert into audit.alert_outbox (run_id, role, channel, address, subject, body)
                                    values (%s, %s, %s, %s, %s, %s)""",
                        (
                            run_id,
                            role,
                            channel,
                            digest.address if channel == "email" else None,
                            digest.subject,
                            digest.body,
                        ),
                    )
    deliver_pending()
    return digests


def _close_what_is_gone(conn: psycopg.Connection) -> None:
    """Close alerts whose cause is gone: a held or quarantined file that was accepted and loaded, or whose period a
    later file loaded; an undecided file that was decided; a failed DAG whose later run succeeded."""
    conn.execute(
        """update audit.alerts a
              set resolved_at = now(),
                  resolution = case when m.outcome = 'loaded' then 'the file ' || m.file_name || ' was loaded'
                                    when a.alert_key like '%:undecided' then 'the file ' || m.file_name
                                         || ' was decided: ' || m.outcome
                                    else 'superseded: ' || later.file_name || ', received '
                                         || to_char(later.received_at, 'YYYY-MM-DD') || ', loaded for period '
                                         || m.period end
             from landing.file_manifest m
             left join lateral (
                 select n.file_name, n.received_at from landing.file_manifest n
                  where n.feed = m.feed and n.entity is not distinct from m.entity and n.period = m.period
                    and n.stream is not distinct from m.stream and n.outcome = 'loaded' and n.file_id > m.file_id
                  order by n.file_id desc limit 1) later on true
            where a.resolved_at is null and a.file_id = m.file_id
              and (m.outcome = 'loaded' or later.file_name is not null
                   or (a.alert_key like '%:undecided' and m.outcome <> 'landed'))"""
    )
    conn.execute(
        """update audit.alerts a set resolved_at = now(), resolution = 'a later run succeeded'
            where a.resolved_at is null and a.alert_key like 'task:%'
              and (exists (select 1 from audit.feed_runs r where r.dag_id = split_part(a.alert_key, ':', 2)
                            and r.outcome <> 'failed' and r.ended_at > a.first_alerted_at)
                   or (split_part(a.alert_key, ':', 2) = 'nightly_warehouse' and exists (
                       select 1 from audit.publications p where p.published_at > a.first_alerted_at)))"""
    )


def _channels(digest: Digest) -> list[str]:
    return [*(["email"] if digest.address else []), *(["webhook"] if _webhook_of(digest.role) else [])]


def _webhook_of(role: str) -> str | None:
    # resolved when sending, never stored: a webhook URL is a secret
    return (routes()["roles"].get(role) or {}).get("webhook") or os.environ.get("CSPWH_ALERT_WEBHOOK")


def deliver_pending() -> int:
    """Try every undelivered digest, oldest first, each marked sent only once its server accepted it. Returns how
    many were sent; raises NotDelivered naming what is still pending."""
    sent, failed = 0, []
    with db.connect(autocommit=True) as conn:
        ids = [
            i
            for (i,) in conn.execute(
                "select outbox_id from audit.alert_outbox where sent_at is null order by outbox_id"
            ).fetchall()
        ]
    for outbox_id in ids:
        with db.transaction() as conn:
            # skip locked: a digest another task is sending right now is neither sent twice nor waited for
            row = conn.execute(
                """select role, channel, address, subject, body, run_id, attempts
                                    from audit.alert_outbox where outbox_id = %s and sent_at is null
                                   for update skip locked""",
                (outbox_id,),
            ).fetchone()
            if row is None:
                continue
            role, channel, address, subject, body, queued_run, attempts = row
            try:
                if channel == "email":
                    _send_email(Digest(role, address, subject, body, [], 0))
                else:
                    _send_webhook(role, subject, body)
            except Exception as exc:  # recorded, then retried by every later dispatch
                error = _describe(exc)
                conn.execute(
                    """update audit.alert_outbox set attempts = attempts + 1, last_attempt_at = now(),
                                       last_error = %s where outbox_id = %s""",
                    (error, outbox_id),
                )
                failed.append(f"{channel} digest for {role} from run {queued_run} (attempt {attempts + 1}): {error}")
                log.error("alert digest %d for %s by %s not delivered: %s", outbox_id, role, channel, error)
                continue
            conn.execute(
                """update audit.alert_outbox set attempts = attempts + 1, last_attempt_at = now(),
                                   sent_at = now(), last_error = null where outbox_id = %s""",
                (outbox_id,),
            )
            sent += 1
    if failed:
        raise NotDelivered(
            f"{len(failed)} alert digest(s) not delivered; they are kept in audit.alert_outbox and "
            "sent by the next alert task once the server accepts them:\n" + "\n".join(failed)
        )
    return sent


def _describe(exc: Exception) -> str:
    """The failure without the webhook's URL (its path is the secret)."""
    import requests

    if isinstance(exc, requests.HTTPError) and exc.response is not None:
        return f"the webhook answered HTTP {exc.response.status_code}"
    if isinstance(exc, requests.RequestException):
        return f"the webhook could not be reached ({type(exc).__name__})"
    return f"{type(exc).__name__}: {str(exc)[:300]}"


def _passed_in(conn: psycopg.Connection, run_id: str, check: str) -> bool:
    passed = conn.execute(
        "select bool_and(success) from audit.check_results where run_id = %s and check_name = %s", (run_id, check)
    )
    return db.one(passed)[0] is True


def _send_email(digest: Digest) -> None:
    message = email.message.EmailMessage()
    message["From"] = os.environ.get("CSPWH_ALERT_FROM", "cspwh-alerts@example.org")
    message["To"] = digest.address
    message["Subject"] = digest.subject
    message.set_content(digest.body)
    host = os.environ.get("CSPWH_SMTP_HOST")
    if host:
        with smtplib.SMTP(host, int(os.environ.get("CSPWH_SMTP_PORT", "25")), timeout=30) as smtp:
            refused = smtp.send_message(message)
        if refused:  # accepted for nobody is not delivered
            raise smtplib.SMTPRecipientsRefused(refused)
        log.info("alert digest sent to %s (%s)", digest.role, digest.address)
    else:  # no mail server configured (the local demo): the digest is kept where a person can read it
        outbox = private_files.private_dir(settings.home() / "outbox")  # digests name files and findings
        target = outbox / f"{digest.role}-{len(list(outbox.glob(digest.role + '-*.eml'))) + 1:04d}.eml"
        private_files.write(target, bytes(message))
        log.info("no CSPWH_SMTP_HOST: alert digest for %s written to %s", digest.role, target)


def _send_webhook(role: str, subject: str, body: str) -> None:
    import requests

    webhook = _webhook_of(role)
    if not webhook:
        raise RuntimeError(f"no webhook is configured for {role} any more (routes or CSPWH_ALERT_WEBHOOK)")
    config = routes()["roles"].get(role) or {}
    kind = config.get("webhook_format") or os.environ.get("CSPWH_ALERT_WEBHOOK_FORMAT") or webhook_format(webhook)
    requests.post(
        webhook,
        data=json.dumps(webhook_payload(kind, subject, body)),
        headers={"Content-Type": "application/json"},
        timeout=(5, 10),
    ).raise_for_status()


def webhook_format(url: str) -> str:
    """Teams (a Workflows or connector URL) takes an Adaptive Card; Slack and most others take {"text": ...}."""
    from urllib.parse import urlsplit

    host = (urlsplit(url).hostname or "").lower()
    return "teams" if host.endswith(("webhook.office.com", "logic.azure.com", "powerplatform.com")) else "slack"


# control characters and bidirectional overrides: a file's header text must not rewrite what the reader sees
_INVISIBLE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def _plain(text: str) -> str:
    return _INVISIBLE.sub("\ufffd", text)


def _slack_escape(text: str) -> str:
    """Slack's three control characters escaped (no <!channel>, no <url|link>), and no backtick that could close
    the code block the digest sits in."""
    return _plain(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("`", "\u02cb")


def webhook_payload(kind: str, subject: str, body: str) -> dict:
    """The digest as the webhook's format wants it, with text from files unable to format anything: Teams gets
    TextRuns (which Adaptive Cards never read as Markdown), Slack a code block it cannot leave."""
    if kind == "teams":

        def run(text: str, **style: str) -> dict:
            return {"type": "RichTextBlock", "inlines": [{"type": "TextRun", "text": _plain(text), **style}]}

        card = {
            "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
            "type": "AdaptiveCard",
            "version": "1.4",
            "body": [run(subject, weight="Bolder", size="Medium"), run(body, fontType="Monospace")],
        }
        return {
            "type": "message",
            "attachments": [
                {"contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": None, "content": card}
            ],
        }
    if kind == "slack":
        return {"text": f"*{_slack_escape(subject).replace('*', '')}*\n```{_slack_escape(body)}```"}
    raise ValueError(f"unknown webhook format {kind!r} (slack or teams)")

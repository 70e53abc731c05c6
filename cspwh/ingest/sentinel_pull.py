"""Pull Sentinel's changed cases from its API into the feed's drop folder, one file per page as received.

Incremental, and the cursor (the latest updated_at loaded) moves only over pages that passed the file gate: `pull`
fetches every page changed since the cursor and records the complete pull in landing.api_pulls; `settle`, after the
pages were landed and gated, moves the cursor over the leading pages that loaded and holds it before the first that
did not (a quarantined page, an impossible timestamp), so that page and everything after it is asked for again on
the next pull, and the operator is told each night it stays held. A pull that fails mid-way is recorded nowhere and
simply asked again (identical pages are recognised by their hash at landing).

Bounded in time: connect and read timeouts on every call, a per-response deadline (status to last byte) a server
trickling a byte at a time cannot stretch, a few retries on 429, 5xx and connection errors, a deadline for the whole
pull, a cap on the pages a pull accepts and on the Retry-After waited for.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import re
import threading
import time
from pathlib import Path

import psycopg
import requests
import urllib3
from psycopg.types.json import Jsonb
from urllib3.util.retry import Retry

from cspwh import db, settings
from cspwh.catalogue import contracts
from cspwh.db import audit

log = logging.getLogger(__name__)
FEED = "sentinel_asb"
EPOCH = "1970-01-01T00:00:00"
TIMEOUT = (5, 30)  # connect, and the longest wait for any one read (seconds)
RESPONSE_DEADLINE = 60.0  # seconds for one whole response (status, headers, body), however slowly it comes
MAX_RESPONSE_BYTES = 64 * 2**20
RETRIES = 5  # per call, on 429, 5xx and connection errors
ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d")


def _env_number(name: str, default: float) -> float:
    return float(os.environ.get(name) or default)


def pull_deadline() -> float:
    """Seconds a whole pull may take (CSPWH_SENTINEL_PULL_DEADLINE, default 30 minutes)."""
    return _env_number("CSPWH_SENTINEL_PULL_DEADLINE", 1800)


def max_pages() -> int:
    """The most pages one pull accepts (CSPWH_SENTINEL_MAX_PAGES): 10,000 pages of 200 is two million changed
    cases in a night, beyond any partnership; a larger total_pages is a broken answer, not work to do."""
    return int(_env_number("CSPWH_SENTINEL_MAX_PAGES", 10_000))


def max_retry_after() -> float:
    """The longest Retry-After honoured (CSPWH_SENTINEL_MAX_RETRY_AFTER, default 2 minutes): a server asking for
    hours is not waited for; the next night's pull asks again."""
    return _env_number("CSPWH_SENTINEL_MAX_RETRY_AFTER", 120)


class PullFailed(RuntimeError):
    """The pull could not be completed in its bounds; nothing was recorded and the cursor did not move."""


@dataclasses.dataclass
class PullResult:
    since: str
    cursor: str  # where the cursor would move if every page loads (settle decides)
    pages: list[Path]
    cases: int


@dataclasses.dataclass
class Settled:
    cursor: str
    moved: bool
    held_page: dict | None = None
    message: str | None = None


class PullSession(requests.Session):
    """A requests session with the pull's retry policy: `retries` more tries on 429, 5xx, timeouts and connection
    errors, after the server's Retry-After (up to max_retry_after()) or an exponential backoff from `backoff`."""

    def __init__(self, retries: int = RETRIES, backoff: float = 0.5):
        super().__init__()
        self.retries, self.backoff = retries, backoff


def session(retries: int | None = None, backoff: float = 0.5) -> PullSession:
    """CSPWH_SENTINEL_RETRIES sets the tries after the first (default RETRIES); Airflow's own retries of the task
    come on top."""
    if retries is None:
        retries = int(os.environ.get("CSPWH_SENTINEL_RETRIES") or RETRIES)
    return PullSession(retries, backoff)


def read_cursor(endpoint: str) -> str:
    with db.connect() as conn:
        row = conn.execute(
            "select cursor from landing.api_cursors where feed = %s and endpoint = %s", (FEED, endpoint)
        ).fetchone()
    return row[0] if row else EPOCH


def _save_cursor(conn: psycopg.Connection, endpoint: str, cursor: str) -> None:
    conn.execute(
        """insert into landing.api_cursors (feed, endpoint, cursor) values (%s, %s, %s)
                    on conflict (feed, endpoint) do update set cursor = excluded.cursor, updated_at = now()""",
        (FEED, endpoint, cursor),
    )


def _open(http: requests.Session, endpoint: str, params: dict, ends: float) -> requests.Response:
    """The response's status and headers, waited for no longer than `ends`. http.client reads headers a line at a
    time, so headers trickled a byte at a time would outlast any read timeout: the request runs in a daemon thread
    that the pull abandons at the deadline (the server's close or the task's end ends it)."""
    box: dict = {}
    done = threading.Event()

    def fetch() -> None:
        try:
            box["response"] = http.get(endpoint, params=params, timeout=TIMEOUT, stream=True)
        except BaseException as exc:  # handed to the waiting pull
            box["error"] = exc
        finally:
            done.set()

    threading.Thread(target=fetch, name="sentinel-get", daemon=True).start()
    if not done.wait(max(0.0, ends - time.monotonic())):
        raise PullFailed(
            f"Sentinel did not answer page {params['page']} in time (no complete status and headers "
            f"within {RESPONSE_DEADLINE:.0f} s): the server is too slow or stuck; the cursor did not "
            "move, the next run asks again"
        )
    if "error" in box:
        raise box["error"]
    return box["response"]


def _read(response: requests.Response, page: int, begun: float, ends: float) -> bytes:
    """The body as it arrives, so a server trickling it meets the deadline rather than a fresh read timeout."""
    body = bytearray()
    while chunk := response.raw.read1(1 << 16):
        body += chunk
        if time.monotonic() > ends:
            raise PullFailed(
                f"Sentinel page {page} was still arriving after {time.monotonic() - begun:.0f} s "
                f"({len(body):,} bytes so far): the server is too slow or stuck; the cursor did not "
                "move, the next run asks again"
            )
        if len(body) > MAX_RESPONSE_BYTES:
            raise PullFailed(
                f"Sentinel page {page} is larger than {MAX_RESPONSE_BYTES:,} bytes: ask for smaller "
                "pages (page_size); the cursor did not move"
            )
    return bytes(body)


RETRIED = (429, 500, 502, 503, 504)


def _retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (seconds or an HTTP date); None when absent or unreadable."""
    try:
        return Retry().parse_retry_after(value) if value else None
    except Exception:  # an unreadable header is no instruction: back off as usual
        return None


def _get(http: requests.Session, endpoint: str, params: dict, deadline: float) -> bytes:
    """One page, each try bounded by RESPONSE_DEADLINE for its whole response, retried on 429, 5xx, timeouts and
    connection errors; a Retry-After longer than max_retry_after() is not waited for."""
    retries, backoff = getattr(http, "retries", RETRIES), getattr(http, "backoff", 0.5)
    page = params["page"]
    for attempt in range(retries + 1):
        begun = time.monotonic()
        ends = min(begun + RESPONSE_DEADLINE, deadline)
        wait = min(backoff * 2**attempt, 30.0)
        try:
            with _open(http, endpoint, params, ends) as response:
                if response.status_code not in RETRIED:
                    response.raise_for_status()  # another 4xx: asking again will not help
                    return _read(response, page, begun, ends)
                problem = f"HTTP {response.status_code}"
                retry_after = _retry_after(response.headers.get("Retry-After"))
        except requests.HTTPError:  # a 4xx other than 429 (raise_for_status above): not retried
            raise
        except (requests.ConnectionError, requests.Timeout, urllib3.exceptions.HTTPError, OSError) as exc:
            problem, retry_after = f"{type(exc).__name__}", None
        if retry_after is not None:
            if retry_after > max_retry_after():
                raise PullFailed(
                    f"Sentinel answered page {page} with {problem} asking to be asked again in "
                    f"{retry_after:,.0f} s (Retry-After), more than the {max_retry_after():.0f} s a "
                    "pull waits: the pull stops here, the cursor did not move, and the next run asks "
                    "again"
                )
            wait = retry_after
        if attempt == retries:
            raise PullFailed(
                f"Sentinel page {page} could not be had: {problem} after {retries + 1} tries; the "
                "cursor did not move, the next run asks again"
            )
        if time.monotonic() + wait > deadline:
            raise PullFailed(
                f"the Sentinel pull would pass its {pull_deadline():.0f} s deadline waiting to ask for "
                f"page {page} again ({problem}); the cursor did not move, the next run asks again"
            )
        log.warning("sentinel: page %d: %s; asking again in %.1f s", page, problem, wait)
        time.sleep(wait)
    raise AssertionError("unreachable")


def _total_pages(body: dict, page: int, page_size: int) -> int:
    total_pages = int(body["total_pages"])
    stated, size = body.get("total"), int(body.get("page_size") or page_size)  # the server may cap page_size
    if total_pages > max_pages() or (stated is not None and total_pages > -(-int(stated) // size) + 1):
        raise PullFailed(
            f"Sentinel answered page {page} with total_pages={total_pages:,} (total {stated}, page_size "
            f"{size}): more than the {max_pages():,} pages a pull accepts or than its own total needs. "
            "The answer is refused and the cursor did not move; ask Sentinel's supplier to check the API "
            "(CSPWH_SENTINEL_MAX_PAGES raises the cap for a genuine backlog)"
        )
    return total_pages


def pull(
    base_url: str, drop: Path | None = None, page_size: int = 200, http: requests.Session | None = None
) -> PullResult:
    """Fetch every page changed since the cursor and record the pull; raises (nothing recorded) if a page cannot be
    had after retries or within the time bounds. The cursor is moved later, by `settle`."""
    path = contracts.load(FEED).transport["path"]
    endpoint = base_url.rstrip("/") + path
    since = read_cursor(path)  # the cursor belongs to the feed's endpoint, whichever host serves it
    stamp = since.replace("-", "").replace(":", "")[:15]
    folder = (drop or settings.drop_dir()) / FEED
    folder.mkdir(parents=True, exist_ok=True)
    http = http or session()
    deadline = time.monotonic() + pull_deadline()
    pages, recorded, cursor, cases, page, total_pages = [], [], since, 0, 1, 1
    while page <= total_pages:
        if time.monotonic() > deadline:
            raise PullFailed(
                f"the Sentinel pull passed its {pull_deadline():.0f} s deadline at page {page} of "
                f"{total_pages}; the cursor did not move, the next run asks again"
            )
        content = _get(http, endpoint, {"updated_since": since, "page": page, "page_size": page_size}, deadline)
        body = json.loads(content)
        total_pages = _total_pages(body, page, page_size)
        if body["cases"]:
            target = folder / f"sentinel_cases_{stamp}_p{page:04d}.json"
            tmp = target.with_name("." + target.name + ".part")
            tmp.write_bytes(content)
            tmp.replace(target)
            pages.append(target)
            stamps = sorted(str(c.get("updated_at")) for c in body["cases"] if ISO.match(str(c.get("updated_at"))))
            recorded.append(
                {
                    "page": page,
                    "file_name": target.name,
                    "content_hash": hashlib.sha256(content).hexdigest(),
                    "cases": len(body["cases"]),
                    "first": stamps[0] if stamps else None,
                    "last": stamps[-1] if stamps else None,
                }
            )
            cases += len(body["cases"])
            cursor = max([cursor, *stamps[-1:]])
        page += 1
    with db.transaction() as conn:
        conn.execute(
            "insert into landing.api_pulls (feed, endpoint, since, pages) values (%s, %s, %s, %s)",
            (FEED, path, since, Jsonb(recorded)),
        )
    log.info("sentinel: %d case(s) in %d page(s) changed since %s", cases, len(pages), since)
    return PullResult(since, cursor, pages, cases)


def settle(run_id: str) -> Settled | None:
    """After the pages were landed and gated: move the cursor over the leading pages that loaded, hold it before
    the first that did not, and record (for the alert) that it is held. Returns None when no pull waits."""
    path = contracts.load(FEED).transport["path"]
    with db.transaction() as conn:
        row = conn.execute(
            """select pull_id, since, pages from landing.api_pulls
                               where feed = %s and endpoint = %s and settled_at is null
                               order by pull_id desc limit 1 for update""",
            (FEED, path),
        ).fetchone()
        if row is None:
            return None
        pull_id, since, pages = row
        conn.execute(
            "update landing.api_pulls set settled_at = now() where feed = %s and endpoint = %s "
            "and settled_at is null and pull_id < %s",
            (FEED, path, pull_id),
        )  # superseded
        found = conn.execute(
            "select cursor from landing.api_cursors where feed = %s and endpoint = %s", (FEED, path)
        ).fetchone()
        cursor = current = found[0] if found else EPOCH
        held, seen = None, since
        for i, page in enumerate(pages):
            outcome = conn.execute(
                "select file_id, outcome from landing.file_manifest where feed = %s and content_hash = %s",
                (FEED, page["content_hash"]),
            ).fetchone()
            if not outcome or outcome[1] != "loaded":
                held = dict(
                    page, file_id=outcome[0] if outcome else None, outcome=outcome[1] if outcome else "not landed"
                )
                break
            seen = max([seen, *([page["last"]] if page["last"] else [])])
            # updated_since is exclusive: never step past a stamp a later page shares with this one
            later = [p["first"] for p in pages[i + 1 :] if p["first"]]
            if not later or seen < min(later):
                cursor = max(cursor, seen)
        message = None
        if held:
            covers = (
                f"cases updated {held['first']} to {held['last']}"
                if held["first"]
                else "no case with a readable updated_at"
            )
            message = (
                f"the Sentinel cursor is held at {cursor}: page {held['page']} of the pull of changes since "
                f"{since} ({held['file_name']}, {held['cases']} case(s), {covers}) was {held['outcome']}. "
                "That page and every later change are asked for again on each pull until it loads, so "
                "nothing is lost meanwhile; correct the case(s) named in the page's own finding at source"
            )
            audit.record_file_check(
                conn,
                run_id,
                FEED,
                held["file_id"],
                "cursor_held",
                False,
                role=contracts.load(FEED).owner_role,
                message=message,
                details={k: held[k] for k in ("page", "file_name", "first", "last", "cases", "outcome")}
                | {"cursor": cursor, "since": since},
            )
            log.warning(message)
        else:  # the nights it was held are over
            conn.execute(
                "update audit.alerts set resolved_at = now() where resolved_at is null and alert_key like %s",
                (f"file:{FEED}:%:cursor_held:%",),
            )
        if cursor != current:
            _save_cursor(conn, path, cursor)
        conn.execute(
            "update landing.api_pulls set settled_at = now(), cursor_after = %s, held = %s where pull_id = %s",
            (cursor, Jsonb(held) if held else None, pull_id),
        )
    log.info("sentinel: cursor %s -> %s", current, cursor)
    return Settled(cursor, cursor != current, held, message)

"""Pull Sentinel's changed cases from its API into the feed's drop folder, one file per page as received.

Incremental: the cursor (the latest updated_at pulled) is kept in landing.api_cursors and only moves once every page
of a pull is safely written, so a pull that fails mid-way is simply asked again next time (identical pages are then
recognised by their hash at landing). Retries with backoff on 429, 5xx and connection errors; timeouts on every call.
"""
from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from cspwh import contracts, db, settings

log = logging.getLogger(__name__)
FEED = "sentinel_asb"
EPOCH = "1970-01-01T00:00:00"
TIMEOUT = (5, 30)  # connect, read (seconds)


@dataclasses.dataclass
class PullResult:
    since: str
    cursor: str
    pages: list[Path]
    cases: int


def session(retries: int = 5, backoff: float = 0.5) -> requests.Session:
    s = requests.Session()
    retry = Retry(total=retries, connect=retries, read=retries, status=retries, backoff_factor=backoff,
                  status_forcelist=(429, 500, 502, 503, 504), allowed_methods=frozenset({"GET"}),
                  respect_retry_after_header=True, raise_on_status=True)
    s.mount("http://", HTTPAdapter(max_retries=retry))
    s.mount("https://", HTTPAdapter(max_retries=retry))
    return s


def read_cursor(endpoint: str) -> str:
    with db.connect() as conn:
        row = conn.execute("select cursor from landing.api_cursors where feed = %s and endpoint = %s",
                           (FEED, endpoint)).fetchone()
    return row[0] if row else EPOCH


def _save_cursor(endpoint: str, cursor: str) -> None:
    with db.transaction() as conn:
        conn.execute("""insert into landing.api_cursors (feed, endpoint, cursor) values (%s, %s, %s)
                        on conflict (feed, endpoint) do update set cursor = excluded.cursor, updated_at = now()""",
                     (FEED, endpoint, cursor))


def pull(base_url: str, drop: Path | None = None, page_size: int = 200, http: requests.Session | None = None
         ) -> PullResult:
    """Fetch every page changed since the cursor; raises (cursor unmoved) if a page cannot be had after retries."""
    path = contracts.load(FEED).transport["path"]
    endpoint = base_url.rstrip("/") + path
    since = read_cursor(path)  # the cursor belongs to the feed's endpoint, whichever host serves it
    stamp = since.replace("-", "").replace(":", "")[:15]
    folder = (drop or settings.drop_dir()) / FEED
    folder.mkdir(parents=True, exist_ok=True)
    http = http or session()
    pages, cursor, cases, page, total_pages = [], since, 0, 1, 1
    while page <= total_pages:
        response = http.get(endpoint, params={"updated_since": since, "page": page, "page_size": page_size},
                            timeout=TIMEOUT)
        response.raise_for_status()
        body = response.json()
        total_pages = int(body["total_pages"])
        if body["cases"]:
            target = folder / f"sentinel_cases_{stamp}_p{page:04d}.json"
            tmp = target.with_name("." + target.name + ".part")
            tmp.write_bytes(response.content)
            tmp.replace(target)
            pages.append(target)
            cases += len(body["cases"])
            cursor = max(cursor, max(c["updated_at"] for c in body["cases"]))
        page += 1
    _save_cursor(path, cursor)
    log.info("sentinel: %d case(s) in %d page(s) changed since %s; cursor now %s", cases, len(pages), since, cursor)
    return PullResult(since, cursor, pages, cases)


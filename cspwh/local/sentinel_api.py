"""A small local stand-in for Sentinel's case API, serving the generator's cases as the real API would: pages of
cases changed since a cursor. Used by the ingestion tests and the demo; it can be told to misbehave as real servers do
(fail, throttle with a long Retry-After, trickle its answer a byte at a time, claim absurd page counts) to test that
the pull stays bounded."""

from __future__ import annotations

import bisect
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

PATH = "/api/v1/cases"
MAX_PAGE_SIZE = 500


class CaseStore:
    """Cases in update order (as the generator writes them); only byte offsets are held, so any scale fits."""

    def __init__(self, jsonl: Path):
        self.path = jsonl
        self.offsets: list[int] = []
        self.updated: list[str] = []
        with jsonl.open("rb") as fh:
            offset = 0
            for line in fh:
                # updated_at is a fixed-shape key in the sorted JSON: find it without parsing the whole record
                start = line.index(b'"updated_at":"') + 14
                self.updated.append(line[start : min(start + 19, line.index(b'"', start))].decode())
                self.offsets.append(offset)
                offset += len(line)

    def changed_since(self, since: str) -> tuple[int, int]:
        """Index range of cases with updated_at strictly after `since`."""
        return bisect.bisect_right(self.updated, since[:19]), len(self.updated)

    def read(self, first: int, last: int) -> list[dict]:
        with self.path.open("rb") as fh:
            if first < len(self.offsets):
                fh.seek(self.offsets[first])
            return [json.loads(fh.readline()) for _ in range(first, last)]


class SentinelAPI:
    """Serve a CaseStore on 127.0.0.1. Misbehaviour for tests: `failures` maps a page number to HTTP statuses to
    answer before succeeding (a 429 carries `retry_after` seconds); `trickle` sends each body (or with
    `trickle_headers`, the status line and headers) a byte every that many seconds; `total_pages` claims that many
    pages whatever the cases."""

    def __init__(
        self,
        jsonl: Path,
        port: int = 0,
        failures: dict[int, list[int]] | None = None,
        retry_after: str = "0",
        trickle: float | None = None,
        trickle_headers: bool = False,
        total_pages: int | None = None,
    ):
        self.store = CaseStore(jsonl)
        self.failures = {k: list(v) for k, v in (failures or {}).items()}
        self.retry_after, self.trickle, self.total_pages = retry_after, trickle, total_pages
        self.trickle_headers = trickle_headers
        self.requests: list[str] = []
        api = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet: the tests read api.requests instead
                pass

            def do_GET(self):
                url = urlsplit(self.path)
                api.requests.append(self.path)
                if url.path != PATH:
                    return self._send(404, {"error": "not found"})
                query = parse_qs(url.query)
                try:
                    page = int(query.get("page", ["1"])[0])
                    size = min(int(query.get("page_size", ["100"])[0]), MAX_PAGE_SIZE)
                    since = query.get("updated_since", ["0000-00-00T00:00:00"])[0]
                except ValueError:
                    return self._send(400, {"error": "page and page_size must be whole numbers"})
                pending = api.failures.get(page)
                if pending:
                    status = pending.pop(0)
                    return self._send(
                        status,
                        {"error": "simulated failure"},
                        {"Retry-After": api.retry_after} if status == 429 else None,
                    )
                first, last = api.store.changed_since(since)
                total = last - first
                pages = max(1, -(-total // size))
                start = first + (page - 1) * size
                cases = api.store.read(start, min(start + size, last)) if start < last else []
                return self._send(
                    200,
                    {
                        "cases": cases,
                        "page": page,
                        "page_size": size,
                        "total": total,
                        "total_pages": api.total_pages or pages,
                        "updated_since": since,
                    },
                )

            def _send(self, status, body, headers=None):
                data = json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
                if api.trickle is not None and api.trickle_headers and status == 200:
                    head = (
                        f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {len(data)}\r\n\r\n"
                    ).encode()
                    return self._slowly(head, data)
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                if api.trickle is None or status != 200:
                    self.wfile.write(data)
                    return
                self._slowly(data)

            def _slowly(self, data, rest=b""):
                try:
                    for i in range(len(data)):  # a byte at a time: each read of the client returns in time
                        self.wfile.write(data[i : i + 1])
                        self.wfile.flush()
                        time.sleep(api.trickle)
                    self.wfile.write(rest)
                except OSError:  # the client gave up
                    pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> SentinelAPI:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    def serve_forever(self) -> None:
        self.server.serve_forever()

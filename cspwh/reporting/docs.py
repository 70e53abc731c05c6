"""`cspwh docs`: dbt's documentation site for the published warehouse, built with `dbt docs generate` and served
locally. The catalog is read from what analysts query: the marts layer's relations are catalogued in `marts` (not
in the build schema they were built in, which publish renamed), the other layers in the published build's schemas."""

from __future__ import annotations

import functools
import http.server
import json
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

from cspwh import settings
from cspwh.warehouse import dbt_runner, publish


class DocsFailed(RuntimeError):
    pass


def published_build() -> str:
    build = publish.last_published_build()
    if build is None:
        raise DocsFailed("nothing is published yet: run the nightly job first (make demo), then cspwh docs")
    return build


def generate(out: Path | None = None) -> Path:
    """Run `dbt docs generate` against the published build; returns the folder holding index.html, manifest.json
    and catalog.json."""
    out = out or settings.home() / "docs"
    work = settings.home() / "dbt"
    dbt = Path(sys.executable).with_name("dbt")
    args = [
        str(dbt) if dbt.exists() else (shutil.which("dbt") or "dbt"),
        "--no-use-colors",
        "docs",
        "generate",
        "--project-dir",
        str(settings.DBT_DIR),
        "--profiles-dir",
        str(settings.DBT_DIR),
        "--target-path",
        str(out),
        "--log-path",
        str(work / "logs"),
        "--vars",
        json.dumps(dbt_runner.dbt_vars()),
    ]
    env = {**dbt_runner._env(published_build()), "CSPWH_DOCS_MARTS_SCHEMA": "marts"}
    done = subprocess.run(args, env={**os.environ, **env}, capture_output=True, text=True)
    if done.returncode != 0 or not (out / "catalog.json").exists():
        tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-15:])
        raise DocsFailed(f"dbt docs generate failed (exit {done.returncode}); its last lines:\n{tail}")
    return out


def server(folder: Path, port: int = 0, host: str = "127.0.0.1") -> http.server.ThreadingHTTPServer:
    """An HTTP server for the site (port 0: a free one); call serve_forever, or shutdown."""
    handler = functools.partial(_QuietHandler, directory=str(folder))
    return http.server.ThreadingHTTPServer((host, port), handler)


def serve_in_background(folder: Path, port: int = 0, host: str = "127.0.0.1") -> http.server.ThreadingHTTPServer:
    httpd = server(folder, port, host)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):
        pass

"""Personal data at landing: identifiers become keyed HMAC pseudonyms, some values are generalised, free text is
dropped, so nothing after raw ever holds them in clear. The rules themselves run in SQL at load (landed_file.py's
`pseudonym` and `norm_text` macros, loader.py's conversions, fast_hmac.py's C loop); this module owns the key.

The key comes from CSPWH_HMAC_KEY, else from the password of the Airflow connection `cspwh_hmac_key` (in a process
that runs Airflow: a secrets backend, the metadata database or AIRFLOW_CONN_CSPWH_HMAC_KEY). With neither, a random
key is generated once in <CSPWH_HOME>/secrets/hmac.key for the local demo and tests; it is never committed. The same
key gives the same pseudonym, so records link across feeds without the value itself.
"""

from __future__ import annotations

import functools
import hashlib
import os
import secrets
import sys
from pathlib import Path

from cspwh import settings
from cspwh.ingest import private_files

AIRFLOW_CONNECTION = "cspwh_hmac_key"


def _airflow_key() -> str | None:
    if "airflow" not in sys.modules:  # not inside an Airflow process: no connection store to ask
        return None
    from airflow.sdk import Connection
    from airflow.sdk.exceptions import AirflowException

    try:
        return Connection.get(AIRFLOW_CONNECTION).password or None
    except AirflowException:  # no such connection
        return None


@functools.cache
def _key() -> bytes:
    configured = os.environ.get("CSPWH_HMAC_KEY") or _airflow_key()
    if configured:
        return configured.encode()
    path = settings.home() / "secrets" / "hmac.key"
    if not path.exists():
        _create_key(path)
    elif path.stat().st_mode & 0o077:  # made by an older version, readable by others: private from now on
        path.chmod(private_files.FILE_MODE)
        path.parent.chmod(private_files.DIR_MODE)
    return path.read_text().strip().encode()


def _create_key(path: Path) -> None:
    """A new random key, private from its first byte: written whole to a 0600 file in a 0700 folder, then linked
    into place, so a concurrent task never reads half a key and the first one made wins."""
    private_files.private_dir(path.parent)
    tmp = path.with_name(f".hmac.key.{os.getpid()}")
    private_files.write(tmp, secrets.token_hex(32).encode())
    try:
        os.link(tmp, path)
    except FileExistsError:  # another task made it first: use theirs
        pass
    finally:
        tmp.unlink(missing_ok=True)


def hmac_pads() -> tuple[bytes, bytes]:
    """The pseudonym key's HMAC-SHA256 inner and outer pads."""
    return pads(_key())


def pads(key: bytes) -> tuple[bytes, bytes]:
    """HMAC-SHA256's inner and outer padded keys (RFC 2104): the HMAC is then two plain SHA-256 hashes, which is how
    the SQL macro and the C loop (fast_hmac.py) compute it."""
    key = (hashlib.sha256(key).digest() if len(key) > 64 else key).ljust(64, b"\0")
    return bytes(b ^ 0x36 for b in key), bytes(b ^ 0x5C for b in key)

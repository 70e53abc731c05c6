"""Personal data at landing: identifiers become keyed HMAC pseudonyms, some values are generalised, free text is
dropped, so nothing after raw ever holds them in clear.

The key comes from CSPWH_HMAC_KEY, else from the password of the Airflow connection `cspwh_hmac_key` (in a process
that runs Airflow: a secrets backend, the metadata database or AIRFLOW_CONN_CSPWH_HMAC_KEY). With neither, a random
key is generated once in <CSPWH_HOME>/secrets/hmac.key for the local demo and tests; it is never committed. The same
key gives the same pseudonym, so records link across feeds without the value itself.
"""
from __future__ import annotations

import datetime as dt
import functools
import hashlib
import hmac
import os
import re
import secrets
import sys

from cspwh import settings, values


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
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_hex(32))
        path.chmod(0o600)
    return path.read_text().strip().encode()


def normalise(value: str) -> str:
    """Spacing and case do not make another person: ' J  Smith' and 'j smith' give one pseudonym. The same rule
    runs in SQL at load (cspwh/staged_file.py), so only ASCII whitespace counts, as in RE2's \\s."""
    return re.sub(r"[ \t\n\f\r]+", " ", value).strip(" ").lower()


def pseudonym(value: str | None) -> str | None:
    """The reference implementation of what the loader computes in SQL (a test keeps the two equal)."""
    if value is None:
        return None
    return hmac.new(_key(), normalise(value).encode(), hashlib.sha256).hexdigest()[:32]


def hmac_pads() -> tuple[bytes, bytes]:
    """HMAC-SHA256's inner and outer padded keys (RFC 2104), so SQL can compute the HMAC with two sha256 calls."""
    key = _key()
    key = hashlib.sha256(key).digest() if len(key) > 64 else key
    key = key.ljust(64, b"\0")
    return bytes(b ^ 0x36 for b in key), bytes(b ^ 0x5C for b in key)


AGE_BANDS = [(0, 9), (10, 17), (18, 24), (25, 34), (35, 44), (45, 54), (55, 64), (65, 200)]


def generalise(value: str | None, to: str, on: dt.date | None = None) -> str | int | None:
    if value is None:
        return None
    if to in ("year", "month", "age_band"):
        parsed = values.parse_date(value)
        if parsed is None:
            return None
        born = parsed[0]
        if to == "year":
            return born.year
        if to == "month":
            return born.replace(day=1).isoformat()
        on = on or dt.date.today()
        age = on.year - born.year - ((on.month, on.day) < (born.month, born.day))
        low, high = next(b for b in AGE_BANDS if b[0] <= age <= b[1])
        return f"{low}+" if high >= 200 else f"{low}-{high}"
    if to == "postcode_district":
        return normalise(value).upper().split(" ")[0]
    raise ValueError(f"unknown generalisation {to!r}")

"""The warehouse database every stage shares: connections (psycopg 3) here, the schemas, roles and audit
tables in `bootstrap`, the audit records in `audit`. Imports only `settings` and `catalogue`."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import psycopg

from cspwh import settings

Row = TypeVar("Row")


def connect(url: str | None = None, **kw: Any) -> psycopg.Connection:
    url = url or settings.warehouse_url()
    if "connect_timeout" not in url:  # a server that does not answer fails the task, it does not hang it
        kw.setdefault("connect_timeout", 30)
    return psycopg.connect(url, **kw)


@contextlib.contextmanager
def transaction(url: str | None = None) -> Iterator[psycopg.Connection]:
    """One connection, one transaction: committed on success, rolled back on any error."""
    with connect(url) as conn:
        with conn.transaction():
            yield conn


def one(cursor: psycopg.Cursor[Row]) -> Row:
    """The row of a query that always returns exactly one (an aggregate, `select exists`, `insert ... returning`)."""
    row = cursor.fetchone()
    if row is None:
        raise RuntimeError("a query that always returns a row returned none")
    return row


def column_names(cursor: psycopg.Cursor[Any]) -> list[str]:
    """The names of the columns a query returns."""
    if cursor.description is None:
        raise RuntimeError("the statement returns no rows, so it has no column names")
    return [c.name for c in cursor.description]


def with_credentials(url: str, user: str, password: str) -> str:
    """The same server and database, another login (the analyst URL printed for people)."""
    parts = urlsplit(url)
    host = parts.hostname or "127.0.0.1"
    netloc = f"{user}:{password}@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def with_database(url: str, database: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{database}", parts.query, parts.fragment))


def database_name(url: str) -> str:
    return urlsplit(url).path.lstrip("/")


def redact(url: str) -> str:
    parts = urlsplit(url)
    if parts.password:
        return url.replace(f":{parts.password}@", ":***@")
    return url


def ensure_database(url: str) -> str:
    """Create the URL's database on its server if missing (needs CREATEDB there); returns the URL."""
    name = database_name(url)
    with psycopg.connect(with_database(url, "postgres"), autocommit=True) as conn:
        if not conn.execute("select 1 from pg_database where datname = %s", (name,)).fetchone():
            conn.execute(f'create database "{name}"')
    return url

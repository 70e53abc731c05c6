"""Publish: swap a checked build's marts into `marts` in one transaction; analysts never see a half-built state."""

from __future__ import annotations

import datetime as dt
import re

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

from cspwh import db
from cspwh.db import bootstrap


def _schema_exists(conn: psycopg.Connection, name: str) -> bool:
    return conn.execute("select 1 from pg_namespace where nspname = %s", (name,)).fetchone() is not None


class Superseded(RuntimeError):
    """A newer build was published while this one waited: publishing it would take the marts back in time."""


class AlreadyPublishedTonight(RuntimeError):
    """The night already had its publication; another waits for the next night unless an operator forces it."""


def published_for_night(conn: psycopg.Connection, night: dt.date) -> str | None:
    row = conn.execute(
        """select build_schema from audit.publications where night = %s and not forced
                          order by publication_id limit 1""",
        (night,),
    ).fetchone()
    return row[0] if row else None


def publish(build_schema: str, run_id: str, night: dt.date | None = None, force: bool = True) -> dict[str, int]:
    """Make <build>_marts the new `marts`; returns the published tables' row counts. With `night` and no `force`,
    a night that already had a publication gets no second one (analysts see the marts change once a night)."""
    built = f"{build_schema}_marts"
    retired = f"{build_schema}_retired"
    with db.transaction() as conn:
        # one publisher at a time; readers keep the old schema until this commits
        conn.execute("select pg_advisory_xact_lock(hashtext('cspwh.warehouse.publish'))")
        # an analyst's open transaction must not hold the night for ever: fail and retry instead
        conn.execute("set local lock_timeout = '5min'")
        latest = conn.execute(
            "select build_schema from audit.publications order by publication_id desc limit 1"
        ).fetchone()
        if latest and latest[0] > build_schema:  # the names start with their UTC stamp
            raise Superseded(f"{build_schema} is not published: the newer build {latest[0]} already is")
        if night is not None and not force and (earlier := published_for_night(conn, night)):
            raise AlreadyPublishedTonight(
                f"{build_schema} is not published: the night of {night} was already published ({earlier}); it "
                "goes out with the next night's build, or now if an operator triggers nightly_warehouse with "
                '{"force": true}'
            )
        if not _schema_exists(conn, built):
            raise RuntimeError(f"nothing to publish: schema {built} does not exist")
        counts = {
            table: db.one(
                conn.execute(sql.SQL("select count(*) from {}.{}").format(sql.Identifier(built), sql.Identifier(table)))
            )[0]
            for (table,) in conn.execute(
                "select tablename from pg_tables where schemaname = %s order by tablename", (built,)
            ).fetchall()
        }
        if _schema_exists(conn, "marts"):
            conn.execute(sql.SQL("alter schema marts rename to {}").format(sql.Identifier(retired)))
        conn.execute(sql.SQL("alter schema {} rename to marts").format(sql.Identifier(built)))
        bootstrap.grant_marts(conn)
        if _schema_exists(conn, retired):
            conn.execute(sql.SQL("drop schema {} cascade").format(sql.Identifier(retired)))
        conn.execute(
            """insert into audit.publications (run_id, build_schema, table_rows, night, forced)
                        values (%s, %s, %s, %s, %s)""",
            (run_id, build_schema, Jsonb(counts), night, bool(force and night is not None)),
        )
        conn.execute(
            """insert into audit.builds (build_schema, state, run_id) values (%s, 'published', %s)
                        on conflict (build_schema) do update set state = 'published', state_at = now()""",
            (build_schema, run_id),
        )
    return counts


BUILD_NAME = re.compile(r"^(build_(\d{8}t\d{6})_[0-9a-f]+)(_[a-z]+)?$")
FINISHED = ("failed", "blocked", "published", "superseded")


def drop_stale_builds(current: str, keep: set[str], max_age: dt.timedelta = dt.timedelta(hours=24)) -> list[str]:
    """Drop the build schemas no one will read again; called by the build holding the build lock. Another run's
    build that is built and waiting for its gate or publish is kept (for `max_age`, longer than any task may run);
    one recorded as finished, or 'building' while we hold the lock (its process died: recorded as failed), is
    dropped."""
    dropped = []
    now = dt.datetime.now(dt.UTC)
    with db.transaction() as conn:
        states = dict(conn.execute("select build_schema, state from audit.builds").fetchall())
        for (name,) in conn.execute(r"select nspname from pg_namespace where nspname like 'build\_%'").fetchall():
            match = BUILD_NAME.match(name)
            build = match.group(1) if match else name
            if build in keep or build == current:
                continue
            state = states.get(build)
            started = (
                dt.datetime.strptime(match.group(2), "%Y%m%dt%H%M%S").replace(tzinfo=dt.UTC) if match else None
            )  # not a nightly build's name (a probe, a developer's): as before
            if started is None or state in FINISHED or state == "building" or now - started > max_age:
                conn.execute(sql.SQL("drop schema {} cascade").format(sql.Identifier(name)))
                dropped.append(name)
        # a build still 'building' while this one holds the lock died with its process: the record says it failed
        conn.execute(
            "update audit.builds set state = 'failed', state_at = now() where state = 'building' "
            "and build_schema <> %s",
            (current,),
        )
    return dropped


def record_build(build_schema: str, state: str, run_id: str | None = None) -> None:
    with db.transaction() as conn:
        conn.execute(
            """insert into audit.builds (build_schema, state, run_id) values (%s, %s, %s)
                        on conflict (build_schema) do update set state = excluded.state, state_at = now(),
                            run_id = coalesce(excluded.run_id, audit.builds.run_id)""",
            (build_schema, state, run_id),
        )


def last_published_build() -> str | None:
    with db.connect() as conn:
        row = conn.execute(
            "select build_schema from audit.publications order by publication_id desc limit 1"
        ).fetchone()
    return row[0] if row else None


def new_data_since_last_publication() -> bool:
    """Whether any file was loaded (or a held one accepted) after the published build started: a build without it
    would publish the same marts again."""
    with db.connect() as conn:
        row = conn.execute("""select b.started_at from audit.publications p join audit.builds b using (build_schema)
                               order by p.publication_id desc limit 1""").fetchone()
        if row is None:
            return True
        loaded = conn.execute(
            """select exists (select 1 from landing.file_manifest where outcome = 'loaded'
                                                 and greatest(outcome_at, accepted_at) > %s)""",
            row,
        )
        return db.one(loaded)[0]

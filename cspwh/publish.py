"""Publish: swap a checked build's marts into `marts` in one transaction; analysts never see a half-built state."""
from __future__ import annotations

from psycopg import sql
from psycopg.types.json import Jsonb

from cspwh import bootstrap, db


def _schema_exists(conn, name: str) -> bool:
    return conn.execute("select 1 from pg_namespace where nspname = %s", (name,)).fetchone() is not None


def publish(build_schema: str, run_id: str) -> dict[str, int]:
    """Make <build>_marts the new `marts`; returns the published tables' row counts."""
    built = f"{build_schema}_marts"
    retired = f"{build_schema}_retired"
    with db.transaction() as conn:
        # one publisher at a time; readers keep the old schema until this commits
        conn.execute("select pg_advisory_xact_lock(hashtext('cspwh.publish'))")
        if not _schema_exists(conn, built):
            raise RuntimeError(f"nothing to publish: schema {built} does not exist")
        counts = {
            table: conn.execute(sql.SQL("select count(*) from {}.{}").format(
                sql.Identifier(built), sql.Identifier(table))).fetchone()[0]
            for (table,) in conn.execute(
                "select tablename from pg_tables where schemaname = %s order by tablename", (built,)).fetchall()
        }
        if _schema_exists(conn, "marts"):
            conn.execute(sql.SQL("alter schema marts rename to {}").format(sql.Identifier(retired)))
        conn.execute(sql.SQL("alter schema {} rename to marts").format(sql.Identifier(built)))
        bootstrap.grant_marts(conn)
        if _schema_exists(conn, retired):
            conn.execute(sql.SQL("drop schema {} cascade").format(sql.Identifier(retired)))
        conn.execute("insert into audit.publications (run_id, build_schema, table_rows) values (%s, %s, %s)",
                     (run_id, build_schema, Jsonb(counts)))
    return counts


def drop_stale_builds(keep: set[str]) -> list[str]:
    """Drop earlier runs' build schemas, keeping those of `keep` (the current run, the published build)."""
    dropped = []
    with db.transaction() as conn:
        for (name,) in conn.execute(r"select nspname from pg_namespace where nspname like 'build\_%'").fetchall():
            if not any(name == k or name.startswith(k + "_") for k in keep):
                conn.execute(sql.SQL("drop schema {} cascade").format(sql.Identifier(name)))
                dropped.append(name)
    return dropped


def last_published_build() -> str | None:
    with db.connect() as conn:
        row = conn.execute("select build_schema from audit.publications order by publication_id desc limit 1"
                           ).fetchone()
    return row[0] if row else None

"""Carry forward: a night's build copies from the published build the tables whose inputs have not changed since
it, and dbt builds (and tests) only the rest.

Every build starts in new schemas (write-audit-publish), so dbt alone rebuilt every table and ran every test each
night: at national volume, with one feed new, most of the build was the same tables made again from the same rows.
A table is carried when all of these hold, and otherwise dbt builds it as before:
  - the code is the published build's: every file of the dbt project and the partnership's reference data, the
    vars and dbt's version hash the same (`fingerprint`), and the graph is that code's (the manifest dbt last
    wrote, checked against the same hash);
  - it is a table (views are rebuilt: they hold no rows and cost nothing to make);
  - no source upstream of it changed: a raw table's state is its newest load, its feed's manifest rows for that
    entity (loads only add rows, and a version or a restatement is a new load) and Postgres's counts of rows
    written to it; any other source (the landing manifest, the audit tables) is taken to change every night, so what
    reads it is always built.
A data test is skipped when nothing upstream of it changed: the published build passed it on the same rows (dbt
leaves out the tests of a table it does not build in any case).
The copy keeps the table's comments and indexes (`like ... including all`), and an incremental-by-load model's load
record beside it (<model>__loads), which the next build reads.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from collections.abc import Iterable
from importlib import metadata
from pathlib import Path

import psycopg
from psycopg import sql

from cspwh import db, settings
from cspwh.catalogue import contracts

# files of the dbt project that are dbt's own output, not its input
_NOT_INPUT = ("target", "logs", "dbt_packages")
_FINGERPRINT_FILE = "manifest.fingerprint"


def fingerprint(vars_json: str, seed_dir: Path) -> str:
    """Hash of everything that decides what the build makes from the same rows."""
    digest = hashlib.sha256()
    # dbt's own version too: another dbt may compile the same code differently
    dbt_version = f"{metadata.version('dbt-core')} {metadata.version('dbt-postgres')}"
    digest.update(f"dbt {dbt_version}\nvars {vars_json}\n".encode())
    for root in (settings.DBT_DIR, seed_dir):
        for path in sorted(p for p in root.rglob("*") if p.is_file()):
            relative = path.relative_to(root)
            if relative.parts[0] in _NOT_INPUT:
                continue
            digest.update(f"{root.name}/{relative}\n".encode())
            digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def raw_tables() -> dict[str, str]:
    """Every raw table, by '<feed>.<entity>' (its dbt source), from the feeds' contracts."""
    return {f"{feed}.{e.name}": e.raw_table for feed in contracts.all_feeds() for e in contracts.load(feed).entities}


def source_states(conn: psycopg.Connection) -> dict[str, str]:
    """Each raw table's state now, by '<feed>.<entity>' (its dbt source): its newest load, its feed's manifest
    rows for the entity (how many, the newest, when one last changed outcome). The manifest rows also stand for
    what dbt's graph does not show: incremental_by_load reads an entity's current loads from the landing manifest
    through run_query, so an accepted empty restatement (a manifest row, no raw rows) changes its table too."""
    states = {}
    for key, raw_table in raw_tables().items():
        feed, entity = key.split(".", 1)
        # its newest load, and Postgres's counts of rows written to it: a row changed straight in raw, outside any
        # load, is a change too (counted after the writing transaction ends; a rolled-back load counts, and only
        # costs a rebuild)
        newest = conn.execute(
            sql.SQL(
                "select max(_load_id), (select n_tup_ins || '/' || n_tup_upd || '/' || n_tup_del "
                "from pg_stat_user_tables where relid = {regclass}::regclass) from {table}"
            ).format(regclass=sql.Literal(f"raw.{raw_table}"), table=sql.Identifier("raw", raw_table))
        ).fetchone()
        files = conn.execute(
            "select count(*), max(file_id), max(outcome_at)::text from landing.file_manifest "
            "where feed = %s and entity = %s",
            (feed, entity),
        ).fetchone()
        states[key] = json.dumps([*(newest or ()), *(files or ())])
    return states


@dataclasses.dataclass
class Plan:
    fingerprint: str
    sources: dict[str, str]
    carried: list[dict] = dataclasses.field(default_factory=list)  # model and seed nodes copied
    skipped_tests: list[str] = dataclasses.field(default_factory=list)
    built: list[str] = dataclasses.field(default_factory=list)  # every other node, for dbt to build or run
    changed_raw: list[str] = dataclasses.field(default_factory=list)  # raw tables written since the published build
    reason: str = ""

    def select_args(self) -> list[str]:
        """The nodes dbt builds, named one by one: not an --exclude of the carried ones, which (with dbt's eager
        indirect selection) also leaves out every test with a carried parent, such as a new load's relationships
        test against a carried seed; and no test beyond those named."""
        return ["--select", *self.built, "--indirect-selection", "empty"] if self.built else []

    def record(self) -> dict:
        return {"fingerprint": self.fingerprint, "sources": self.sources}


def manifest_path() -> Path:
    return settings.home() / "dbt" / "target" / "manifest.json"


def read_manifest(expected: str) -> dict | None:
    """The manifest dbt last wrote here, if it was written from the code `expected` fingerprints."""
    path = manifest_path()
    stamp = path.with_name(_FINGERPRINT_FILE)
    if not path.exists() or not stamp.exists() or stamp.read_text().strip() != expected:
        return None
    return json.loads(path.read_text())


def stamp_manifest(code: str | None, written_after: float = 0.0) -> None:
    """Say which code the manifest dbt just wrote was parsed from, if dbt wrote one after `written_after` (a run that
    could not parse leaves the last one); None forgets, before dbt writes another."""
    path = manifest_path()
    stamp = path.with_name(_FINGERPRINT_FILE)
    stamp.unlink(missing_ok=True)
    if code is not None and path.exists() and path.stat().st_mtime >= written_after:
        stamp.write_text(code)


def plan(code: str, previous_build: str | None) -> Plan:
    """What this build carries from the published build `previous_build`, and why (in `reason`)."""
    manifest = read_manifest(code)
    with db.connect() as conn:
        out = Plan(code, source_states(conn))
        row = (
            conn.execute("select inputs from audit.builds where build_schema = %s", (previous_build,)).fetchone()
            if previous_build
            else None
        )
    previous = row[0] if row else None
    before = (previous or {}).get("sources", {})
    tables = raw_tables()
    out.changed_raw = sorted(tables[key] for key, state in out.sources.items() if state != before.get(key))
    if os.environ.get("CSPWH_INCREMENTAL", "1").lower() in ("0", "false", "no", "off"):
        out.reason = "CSPWH_INCREMENTAL is off"
    elif not previous_build or not previous:
        out.reason = "no published build with a record of its inputs"
    elif previous.get("fingerprint") != code:
        out.reason = f"the code, reference data or vars changed since {previous_build}"
    elif manifest is None:
        out.reason = "no manifest of this code yet"
    else:
        # a source that is not a raw table (the landing manifest, the audit tables) counts as changed
        changed = {
            uid
            for uid, s in manifest["sources"].items()
            if (key := f"{s['source_name']}.{s['name']}") not in out.sources or out.sources[key] != before.get(key)
        }
        unchanged = _unchanged(manifest, changed)
        for uid, node in manifest["nodes"].items():
            if uid not in unchanged:
                continue
            if node["resource_type"] == "seed" or (
                node["resource_type"] == "model" and node["config"].get("materialized") == "table"
            ):
                out.carried.append(node)
            elif node["resource_type"] == "test":
                out.skipped_tests.append(node["name"])
        carried = {n["unique_id"] for n in out.carried}
        skipped = set(out.skipped_tests)
        out.built = [
            node["name"]
            for uid, node in manifest["nodes"].items()
            if uid not in carried
            and node["name"] not in skipped
            and node["resource_type"] in ("model", "seed", "snapshot", "test")
        ]
        out.reason = (
            f"from {previous_build}: {len(changed)} of {len(manifest['sources'])} sources changed or are not raw tables"
        )
    return out


def _unchanged(manifest: dict, changed_sources: set[str]) -> set[str]:
    """Nodes with no changed source upstream (a node whose parent is unknown counts as changed)."""
    nodes = manifest["nodes"]
    memo: dict[str, bool] = {}

    def changed(uid: str) -> bool:
        if uid in memo:
            return memo[uid]
        if uid in manifest["sources"]:
            result = uid in changed_sources
        elif uid in nodes:
            memo[uid] = True  # a cycle cannot happen in dbt's graph; if it did, it counts as changed
            result = any(changed(p) for p in nodes[uid]["depends_on"].get("nodes", []))
        else:
            result = True
        memo[uid] = result
        return result

    return {uid for uid in nodes if not changed(uid)}


def _custom_schema(node: dict) -> str | None:
    custom = node["config"].get("schema")
    return custom.strip() if custom else None


def _schema(node: dict, base: str) -> str:
    # as macros/generate_schema_name.sql names a build's layers
    custom = _custom_schema(node)
    return f"{base}_{custom}" if custom else base


def copy(carried: Iterable[dict], previous_build: str, work_schema: str) -> int:
    """Copy the carried tables (and their load records) from the published build `previous_build` (the last one
    published) into the working schemas, in one transaction: all of them or none. Returns how many tables were
    copied; raises if one is missing (the caller then builds everything)."""
    copied = 0
    with db.transaction() as conn:
        for node in carried:
            name = node.get("alias") or node["name"]
            # the published build's marts are `marts` itself (publish renamed its <build>_marts)
            source = "marts" if _custom_schema(node) == "marts" else _schema(node, previous_build)
            target = _schema(node, work_schema)
            conn.execute(sql.SQL("create schema if not exists {}").format(sql.Identifier(target)))
            for table in (name, f"{name}__loads"):
                # the table's own comment too: `including all` brings its columns' comments only
                found = conn.execute(
                    "select to_regclass(%(t)s) is not null, obj_description(to_regclass(%(t)s), 'pg_class')",
                    {"t": f'"{source}"."{table}"'},
                ).fetchone()
                if not found or not found[0]:
                    if table == name:
                        raise LookupError(f"{source}.{table} is not in the published build")
                    continue
                t, s = sql.Identifier(target, table), sql.Identifier(source, table)
                conn.execute(sql.SQL("create table {} (like {} including all)").format(t, s))
                conn.execute(sql.SQL("insert into {} select * from {}").format(t, s))
                if found[1]:
                    conn.execute(sql.SQL("comment on table {} is {}").format(t, sql.Literal(found[1])))
                copied += 1
    return copied

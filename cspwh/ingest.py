"""One feed's path from drop folder to raw: land -> file gate -> raw, a file at a time, each file all or nothing.

The gate's row checks are evaluated in the same pass that copies the rows into raw (loader.py), in one transaction
that commits only when no blocking check failed: a rejected file leaves raw exactly as it was.
"""
from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import duckdb
import psycopg
from psycopg.types.json import Jsonb

from cspwh import bootstrap, contracts, db, file_gate, landing, loader, settings

log = logging.getLogger(__name__)


@dataclasses.dataclass
class FileOutcome:
    feed: str
    file_name: str
    file_id: int
    outcome: str  # loaded | quarantined | already_received
    rows: int | None = None
    reason: str | None = None
    quarantined_path: str | None = None
    warnings: list[str] = dataclasses.field(default_factory=list)


def pending_files(feed: str, drop: Path | None = None) -> list[Path]:
    folder = (drop or settings.drop_dir()) / feed
    if not folder.exists():
        return []
    return sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))


def ingest_file(feed: str, path: Path, run_id: str) -> FileOutcome:
    contract = contracts.load(feed)
    with db.connect() as conn:
        with conn.transaction():
            landed = landing.land(conn, contract, path)
        path.unlink()  # landing keeps the file as received; the drop folder holds only what is still to come
        if landed.outcome != "landed":  # decided before (loaded or quarantined); a crashed run left it 'landed'
            return FileOutcome(feed, landed.file_name, landed.file_id, "already_received")
        found = contract.entity_for(landed.file_name)
        hint = " or ".join(e.file_pattern for e in contract.entities)
        return _gate_and_load(conn, run_id, contract, found[0] if found else None, landed, hint)


class _Rejected(Exception):
    def __init__(self, result: file_gate.GateResult):
        self.result = result


class _Reread(Exception):
    pass


def _gate_and_load(conn, run_id, contract, entity, landed, hint) -> FileOutcome:
    for use_reader in (False, True):  # DuckDB first; the file reader when DuckDB cannot read it as plain CSV
        staged, early = file_gate.open_file(conn, entity, landed, hint, use_reader)
        if staged is None:
            return _reject(conn, run_id, contract, landed, early)
        bounds = file_gate.volume_bounds(conn, entity, landed)
        try:
            with conn.transaction():
                tally = file_gate.Tally(staged, entity, landed)
                rows = loader.load(conn, entity, landed, staged, tally)
                result = file_gate.judge(staged, entity, landed, bounds, early.findings, tally)
                if result.reread:
                    raise _Reread()
                if not result.passed:
                    raise _Rejected(result)
                _record_checks(conn, run_id, contract, landed, result)
        except _Reread:
            continue
        except _Rejected as rejected:
            return _reject(conn, run_id, contract, landed, rejected.result)
        except duckdb.Error:
            if use_reader:
                raise
            continue  # not plain CSV after all (a ragged row, a stray quote): the file reader says where
        except psycopg.Error as exc:  # Postgres refused a row part way: the checks, run alone, say why
            result = file_gate.run_checks(staged, entity, landed, bounds, early.findings)
            if result.reread and not use_reader:
                continue
            if result.passed:  # the checks missed what Postgres refused: say what it said
                result.findings.append(file_gate.Finding(
                    "load", f"the rows could not be stored: {str(exc).splitlines()[0]}",
                    "correct the value named and resend; if it looks right, tell the platform team"))
            return _reject(conn, run_id, contract, landed, result)
        finally:
            staged.close()
        log.info("loaded %s/%s: %d rows", contract.feed, landed.file_name, rows)
        return FileOutcome(contract.feed, landed.file_name, landed.file_id, "loaded", rows=rows,
                           warnings=[f.as_text() for f in result.warnings])
    raise AssertionError("unreachable: the file reader either reads the file or says why not")


def _reject(conn, run_id, contract, landed, result: file_gate.GateResult) -> FileOutcome:
    with conn.transaction():
        _record_checks(conn, run_id, contract, landed, result)
        reason = result.reason(landed)
        target = landing.quarantine(conn, landed, reason, [dataclasses.asdict(f) for f in result.findings])
    log.warning("quarantined %s/%s: %s", contract.feed, landed.file_name, reason)
    return FileOutcome(contract.feed, landed.file_name, landed.file_id, "quarantined", reason=reason,
                       quarantined_path=str(target))


def _record_checks(conn, run_id, contract, landed, result) -> None:
    """Every check's outcome in audit.check_results, and the warnings on the file's manifest row."""
    by_check = {f.check: f for f in result.findings}
    outcomes = dict(result.checks_run)
    outcomes.update({name: False for name in by_check})
    with conn.cursor() as cur:
        for name, ok in outcomes.items():
            finding = by_check.get(name)
            cur.execute(
                """insert into audit.check_results
                       (run_id, gate, feed, file_id, check_name, severity, success, alert_role, message, details)
                   values (%s, 'file', %s, %s, %s, %s, %s, %s, %s, %s)""",
                (run_id, contract.feed, landed.file_id, name, finding.severity if finding else "blocking", ok,
                 contract.owner_role,
                 finding.as_text() if finding else None, Jsonb(dataclasses.asdict(finding)) if finding else None),
            )
    if result.warnings:
        conn.execute("update landing.file_manifest set warnings = %s where file_id = %s",
                     (Jsonb([dataclasses.asdict(f) for f in result.warnings]), landed.file_id))


def ingest_feed(feed: str, run_id: str, drop: Path | None = None) -> list[FileOutcome]:
    """Every file waiting in the feed's drop folder; a bad file is quarantined and the others go on."""
    bootstrap.ensure()
    return [ingest_file(feed, path, run_id) for path in pending_files(feed, drop)]

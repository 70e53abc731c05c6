"""One feed's path from drop folder to raw: land -> file gate -> raw, a file at a time, each file all or nothing."""
from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

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
        entity = found[0] if found else None
        result = file_gate.check(conn, entity, landed, " or ".join(e.file_pattern for e in contract.entities))
        with conn.transaction():
            _record_checks(conn, run_id, contract, landed, result)
            if result.warnings:
                conn.execute("update landing.file_manifest set warnings = %s where file_id = %s",
                             (Jsonb([dataclasses.asdict(f) for f in result.warnings]), landed.file_id))
            if not result.passed:
                reason = result.reason(landed)
                target = landing.quarantine(conn, landed, reason, [dataclasses.asdict(f) for f in result.findings])
                log.warning("quarantined %s/%s: %s", feed, landed.file_name, reason)
                return FileOutcome(feed, landed.file_name, landed.file_id, "quarantined", reason=reason,
                                   quarantined_path=str(target))
            rows = loader.load(conn, entity, landed, result.parsed)
        log.info("loaded %s/%s: %d rows", feed, landed.file_name, rows)
        return FileOutcome(feed, landed.file_name, landed.file_id, "loaded", rows=rows,
                           warnings=[f.as_text() for f in result.warnings])


def _record_checks(conn, run_id, contract, landed, result) -> None:
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


def ingest_feed(feed: str, run_id: str, drop: Path | None = None) -> list[FileOutcome]:
    """Every file waiting in the feed's drop folder; a bad file is quarantined and the others go on."""
    bootstrap.ensure()
    return [ingest_file(feed, path, run_id) for path in pending_files(feed, drop)]

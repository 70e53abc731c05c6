"""Landing: every file kept exactly as received, content-hashed, recorded once in the manifest."""
from __future__ import annotations

import dataclasses
import hashlib
import os
import shutil
from pathlib import Path

import psycopg
from psycopg.types.json import Jsonb

from cspwh import settings
from cspwh.contracts import Contract


@dataclasses.dataclass(frozen=True)
class LandedFile:
    file_id: int
    feed: str
    entity: str | None
    file_name: str
    stream: str | None
    period: str | None
    content_hash: str
    path: Path
    outcome: str


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def land(conn: psycopg.Connection, contract: Contract, source: Path) -> LandedFile:
    """Store `source` in the landing area and the manifest; a file already seen (same bytes) is not landed again."""
    content_hash = sha256_of(source)
    seen = conn.execute(
        """update landing.file_manifest
              set times_received = times_received + 1, last_received_at = now()
            where feed = %s and content_hash = %s
        returning file_id, entity, file_name, stream, period, landed_path, outcome""",
        (contract.feed, content_hash),
    ).fetchone()
    if seen:
        file_id, entity, name, stream, period, landed_path, outcome = seen
        return LandedFile(file_id, contract.feed, entity, name, stream, period, content_hash, Path(landed_path),
                          outcome)

    found = contract.entity_for(source.name)
    entity, groups = (found[0].name, found[1].groupdict()) if found else (None, {})
    stream, period = groups.get("stream"), groups.get("period")
    target = settings.landing_dir() / contract.feed / content_hash[:2] / content_hash / source.name
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + ".part")
    tmp.unlink(missing_ok=True)
    try:  # a second name for the same bytes: a 250 MB extract is not copied (the caller removes the drop's name)
        os.link(source, tmp)
    except OSError:  # another file system, or links not allowed
        shutil.copyfile(source, tmp)
    tmp.replace(target)
    file_id = conn.execute(
        """insert into landing.file_manifest
               (feed, entity, file_name, stream, period, content_hash, size_bytes, landed_path, outcome)
           values (%s, %s, %s, %s, %s, %s, %s, %s, 'landed')
           returning file_id""",
        (contract.feed, entity, source.name, stream, period, content_hash, target.stat().st_size, str(target)),
    ).fetchone()[0]
    return LandedFile(file_id, contract.feed, entity, source.name, stream, period, content_hash, target, "landed")


def quarantine(conn: psycopg.Connection, landed: LandedFile, reason: str, findings: list[dict]) -> Path:
    """Keep the rejected file byte for byte beside a note saying why, and mark it quarantined in the manifest."""
    folder = settings.quarantine_dir() / landed.feed / landed.content_hash[:12]
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / landed.file_name
    shutil.copyfile(landed.path, target)
    (folder / (landed.file_name + ".reason.txt")).write_text(reason + "\n")
    conn.execute(
        """update landing.file_manifest
              set outcome = 'quarantined', reason = %s, findings = %s, quarantined_path = %s, outcome_at = now()
            where file_id = %s""",
        (reason, Jsonb(findings), str(target), landed.file_id),
    )
    return target

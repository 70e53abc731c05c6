"""One feed's path from drop folder to raw: land -> file gate -> raw, a file at a time, each file all or nothing.

The gate's row checks are evaluated in the same pass that copies the rows into raw (loader.py), in one transaction
that commits only when no blocking check failed: a rejected file leaves raw exactly as it was.

Nothing is lost between the stages: a file leaves the drop folder only once its outcome (loaded, quarantined,
held) is committed. A run that fails after landing a file (Postgres gone, a full quarantine disk) leaves it in the
drop folder and `landed` in the manifest; the next run decides it (a landed file whose drop copy is gone is taken
from landing), and after CSPWH_ATTEMPTS_BEFORE_ALERT failed tries the feed's owner is alerted. One file's failure
never stops the others; the run then fails, naming the files, so the night is not green.

Nothing of a file's content reaches a log or an error: a failure is described by its kind (safe_error), never by
the message of a reader or parser, which may quote the line it choked on.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import re
import time
import traceback
from pathlib import Path

import duckdb
import psycopg
from psycopg.types.json import Jsonb

from cspwh import db, settings
from cspwh.catalogue import contracts
from cspwh.db import audit, bootstrap
from cspwh.ingest import file_gate, landing, loader

log = logging.getLogger(__name__)

UPLOAD_GRACE_SECONDS = 3600  # a `.part` file younger than this is an upload in progress, left alone


@dataclasses.dataclass
class FileOutcome:
    feed: str
    file_name: str
    file_id: int | None
    outcome: str  # loaded | quarantined | held | already_received | failed
    rows: int | None = None
    reason: str | None = None
    quarantined_path: str | None = None
    warnings: list[str] = dataclasses.field(default_factory=list)


class IngestIncomplete(RuntimeError):
    """Some files could not be decided this run; the others were. Raised after every file was tried."""

    def __init__(self, feed: str, failed: list[FileOutcome]):
        self.failed = failed
        names = "; ".join(f"{o.file_name}: {o.reason}" for o in failed)
        super().__init__(
            f"feed {feed}: {len(failed)} file(s) could not be decided and stay in the drop folder for "
            f"the next run: {names}"
        )


class Gone(Exception):
    """The entry left the drop folder between the listing and landing: nothing of it was landed."""


class FileFailed(RuntimeError):
    """One file could not be decided; its message is safe_error's (no content of the file)."""

    def __init__(self, outcome: FileOutcome):
        super().__init__(f"feed {outcome.feed}, file {outcome.file_name}: {outcome.reason}")
        self.outcome = outcome


def attempts_before_alert() -> int:
    return int(os.environ.get("CSPWH_ATTEMPTS_BEFORE_ALERT", "3"))


def pending_files(feed: str, drop: Path | None = None) -> list[Path]:
    """The entries waiting in the feed's drop folder: files, and links or special files (which ingest_file refuses
    by name, never reading them), also in its sub-folders. Hidden entries and uploads still in progress are left
    alone."""
    folder = (drop or settings.drop_dir()) / feed
    if not folder.is_dir():
        return []
    grace = float(os.environ.get("CSPWH_UPLOAD_GRACE_SECONDS", UPLOAD_GRACE_SECONDS))
    waiting = []
    folders = [folder]
    while folders:
        # and in its folders (not links to folders): a download unpacked as it comes (data.police.uk's has a folder
        # a month) was once left there unread, and nothing said so
        with os.scandir(folders.pop()) as entries:
            for entry in entries:
                if entry.name.startswith("."):
                    continue
                if entry.is_dir(follow_symlinks=False):
                    folders.append(Path(entry.path))
                    continue
                try:
                    age = time.time() - entry.stat(follow_symlinks=False).st_mtime
                except FileNotFoundError:
                    continue
                if entry.name.endswith(file_gate.PARTIAL_SUFFIXES) and age < grace:
                    continue
                waiting.append(Path(entry.path))
    return sorted(waiting)


def safe_error(exc: BaseException) -> str:
    """What went wrong, without anything the file may have put in the message."""
    if isinstance(exc, OSError):
        code = f"[Errno {exc.errno}] " if exc.errno else ""
        return f"{type(exc).__name__}: {code}{exc.strerror or 'operating system error'}"
    if isinstance(exc, psycopg.OperationalError):
        return f"{type(exc).__name__}: {redact(str(exc).splitlines()[0] if str(exc) else '')}"
    if isinstance(exc, landing.StillChanging):
        return "the file changed while it was landed (still being written?)"
    return f"{type(exc).__name__} (details withheld: they may quote the file; see the frames in the task log)"


ENCODING_NAMES = {"UTF8", "SQL_ASCII", "LATIN1", "WIN1252"}  # quoted by Postgres' encoding errors: not file content


def redact(message: str) -> str:
    """A database message with its quoted values withheld (Postgres quotes the value it refused)."""
    return re.sub(r'"[^"]*"', lambda m: m[0] if m[0][1:-1] in ENCODING_NAMES else '"…"', message)


def ingest_file(feed: str, path: Path, run_id: str) -> FileOutcome:
    """Land one drop folder entry and decide it: loaded, quarantined or held (or already received). The entry
    leaves the drop folder only when that outcome is committed; on a failure it stays for the next run."""
    contract = contracts.load(feed)
    landed = None
    try:
        with db.connect() as conn:
            try:
                with conn.transaction():
                    landed = landing.land(conn, contract, path)
            except landing.NotLandable as refused:
                return _refuse(conn, run_id, contract, path, refused)
            except FileNotFoundError:
                if not os.path.lexists(path):
                    raise Gone(path.name) from None
                raise
            if landed.outcome != "landed":  # decided before: this copy is a resend of the same bytes
                outcome = FileOutcome(feed, landed.file_name, landed.file_id, "already_received")
            else:
                outcome = _decide(conn, run_id, contract, landed)
    except (Gone, landing.StillChanging):
        raise
    except Exception as exc:
        raise _failed(run_id, contract, landed, exc, path) from None
    _remove_from_drop(path, landed)
    return outcome


def ingest_landed(feed: str, file_id: int, run_id: str) -> FileOutcome:
    """Decide a file already in landing (undecided after a failed run, or held and since accepted)."""
    contract = contracts.load(feed)
    landed = None
    try:
        with db.connect() as conn:
            with conn.transaction():
                row = conn.execute(
                    """update landing.file_manifest set attempts = attempts + 1 where file_id = %s and feed = %s
                       returning entity, file_name, stream, period, content_hash, landed_path, outcome, attempts,
                                 accepted_at is not null, received_at""",
                    (file_id, feed),
                ).fetchone()
            if row is None:
                raise KeyError(f"no file {file_id} of feed {feed} in landing.file_manifest")
            entity, name, stream, period, content_hash, path, outcome, attempts, accepted, received = row
            landed = landing.LandedFile(
                file_id,
                feed,
                entity,
                name,
                stream,
                period,
                content_hash,
                Path(path),
                outcome,
                attempts,
                accepted,
                received,
            )
            return _decide(conn, run_id, contract, landed)
    except KeyError:
        raise
    except Exception as exc:
        raise _failed(run_id, contract, landed, exc, None) from None


def undecided(feed: str) -> list[tuple[int, str]]:
    """(file_id, file_name) of the feed's files landed but never decided."""
    with db.connect() as conn:
        return conn.execute(
            """select file_id, file_name from landing.file_manifest
                                where feed = %s and outcome = 'landed' order by file_id""",
            (feed,),
        ).fetchall()


def _remove_from_drop(path: Path, landed: landing.LandedFile | None) -> None:
    """Remove the drop folder's name of a decided file, unless the partner has since put another file there."""
    try:
        now = os.lstat(path)
    except FileNotFoundError:
        return
    if landed is not None and landed.identity == (now.st_dev, now.st_ino):
        path.unlink(missing_ok=True)


def _decide(
    conn: psycopg.Connection, run_id: str, contract: contracts.Contract, landed: landing.LandedFile
) -> FileOutcome:
    found = contract.entity_for(landed.file_name)
    hint = " or ".join(e.file_pattern for e in contract.entities)
    if not found and (what := contract.other_file(landed.file_name)):
        hint += f"; {what}, which this warehouse does not load"
    elif not found and landed.file_name.lower().endswith(".zip"):
        hint += "; a zip archive: unzip it into the feed's drop folder, whose sub-folders are read too"
    return _gate_and_load(conn, run_id, contract, found[0] if found else None, landed, hint)


def _failed(
    run_id: str, contract: contracts.Contract, landed: landing.LandedFile | None, exc: Exception, path: Path | None
) -> FileFailed:
    """Say what failed without the file's content, keep it on the manifest row, and after repeated failures alert
    the feed's owner through the file gate's findings. Best effort: the database may be what failed."""
    error = safe_error(exc)
    name = landed.file_name if landed else landing.display_name(path.name) if path else "?"
    frames = "".join(traceback.format_tb(exc.__traceback__))
    log.error(
        "feed %s, file %s: not decided this run (%s); it stays for the next run\n%s", contract.feed, name, error, frames
    )
    failure = FileFailed(FileOutcome(contract.feed, name, landed.file_id if landed else None, "failed", reason=error))
    if landed is None:
        return failure
    try:
        with db.transaction() as conn:
            conn.execute("update landing.file_manifest set last_error = %s where file_id = %s", (error, landed.file_id))
            if landed.attempts >= attempts_before_alert():
                finding = file_gate.Finding(
                    "undecided",
                    f"the file was tried {landed.attempts} times and could not be loaded or quarantined "
                    f"(last: {error}); it is kept in landing and stays in the drop folder, and each run tries it again",
                    "the platform team fixes the cause (disk space, database, permissions); nothing of the file was "
                    "loaded, so nothing needs undoing",
                )
                audit.record_file_check(
                    conn,
                    run_id,
                    contract.feed,
                    landed.file_id,
                    "undecided",
                    False,
                    role=contract.owner_role,
                    message=finding.as_text(),
                    details=dataclasses.asdict(finding),
                )
    except Exception as also:  # the database is down too: the task's own failure tells the operator
        log.error(
            "feed %s, file %s: the failure could not be recorded either (%s)", contract.feed, name, safe_error(also)
        )
    return failure


class _Rejected(Exception):
    def __init__(self, result: file_gate.GateResult):
        self.result = result


class _Reread(Exception):
    pass


def _gate_and_load(
    conn: psycopg.Connection,
    run_id: str,
    contract: contracts.Contract,
    entity: contracts.Entity | None,
    landed: landing.LandedFile,
    hint: str,
) -> FileOutcome:
    for use_reader in (False, True):  # DuckDB first; the file reader when DuckDB cannot read it as plain CSV
        staged, early = file_gate.open_file(conn, entity, landed, hint, use_reader)
        if staged is None:
            return _reject(conn, run_id, contract, landed, early)
        assert entity is not None  # open_file stages no file that matches no entity
        bounds = file_gate.volume_bounds(conn, entity, landed) if not landed.accepted else None
        try:
            with conn.transaction():
                tally = file_gate.Tally(staged, entity, landed)
                rows = loader.load(conn, entity, landed, staged, tally)
                result = file_gate.judge(staged, entity, landed, bounds, early.findings, tally)
                if result.reread:
                    raise _Reread()
                result.findings += file_gate.shrink_findings(entity, landed, early.restates, tally.rows)
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
        except psycopg.Error as exc:
            if isinstance(exc, psycopg.OperationalError) or conn.closed or conn.broken:
                raise  # the database went away, not the file's fault: it stays undecided for the next run
            # Postgres refused a row part way: the checks, run alone, say why
            result = file_gate.run_checks(staged, entity, landed, bounds, early.findings)
            if result.reread and not use_reader:
                continue
            if result.passed:  # the checks missed what Postgres refused: say what it said, its quoted value withheld
                result.findings.append(
                    file_gate.Finding(
                        "load",
                        f"the rows could not be stored: {redact(str(exc).splitlines()[0])}",
                        "correct the value named and resend; if it looks right, tell the platform team",
                    )
                )
            return _reject(conn, run_id, contract, landed, result)
        finally:
            staged.close()
        log.info("loaded %s/%s: %d rows", contract.feed, landed.file_name, rows)
        return FileOutcome(
            contract.feed,
            landed.file_name,
            landed.file_id,
            "loaded",
            rows=rows,
            warnings=[f.as_text() for f in result.warnings],
        )
    raise AssertionError("unreachable: the file reader either reads the file or says why not")


def _reject(
    conn: psycopg.Connection,
    run_id: str,
    contract: contracts.Contract,
    landed: landing.LandedFile,
    result: file_gate.GateResult,
) -> FileOutcome:
    held = {f.check for f in result.blocking} <= set(file_gate.ACCEPTABLE) and "restatement_shrink" in {
        f.check for f in result.blocking
    }
    with conn.transaction():
        _record_checks(conn, run_id, contract, landed, result)
        reason = result.reason(landed)
        findings = [dataclasses.asdict(f) for f in result.findings]
        if held:
            reason = reason.replace(
                "nothing from this file was loaded.",
                "the file is held until a person accepts it; nothing from it was loaded.",
            )
            landing.hold(conn, landed, reason, findings)
            target = None
        else:
            target = landing.quarantine(conn, landed, reason, findings)
    log.warning("%s %s/%s: %s", "held" if held else "quarantined", contract.feed, landed.file_name, reason)
    return FileOutcome(
        contract.feed,
        landed.file_name,
        landed.file_id,
        "held" if held else "quarantined",
        reason=reason,
        quarantined_path=str(target) if target else None,
    )


def _refuse(
    conn: psycopg.Connection, run_id: str, contract: contracts.Contract, path: Path, refused: landing.NotLandable
) -> FileOutcome:
    """A drop folder entry that is not read (a link, a special file, an unreadable file): recorded with its reason
    and taken out of the drop folder, by itself; the feed's other files go on."""
    name = landing.display_name(path.name)
    finding = file_gate.Finding("regular_file", refused.message, refused.what_to_do)
    reason = (
        f"Feed {contract.feed}, entry {name} ({refused.kind}): not landed; nothing was read from it.\n"
        f"{finding.as_text()}"
    )
    with conn.transaction():
        file_id, kept = landing.refuse(conn, contract.feed, path, refused, reason, [dataclasses.asdict(finding)])
        audit.record_file_check(
            conn,
            run_id,
            contract.feed,
            file_id,
            "regular_file",
            False,
            role=contract.owner_role,
            message=finding.as_text(),
            details=dataclasses.asdict(finding),
        )
    log.warning("refused %s/%s: %s", contract.feed, name, refused.kind)
    return FileOutcome(contract.feed, name, file_id, "quarantined", reason=reason, quarantined_path=kept)


def _record_checks(
    conn: psycopg.Connection,
    run_id: str,
    contract: contracts.Contract,
    landed: landing.LandedFile,
    result: file_gate.GateResult,
) -> None:
    """Every check's outcome in audit.check_results, and the warnings on the file's manifest row."""
    by_check = {f.check: f for f in result.findings}
    outcomes = dict(result.checks_run)
    outcomes.update({name: False for name in by_check})
    for name, ok in outcomes.items():
        finding = by_check.get(name)
        audit.record_file_check(
            conn,
            run_id,
            contract.feed,
            landed.file_id,
            name,
            ok,
            severity=finding.severity if finding else "blocking",
            role=contract.owner_role,
            message=finding.as_text() if finding else None,
            details=dataclasses.asdict(finding) if finding else None,
        )
    if result.warnings:
        conn.execute(
            "update landing.file_manifest set warnings = %s where file_id = %s",
            (Jsonb([dataclasses.asdict(f) for f in result.warnings]), landed.file_id),
        )


def ingest_feed(feed: str, run_id: str, drop: Path | None = None) -> list[FileOutcome]:
    """Every file waiting in the feed's drop folder, then any landed earlier and still undecided. A bad file is
    quarantined and the others go on; a file that could not be decided stays for the next run, and the run then
    fails naming it (IngestIncomplete) after every other file was done."""
    bootstrap.ensure()
    outcomes: list[FileOutcome] = []
    failed: list[FileOutcome] = []
    tried: set[int | None] = set()
    for item in pending_files(feed, drop):
        try:
            outcome = ingest_file(feed, item, run_id)
        except landing.StillChanging:
            log.info(
                "feed %s, file %s: still being written; left for the next run", feed, landing.display_name(item.name)
            )
            continue
        except Gone:  # removed from the drop folder between the listing and landing: nothing landed
            continue
        except FileFailed as exc:
            outcome = exc.outcome
        tried.add(outcome.file_id)
        (failed if outcome.outcome == "failed" else outcomes).append(outcome)
    try:
        waiting = undecided(feed)
    except psycopg.Error:  # the database went away during the run: say which files were not decided
        if failed:
            raise IngestIncomplete(feed, failed) from None
        raise
    for file_id, _name in waiting:
        if file_id in tried:
            continue
        try:
            outcomes.append(ingest_landed(feed, file_id, run_id))
        except FileFailed as exc:
            failed.append(exc.outcome)
    if failed:
        raise IngestIncomplete(feed, failed)
    return outcomes

"""Landing: every file kept exactly as received, content-hashed, recorded once in the manifest.

Only regular files are read, and never through a link: the drop folder entry is opened with O_NOFOLLOW and
checked to be a regular file before a byte of it is read, so a link to a key or to /proc cannot be copied in.
Landed and quarantined files are private (0600 in 0700 folders) from the moment they exist. The name a file is
stored under is its received name when that is printable UTF-8 and short enough for the file system, otherwise a
safe shortened form; the manifest keeps the received name as printable text (display_name).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import errno
import hashlib
import os
import stat
from pathlib import Path

import psycopg
from psycopg.types.json import Jsonb

from cspwh import db, settings
from cspwh.catalogue.contracts import Contract
from cspwh.ingest import private_files

STORED_NAME_BYTES = 200  # a name, plus ".reason.txt" beside it in quarantine, stays under the 255-byte file-name limit


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
    attempts: int = 1
    accepted: bool = False  # a person released it with `cspwh accept` (restatement shrink, volume)
    received_at: dt.datetime | None = None
    identity: tuple[int, int] | None = None  # (st_dev, st_ino) of the drop folder entry it was landed from


class NotLandable(Exception):
    """A drop folder entry that is not read: a link, a FIFO, a device, or a file this service may not read."""

    def __init__(self, kind: str, message: str, what_to_do: str, identity: os.stat_result):
        super().__init__(message)
        self.kind, self.message, self.what_to_do, self.identity = kind, message, what_to_do, identity


class StillChanging(Exception):
    """The file changed while it was being landed (an upload still being written): left for the next run."""


def display_name(name: str) -> str:
    """A received name as printable text: bytes that are not UTF-8 and control characters become \\xNN escapes, so a
    name can be stored, matched and printed without breaking a terminal, a log line or an e-mail."""
    text = os.fsencode(name).decode("utf-8", errors="backslashreplace")
    return "".join(
        ch if ch.isprintable() else (f"\\x{ord(ch):02x}" if ord(ch) < 0x100 else f"\\u{ord(ch):04x}") for ch in text
    )


def stored_name(name: str, content_hash: str) -> str:
    """The name a file is kept under in landing and quarantine."""
    shown = display_name(name)
    if shown == name and not name.startswith(".") and len(name.encode()) <= STORED_NAME_BYTES:
        return name
    cut = shown.lstrip(".").encode()[: STORED_NAME_BYTES - 10].decode("utf-8", errors="ignore")
    return f"{cut}~{content_hash[:8]}"


def _hash_fd(fd: int) -> str:
    digest = hashlib.sha256()
    os.lseek(fd, 0, os.SEEK_SET)
    while chunk := os.read(fd, 1 << 20):
        digest.update(chunk)
    return digest.hexdigest()


def sha256_of(path: Path) -> str:
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        return _hash_fd(fd)
    finally:
        os.close(fd)


def open_regular(source: Path) -> tuple[int, os.stat_result]:
    """Open a drop folder entry for reading only if it is a regular file, without following a link."""
    before = os.lstat(source)
    if stat.S_ISLNK(before.st_mode):
        raise NotLandable(
            "symbolic link",
            "the drop folder entry is a symbolic link; links are never followed, so nothing was read from it",
            "put the file itself, not a link to it, in the drop folder",
            before,
        )
    if not stat.S_ISREG(before.st_mode):
        raise NotLandable(
            "not a regular file",
            "the drop folder entry is not a regular file (a FIFO, socket or device); nothing was read from it",
            "put only the feed's files in the drop folder",
            before,
        )
    try:
        fd = os.open(source, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        if exc.errno == errno.ENOENT:
            raise
        if exc.errno == errno.ELOOP:  # swapped for a link since the lstat
            raise NotLandable(
                "symbolic link",
                "the drop folder entry is a symbolic link; links are never followed, so nothing was read from it",
                "put the file itself in the drop folder",
                before,
            ) from None
        raise NotLandable(
            "unreadable",
            f"the file cannot be read ({exc.strerror})",
            "give the service's user read access to the file (or resend it) in the drop folder",
            before,
        ) from None
    opened = os.fstat(fd)
    if not stat.S_ISREG(opened.st_mode) or (opened.st_dev, opened.st_ino) != (before.st_dev, before.st_ino):
        os.close(fd)
        raise NotLandable(
            "not a regular file",
            "the drop folder entry changed into something other than a regular "
            "file while it was opened; nothing was read from it",
            "put only the feed's files in the drop folder",
            before,
        )
    return fd, opened


def land(conn: psycopg.Connection, contract: Contract, source: Path) -> LandedFile:
    """Store `source` in the landing area and the manifest; a file already seen (same bytes) is not landed again.
    A file seen before and still undecided (a run failed after landing it) comes back to be decided now."""
    fd, opened = open_regular(source)
    try:
        content_hash = _hash_fd(fd)
        if os.fstat(fd).st_mtime_ns != opened.st_mtime_ns or os.fstat(fd).st_size != opened.st_size:
            raise StillChanging(source.name)
        identity = (opened.st_dev, opened.st_ino)
        seen = conn.execute(
            """update landing.file_manifest
                  set times_received = times_received + 1, last_received_at = now(),
                      attempts = attempts + (outcome = 'landed')::int
                where feed = %s and content_hash = %s
            returning file_id, entity, file_name, stream, period, landed_path, outcome, attempts,
                      accepted_at is not null, received_at""",
            (contract.feed, content_hash),
        ).fetchone()
        if seen:
            file_id, entity, name, stream, period, landed_path, outcome, attempts, accepted, received = seen
            path = Path(landed_path)
            if outcome == "landed" and not path.exists():  # the landed copy went missing: keep this one instead
                _store(fd, source, path, opened)
            return LandedFile(
                file_id,
                contract.feed,
                entity,
                name,
                stream,
                period,
                content_hash,
                path,
                outcome,
                attempts,
                accepted,
                received,
                identity,
            )

        name = display_name(source.name)
        found = contract.entity_for(name)
        entity, groups = (found[0].name, found[1].groupdict()) if found else (None, {})
        stream, period = groups.get("stream"), groups.get("period")
        target = (
            settings.landing_dir()
            / contract.feed
            / content_hash[:2]
            / content_hash
            / stored_name(source.name, content_hash)
        )
        _store(fd, source, target, opened)
        inserted = conn.execute(
            """insert into landing.file_manifest
                   (feed, entity, file_name, stream, period, content_hash, size_bytes, landed_path, outcome, attempts)
               values (%s, %s, %s, %s, %s, %s, %s, %s, 'landed', 1)
               returning file_id, received_at""",
            (contract.feed, entity, name, stream, period, content_hash, opened.st_size, str(target)),
        )
        file_id, received = db.one(inserted)
        return LandedFile(
            file_id,
            contract.feed,
            entity,
            name,
            stream,
            period,
            content_hash,
            target,
            "landed",
            1,
            False,
            received,
            identity,
        )
    finally:
        os.close(fd)


def _store(fd: int, source: Path, target: Path, opened: os.stat_result) -> None:
    """The bytes of the open file at `target`, private: a second name for the same inode where the file system and
    ownership allow (a 250 MB extract is not copied), else a synced copy."""
    private_files.private_dir(target.parent)
    tmp = target.with_name(f".{target.parent.name[:16]}.part")
    tmp.unlink(missing_ok=True)
    try:
        try:
            os.link(source, tmp, follow_symlinks=False)
            linked = os.lstat(tmp)
            if (linked.st_dev, linked.st_ino) != (opened.st_dev, opened.st_ino) or not stat.S_ISREG(linked.st_mode):
                raise OSError(errno.EXDEV, "the drop entry changed")  # not the file opened: copy from the fd
            os.chmod(tmp, private_files.FILE_MODE)
        except OSError:  # another file system, links not allowed, not ours to chmod
            tmp.unlink(missing_ok=True)
            private_files.copy_from_fd(fd, tmp)
        tmp.replace(target)
        private_files.sync_dir(target.parent)
    finally:
        tmp.unlink(missing_ok=True)


def quarantine(conn: psycopg.Connection, landed: LandedFile, reason: str, findings: list[dict]) -> Path:
    """Keep the rejected file byte for byte beside a note saying why, and mark it quarantined in the manifest.
    Either both are done or neither (a full quarantine disk raises, and the file stays undecided)."""
    folder = private_files.private_dir(settings.quarantine_dir() / landed.feed / landed.content_hash[:12])
    target = folder / landed.path.name
    tmp = folder / f".{landed.content_hash[:16]}.part"
    tmp.unlink(missing_ok=True)
    try:
        try:
            os.link(landed.path, tmp, follow_symlinks=False)
        except OSError as exc:
            if exc.errno == errno.ENOSPC:
                raise
            fd = os.open(landed.path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
            try:
                private_files.copy_from_fd(fd, tmp)
            finally:
                os.close(fd)
        private_files.write(folder / (landed.path.name + ".reason.txt"), (reason + "\n").encode())
        tmp.replace(target)
    finally:
        tmp.unlink(missing_ok=True)
    conn.execute(
        """update landing.file_manifest
              set outcome = 'quarantined', reason = %s, findings = %s, quarantined_path = %s, outcome_at = now(),
                  last_error = null
            where file_id = %s""",
        (reason, Jsonb(findings), str(target), landed.file_id),
    )
    return target


def hold(conn: psycopg.Connection, landed: LandedFile, reason: str, findings: list[dict]) -> None:
    """Keep a plausible but suspicious file (a restatement that shrinks its period) in landing until a person
    accepts it (`cspwh accept`); nothing of it is loaded meanwhile."""
    conn.execute(
        """update landing.file_manifest
              set outcome = 'held', reason = %s, findings = %s, outcome_at = now(), last_error = null
            where file_id = %s""",
        (reason, Jsonb(findings), landed.file_id),
    )


def refuse(
    conn: psycopg.Connection, feed: str, source: Path, refused: NotLandable, reason: str, findings: list[dict]
) -> tuple[int, str | None]:
    """Record a drop folder entry that is not read (a link, a FIFO, an unreadable file) and take it out of the drop
    folder: a link or special file is removed (it holds no data of its own); an unreadable file is moved to
    quarantine unread, or left in place when quarantine is on another file system. Recorded once per entry."""
    st = refused.identity
    identity = hashlib.sha256(
        f"entry\0{source.name}\0{st.st_dev}\0{st.st_ino}\0{st.st_mtime_ns}".encode("utf-8", "surrogateescape")
    ).hexdigest()
    folder = private_files.private_dir(settings.quarantine_dir() / feed / identity[:12])
    name = stored_name(source.name, identity)
    private_files.write(folder / (name + ".reason.txt"), (reason + "\n").encode())
    kept = None
    if refused.kind == "unreadable":
        try:
            os.rename(source, folder / name)
            kept = str(folder / name)
        except OSError:  # another file system: it stays where it is, recorded (and alerted) once
            pass
    else:
        source.unlink(missing_ok=True)
    upserted = conn.execute(
        """insert into landing.file_manifest
               (feed, file_name, content_hash, size_bytes, landed_path, outcome, reason, findings, quarantined_path,
                outcome_at, attempts)
           values (%s, %s, %s, %s, '', 'quarantined', %s, %s, %s, now(), 1)
           on conflict (feed, content_hash) do update set times_received = landing.file_manifest.times_received + 1,
                 last_received_at = now()
           returning file_id, (xmax = 0)""",
        (feed, display_name(source.name), identity, st.st_size, reason, Jsonb(findings), kept),
    )
    return db.one(upserted)[0], kept

"""Files only this service's user can read, private from the moment they exist (never created 0644 and narrowed
later): landed and quarantined files, their reasons, the pseudonym key."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

FILE_MODE = 0o600
DIR_MODE = 0o700


def private_dir(path: Path) -> Path:
    """Create `path` and any missing parent as 0700 (parents that exist are left as they are)."""
    missing = []
    for folder in (path, *path.parents):
        if folder.exists():
            break
        missing.append(folder)
    for folder in reversed(missing):
        try:
            folder.mkdir(mode=DIR_MODE)
        except FileExistsError:  # another task made it first
            pass
        os.chmod(folder, DIR_MODE)  # mkdir's mode passes through the umask
    return path


def _open_new(path: Path) -> int:
    return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC | os.O_NOFOLLOW, FILE_MODE)


def write(path: Path, data: bytes) -> Path:
    """Write `data` to `path` as a 0600 file, replacing it atomically (a reader never sees half of it)."""
    tmp = path.with_name(f".{path.name[:200]}.{os.getpid()}.tmp")
    tmp.unlink(missing_ok=True)
    fd = _open_new(tmp)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def copy_from_fd(source_fd: int, target: Path) -> None:
    """Copy an open file (from its start) into a new 0600 file `target`, synced to disk."""
    os.lseek(source_fd, 0, os.SEEK_SET)
    fd = _open_new(target)
    try:
        with os.fdopen(fd, "wb") as out, os.fdopen(os.dup(source_fd), "rb") as src:
            shutil.copyfileobj(src, out, 1 << 20)
            out.flush()
            os.fsync(out.fileno())
    except BaseException:
        target.unlink(missing_ok=True)
        raise


def sync_dir(folder: Path) -> None:
    """Make a rename or link in `folder` durable (the file's data is synced by whoever wrote it)."""
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)

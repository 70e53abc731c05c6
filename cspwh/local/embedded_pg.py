"""The embedded default: a project-local PostgreSQL started from the pgserver wheel's binaries.

Used when no WAREHOUSE_URL is configured. The cluster lives in `<home>/pg`, listens on 127.0.0.1 (password auth)
and on a socket in its own folder, and stays up until `cspwh stop`. Postgres refuses to run as root, so as root the
server runs as an unprivileged system user that owns only the cluster folder.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import time
from pathlib import Path

from cspwh import settings

SYSTEM_USER = "cspwh-pg"
DEFAULT_PORT = 55432
OWNER = "cspwh"
DATABASE = "warehouse"


@dataclasses.dataclass(frozen=True)
class Server:
    root: Path
    port: int
    password: str

    @property
    def owner_url(self) -> str:
        return f"postgresql://{OWNER}:{self.password}@127.0.0.1:{self.port}/{DATABASE}"

    def url_for(self, database: str) -> str:
        return f"postgresql://{OWNER}:{self.password}@127.0.0.1:{self.port}/{database}"


def _bin_dir() -> Path:
    # Only the wheel's bundled binaries are used; importing pgserver itself would start its own machinery.
    spec = importlib.util.find_spec("pgserver")
    if spec and spec.submodule_search_locations:
        bundled = Path(list(spec.submodule_search_locations)[0]) / "pginstall" / "bin"
        if (bundled / "pg_ctl").exists():
            return bundled
    for candidate in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (candidate / "pg_ctl").exists():
            return candidate
    found = shutil.which("pg_ctl")
    if found:
        return Path(found).resolve().parent
    raise RuntimeError("No PostgreSQL binaries: install the project's environment (make demo) or set WAREHOUSE_URL")


def _root() -> Path:
    return settings.home() / "pg"


def _port() -> int:
    return int(os.environ.get("CSPWH_PG_PORT", DEFAULT_PORT))


def _as_server_user():
    """preexec_fn that drops root to the unprivileged server user."""
    if os.geteuid() != 0:
        return None
    entry = pwd.getpwnam(SYSTEM_USER)

    def demote():
        os.setgid(entry.pw_gid)
        os.setuid(entry.pw_uid)

    return demote


def _ensure_system_user() -> None:
    if os.geteuid() != 0:
        return
    try:
        pwd.getpwnam(SYSTEM_USER)
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", SYSTEM_USER], check=True
        )


def _run(args: list[str], **kw) -> subprocess.CompletedProcess:
    env = dict(os.environ, LC_ALL="C", LANG="C")
    return subprocess.run(args, preexec_fn=_as_server_user(), env=env, cwd="/", **kw)


def _chown(path: Path) -> None:
    if os.geteuid() == 0:
        entry = pwd.getpwnam(SYSTEM_USER)
        os.chown(path, entry.pw_uid, entry.pw_gid)


def _initdb(root: Path) -> None:
    bins = _bin_dir()
    _ensure_system_user()
    root.mkdir(parents=True, exist_ok=True)
    os.chmod(root, 0o700)
    _chown(root)
    password = secrets.token_hex(16)
    pwfile = root / "owner_password"
    pwfile.write_text(password)
    os.chmod(pwfile, 0o600)
    _chown(pwfile)
    data = root / "data"
    result = _run(
        [
            str(bins / "initdb"),
            "-D",
            str(data),
            "-U",
            OWNER,
            "--pwfile",
            str(pwfile),
            "--auth-local=scram-sha-256",
            "--auth-host=scram-sha-256",
            "-E",
            "UTF8",
            "--locale=C",
        ],
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        raise RuntimeError(f"initdb failed: {result.stderr.strip()}")


def _read(root: Path) -> Server:
    return Server(root=root, port=_port(), password=(root / "owner_password").read_text().strip())


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def is_running() -> bool:
    root = _root()
    if not (root / "data" / "PG_VERSION").exists():
        return False
    return _run([str(_bin_dir() / "pg_ctl"), "status", "-D", str(root / "data")], capture_output=True).returncode == 0


def ensure_running() -> Server:
    """Start the project-local server if it is not up, creating the cluster on first use; idempotent."""
    root = _root()
    if not (root / "data" / "PG_VERSION").exists():
        _initdb(root)
    server = _read(root)
    if is_running():
        return server
    if _port_open(server.port):
        raise RuntimeError(
            f"port {server.port} is taken by another server; set CSPWH_PG_PORT to a free port "
            "or WAREHOUSE_URL to use that server"
        )
    opts = f"-p {server.port} -c listen_addresses=127.0.0.1 -k {root} -c max_connections=200"
    result = _run(
        [
            str(_bin_dir() / "pg_ctl"),
            "start",
            "-w",
            "-t",
            "60",
            "-D",
            str(root / "data"),
            "-l",
            str(root / "server.log"),
            "-o",
            opts,
        ],
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        log = (root / "server.log").read_text()[-2000:] if (root / "server.log").exists() else ""
        raise RuntimeError(f"could not start the embedded Postgres: {result.stderr.strip()}\n{log}")
    _wait_ready(server)
    from cspwh import db

    db.ensure_database(server.owner_url)
    return server


def _wait_ready(server: Server, timeout: float = 30) -> None:
    import psycopg

    deadline = time.monotonic() + timeout
    while True:
        try:
            psycopg.connect(server.url_for("postgres"), connect_timeout=2).close()
            return
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)


def stop() -> bool:
    root = _root()
    if not is_running():
        return False
    _run([str(_bin_dir() / "pg_ctl"), "stop", "-m", "fast", "-D", str(root / "data")], capture_output=True)
    return True


def warehouse_url() -> str:
    """WAREHOUSE_URL if set, else this machine's embedded server's owner URL (the server started if need be)."""
    return os.environ.get("WAREHOUSE_URL") or ensure_running().owner_url


def use_by_default() -> str:
    """Make the embedded server this process's warehouse when WAREHOUSE_URL is unset: the stages read the URL from
    the environment only (settings.warehouse_url), so the command line, the demo and the benchmarks call this
    first, and every step and subprocess after it talks to the same server."""
    url = warehouse_url()
    os.environ["WAREHOUSE_URL"] = url
    return url

"""`cspwh airflow up|down|status`: the real Airflow components on this machine, without Docker.

`up` starts the embedded Postgres (unless WAREHOUSE_URL is set), creates the warehouse schemas and drop folders,
migrates Airflow's metadata, clears asset events that in-process `dag.test()` runs left queued, then starts
`airflow api-server` and waits until its health endpoint answers, and only then the scheduler, DAG processor and
triggerer (and a Celery worker with `executor="celery"`): a task never starts before the Task Execution API can
take it. Each component is its own process group, detached from the caller; pid files and logs are in
<CSPWH_HOME>/airflow/run. Settings come from cspwh/local/airflow_env.py (SHARED is what docker-compose.yml also sets).

Ports: the UI and API on `port` (CSPWH_AIRFLOW_PORT, default 8080), the scheduler's health check on port+1, the
task log server on port+2, the triggerer's log server on port+3.
"""

from __future__ import annotations

import dataclasses
import json
import os
import secrets
import signal
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

from cspwh import settings
from cspwh.local import airflow_env

ADMIN = "admin"
EXECUTORS = {"local": "LocalExecutor", "celery": "CeleryExecutor"}


def airflow_home() -> Path:
    return settings.home() / "airflow"


def run_dir() -> Path:
    return airflow_home() / "run"


def components(executor: str) -> list[str]:
    """Start order (stopped in reverse)."""
    return ["api-server", "scheduler", "dag-processor", "triggerer"] + (
        ["celery-worker"] if executor == "celery" else []
    )


def command(component: str) -> list[str]:
    return (
        [airflow_env.airflow_bin(), *component.split("-")]
        if component == "celery-worker"
        else [airflow_env.airflow_bin(), component]
    )


@dataclasses.dataclass
class Deployment:
    """What `up` started: read back by `status` and `down` from <run>/deployment.json."""

    port: int
    executor: str = "local"
    host: str = "127.0.0.1"
    airflow_db: str = "airflow"
    started_postgres: bool = False

    @property
    def url(self) -> str:
        return f"http://{'127.0.0.1' if self.host == '0.0.0.0' else self.host}:{self.port}"

    def save(self) -> None:
        path = run_dir() / "deployment.json"
        path.write_text(json.dumps(dataclasses.asdict(self)))

    @staticmethod
    def load() -> Deployment | None:
        path = run_dir() / "deployment.json"
        return Deployment(**json.loads(path.read_text())) if path.exists() else None


def _secret(name: str, make) -> str:
    """A value generated once and kept private under the Airflow home (the Fernet key, the JWT secret)."""
    folder = airflow_home() / "secrets"
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = folder / name
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(make())
    return path.read_text().strip()


def _fernet_key() -> str:
    from cryptography.fernet import Fernet

    return Fernet.generate_key().decode()


def passwords_file() -> Path:
    """The simple auth manager's passwords: the admin's from CSPWH_AIRFLOW_ADMIN_PASSWORD, else generated once."""
    path = airflow_home() / "secrets" / "simple_auth_manager_passwords.json"
    wanted = os.environ.get("CSPWH_AIRFLOW_ADMIN_PASSWORD")
    if wanted or not path.exists():
        password = wanted or secrets.token_urlsafe(12)
        _secret("jwt_secret", lambda: secrets.token_urlsafe(32))  # creates the private folder
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump({ADMIN: password}, fh)
    return path


def admin_password() -> str:
    return json.loads(passwords_file().read_text())[ADMIN]


def environment(deployment: Deployment, extra: dict[str, str] | None = None) -> dict[str, str]:
    """Every component's environment: this process's, then the project's Airflow settings over it, then `extra`
    (tests: e.g. DAGs paused at creation)."""
    env = dict(os.environ)
    env.update(airflow_env.environment(deployment.airflow_db, airflow_home()))
    port = deployment.port
    env.update(
        {
            "AIRFLOW__CORE__EXECUTOR": EXECUTORS[deployment.executor],
            "AIRFLOW__LOGGING__LOGGING_LEVEL": os.environ.get("AIRFLOW__LOGGING__LOGGING_LEVEL_SERVICES", "INFO"),
            "AIRFLOW__CORE__FERNET_KEY": os.environ.get("AIRFLOW__CORE__FERNET_KEY")
            or _secret("fernet_key", _fernet_key),
            "AIRFLOW__API_AUTH__JWT_SECRET": os.environ.get("AIRFLOW__API_AUTH__JWT_SECRET")
            or _secret("jwt_secret", lambda: secrets.token_urlsafe(32)),
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{ADMIN}:admin",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords_file()),
            "AIRFLOW__API__HOST": deployment.host,
            "AIRFLOW__API__PORT": str(port),
            "AIRFLOW__API__BASE_URL": deployment.url,
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
            "AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_HOST": "127.0.0.1",
            "AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_PORT": str(port + 1),
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(port + 2),
            "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(port + 3),
        }
    )
    if os.environ.get("CSPWH_SMTP_HOST"):  # Airflow's own mail (notifiers, email on failure) goes where ours does
        host, smtp_port = os.environ["CSPWH_SMTP_HOST"], os.environ.get("CSPWH_SMTP_PORT", "25")
        sender = os.environ.get("CSPWH_ALERT_FROM", "cspwh-airflow@localhost")
        env.update(
            {
                "AIRFLOW__SMTP__SMTP_HOST": host,
                "AIRFLOW__SMTP__SMTP_PORT": smtp_port,
                "AIRFLOW__SMTP__SMTP_MAIL_FROM": sender,
                "AIRFLOW_CONN_SMTP_DEFAULT": json.dumps(
                    {
                        "conn_type": "smtp",
                        "host": host,
                        "port": int(smtp_port),
                        "extra": {"disable_tls": True, "disable_ssl": True, "from_email": sender},
                    }
                ),
            }
        )
    if deployment.executor == "celery":
        broker = os.environ.get("CSPWH_CELERY_BROKER_URL") or os.environ.get("AIRFLOW__CELERY__BROKER_URL")
        if not broker:
            raise RuntimeError(
                "the Celery executor needs a broker: set CSPWH_CELERY_BROKER_URL, e.g. redis://127.0.0.1:6379/0"
            )
        env["AIRFLOW__CELERY__BROKER_URL"] = broker
        env["AIRFLOW__CELERY__RESULT_BACKEND"] = "db+" + env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].replace(
            "postgresql+psycopg2://", "postgresql://", 1
        )
    env.update(extra or {})
    return env


# --------------------------------------------------------------------------------------------------- processes
def _pid_file(component: str) -> Path:
    return run_dir() / f"{component}.pid"


def log_file(component: str) -> Path:
    return run_dir() / f"{component}.log"


def pid_of(component: str) -> int | None:
    """The component's pid if it is running (a pid file whose process is not an Airflow process is stale)."""
    try:
        pid = int(_pid_file(component).read_text())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except (FileNotFoundError, ValueError, ProcessLookupError):
        return None
    if not any(b"airflow" in part for part in cmdline[:3]):  # setproctitle may rewrite it ("airflow scheduler")
        return None
    try:
        if Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":
            return None
    except (FileNotFoundError, IndexError):
        return None
    return pid


def _start(component: str, env: dict[str, str]) -> subprocess.Popen:
    with log_file(component).open("ab") as log:
        process = subprocess.Popen(
            command(component),
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=str(airflow_home()),
            start_new_session=True,
        )
    _pid_file(component).write_text(str(process.pid))
    return process


def _tail(component: str, chars: int = 3000) -> str:
    path = log_file(component)
    return path.read_text(errors="replace")[-chars:] if path.exists() else ""


def _answers(url: str, timeout: float = 2) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def _wait_until(check, what: str, component: str, timeout: float, process: subprocess.Popen | None = None) -> None:
    """Wait for `check`; fail at once if the component exited (its own Popen when this process started it: a
    process renaming itself while it starts must not look like one that exited)."""
    deadline = time.monotonic() + timeout
    while not check():
        exited = process.poll() is not None if process is not None else pid_of(component) is None
        if exited:
            raise RuntimeError(
                f"{component} exited before {what}; its log ({log_file(component)}) ends:\n{_tail(component)}"
            )
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what}: not within {timeout:.0f} s; see {log_file(component)}")
        time.sleep(0.5)


# ------------------------------------------------------------------------------------------------ asset queue
STALE_QUEUE = """
delete from asset_dag_run_queue q
 where not exists (
       select 1 from asset_event e
         left join dag_run r on r.dag_id = e.source_dag_id and r.run_id = e.source_run_id
        where e.asset_id = q.asset_id
          and e.timestamp >= q.created_at - interval '1 minute'
          and upper(coalesce(r.triggered_by, '')) <> 'TEST')  -- stored as the enum's name
"""


def clear_test_asset_events(sql_alchemy_conn: str) -> int:
    """Forget the asset-triggered runs that only in-process `dag.test()` runs asked for (the demo, `cspwh accept`'s
    neighbours, tests): without this the first real scheduler rebuilds and republishes at once, for events a person
    already saw built. A queue entry stays if any event behind it came from a real run (scheduled, UI, API, CLI)
    or from outside a run. Run only while no scheduler runs; returns the entries removed."""
    import psycopg

    from cspwh import db

    url = "postgresql://" + sql_alchemy_conn.split("://", 1)[1]
    with psycopg.connect(url) as conn:
        if not db.one(conn.execute("select to_regclass('asset_dag_run_queue')"))[0]:
            return 0
        return conn.execute(STALE_QUEUE).rowcount


# ------------------------------------------------------------------------------------------------- up / down
def up(
    port: int | None = None,
    executor: str = "local",
    host: str | None = None,
    airflow_db: str = "airflow",
    timeout: float = 180,
    extra_env: dict[str, str] | None = None,
    say=print,
) -> Deployment:
    """Start what is not running, in order; returns when the scheduler answers and the DAGs are parsed."""
    from cspwh.catalogue import contracts
    from cspwh.db import bootstrap
    from cspwh.local import embedded_pg

    if executor not in EXECUTORS:
        raise ValueError(f"executor must be one of {sorted(EXECUTORS)}")
    previous = Deployment.load()
    running = {c: pid_of(c) for c in components("celery")}
    if any(running.values()) and previous:
        port, executor, host = previous.port, previous.executor, previous.host
    deployment = Deployment(
        port=port or int(os.environ.get("CSPWH_AIRFLOW_PORT", 8080)),
        executor=executor,
        host=host or os.environ.get("CSPWH_AIRFLOW_HOST", "127.0.0.1"),
        airflow_db=airflow_db,
    )
    run_dir().mkdir(parents=True, exist_ok=True)
    if not os.environ.get("WAREHOUSE_URL"):
        deployment.started_postgres = (
            previous.started_postgres if previous and any(running.values()) else not embedded_pg.is_running()
        )
        embedded_pg.ensure_running()
    deployment.save()
    bootstrap.ensure()
    for feed in contracts.all_feeds():
        (settings.drop_dir() / feed).mkdir(parents=True, exist_ok=True)
    env = environment(deployment, extra_env)
    started = time.monotonic()
    say("migrating Airflow's metadata database ...")
    airflow_env.migrate(env)
    if not running["scheduler"]:
        cleared = clear_test_asset_events(env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"])
        if cleared:
            say(f"cleared {cleared} asset-triggered run(s) queued by in-process (dag.test) runs")
    for component in components(deployment.executor):
        if running.get(component):
            say(f"{component} already running (pid {running[component]})")
            continue
        process = _start(component, env)
        say(f"started {component} (pid {process.pid})")
        if component == "api-server":
            _wait_until(
                lambda: _answers(f"http://127.0.0.1:{deployment.port}/api/v2/monitor/health"),
                "the api-server's health endpoint answered",
                component,
                timeout,
                process,
            )
            say(f"api-server healthy after {time.monotonic() - started:.0f} s")
    _wait_until(
        lambda: _answers(f"http://127.0.0.1:{deployment.port + 1}/health"),
        "the scheduler's health check answered",
        "scheduler",
        timeout,
    )
    client = Client(deployment)
    expected = len(list(settings.DAGS_DIR.glob("*.py")))

    def parsed() -> bool:
        try:
            return client.get("/api/v2/dags", limit=100)["total_entries"] >= expected
        except (urllib.error.URLError, OSError, KeyError):
            return False

    _wait_until(parsed, f"the DAG processor parsed the {expected} DAG files", "dag-processor", timeout)
    say(f"Airflow up after {time.monotonic() - started:.0f} s")
    return deployment


# seconds a component has to stop after SIGTERM before its process group is killed. The DAG processor of Airflow
# 3.3.2 logs "Exiting gracefully upon receiving signal 15" and may go on parsing (its handler's SystemExit is
# swallowed); it holds no task, so it gets a short grace. The others finish or hand back what they run.
GRACE = {"dag-processor": 10}


def down(stop_postgres: bool = True, timeout: float = 30, say=print) -> list[str]:
    """Stop every component: SIGTERM to all but the api-server at once (each stops its own children: executor
    workers, task processes), the api-server last (tasks still finishing report through it); what is left of a
    component's process group is killed after its grace. Then the embedded Postgres if `up` started it. Returns the
    components that were running."""
    stopped = []
    order = [c for c in reversed(components("celery")) if c != "api-server"]
    for wave in (order, ["api-server"]):
        pids = {c: pid_of(c) for c in wave}
        for component, pid in pids.items():
            if pid is None:
                _pid_file(component).unlink(missing_ok=True)
                continue
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        started = time.monotonic()
        for component, pid in pids.items():
            if pid is None:
                continue
            while pid_of(component) is not None and time.monotonic() < started + GRACE.get(component, timeout):
                time.sleep(0.2)
            _signal_group(pid, signal.SIGKILL)  # what is left of the group
            _pid_file(component).unlink(missing_ok=True)
            stopped.append(component)
            say(f"stopped {component} (pid {pid})")
    deployment = Deployment.load()
    if deployment and deployment.started_postgres and stop_postgres and not os.environ.get("WAREHOUSE_URL"):
        from cspwh.local import embedded_pg

        if embedded_pg.stop():
            say("stopped the embedded Postgres (started by cspwh airflow up)")
    (run_dir() / "deployment.json").unlink(missing_ok=True)
    return stopped


def _signal_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)  # each component leads its own group (start_new_session)
    except (ProcessLookupError, PermissionError):
        pass
    try:  # reap it if it is our child (tests start and stop in one process)
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def status() -> str:
    deployment = Deployment.load()
    executor = deployment.executor if deployment else "local"
    lines = []
    for component in components("celery" if executor == "celery" else "local"):
        pid = pid_of(component)
        lines.append(
            f"{component:14} {'running, pid ' + str(pid) if pid else 'not running'}  log {log_file(component)}"
        )
    if deployment and pid_of("api-server"):
        healthy = _answers(f"http://127.0.0.1:{deployment.port}/api/v2/monitor/health")
        lines.append(
            f"UI and API     {deployment.url} ({'healthy' if healthy else 'not answering'}); "
            f"login {ADMIN} / {admin_password()}  (password in {passwords_file()})"
        )
        lines.append(f"executor       {EXECUTORS[executor]}")
    lines.append(f"task logs      {airflow_home() / 'logs'}")
    return "\n".join(lines)


# ----------------------------------------------------------------------------------------------- REST client
class Client:
    """The Airflow REST API (v2) as the admin, for `up`'s readiness check, tests and scripts."""

    def __init__(self, deployment: Deployment):
        self.base = f"http://127.0.0.1:{deployment.port}"
        self._token: str | None = None

    def _request(self, method: str, path: str, body: dict | None = None, auth: bool = True) -> dict:
        headers = {"Content-Type": "application/json"}
        if auth:
            headers["Authorization"] = f"Bearer {self.token()}"
        request = urllib.request.Request(
            self.base + path,
            method=method,
            headers=headers,
            data=json.dumps(body).encode() if body is not None else None,
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read() or b"{}")

    def token(self) -> str:
        if self._token is None:
            self._token = self._request(
                "POST", "/auth/token", {"username": ADMIN, "password": admin_password()}, auth=False
            )["access_token"]
        return self._token

    def get(self, path: str, **query) -> dict:
        from urllib.parse import urlencode

        return self._request("GET", path + (f"?{urlencode(query)}" if query else ""))

    def post(self, path: str, body: dict) -> dict:
        return self._request("POST", path, body)

    def patch(self, path: str, body: dict) -> dict:
        return self._request("PATCH", path, body)

    def trigger(self, dag_id: str, conf: dict | None = None) -> str:
        run = self.post(f"/api/v2/dags/{dag_id}/dagRuns", {"logical_date": None, "conf": conf or {}})
        return run["dag_run_id"]

    def runs(self, dag_id: str) -> list[dict]:
        return self.get(f"/api/v2/dags/{dag_id}/dagRuns", order_by="start_date", limit=100)["dag_runs"]

    def task_states(self, dag_id: str, run_id: str) -> dict[str, str]:
        instances = self.get(f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances")["task_instances"]
        return {ti["task_id"]: ti["state"] for ti in instances}

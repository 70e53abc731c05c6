"""docker-compose.yml, docker/Dockerfile and .env.example agree with the code and the installed Airflow.

No Docker needed. Airflow is imported only in a subprocess with a throwaway AIRFLOW_HOME: other tests configure
Airflow through the environment before its first import in the pytest process.
"""

from __future__ import annotations

import functools
import importlib.metadata
import json
import os
import re
import shlex
import subprocess
import sys
import tomllib
from pathlib import Path, PurePosixPath

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "docker" / "Dockerfile"
ENV_EXAMPLE = ROOT / ".env.example"
INIT_SQL_DIR = ROOT / "docker" / "postgres-init"

REQUIRED_SERVICES = {
    "postgres",
    "redis",
    "mailpit",
    "airflow-init",
    "airflow-apiserver",
    "airflow-scheduler",
    "airflow-dag-processor",
    "airflow-triggerer",
    "airflow-worker",
}

# CLI groups / config sections of providers compose relies on but which the project does not install locally.
# The official apache/airflow image ships them; the Dockerfile must name the distribution (its build asserts the
# distribution is installed), so an image without it fails to build instead of failing at run time.
IMAGE_PROVIDERS = {"celery": "apache-airflow-providers-celery"}
# Config sections of packages installed neither locally nor in the image: inert there, allowed on purpose.
# cosmos: astronomer-cosmos's telemetry switch, set like cspwh/local/airflow_env.py does, in case cosmos is added.
INERT_SECTIONS = {"cosmos"}


# ----------------------------------------------------------------------------------------------------- helpers
@functools.cache
def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def services() -> dict[str, dict]:
    return compose()["services"]


def airflow_services() -> dict[str, dict]:
    """The services that run the project's image (built from docker/Dockerfile)."""
    return {name: s for name, s in services().items() if "build" in s}


def common_env() -> dict[str, str]:
    return {k: str(v) for k, v in compose()["x-airflow-common"]["environment"].items()}


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    text = re.sub(
        r"\\\n",
        " ",
        "\n".join(line for line in DOCKERFILE.read_text().splitlines() if not line.lstrip().startswith("#")),
    )
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in text.splitlines() if line.strip()]


def dockerfile_env() -> dict[str, str]:
    return dict(
        pair.split("=", 1) for args in (a for i, a in dockerfile_instructions() if i == "ENV") for pair in args.split()
    )


def locked_version(package: str) -> str:
    lock = tomllib.loads((ROOT / "uv.lock").read_text())
    return next(p["version"] for p in lock["package"] if p["name"] == package)


def locked_python() -> str:
    """'3.11' from uv.lock's requires-python ('==3.11.*')."""
    return re.search(r"(\d+\.\d+)", tomllib.loads((ROOT / "uv.lock").read_text())["requires-python"]).group(1)


def is_pinned(image: str) -> bool:
    name, _, tag = image.rpartition(":")
    return bool(name) and "/" not in tag and tag not in ("", "latest")


def argv(command) -> list[str]:
    return shlex.split(command) if isinstance(command, str) else [str(c) for c in command]


def airflow_invocations(service: dict) -> list[list[str]]:
    """Every Airflow CLI call a service makes, without the leading `airflow`: its command (the image's entrypoint
    runs `airflow <command>`), `airflow ...` lines of a bash script command, and `airflow ...` healthchecks."""
    command = argv(service.get("command", []))
    if command[:1] == ["bash"]:
        calls = [shlex.split(line)[1:] for line in command[-1].splitlines() if line.strip().startswith("airflow ")]
    else:
        calls = [command]
    test = service.get("healthcheck", {}).get("test", [])
    if test[:1] == ["CMD-SHELL"] and test[1].startswith("airflow "):
        calls.append(shlex.split(test[1])[1:])
    return calls


def bind_mounts(service: dict) -> list[tuple[str, str]]:
    """(host path, container path) of the service's bind mounts (a host path is relative or absolute)."""
    mounts = []
    for volume in service.get("volumes", []):
        source, target = (volume["source"], volume["target"]) if isinstance(volume, dict) else volume.split(":")[:2]
        if source.startswith((".", "/")):
            mounts.append((source, target))
    return mounts


def variables_used() -> dict[str, bool]:
    """${VAR...} references in docker-compose.yml ($$ is an escaped $) -> whether the reference has a default."""
    text = COMPOSE.read_text().replace("$$", "")
    used: dict[str, bool] = {}
    for name, operator in re.findall(r"\$\{(\w+)(:?[-?+])?", text):
        used[name] = used.get(name, False) or operator in (":-", "-")
    return used


def variables_documented() -> set[str]:
    return set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]*)=", ENV_EXAMPLE.read_text(), re.MULTILINE))


def provider_installed(distribution: str) -> bool:
    try:
        importlib.metadata.version(distribution)
        return True
    except importlib.metadata.PackageNotFoundError:
        return False


PROBE = r"""
import contextlib, io, json, sys
from airflow.cli import cli_parser
from airflow.configuration import retrieve_configuration_description

parser = cli_parser.get_parser()
errors = {}
for call in json.load(sys.stdin):
    out = io.StringIO()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
            parser.parse_args(call)
    except SystemExit:
        errors[" ".join(call)] = (out.getvalue().strip().splitlines() or ["?"])[-1]
options = {section: sorted(d["options"]) for section, d in retrieve_configuration_description().items()}
print("PROBE=" + json.dumps({"errors": errors, "options": options}))
"""


@pytest.fixture(scope="module")
def airflow(tmp_path_factory) -> dict:
    """Ask the installed Airflow (in a clean subprocess) which CLI calls parse and which config options exist."""
    calls = [
        c
        for s in airflow_services().values()
        for c in airflow_invocations(s)
        if not (c[0] in IMAGE_PROVIDERS and not provider_installed(IMAGE_PROVIDERS[c[0]]))
    ]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "CSPWH_", "WAREHOUSE_"))}
    env["AIRFLOW_HOME"] = str(tmp_path_factory.mktemp("airflow_home"))
    done = subprocess.run(
        [sys.executable, "-c", PROBE], input=json.dumps(calls), env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.split("PROBE=", 1)[1])
    result["calls"] = calls
    return result


# ------------------------------------------------------------------------------------------------------- tests
def test_compose_has_the_required_services():
    assert set(services()) >= REQUIRED_SERVICES, REQUIRED_SERVICES - set(services())
    assert set(airflow_services()) == {s for s in REQUIRED_SERVICES if s.startswith("airflow-")}
    assert "axllent/mailpit" in services()["mailpit"]["image"]


def test_services_have_healthchecks_and_wait_on_conditions():
    for name, service in services().items():
        if name != "airflow-init":
            assert "healthcheck" in service, f"{name} has no healthcheck"
        for dependency, spec in (service.get("depends_on") or {}).items():
            assert dependency in services(), f"{name} depends on unknown {dependency}"
            assert spec.get("condition") in ("service_healthy", "service_completed_successfully"), (name, dependency)
    for name in set(airflow_services()) - {"airflow-init"}:
        assert services()[name]["depends_on"]["airflow-init"]["condition"] == "service_completed_successfully"
    assert services()["airflow-worker"]["depends_on"]["airflow-apiserver"]["condition"] == "service_healthy"


def test_every_image_is_built_here_or_pinned():
    for name, service in services().items():
        if "build" in service:
            build = service["build"]
            assert (ROOT / build["context"] / build["dockerfile"]).resolve() == DOCKERFILE, name
        else:
            assert is_pinned(service["image"]), f"{name}: {service['image']} is not pinned to a tag"
    referenced = [args.split()[0] for i, args in dockerfile_instructions() if i == "FROM"]
    referenced += re.findall(r"--(?:mount=)?from=([^,\s]+)", DOCKERFILE.read_text())
    assert referenced and all(is_pinned(image) for image in referenced), referenced


def test_dockerfile_extends_the_locked_airflow_and_python():
    base = next(args.split()[0] for i, args in dockerfile_instructions() if i == "FROM")
    assert base == f"apache/airflow:{locked_version('apache-airflow')}-python{locked_python()}"
    text = DOCKERFILE.read_text()
    assert "uv export" in text and "--frozen" in text, "the image must install what uv.lock pins"
    assert '"apache-airflow==${AIRFLOW_VERSION}"' in text, "pip must keep the base image's Airflow version"
    for distribution in IMAGE_PROVIDERS.values():
        assert distribution in text, f"the Dockerfile must check that the image ships {distribution}"


def test_airflow_commands_are_real_cli_commands(airflow):
    assert not airflow["errors"], airflow["errors"]
    commands = {name: argv(s["command"]) for name, s in airflow_services().items()}
    assert commands["airflow-apiserver"] == ["api-server"]
    assert commands["airflow-scheduler"] == ["scheduler"]
    assert commands["airflow-dag-processor"] == ["dag-processor"]
    assert commands["airflow-triggerer"] == ["triggerer"]
    assert commands["airflow-worker"] == ["celery", "worker"]
    assert ["db", "migrate"] in airflow_invocations(services()["airflow-init"])
    # `celery worker` is only in the parser when the celery provider is installed (the image ships it).
    skipped = [c for s in airflow_services().values() for c in airflow_invocations(s) if c not in airflow["calls"]]
    assert all(c[0] in IMAGE_PROVIDERS for c in skipped), skipped


def test_airflow_config_variables_are_real_options(airflow):
    for name in common_env().keys() | {k for s in airflow_services().values() for k in s["environment"]}:
        if not name.startswith("AIRFLOW__"):
            continue
        section, key = (part.lower() for part in name[len("AIRFLOW__") :].split("__", 1))
        if section in airflow["options"]:
            assert key in airflow["options"][section], f"{name}: no option {key!r} in [{section}]"
        elif section in IMAGE_PROVIDERS and not provider_installed(IMAGE_PROVIDERS[section]):
            assert IMAGE_PROVIDERS[section] in DOCKERFILE.read_text(), name
        else:
            assert section in INERT_SECTIONS, f"{name}: Airflow has no [{section}] section"


def test_project_variables_are_read_by_the_code():
    code = "\n".join(p.read_text() for folder in ("cspwh", "dags") for p in (ROOT / folder).rglob("*.py"))
    env_keys = {k for s in services().values() for k in (s.get("environment") or {})} | dockerfile_env().keys()
    ours = {k for k in env_keys if k.startswith(("CSPWH_", "WAREHOUSE_"))}
    assert {"WAREHOUSE_URL", "CSPWH_PROJECT_ROOT", "CSPWH_HOME"} <= ours
    unread = {k for k in ours if f'"{k}"' not in code and f"'{k}'" not in code}
    assert not unread, f"set in compose/Dockerfile but read nowhere in cspwh/ or dags/: {sorted(unread)}"


def test_mounts_exist_and_line_up_with_the_project_root():
    env, image_env = common_env(), dockerfile_env()
    root = PurePosixPath(env["CSPWH_PROJECT_ROOT"])
    for key in ("CSPWH_PROJECT_ROOT", "CSPWH_HOME", "AIRFLOW__CORE__DAGS_FOLDER"):
        assert image_env[key] == env[key], key
    assert env["AIRFLOW__CORE__DAGS_FOLDER"] == str(root / "dags")
    for name, service in services().items():
        for source, target in bind_mounts(service):
            assert (ROOT / source).exists(), f"{name}: {source} does not exist in the repository"
            if name in airflow_services():
                assert PurePosixPath(target) == root / Path(source).name, f"{name}: {source} -> {target}"
    mounted = dict(bind_mounts(compose()["x-airflow-common"]))
    assert {"./dags", "./dbt_project", "./expectations", "./sources"} <= set(mounted)
    named = {v.split(":")[1]: v.split(":")[0] for v in compose()["x-airflow-common"]["volumes"]}
    assert named.get(env["CSPWH_HOME"]) in compose()["volumes"], "CSPWH_HOME must be on a named volume"
    for key in ("CSPWH_DROP_DIR", "CSPWH_LANDING_DIR", "CSPWH_QUARANTINE_DIR"):
        assert PurePosixPath(env[key]).is_relative_to(env["CSPWH_HOME"]), key


def test_the_partnership_served_is_configuration_mounted_from_the_repository():
    """One compose file serves any partnership: its reference folder and alert routes are settings whose defaults
    (and the partnerships/ folder `cspwh init --out` writes to) are mounted from the repository."""
    env, root = common_env(), PurePosixPath(common_env()["CSPWH_PROJECT_ROOT"])
    mounted = {PurePosixPath(target): source for source, target in bind_mounts(compose()["x-airflow-common"])}
    for key, repo_default in (
        ("CSPWH_REFERENCE_DIR", "sources/reference"),
        ("CSPWH_ALERT_ROUTES", "expectations/alert_routes.yml"),
    ):
        default = re.fullmatch(r"\$\{" + key + r":-([^}]+)\}", env[key])
        assert default, f"{key} must be a setting with a default: {env[key]}"
        path = PurePosixPath(default[1])
        assert path == root / repo_default and (ROOT / repo_default).exists()
        assert any(path.is_relative_to(target) for target in mounted), f"{path} is not mounted"
    assert mounted.get(root / "partnerships") == "./partnerships" and (ROOT / "partnerships").is_dir()
    from cspwh import settings

    assert "CSPWH_REFERENCE_DIR" in Path(settings.__file__).read_text()


def test_services_reach_each_other_by_name():
    env = common_env()
    assert re.fullmatch(r"http://airflow-apiserver:8080/execution/", env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"])
    assert "8080" in services()["airflow-apiserver"]["ports"][0]
    assert env["AIRFLOW__SMTP__SMTP_HOST"] == "mailpit" and env["AIRFLOW__SMTP__SMTP_PORT"] == "1025"
    assert re.search(r"@postgres:5432/warehouse$", env["WAREHOUSE_URL"])
    assert services()["postgres"]["environment"]["POSTGRES_DB"] == "warehouse"
    assert any(p.endswith(":5432") for p in services()["postgres"]["ports"]), "analysts need the Postgres port"
    init_sql = "\n".join(p.read_text() for p in sorted(INIT_SQL_DIR.glob("*.sql")))
    for url in (env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"], env["AIRFLOW__CELERY__RESULT_BACKEND"]):
        user, database = re.search(r"://(\w+):.*@postgres:5432/(\w+)$", url).groups()
        assert re.search(rf"CREATE ROLE {user}\b", init_sql) and re.search(rf"CREATE DATABASE {database}\b", init_sql)
    for variable in re.findall(r"\\getenv \w+ (\w+)", init_sql):
        assert variable in services()["postgres"]["environment"], f"init SQL reads {variable}, postgres lacks it"


def test_every_variable_is_documented_or_defaulted():
    used, documented = variables_used(), variables_documented()
    assert used, "docker-compose.yml references no ${VARIABLE}?"
    missing = {name for name, has_default in used.items() if not has_default and name not in documented}
    assert not missing, f"add to .env.example: {sorted(missing)}"
    assert not documented - used.keys(), f".env.example documents unused {sorted(documented - used.keys())}"


def test_compose_and_the_local_deployment_share_one_set_of_airflow_settings():
    """cspwh/local/airflow_env.py is the one home of Airflow's settings: what every deployment sets alike (SHARED)
    has the
    same value in compose, and compose sets nothing else but the per-deployment values (hosts, ports, secrets)."""
    from cspwh.local import airflow_env

    env = common_env()
    for key, value in airflow_env.SHARED.items():
        assert env.get(key) == value, f"{key}: compose {env.get(key)!r}, cspwh/local/airflow_env.py {value!r}"
    airflow_keys = {k for k in env if k.startswith("AIRFLOW")}
    unknown = airflow_keys - airflow_env.SHARED.keys() - set(airflow_env.PER_DEPLOYMENT) - {"AIRFLOW_CONN_SMTP_DEFAULT"}
    assert not unknown, (
        f"compose sets {sorted(unknown)}: add them to SHARED or PER_DEPLOYMENT in cspwh/local/airflow_env.py"
    )
    assert set(airflow_env.PER_DEPLOYMENT) <= airflow_keys, set(airflow_env.PER_DEPLOYMENT) - airflow_keys


def test_the_local_deployment_sets_every_per_deployment_setting(tmp_path, monkeypatch):
    """`cspwh airflow up --executor celery` gives every per-deployment setting a value of its own."""
    from cspwh.local import airflow_env, airflow_service

    monkeypatch.setenv("CSPWH_HOME", str(tmp_path))
    monkeypatch.setenv("CSPWH_CELERY_BROKER_URL", "redis://127.0.0.1:6379/0")
    monkeypatch.setenv("CSPWH_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "postgresql+psycopg2://u:p@127.0.0.1:1/airflow")
    monkeypatch.setenv("WAREHOUSE_URL", "postgresql://u:p@127.0.0.1:1/warehouse")
    env = airflow_service.environment(airflow_service.Deployment(port=18080, executor="celery"))
    assert {k for k in airflow_env.PER_DEPLOYMENT if not env.get(k)} == set()
    assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://127.0.0.1:18080/execution/"
    assert env["AIRFLOW__CELERY__RESULT_BACKEND"] == "db+postgresql://u:p@127.0.0.1:1/airflow"
    assert {k: env[k] for k in airflow_env.SHARED} == airflow_env.SHARED
    assert (tmp_path / "airflow" / "secrets").stat().st_mode & 0o077 == 0
    assert json.loads(Path(env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"]).read_text())["admin"]

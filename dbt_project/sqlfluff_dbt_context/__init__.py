"""What sqlfluff's jinja templater needs of dbt's context to render the models as `dbt compile` would, without a
connection (`library_path` in .sqlfluff; sqlfluff puts these names in the Jinja context before its own dbt stand-ins,
so these win). var() gives the defaults dbt_project.yml declares (a bare `dbt parse`'s values); nothing executes,
so the macros that read the database or dbt's graph take their parse-time branch, as they do when dbt parses."""
from __future__ import annotations

import hashlib
from pathlib import Path

import yaml

_VARS = yaml.safe_load((Path(__file__).resolve().parent.parent / "dbt_project.yml").read_text())["vars"]
# Unrolled loops (the linker's EM iterations, share iterations and assignment rounds; secondary suppression's rounds)
# repeat the same SQL with another number, so lint renders as few as still reach every branch of their bodies (the
# assignment's first round and a later one): every line of the loops' SQL, at a fraction of the parse time.
_LINT_VARS = {"asb_link_em_iterations": 1, "asb_link_share_iterations": 1, "asb_link_assignment_rounds": 2,
              "suppression_rounds": 1}

execute = False
project_name = "cspwh"
graph: dict = {"nodes": {}, "sources": {}}


def var(name, default=None):
    return _LINT_VARS.get(name, _VARS.get(name, default))


def env_var(name, default=""):
    return default


def local_md5(text):
    return hashlib.md5(str(text).encode()).hexdigest()


def log(*args, **kwargs):
    return ""


def run_query(sql):
    return None


class _Target:
    schema = "build_lint"
    name = "lint"


class _Adapter:
    @staticmethod
    def quote(name):
        return f'"{name}"'

    @staticmethod
    def get_relation(*args, **kwargs):
        return None


target = _Target()
adapter = _Adapter()

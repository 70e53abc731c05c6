"""The nightly warehouse steps the DAG calls: build (dbt) -> consistency gate (GX) -> publish."""
from __future__ import annotations

import datetime as dt
import logging
import secrets

from cspwh import bootstrap, consistency_gate, dbt_runner, publish

log = logging.getLogger(__name__)


class BlockedByGate(RuntimeError):
    """A blocking consistency check failed: nothing is published."""


def new_build_schema(now: dt.datetime | None = None) -> str:
    # short enough that <build>_intermediate stays within Postgres's 63-character names
    stamp = (now or dt.datetime.now(dt.timezone.utc)).strftime("%Y%m%dt%H%M%S")
    return f"build_{stamp}_{secrets.token_hex(2)}"


def build(build_schema: str) -> str:
    bootstrap.ensure()
    keep = {build_schema} | ({b} if (b := publish.last_published_build()) else set())
    publish.drop_stale_builds(keep)
    dbt_runner.build(build_schema)
    return build_schema


def gate(build_schema: str, run_id: str) -> list[consistency_gate.CheckResult]:
    results = consistency_gate.run(build_schema, run_id)
    for r in results:
        (log.info if r.success else log.warning)(r.message)
    blocking = consistency_gate.blocking_failures(results)
    if blocking:
        raise BlockedByGate("publish blocked by the consistency gate:\n" + "\n".join(r.message for r in blocking))
    return results


def publish_build(build_schema: str, run_id: str) -> dict[str, int]:
    counts = publish.publish(build_schema, run_id)
    log.info("published %s into marts: %s", build_schema, counts)
    return counts

"""The nightly warehouse steps the DAG calls: build (dbt) -> consistency gate (GX) -> publish."""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
import secrets
import time
from collections.abc import Iterator

from cspwh import db
from cspwh.db import bootstrap
from cspwh.warehouse import consistency_gate, dbt_runner, publish

log = logging.getLogger(__name__)


class BlockedByGate(RuntimeError):
    """A blocking consistency check failed: nothing is published."""


def new_build_schema(now: dt.datetime | None = None) -> str:
    # short enough that <build>_intermediate stays within Postgres's 63-character names
    stamp = (now or dt.datetime.now(dt.UTC)).strftime("%Y%m%dt%H%M%S")
    return f"build_{stamp}_{secrets.token_hex(2)}"


class BuildBusy(RuntimeError):
    """Another build held the build lock for longer than this one would wait."""


def lock_wait() -> float:
    """Seconds a build waits for another to finish (CSPWH_BUILD_LOCK_WAIT, default 2 hours: inside the task's
    execution_timeout, longer than a night's build)."""
    return float(os.environ.get("CSPWH_BUILD_LOCK_WAIT") or 7200)


@contextlib.contextmanager
def build_lock(build_schema: str, wait: float | None = None) -> Iterator[None]:
    """One build at a time: a session advisory lock held for the whole dbt build (released if the process dies).
    A second build waits for it, and gives up with BuildBusy after `wait` seconds."""
    with db.connect(autocommit=True) as conn:
        wait = lock_wait() if wait is None else wait
        ends, told = time.monotonic() + wait, False
        while not db.one(conn.execute("select pg_try_advisory_lock(hashtext('cspwh.build'))"))[0]:
            holder = conn.execute(
                "select build_schema, started_at from audit.builds where state = 'building' "
                "order by started_at desc limit 1"
            ).fetchone()
            if time.monotonic() > ends:
                raise BuildBusy(
                    f"{build_schema} did not start: the build {holder[0] if holder else '?'} held the "
                    f"build lock for longer than {wait:.0f} s; this run is retried"
                )
            if not told:
                log.warning("%s waits for the build %s to finish", build_schema, holder[0] if holder else "?")
                told = True
            time.sleep(2)
        try:
            yield
        finally:
            conn.execute("select pg_advisory_unlock(hashtext('cspwh.build'))")


def build(build_schema: str, run_id: str | None = None, wait: float | None = None) -> str:
    """dbt build into fresh build schemas, one build at a time; the schemas of another run's build that is built
    and waiting for its gate or publish are never dropped."""
    bootstrap.ensure()
    with build_lock(build_schema, wait):
        publish.record_build(build_schema, "building", run_id)
        keep = {b} if (b := publish.last_published_build()) else set()
        publish.drop_stale_builds(build_schema, keep)
        try:
            # the published build's intermediate tables seed the incremental-by-load models (it is kept above)
            dbt_runner.build(build_schema, previous_build=b)
        except BaseException:
            with contextlib.suppress(Exception):  # never hide why the build failed
                publish.record_build(build_schema, "failed")
            raise
        publish.record_build(build_schema, "built")
    return build_schema


def gate(build_schema: str, run_id: str) -> list[consistency_gate.CheckResult]:
    results = consistency_gate.run(build_schema, run_id)
    for r in results:
        (log.info if r.success else log.warning)(r.message)
    blocking = consistency_gate.blocking_failures(results)
    if blocking:
        publish.record_build(build_schema, "blocked")
        raise BlockedByGate("publish blocked by the consistency gate:\n" + "\n".join(r.message for r in blocking))
    return results


def no_build_needed(night: dt.date, force: bool, from_feeds: bool) -> str | None:
    """Why a night's run should not build (None: build). A run the feeds set off builds only with data loaded since
    the last publication, and, unless forced, only if its night has not been published yet."""
    bootstrap.ensure()
    if from_feeds and not publish.new_data_since_last_publication():
        return "nothing was loaded since the last publication: the marts would not change"
    if not force:
        with db.connect() as conn:
            earlier = publish.published_for_night(conn, night)
        if earlier:
            return (
                f"the night of {night} was already published ({earlier}); what arrived since goes out with the "
                'next night, or now if an operator triggers nightly_warehouse with {"force": true}'
            )
    return None


def publish_build(build_schema: str, run_id: str, night: dt.date | None = None, force: bool = True) -> dict[str, int]:
    counts = publish.publish(build_schema, run_id, night, force)
    log.info("published %s into marts: %s", build_schema, counts)
    return counts

"""The consistency gate's run time on a real build: the published marts copied into a build schema of their own,
the gate run there --repeat times in one process (the first run includes importing GX and opening its project).

    CSPWH_PG_PORT=55436 .venv/bin/python bench/consistency_gate.py [--repeat 3]

Run `make demo` (or `cspwh demo`) first: the demo's published marts are the build. Prints each run's wall time and
the gate process's CPU time (the Postgres server's work is in the wall time only). The bench's check results and
its schema are removed afterwards, so the demo's summary and alerts never see them. To compare with another
version of the gate, run this file with PYTHONPATH pointing at that version's checkout (its cspwh and expectations).
"""

from __future__ import annotations

import argparse
import time

SCHEMA = "bench_gate"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    from cspwh import db, settings
    from cspwh.local import embedded_pg
    from cspwh.warehouse import consistency_gate

    embedded_pg.use_by_default()  # the demo's warehouse unless WAREHOUSE_URL names another

    with db.connect(settings.warehouse_url()) as conn:
        tables = [
            t
            for (t,) in conn.execute("select tablename from pg_tables where schemaname = 'marts' order by 1").fetchall()
        ]
        conn.execute(f"drop schema if exists {SCHEMA}_marts cascade; create schema {SCHEMA}_marts")
        for table in tables:
            conn.execute(f"create table {SCHEMA}_marts.{table} as select * from marts.{table}")
    print(f"gate: {consistency_gate.__file__}; build: {len(tables)} marts copied into {SCHEMA}_marts")
    try:
        for attempt in range(args.repeat):
            wall, cpu = time.perf_counter(), time.process_time()
            results = consistency_gate.run(SCHEMA, f"{SCHEMA}-{attempt}")
            print(
                f"run {attempt + 1}: {time.perf_counter() - wall:.2f} s wall, {time.process_time() - cpu:.2f} s CPU "
                f"of this process; {len(results)} checks, {sum(not r.success for r in results)} failed"
            )
    finally:
        with db.connect(settings.warehouse_url()) as conn:
            conn.execute(f"drop schema if exists {SCHEMA}_marts cascade")
            conn.execute("delete from audit.check_results where run_id like %s", (f"{SCHEMA}-%",))


if __name__ == "__main__":
    main()

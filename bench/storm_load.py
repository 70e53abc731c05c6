"""Loading one large Storm extract: land + file gate + raw, against a bare COPY of the same file into an equivalent
table, on the same Postgres, measured in one run.

    .venv/bin/python bench/storm_load.py [--rows 1000000]

Prints both times and their ratio (the target is at most 1.5), and the peak memory of the pipeline.
"""
from __future__ import annotations

import argparse
import csv
import os
import resource
import tempfile
import time
from pathlib import Path


def build_file(path: Path, rows: int) -> None:
    """A day's extract of `rows` incidents, made from a generated day's rows with their own incident numbers."""
    from cspwh.generator import generate
    from cspwh.generator.config import Config

    feeds = path.parent / "feeds"
    generate(Config.without_faults(feeds, start="2021-06", end="2021-06"))
    with (feeds / "drop" / "storm_asb" / "storm_asb_20210615.csv").open(newline="") as fh:
        reader = csv.reader(fh)
        header, sample = next(reader), list(reader)
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(header)
        for i in range(rows):
            row = list(sample[i % len(sample)])
            row[0] = f"LP-20210615-{i + 1:06d}"
            writer.writerow(row)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="cspwh-bench-"))
    home.chmod(0o755)
    os.environ.setdefault("CSPWH_HOME", str(home))
    os.environ.setdefault("CSPWH_PG_PORT", "55439")

    from cspwh import bootstrap, contracts, db, embedded_pg, file_gate, landing, loader, settings

    path = home / "storm_asb_20210615.csv"
    build_file(path, args.rows)
    print(f"{args.rows:,} rows, {path.stat().st_size / 1e6:.0f} MB")
    url = db.ensure_database(settings.warehouse_url())
    bootstrap.ensure(url)
    entity = contracts.load("storm_asb").entity("incidents")
    try:
        with db.connect() as conn:
            columns = ", ".join(f'c{i} text' for i in range(len(entity.headers)))
            conn.execute(f"create table bare_copy ({columns})")
            began = time.perf_counter()
            with conn.cursor() as cur, cur.copy("copy bare_copy from stdin (format csv, header true)") as copy, \
                    path.open("rb") as fh:
                while chunk := fh.read(1 << 20):
                    copy.write(chunk)
            conn.commit()
            bare = time.perf_counter() - began

            began = time.perf_counter()
            with conn.transaction():
                landed = landing.land(conn, contracts.load("storm_asb"), path)
            result = file_gate.check(conn, entity, landed)
            assert result.passed, result.reason(landed)
            with conn.transaction():
                loaded = loader.load(conn, entity, landed, result.parsed)
            pipeline = time.perf_counter() - began
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"bare COPY: {bare:.1f} s; land + file gate + raw: {pipeline:.1f} s ({loaded:,} rows)")
        print(f"ratio {pipeline / bare:.1f} (target <= 1.5); peak memory {peak:.0f} MB")
    finally:
        embedded_pg.stop()


if __name__ == "__main__":
    main()

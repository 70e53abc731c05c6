"""Loading one large Storm extract: land + file gate + raw, against a bare COPY of the same file into an equivalent
table, on the same Postgres, measured in one run.

    .venv/bin/python bench/storm_load.py [--rows 1000000]

Runs a few rounds of three loads of the same file: a bare COPY into a table of the file's columns as text, one into
a table of the contract's types (the equivalent of raw), and the whole ingest of the file through the feed's real
path. Prints the best time of each, the ratios of the best times and the median of each round's own ratio (the
target is at most 1.5), the peak memory of the pipeline's process (DuckDB included; Postgres' own is not), and where
the pipeline's time goes.
"""

from __future__ import annotations

import argparse
import csv
import os
import resource
import shutil
import statistics
import subprocess
import sys
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
    name, phone = header.index("Caller Name"), header.index("Caller Phone")
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(header)
        for i in range(rows):
            row = list(sample[i % len(sample)])
            row[0] = f"LP-20210615-{i:06d}"
            # every caller distinct, so pseudonymising costs what a real million callers would
            row[name] = f"{row[name] or 'Caller'} {i}"
            row[phone] = f"07700 {i:06d}"
            writer.writerow(row)


def _copy_file(conn, statement: str, path: Path) -> float:
    began = time.perf_counter()
    with conn.transaction(), conn.cursor() as cur, cur.copy(statement) as copy, path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            copy.write(chunk)
    return time.perf_counter() - began


def _parts(path: Path, entity) -> list[tuple[str, float]]:
    """The pipeline's stages, each measured alone (no Postgres), to show where the time goes."""
    import pyarrow as pa

    from cspwh.ingest import file_gate, landed_file, loader

    staged = landed_file.from_csv(path, entity, entity.layouts[-1])
    tally = file_gate.Tally(staged, entity, _Landed(path))
    exprs, _ = loader.transform(entity, staged)
    converted = f"select {', '.join(exprs)} from {loader.source(entity, staged)}"
    checked = f"select {', '.join(exprs + tally.expressions)} from {loader.source(entity, staged)}"
    measured, batches = [], []

    def timed(label, work):
        began = time.perf_counter()
        work()
        measured.append((label, time.perf_counter() - began))

    timed(
        "reading the file",
        lambda: [b.num_rows for b in staged.con.sql("select * exclude (_line) from src").to_arrow_reader(100_000)],
    )
    timed("reading and converting", lambda: [b.num_rows for b in staged.con.sql(converted).to_arrow_reader(100_000)])
    timed("reading, converting and checking", lambda: batches.extend(staged.con.sql(checked).to_arrow_reader(100_000)))
    timed(
        "the two HMAC pseudonym columns",
        lambda: staged.con.sql(
            "select count(pseudonym(caller_name)), count(pseudonym(caller_phone)) from src"
        ).fetchall(),
    )
    width = len(loader.transform(entity, staged)[1])

    def encode():
        from pgpq import ArrowToPostgresBinaryEncoder

        rows = [pa.RecordBatch.from_arrays(b.columns[:width], names=[f"c{i}" for i in range(width)]) for b in batches]
        encoder = ArrowToPostgresBinaryEncoder(rows[0].schema)
        encoder.write_header()
        [encoder.write_batch(r) for r in rows]

    timed("encoding them for a binary COPY", encode)
    staged.close()
    return measured


class _Landed:
    def __init__(self, path: Path):
        self.path, self.period, self.file_id = path, "20210615", 0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--build-only", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.build_only:
        build_file(args.build_only, args.rows)
        return
    home = Path(tempfile.mkdtemp(prefix="cspwh-bench-"))
    home.chmod(0o755)
    os.environ.setdefault("CSPWH_HOME", str(home))
    os.environ.setdefault("CSPWH_PG_PORT", "55439")

    from cspwh import db, settings
    from cspwh.catalogue import contracts
    from cspwh.db import bootstrap
    from cspwh.ingest import feed_run
    from cspwh.local import embedded_pg

    path = home / "storm_asb_20210615.csv"
    # built in a child process, so the generator's memory is not counted as the pipeline's
    subprocess.run([sys.executable, __file__, "--rows", str(args.rows), "--build-only", str(path)], check=True)
    print(
        f"{args.rows:,} rows, {path.stat().st_size / 1e6:.0f} MB, {args.repeat} rounds (a text COPY, a typed "
        "COPY and the pipeline each)"
    )
    url = db.ensure_database(embedded_pg.use_by_default())
    bootstrap.ensure(url)
    entity = contracts.load("storm_asb").entity("incidents")
    types = {"timestamp": "timestamp", "date": "date"}
    drop = settings.drop_dir() / "storm_asb"
    drop.mkdir(parents=True, exist_ok=True)
    times: dict[str, list[float]] = {"text": [], "typed": [], "pipeline": []}
    try:
        with db.connect() as conn:
            conn.execute(
                "create table bare_text ({})".format(", ".join(f"c{i} text" for i in range(len(entity.headers))))
            )
            conn.execute(
                "create table bare_typed ({})".format(
                    ", ".join(f'"{c.name}" {types.get(c.type, "text")}' for c in entity.columns)
                )
            )
            conn.commit()

            def pipeline() -> float:
                conn.execute("truncate raw.storm_asb__incidents, landing.file_manifest cascade")
                conn.commit()
                shutil.copyfile(path, drop / path.name)
                began = time.perf_counter()
                outcome = feed_run.ingest_file("storm_asb", drop / path.name, "bench")
                assert outcome.outcome == "loaded" and outcome.rows == args.rows, outcome
                return time.perf_counter() - began

            pipeline()  # warm-up, untimed: builds the C HMAC and fills the page cache, as a nightly run finds them
            for _ in range(args.repeat):
                # a checkpoint before each, so no COPY pays for the previous one's writes
                for label, statement in (
                    ("text", "copy bare_text from stdin (format csv, header true)"),
                    ("typed", "copy bare_typed from stdin (format csv, header true)"),
                ):
                    conn.execute("truncate bare_text, bare_typed")
                    conn.execute("checkpoint")
                    conn.commit()
                    times[label].append(_copy_file(conn, statement, path))
                conn.execute("checkpoint")
                times["pipeline"].append(pipeline())
            loaded = conn.execute(
                "select count(*), count(distinct caller_name) from raw.storm_asb__incidents"
            ).fetchone()
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        best = {k: min(v) for k, v in times.items()}
        # this machine's speed drifts by half within minutes: each round's own ratio, then their median
        rounds = {k: statistics.median(p / b for p, b in zip(times["pipeline"], times[k])) for k in ("text", "typed")}
        print(f"bare COPY into a text table ({len(entity.headers)} columns): {best['text']:.2f} s")
        print(f"bare COPY into a typed table (the contract's types): {best['typed']:.2f} s")
        print(
            f"land + file gate + raw: {best['pipeline']:.2f} s ({loaded[0]:,} rows, {loaded[1]:,} distinct "
            "caller pseudonyms)"
        )
        print(
            f"ratio of the best runs: to the text COPY {best['pipeline'] / best['text']:.2f}, to the typed COPY "
            f"{best['pipeline'] / best['typed']:.2f} (target <= 1.5)"
        )
        print(
            f"median ratio within a round: to the text COPY {rounds['text']:.2f}, to the typed COPY "
            f"{rounds['typed']:.2f}; peak memory of this process {peak:.0f} MB"
        )
        print("all runs (s): " + "; ".join(f"{k} {', '.join(f'{t:.2f}' for t in v)}" for k, v in times.items()))
        print(
            "where the time goes (each measured alone, without Postgres; DuckDB on 2 threads): "
            + ", ".join(f"{label} {seconds:.2f} s" for label, seconds in _parts(path, entity))
        )
    finally:
        embedded_pg.stop()


if __name__ == "__main__":
    main()

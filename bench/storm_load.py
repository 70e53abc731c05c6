"""Loading one large Storm extract: land + file gate + raw, against a bare COPY of the same file into an equivalent
table, on the same Postgres, measured in one run.

    .venv/bin/python bench/storm_load.py [--rows 1000000]

Prints the best of a few runs of each (a bare COPY into a table of the file's columns as text, and as the contract's
types; the whole ingest of the file through the feed's real path), their ratios (the target is at most 1.5) and the
peak memory of the pipeline's process (DuckDB included; Postgres' own is not).
"""
from __future__ import annotations

import argparse
import csv
import os
import resource
import shutil
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
    from cspwh import loader, staged_file

    staged = staged_file.from_csv(path, entity, entity.layouts[-1])
    query, _ = loader.transform(entity, staged)
    to_null = "to '/dev/null' (format csv, use_tmp_file false)"
    steps = [("reading and rewriting the rows", f"copy (select * from src) {to_null}"),
             ("the checks", None),
             ("the conversions (pseudonyms included)", f"copy ({query}) {to_null}"),
             ("the two HMAC pseudonym columns", "select count(pseudonym(caller_name)), count(pseudonym(caller_phone)) "
                                                "from src")]
    measured = []
    for label, statement in steps:
        began = time.perf_counter()
        if statement:
            staged.con.execute(statement).fetchall()
        else:
            from cspwh import file_gate

            file_gate.run_checks(staged, entity, _Landed(path), None, [])
        measured.append((label, time.perf_counter() - began))
    staged.close()
    return measured


class _Landed:
    def __init__(self, path: Path):
        self.path, self.period, self.file_id = path, "20210615", 0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--build-only", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.build_only:
        build_file(args.build_only, args.rows)
        return
    home = Path(tempfile.mkdtemp(prefix="cspwh-bench-"))
    home.chmod(0o755)
    os.environ.setdefault("CSPWH_HOME", str(home))
    os.environ.setdefault("CSPWH_PG_PORT", "55439")

    from cspwh import bootstrap, contracts, db, embedded_pg, ingest, settings

    path = home / "storm_asb_20210615.csv"
    # built in a child process, so the generator's memory is not counted as the pipeline's
    subprocess.run([sys.executable, __file__, "--rows", str(args.rows), "--build-only", str(path)], check=True)
    print(f"{args.rows:,} rows, {path.stat().st_size / 1e6:.0f} MB, best of {args.repeat} runs each")
    url = db.ensure_database(settings.warehouse_url())
    bootstrap.ensure(url)
    entity = contracts.load("storm_asb").entity("incidents")
    types = {"timestamp": "timestamp", "date": "date"}
    drop = settings.drop_dir() / "storm_asb"
    drop.mkdir(parents=True, exist_ok=True)
    times: dict[str, list[float]] = {"text": [], "typed": [], "pipeline": []}
    try:
        with db.connect() as conn:
            conn.execute("create table bare_text ({})".format(
                ", ".join(f"c{i} text" for i in range(len(entity.headers)))))
            conn.execute("create table bare_typed ({})".format(
                ", ".join(f'"{c.name}" {types.get(c.type, "text")}' for c in entity.columns)))
            conn.commit()
            for _ in range(args.repeat):
                times["text"].append(_copy_file(conn, "copy bare_text from stdin (format csv, header true)", path))
                times["typed"].append(_copy_file(conn, "copy bare_typed from stdin (format csv, header true)", path))
                conn.execute("truncate bare_text, bare_typed, raw.storm_asb__incidents, landing.file_manifest cascade")
                conn.commit()
                shutil.copyfile(path, drop / path.name)
                began = time.perf_counter()
                outcome = ingest.ingest_file("storm_asb", drop / path.name, "bench")
                times["pipeline"].append(time.perf_counter() - began)
                assert outcome.outcome == "loaded" and outcome.rows == args.rows, outcome
            loaded = conn.execute("select count(*), count(distinct caller_name) from raw.storm_asb__incidents"
                                  ).fetchone()
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        best = {k: min(v) for k, v in times.items()}
        print(f"bare COPY into a text table ({len(entity.headers)} columns): {best['text']:.2f} s")
        print(f"bare COPY into a typed table (the contract's types): {best['typed']:.2f} s")
        print(f"land + file gate + raw: {best['pipeline']:.2f} s ({loaded[0]:,} rows, {loaded[1]:,} distinct "
              "caller pseudonyms)")
        print(f"ratio to the text COPY {best['pipeline'] / best['text']:.2f}, to the typed COPY "
              f"{best['pipeline'] / best['typed']:.2f} (target <= 1.5); peak memory of this process {peak:.0f} MB")
        print("all runs (s): " + "; ".join(f"{k} {', '.join(f'{t:.2f}' for t in v)}" for k, v in times.items()))
        print("where the time goes (each measured alone, DuckDB on 2 threads): " + ", ".join(
            f"{label} {seconds:.2f} s" for label, seconds in _parts(path, entity)))
    finally:
        embedded_pg.stop()


if __name__ == "__main__":
    main()

"""National volume: real police.uk force-months replicated to every force of England and Wales, loaded through the
feed's real path and built by the nightly dbt build, against a bare COPY of the same files.

    .venv/bin/python bench/national_scale.py --forces 43 --months 36     # national: ~20M street records
    .venv/bin/python bench/national_scale.py --forces 4 --months 6       # a small run

Each synthetic force-month is a real vendored file (Leicestershire, Lancashire, Nottinghamshire, Northamptonshire,
South Wales in turn) with its force and month rewritten, rows unchanged. The warehouse is configured as the
repository's partnership with every force in its comparison group, so the whole-force peer and regional models
carry the national volume. Prints, for the first half of the months and then for all of them (how each grows with
months), and at the end for one more month: rows, the pipeline's load time against a bare COPY of the same files, and
the nightly build's time. Each build is published, as the night does. The first two builds are full rebuilds
(CSPWH_INCREMENTAL=0); after the one more month the night's build (incremental by load, seeded from the published
build) is timed against a full rebuild of the same data, the two are compared row by row in every mart, and the
last lines say how much faster the incremental build is, whole and for the incremental models alone (the number the
target, at least 10x faster, is about), and beyond the cost of a build of the empty warehouse (timed first): the part
of the build that grows with volume.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import logging
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCES = [
    ROOT / "sources" / "police_uk" / "data" / f
    for f in ("leicestershire", "lancashire", "nottinghamshire", "northamptonshire", "south-wales")
]


class _CarryLine(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if message.startswith(("carried forward", "building every node")):
            self.lines.append(message)


def months_back(last: str, count: int) -> list[str]:
    year, month = map(int, last.split("-"))
    out = []
    for _ in range(count):
        out.append(f"{year}-{month:02d}")
        year, month = (year - 1, 12) if month == 1 else (year, month - 1)
    return out[::-1]


def write_force_month(source: Path, force_slug: str, force_name: str, month: str, out: Path) -> int:
    with gzip.open(source, "rt", newline="") as fh:
        rows = list(csv.reader(fh))
    header = rows[0]
    month_col, reported, falls = header.index("Month"), header.index("Reported by"), header.index("Falls within")
    with out.open("w", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\r\n")
        writer.writerow(header)
        for row in rows[1:]:
            row[month_col], row[reported], row[falls] = month, force_name, force_name
            writer.writerow(row)
    return len(rows) - 1


def build_files(folder: Path, forces: list[dict], months: list[str]) -> dict[str, list[Path]]:
    """month -> its files, one per force."""
    # each synthetic force takes its months from one real force, so its volume is as steady as a real force's
    sources = [sorted(s.glob("*-street.csv.gz")) for s in SOURCES]
    by_month: dict[str, list[Path]] = {}
    for i, month in enumerate(months):
        for j, force in enumerate(forces):
            path = folder / f"{month}-{force['police_uk_force']}-street.csv"
            real = sources[j % len(sources)]
            write_force_month(real[i % len(real)], force["police_uk_force"], force["force_area_name"], month, path)
            by_month.setdefault(month, []).append(path)
    return by_month


INCREMENTAL_MODELS = ("int_street_crimes_located", "int_police_uk_load_counts", "int_police_uk_force_monthly")


def model_seconds() -> dict[str, float]:
    """The last dbt run's own timing of the street-crime models (run_results.json)."""
    import json

    from cspwh import settings

    results = json.loads((settings.home() / "dbt" / "target" / "run_results.json").read_text())["results"]
    return {
        r["unique_id"].rsplit(".", 1)[-1]: float(r["execution_time"])
        for r in results
        if r["unique_id"].startswith("model.") and r["unique_id"].rsplit(".", 1)[-1] in INCREMENTAL_MODELS
    }


def slowest_nodes(count: int = 8) -> str:
    """The last dbt run's slowest nodes (models and tests), for where a build's time goes."""
    import json

    from cspwh import settings

    results = json.loads((settings.home() / "dbt" / "target" / "run_results.json").read_text())["results"]
    ranked = sorted(results, key=lambda r: -float(r["execution_time"]))[:count]
    # a test's id ends in a hash after its name
    names = [r["unique_id"].split(".")[2] for r in ranked]
    return ", ".join(f"{n[:60]} {float(r['execution_time']):.1f}" for n, r in zip(names, ranked, strict=True))


def differing_tables(db, a: str, b: str) -> list[str]:
    """Tables of schema a whose rows (as a multiset, compared as text) differ from b's."""
    out = []
    with db.connect() as conn:
        names = [r[0] for r in conn.execute("select tablename from pg_tables where schemaname = %s", (a,))]
        for t in names:
            n = conn.execute(
                f'select (select count(*) from (select x::text from "{a}"."{t}" x except all '
                f'select y::text from "{b}"."{t}" y) d) + (select count(*) from (select y::text from '
                f'"{b}"."{t}" y except all select x::text from "{a}"."{t}" x) d)'
            ).fetchone()[0]
            if n:
                out.append(t)
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--forces", type=int, default=43)
    parser.add_argument("--months", type=int, default=36)
    parser.add_argument("--last-month", default="2022-03")
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="cspwh-bench-national-"))
    home.chmod(0o755)
    os.environ.setdefault("CSPWH_HOME", str(home))
    os.environ.setdefault("CSPWH_PG_PORT", "55441")
    sys.path.insert(0, str(ROOT))

    from cspwh import db, settings
    from cspwh.catalogue import national, partnership_init, reference
    from cspwh.db import bootstrap
    from cspwh.ingest import feed_run
    from cspwh.local import embedded_pg
    from cspwh.warehouse import nightly, publish

    # the repository's partnership, with every force compared (so the whole-force models carry every force)
    own = reference.partnership()["force_area_code"]
    forces = [f for c, f in sorted(national.force_areas().items()) if c == own] + [
        f for c, f in sorted(national.force_areas().items()) if c != own
    ]
    forces = forces[: args.forces]
    refdir = home / "reference"
    shutil.copytree(settings.reference_dir(), refdir)
    force_rows, peer_rows, _ = partnership_init.force_comparisons(
        own, [f["police_uk_force"] for f in forces[1:]], range(2001, 2021)
    )
    with (refdir / "peer_forces.csv").open("w", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["force_slug", "force_name", "is_partnership_force", "in_comparison_group", "note", "in_region"])
        w.writerows(peer_rows)
    os.environ["CSPWH_REFERENCE_DIR"] = str(refdir)

    months = months_back(args.last_month, args.months + 1)
    files_dir = home / "files"
    files_dir.mkdir()
    began = time.perf_counter()
    by_month = build_files(files_dir, forces, months)
    print(
        f"{args.forces} forces x {args.months} months (+1 new month): files written in "
        f"{time.perf_counter() - began:.0f} s"
    )
    url = db.ensure_database(embedded_pg.use_by_default())
    bootstrap.ensure(url)
    drop = settings.drop_dir() / "police_uk"
    drop.mkdir(parents=True, exist_ok=True)
    try:
        with db.connect() as conn:
            conn.execute("create table bare_text ({})".format(", ".join(f"c{i} text" for i in range(12))))
            conn.commit()
        half = max(1, args.months // 2)
        steps = [
            ("first half", months[:half]),
            ("all months", months[half : args.months]),
            ("one more month", months[args.months :]),
        ]
        said = _CarryLine()  # what each build carried forward from the published build, or why not
        logging.getLogger("cspwh.warehouse.dbt_runner").addHandler(said)
        logging.getLogger("cspwh.warehouse.dbt_runner").setLevel(logging.INFO)
        # what a build costs whatever the volume: dbt's start and parse, the seeds, every model and test on no rows
        os.environ["CSPWH_INCREMENTAL"] = "0"
        t = time.perf_counter()
        nightly.build(nightly.new_build_schema(), "bench")
        fixed = time.perf_counter() - t
        print(f"empty warehouse: build {fixed:.1f} s (dbt's fixed cost: start, parse, seeds, every node on no rows)")
        loaded_rows = 0
        for label, step_months in steps:
            files = [p for m in step_months for p in by_month[m]]
            rows = 0
            copy_seconds = 0.0
            with db.connect() as conn:
                for path in files:
                    t = time.perf_counter()
                    with (
                        conn.transaction(),
                        conn.cursor() as cur,
                        cur.copy("copy bare_text from stdin (format csv, header true)") as copy,
                        path.open("rb") as fh,
                    ):
                        while chunk := fh.read(1 << 20):
                            copy.write(chunk)
                    copy_seconds += time.perf_counter() - t
            t = time.perf_counter()
            for path in files:
                shutil.copyfile(path, drop / path.name)
                outcome = feed_run.ingest_file("police_uk", drop / path.name, "bench")
                assert outcome.outcome == "loaded", (path.name, outcome)
                rows += outcome.rows
            load_seconds = time.perf_counter() - t
            loaded_rows += rows
            print(
                f"{label}: {len(step_months)} months, {rows:,} rows (warehouse now {loaded_rows:,}): load "
                f"{load_seconds:.1f} s against bare COPY {copy_seconds:.1f} s (x{load_seconds / copy_seconds:.2f})"
            )
            modes = (
                [("full rebuild", False)]
                if label != "one more month"
                else [("nightly build (incremental)", True), ("full rebuild of the same data", False)]
            )
            built = {}
            for mode, incremental in modes:
                os.environ["CSPWH_INCREMENTAL"] = "1" if incremental else "0"
                schema = nightly.new_build_schema()
                t = time.perf_counter()
                nightly.build(schema, "bench")
                seconds = time.perf_counter() - t
                models = model_seconds()
                built[incremental] = (schema, seconds, models)
                print(
                    f"  {mode}: {seconds:.1f} s; incremental models {sum(models.values()):.1f} s ("
                    + ", ".join(f"{m} {v:.1f} s" for m, v in models.items())
                    + ")"
                )
                print(f"    slowest nodes (s): {slowest_nodes()}")
                if said.lines:
                    print(f"    {said.lines[-1]}")
                if incremental or label != "one more month":
                    publish.publish(schema, "bench")
            if label == "one more month":
                (inc, inc_s, inc_m), (full, full_s, full_m) = built[True], built[False]
                different = differing_tables(db, "marts", f"{full}_marts") + differing_tables(
                    db, f"{inc}_intermediate", f"{full}_intermediate"
                )
                print(
                    f"one new month: nightly build {inc_s:.1f} s against a full rebuild {full_s:.1f} s "
                    f"(x{full_s / inc_s:.2f} faster); the incremental models {sum(inc_m.values()):.1f} s against "
                    f"{sum(full_m.values()):.1f} s (x{sum(full_m.values()) / max(sum(inc_m.values()), 1e-3):.1f}); "
                    f"marts and intermediate tables {'identical' if not different else 'DIFFERENT: ' + str(different)}"
                )
                # the night's build carries forward what no new load reaches (cspwh/warehouse/carry_forward.py), so
                # it can cost less than building the empty warehouse: then there is no part to compare
                print(
                    f"beyond the empty warehouse's build ({fixed:.1f} s): "
                    + (
                        f"nightly {inc_s - fixed:.1f} s against full rebuild {full_s - fixed:.1f} s "
                        f"(x{(full_s - fixed) / (inc_s - fixed):.1f})"
                        if inc_s > fixed
                        else f"the nightly build is below it ({inc_s:.1f} s: what no new load reaches is carried)"
                    )
                )
    finally:
        embedded_pg.stop()
        if not os.environ.get("CSPWH_BENCH_KEEP"):
            shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()

"""Linking Storm and Sentinel ASB: our linker (dbt on Postgres) against Splink 4 on DuckDB, side by side on the same
records, at the county's density and multiples of it (12 months; scale 37.5 is about 700,000 records).

    CSPWH_PG_PORT=55436 .venv/bin/python bench/linking.py [--scales 1,5,20] [--linkage hard|realistic]
        [--linkers ours,splink | ours] [--from 2021-01 --to 2021-12] [--repeat 3] [--save bench/results/linking.txt]

CSPWH_BENCH_KEEP=1 keeps each size's database and leaves the server running, to look into the plans afterwards.

For each size: the generator writes Storm and Sentinel at that scale with the default fault rates; the files go into
raw on the embedded Postgres (default settings, as the product runs it) through the feeds' own ingest path
(`bench.linkage_quality.load_generated`: landing, file gate, pseudonyms, parsed dates, district codes, COPY; a file the
gate quarantines is held back); dbt builds the two staging tables.

- ours: `dbt run --select int_asb_incidents_linked` (real dbt in its own process, reading the staging tables dbt
  built untimed, as Splink's input is loaded untimed). The time is the model's own, as dbt reports it (its SQL, the
  pre-hook, the table swap and comments); the whole invocation (dbt's start, parse and connection) is printed beside
  it. Memory: peak of that process's RSS plus the summed proportional set size (PSS, shared pages split fairly) of
  every process of the Postgres server, sampled every 50 ms.
- Splink: the same staging rows (exported from the staging tables, untimed) loaded into DuckDB in its own process;
  timed from
  building the linker: estimating lambda from the Storm-reference rule, u by random sampling, m by EM on the
  Storm-reference block, predicting over blocking rules at least as wide as ours (uncapped), then keeping each side's
  best link (one to
  one, as ours). Comparisons as ours: Storm reference, person pseudonyms, date (same / 1 day / 2-3 days / else), LSOA
  (same / same MSOA / else), postcode, address (house number and street pseudonym), PEN category and ASB type.
  Memory: that process's peak RSS.

Each linker runs --repeat times per size, alternating; the fastest run is kept (the machine is shared). Those runs run
alone; one more run of each is sampled for memory (sampling slowed a run by 6-35%).

Precision and recall are counted against the generator's ground truth pairs whose two records reached staging.
Targets (issue 11, hard profile): at the county's density precision >= 0.98, recall >= 0.92 and combined ASB within
2% of the true matters at county level; at 5x precision >= 0.97, recall >= 0.88; at 20x precision >= 0.95; F1 above
Splink's best and time no more than Splink's; <= 4 GB at 700,000 records; time growth <= 2.2x per doubling.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# the measuring harness (bench/linkage_quality.py) is imported as `bench.linkage_quality`, here and in the children
sys.path.insert(0, str(ROOT))
os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
LINKAGE = ["hard"]  # the generator's linkage profile, set by --linkage

OURS = r"""
import json, sys, time
from bench import linkage_quality
began = time.perf_counter()
model = linkage_quality.run_linker(sys.argv[1])
print(json.dumps({"seconds": model, "dbt_seconds": time.perf_counter() - began}))
"""

MSOA = """left join (select lsoa11cd as lsoa_code, left(lsoa11nm, length(lsoa11nm) - 1) as msoa
                       from {s}_reference.ons_lsoa11_to_lad19) as m using (lsoa_code)"""
STORM_SQL = (
    """select incident_number as uid, incident_key as storm_ref, district_code,
                      caller_surname_pseudonym as surname, caller_initial_surname_pseudonym as initial_surname,
                      caller_surname_sound_pseudonym as surname_sound, caller_postcode_unit_pseudonym as postcode_unit,
                      caller_postcode_district as postcode_district, caller_address_pseudonym as address,
                      'Police' as origin,
                      incident_date as event_date, lsoa_code, msoa, pen_category, asb_type
                 from {s}_staging.stg_storm_asb__incidents """
    + MSOA
)
SENTINEL_SQL = (
    """select case_id as uid, storm_incident_number as storm_ref, district_code,
                         victim_surname_pseudonym as surname, victim_initial_surname_pseudonym as initial_surname,
                         victim_surname_sound_pseudonym as surname_sound,
                         victim_postcode_unit_pseudonym as postcode_unit,
                         victim_postcode_district as postcode_district, victim_address_pseudonym as address,
                         originating_agency as origin,
                         incident_on as event_date, lsoa_code, msoa, pen_category, asb_type
                    from {s}_staging.stg_sentinel_asb__cases """
    + MSOA
    + " where case_type = 'ASB'"
)


# --- Splink, in its own process -----------------------------------------------------------------------------------

SPLINK_THRESHOLDS = (0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 0.9, 0.95, 0.99)


def one_to_one(pairs: list[tuple[str, str, float, float]], threshold: float) -> set[tuple[str, str]]:
    """Each side's best pair at or above the threshold (mutual best), as Splink users do after predict."""
    kept = [p for p in pairs if p[3] >= threshold]
    best_case, best_incident = {}, {}
    for case, incident, weight, _ in kept:
        if case not in best_case or (weight, incident) > best_case[case]:
            best_case[case] = (weight, incident)
        if incident not in best_incident or (weight, case) > best_incident[incident]:
            best_incident[incident] = (weight, case)
    return {(c, i) for c, (_, i) in best_case.items() if best_incident[i][1] == c}


def splink_child(storm_csv: str, sentinel_csv: str, links_csv: str, threshold: str = "0.05") -> None:
    import resource

    import duckdb
    import splink.comparison_level_library as cll
    import splink.comparison_library as cl
    from splink import DuckDBAPI, Linker, SettingsCreator, block_on

    con = duckdb.connect()
    types = {
        "uid": "VARCHAR",
        "storm_ref": "VARCHAR",
        "district_code": "VARCHAR",
        "surname": "VARCHAR",
        "initial_surname": "VARCHAR",
        "surname_sound": "VARCHAR",
        "postcode_unit": "VARCHAR",
        "postcode_district": "VARCHAR",
        "address": "VARCHAR",
        "origin": "VARCHAR",
        "event_date": "DATE",
        "lsoa_code": "VARCHAR",
        "msoa": "VARCHAR",
        "pen_category": "VARCHAR",
        "asb_type": "VARCHAR",
    }
    for name, path in (("storm", storm_csv), ("sentinel", sentinel_csv)):
        con.execute(f"create table {name} as select * from read_csv(?, header = true, columns = {types!r})", [path])
    began = time.perf_counter()
    # the best Splink configuration built here on the same evidence as ours: the same levels and blocks
    days = "abs(date_diff('day', event_date_l, event_date_r))"
    date = cl.CustomComparison(
        output_column_name="event_date",
        comparison_levels=[
            cll.NullLevel("event_date"),
            cll.ExactMatchLevel("event_date"),
            cll.CustomLevel(f"{days} = 1", label_for_charts="1 day"),
            cll.CustomLevel(f"{days} <= 3", label_for_charts="2-3 days"),
            cll.ElseLevel(),
        ],
    )
    place = cl.CustomComparison(
        output_column_name="lsoa_code",
        comparison_levels=[
            cll.NullLevel("lsoa_code"),
            cll.ExactMatchLevel("lsoa_code"),
            cll.ExactMatchLevel("msoa"),
            cll.ElseLevel(),
        ],
    )
    person = cl.CustomComparison(
        output_column_name="surname",
        comparison_levels=[
            cll.NullLevel("surname"),
            cll.ExactMatchLevel("initial_surname"),
            cll.ExactMatchLevel("surname"),
            cll.ExactMatchLevel("surname_sound"),
            cll.ElseLevel(),
        ],
    )
    postcode = cl.CustomComparison(
        output_column_name="postcode_unit",
        comparison_levels=[
            cll.NullLevel("postcode_unit"),
            cll.ExactMatchLevel("postcode_unit"),
            cll.ExactMatchLevel("postcode_district"),
            cll.ElseLevel(),
        ],
    )
    category = cl.CustomComparison(
        output_column_name="pen_category",
        comparison_levels=[
            cll.And(cll.ExactMatchLevel("pen_category"), cll.ExactMatchLevel("asb_type")),
            cll.Or(cll.ExactMatchLevel("pen_category"), cll.ExactMatchLevel("asb_type")),
            cll.ElseLevel(),
        ],
    )
    within = "l.district_code = r.district_code and abs(date_diff('day', l.event_date, r.event_date)) <= {}"
    blocking = [
        block_on("storm_ref"),
        within.format(1),
        within.format(3) + " and l.msoa = r.msoa",
        *[
            within.format(3) + f" and l.{key} = r.{key}"
            for key in ("surname", "initial_surname", "surname_sound", "postcode_unit", "address")
        ],
    ]
    settings = SettingsCreator(
        link_type="link_only",
        unique_id_column_name="uid",
        comparisons=[
            cl.ExactMatch("storm_ref"),
            date,
            place,
            person,
            postcode,
            cl.ExactMatch("address"),
            category,
            cl.ExactMatch("origin"),
        ],
        blocking_rules_to_generate_predictions=blocking,
        retain_matching_columns=False,
    )
    linker = Linker(
        ["storm", "sentinel"],
        settings,
        DuckDBAPI(con),
        set_up_basic_logging=False,
        input_table_aliases=["storm", "sentinel"],
    )
    linker.training.estimate_probability_two_random_records_match([block_on("storm_ref")], recall=0.6)
    linker.training.estimate_u_using_random_sampling(max_pairs=1e6, seed=1)
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("storm_ref"))
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("district_code", "event_date"))
    trained = time.perf_counter() - began
    predictions = linker.inference.predict(threshold_match_probability=float(threshold))
    # every scored pair: the parent picks the one-to-one links at the threshold that gives Splink its best F1
    con.execute(f"""
        copy (
            select case when source_dataset_l = 'storm' then uid_r else uid_l end as case_id,
                   case when source_dataset_l = 'storm' then uid_l else uid_r end as incident_number,
                   match_weight, match_probability
            from {predictions.physical_name}
        ) to '{links_csv}' (header)""")
    seconds = time.perf_counter() - began
    print(
        json.dumps(
            {
                "seconds": seconds,
                "training_seconds": trained,
                "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            }
        )
    )


# --- memory sampling -----------------------------------------------------------------------------------------------


class Sampler:
    """Peak of (the child's RSS + the summed PSS of every Postgres server process), sampled in a thread."""

    def __init__(self, child_pid: int, postmaster_pid: int | None):
        import psutil

        self.psutil, self.child, self.postmaster = psutil, child_pid, postmaster_pid
        self.peak_total = self.peak_pg = self.peak_child = 0.0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def _pg(self) -> float:
        if not self.postmaster:
            return 0.0
        try:
            root = self.psutil.Process(self.postmaster)
            total = 0
            for proc in [root, *root.children()]:
                try:
                    total += proc.memory_full_info().pss
                except (self.psutil.NoSuchProcess, self.psutil.AccessDenied):
                    pass
            return total / 2**20
        except self.psutil.NoSuchProcess:
            return 0.0

    def _child(self) -> float:
        try:
            proc = self.psutil.Process(self.child)
            return sum(p.memory_info().rss for p in [proc, *proc.children(recursive=True)]) / 2**20
        except self.psutil.NoSuchProcess:
            return 0.0

    def run(self):
        while not self.stop.is_set():
            pg, child = self._pg(), self._child()
            self.peak_pg, self.peak_child = max(self.peak_pg, pg), max(self.peak_child, child)
            self.peak_total = max(self.peak_total, pg + child)
            time.sleep(0.05)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join()


def _run_child(args: list[str], env: dict, postmaster: int | None, sampled: bool) -> tuple[dict, Sampler]:
    proc = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    sampler = Sampler(proc.pid, postmaster)
    if sampled:
        with sampler:
            out, err = proc.communicate()
    else:
        out, err = proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"{args[:3]} failed:\n{err[-4000:]}\n{out[-2000:]}")
    return json.loads(out.strip().splitlines()[-1]), sampler


# --- one size ------------------------------------------------------------------------------------------------------


def one_size(scale: float, start: str, end: str, work: Path, server, repeat: int, linkers: list[str]) -> dict:
    from bench import linkage_quality
    from cspwh import db
    from cspwh.db import bootstrap
    from cspwh.generator import generate
    from cspwh.generator.config import Config

    generated = work / f"feeds_{scale:g}"
    generate(Config(out=generated, start=start, end=end, scale=scale, linkage=LINKAGE[0]))
    url = db.ensure_database(server.url_for(f"bench_{str(scale).replace('.', '_')}"))
    os.environ["WAREHOUSE_URL"] = url
    bootstrap.ensure(url)
    began = time.perf_counter()
    loaded = linkage_quality.load_generated(url, generated)
    with db.connect(url, autocommit=True) as conn:
        conn.execute("vacuum analyze raw.storm_asb__incidents")
        conn.execute("vacuum analyze raw.sentinel_asb__cases")
    schema = "bench"
    linkage_quality.build_staging(schema)
    # the setup's writes flushed and its new tables' pages hinted before anything is timed: at 355,000 records a
    # checkpoint of the setup's gigabytes or the first read's hint bits fell inside the timed runs (11.5 to 13.4 s
    # for a model that takes 10.4 s on the same rows after them)
    with db.connect(url, autocommit=True) as conn:
        for table in ("stg_storm_asb__incidents", "stg_sentinel_asb__cases"):
            conn.execute(f"vacuum analyze {schema}_staging.{table}")
        conn.execute("checkpoint")
    setup = time.perf_counter() - began
    with db.connect(url) as conn:
        storm_n = conn.execute(f"select count(*) from {schema}_staging.stg_storm_asb__incidents").fetchone()[0]
        sentinel_n = conn.execute(f"select count(*) from {schema}_staging.stg_sentinel_asb__cases").fetchone()[0]
        csvs = {}
        for name, sql in (("storm", STORM_SQL), ("sentinel", SENTINEL_SQL)):
            csvs[name] = work / f"{name}_{scale:g}.csv"
            with (
                csvs[name].open("wb") as fh,
                conn.cursor().copy(f"copy ({sql.format(s=schema)}) to stdout (format csv, header true)") as copy,
            ):
                for chunk in copy:
                    fh.write(chunk)
    postmaster = int((server.root / "data" / "postmaster.pid").read_text().split()[0])
    env = dict(os.environ, WAREHOUSE_URL=url)
    result = {
        "scale": scale,
        "records": storm_n + sentinel_n,
        "storm": storm_n,
        "sentinel": sentinel_n,
        "setup_seconds": setup,
        "held_back_files": loaded["storm_files_held_back"],
    }
    # the timed runs run alone, then one more run of each linker is sampled for memory: the sampler reads every
    # Postgres process's memory map every 50 ms, which cost a timed run 6% of its time at 717,000 records and 20-35%
    # at 355,000 (so it bent the growth it was timing)
    runs: dict[str, list[dict]] = {"ours": [], "splink": []}
    memory: dict[str, dict] = {}
    for attempt in range(repeat + 1):
        sampled = attempt == repeat
        measured, sampler = _run_child([sys.executable, "-c", OURS, schema], env, postmaster, sampled)
        if sampled:
            memory["ours"] = {"peak_mb": sampler.peak_total, "pg_mb": sampler.peak_pg, "process_mb": sampler.peak_child}
        else:
            runs["ours"].append({"seconds": measured["seconds"], "dbt_seconds": measured["dbt_seconds"]})
        links_csv = work / f"splink_links_{scale:g}.csv"
        if "splink" not in linkers:
            continue
        measured, sampler = _run_child(
            [
                sys.executable,
                __file__,
                "--splink-child",
                str(csvs["storm"]),
                str(csvs["sentinel"]),
                str(links_csv),
                str(min(SPLINK_THRESHOLDS)),
            ],
            env,
            None,
            sampled,
        )
        if sampled:
            memory["splink"] = {"peak_mb": max(measured["peak_mb"], sampler.peak_child)}
        else:
            runs["splink"].append({"seconds": measured["seconds"], "training_seconds": measured["training_seconds"]})
    for name in linkers:
        result[name] = min(runs[name], key=lambda r: r["seconds"])
        result[name]["all_seconds"] = [round(r["seconds"], 1) for r in runs[name]]
        result[name].update(memory[name])
    ours = linkage_quality.links(url, schema)
    result["ours"].update(linkage_quality.quality(ours, generated, url, schema))
    result["ours"].update(linkage_quality.combined_error(ours, generated, url, schema))
    if "splink" not in linkers:
        _drop(server, url)
        return result
    import csv

    with links_csv.open(newline="") as fh:
        pairs = [
            (r["case_id"], r["incident_number"], float(r["match_weight"]), float(r["match_probability"]))
            for r in csv.DictReader(fh)
        ]
    tried = []
    for threshold in SPLINK_THRESHOLDS:
        found = one_to_one(pairs, threshold)
        q = linkage_quality.quality(found, generated, url, schema)
        q["f1"] = 2 * q["precision"] * q["recall"] / max(1e-9, q["precision"] + q["recall"])
        tried.append((q["f1"], threshold, found, q))
    f1, threshold, found, q = max(tried, key=lambda t: t[0])
    result["splink"].update(q, threshold=threshold)
    result["splink"].update(linkage_quality.combined_error(found, generated, url, schema))
    _drop(server, url)
    return result


def _drop(server, url: str) -> None:
    from cspwh import db

    if os.environ.get("CSPWH_BENCH_KEEP"):
        # kept to look into (EXPLAIN ANALYZE of the linker on the same rows): the server is left running too
        print(f"kept: {url} (CSPWH_HOME={os.environ['CSPWH_HOME']})", flush=True)
        return
    with db.connect(server.url_for("postgres"), autocommit=True) as conn:
        conn.execute(f'drop database "{db.database_name(url)}" with (force)')


def report(results: list[dict]) -> list[str]:
    lines = [
        f"{'records':>9} {'(storm+sentinel)':>17} | {'linker':<6} | {'seconds':>7} | {'peak MB':>8} | "
        f"{'precision':>9} | {'recall':>6} | {'F1':>6} | notes"
    ]
    for r in results:
        for name in ("ours", "splink"):
            if name not in r:
                continue
            m = r[name]
            if name == "ours":
                note = (
                    f"dbt invocation {m['dbt_seconds']:.1f} s; "
                    f"Postgres {m['pg_mb']:.0f} MB + dbt process {m['process_mb']:.0f} MB"
                )
            else:
                note = f"of which training {m['training_seconds']:.1f} s; best F1 at probability {m['threshold']}"
            note = (
                f"combined vs true matters: county {m['county_error']:+.2%} over the months, county-month "
                f"worst {m['county_month_worst']:+.2%}, district-month worst {m['district_month_worst']:+.2%}; " + note
            )
            lines.append(
                f"{r['records']:>9,} {'(' + format(r['storm'], ',') + '+' + format(r['sentinel'], ',') + ')':>17}"
                f" | {name:<6} | {m['seconds']:7.1f} | {m['peak_mb']:8.0f} | {m['precision']:9.4f} | "
                f"{m['recall']:6.4f} | {_f1(m):6.4f} | {note}; runs {m['all_seconds']}"
            )
    lines.append("")
    compared = [r for r in results if "splink" in r]
    if compared:
        top = compared[-1]
        lines.append(
            f"at {top['records']:,} records: ours/Splink time = "
            f"{top['ours']['seconds'] / top['splink']['seconds']:.2f} (target <= 1)"
        )
    for name in ("ours", "splink"):
        if not all(name in r for r in results):
            continue
        growth = [
            b[name]["seconds"] / a[name]["seconds"] * (2 / (b["records"] / a["records"]))
            for a, b in zip(results, results[1:])
        ]
        import math

        overall = (
            (results[-1][name]["seconds"] / results[0][name]["seconds"])
            ** (1 / math.log2(results[-1]["records"] / results[0]["records"]))
            if len(results) > 1
            else 0
        )
        lines.append(
            f"{name}: time growth per doubling of records "
            f"{', '.join(f'{g:.2f}x' for g in growth)} (max {max(growth, default=0):.2f}x, "
            f"smallest to largest {overall:.2f}x per doubling; target <= 2.2x)"
        )
    lines.append(f"ours: peak memory {max(r['ours']['peak_mb'] for r in results) / 1024:.2f} GB (target <= 4 GB)")
    for r in compared:
        o, sp = r["ours"], r["splink"]
        lines.append(
            f"scale {r['scale']:g}: ours F1 {_f1(o):.4f} vs Splink's best {_f1(sp):.4f}; "
            f"ours/Splink time {o['seconds'] / sp['seconds']:.2f}; precision {o['precision']:.4f}, "
            f"recall {o['recall']:.4f}, combined at county level {o['county_error']:+.2%}"
        )
    return lines


def _f1(m: dict) -> float:
    return 2 * m["precision"] * m["recall"] / max(1e-9, m["precision"] + m["recall"])


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--splink-child":
        splink_child(*sys.argv[2:6])
        return
    parser = argparse.ArgumentParser()
    parser.add_argument("--scales", default="1,5,20")
    parser.add_argument(
        "--linkage",
        default="hard",
        choices=["realistic", "hard"],
        help="the generator's linkage profile (cspwh generate --linkage)",
    )
    parser.add_argument("--from", dest="start", default="2021-01")
    parser.add_argument("--to", dest="end", default="2021-12")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each linker per size; the fastest is kept")
    parser.add_argument("--save", help="also write the printed report to this file")
    parser.add_argument(
        "--linkers",
        default="ours,splink",
        help="ours,splink (default) or ours alone: Splink 4 needed 19.5 GB at 372,000 records, more than this machine",
    )
    args = parser.parse_args()
    LINKAGE[0] = args.linkage
    work = Path(tempfile.mkdtemp(prefix="cspwh-bench-linking-"))
    work.chmod(0o755)
    os.environ.setdefault("CSPWH_HOME", str(work / "home"))
    os.environ.setdefault("CSPWH_PG_PORT", "55436")
    from cspwh.local import embedded_pg

    server = embedded_pg.ensure_running()
    results = []
    try:
        for scale in [float(s) for s in args.scales.split(",")]:
            r = one_size(scale, args.start, args.end, work, server, args.repeat, args.linkers.split(","))
            results.append(r)
            print(
                f"scale {scale:g}: {r['records']:,} records (setup {r['setup_seconds']:.0f} s, "
                f"{r['held_back_files']} Storm file(s) quarantined by the gate); ours {r['ours']['seconds']:.1f} s"
                + (f", Splink {r['splink']['seconds']:.1f} s" if "splink" in r else ""),
                flush=True,
            )
    finally:
        if not os.environ.get("CSPWH_BENCH_KEEP"):
            embedded_pg.stop()
    header = [
        f"bench/linking.py, {time.strftime('%Y-%m-%d %H:%M')}, months {args.start} to {args.end}, "
        f"scales {args.scales}, linkers {args.linkers}, linkage profile {args.linkage}, default fault rates, "
        f"{os.cpu_count()} cores; "
        f"Postgres with the embedded defaults; Splink {_version('splink')}, DuckDB {_version('duckdb')}"
    ]
    lines = header + [""] + report(results)
    print("\n".join(lines))
    if args.save:
        Path(args.save).write_text("\n".join(lines) + "\n")


def _version(name: str) -> str:
    from importlib.metadata import version

    return version(name)


if __name__ == "__main__":
    main()

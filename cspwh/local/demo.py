"""`make demo`: the nightly job for real on the embedded default, then a summary and the analyst's URL."""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence

from cspwh import db, settings
from cspwh.db import bootstrap
from cspwh.local import dag_runs, embedded_pg


def stage_police_uk() -> int:
    """Deliver the vendored police.uk files to the feed's drop folder, as the force's monthly upload would (files
    already received are recognised by their hash at landing, so delivering them again loads nothing twice)."""
    drop = settings.drop_dir() / "police_uk"
    drop.mkdir(parents=True, exist_ok=True)
    staged = 0
    for source in sorted((settings.SOURCES_DIR / "police_uk" / "data").glob("*/*.csv.gz")):
        target = drop / source.name
        if not target.exists():
            shutil.copyfile(source, target)
            staged += 1
    return staged


FEED_DAGS = ("police_uk", "storm_asb", "sentinel_asb", "uava_return", "marac", "yos", "crc_rat")


def stage_generated(start: str, end: str):
    """Generate the partner feeds for the demo window and deliver their files to the drop folders (Sentinel is
    served by its API stand-in instead). Corrected files are held back for a second night."""
    from cspwh.generator import deliveries, generate
    from cspwh.generator.config import Config

    out = settings.home() / "generated"
    generate(Config(out=out, start=start, end=end))
    files = [f for _, night in deliveries.schedule(out) for f in night]
    corrections = [f for f in files if f[1].startswith("corrections/")]
    deliveries.deliver(out, settings.drop_dir(), [f for f in files if f not in corrections])
    return out, len(files) - len(corrections), corrections


def analyst_url() -> str:
    return db.with_credentials(settings.warehouse_url(), settings.analyst_role(), settings.analyst_password())


def run() -> int:
    url = db.ensure_database(embedded_pg.use_by_default())
    print(f"Warehouse server: {db.redact(url)}")
    bootstrap.ensure()
    from cspwh.reporting import ledger

    # the board's figures published before the warehouse: the first history the restatement check compares with
    counts = ledger.import_file(settings.PROJECT_ROOT / "ledger" / "board_published_figures.csv")
    print(
        f"The board's published figures (ledger/board_published_figures.csv): {counts['figures']} in the "
        f"as-published ledger, {counts['unkeyed']} unkeyed (cspwh ledger show --quarter 2018-19Q1)"
    )
    staged = stage_police_uk()
    print(f"Delivered {staged} police.uk file(s) to {settings.drop_dir() / 'police_uk'}")
    # two financial years of partner feeds, so every dashboard row has a complete year and a comparator year; they
    # end where the vendored peer forces' police.uk files end (the rolling year to 2021-22 Q4)
    start, end = os.environ.get("CSPWH_DEMO_FROM", "2020-04"), os.environ.get("CSPWH_DEMO_TO", "2022-03")
    generated, delivered, corrections = stage_generated(start, end)
    print(f"Generated the partner feeds for {start} to {end} in {generated}; delivered {delivered} file(s)")
    print("Preparing Airflow (metadata database migrate)...")
    dag_runs.prepare()
    states: dict[str, list[str]] = {}
    from cspwh.generator import deliveries
    from cspwh.local.sentinel_api import SentinelAPI

    with SentinelAPI(generated / "api" / "sentinel" / "cases.jsonl") as api:
        os.environ["CSPWH_SENTINEL_API_URL"] = api.base_url  # the stand-in for Sentinel's API, for this run
        nights: list[tuple[Sequence[str], str]] = [(FEED_DAGS, "first night")]
        if corrections:
            nights.append((sorted({feed for feed, _ in corrections}), "second night: corrected files arrive"))
        for number, (feeds, title) in enumerate(nights):
            if number:
                deliveries.deliver(generated, settings.drop_dir(), corrections)
            print(f"The {title}:")
            for dag_id in (*feeds, "nightly_warehouse"):
                print(f"  running DAG {dag_id} ...", end=" ", flush=True)
                state = str(dag_runs.run(dag_id).state).rsplit(".", 1)[-1]
                states.setdefault(dag_id, []).append(state)
                print(state)
    print()
    print(summary())
    draft = draft_report()
    if draft:
        print(f"Board dashboard (draft, not recorded in the as-reported ledger): {draft}")
    print(f"Warehouse: {analyst_url()}")
    return 0 if all(s == "success" for runs in states.values() for s in runs) else 1


def dashboard_quarter(conn) -> str | None:
    found = conn.execute(
        """select reporting_quarter from marts.fct_kpi
            where period_type = 'rolling_12_months' and geography_level in ('county', 'force_area') and rag is not null
            group by reporting_quarter
            order by count(distinct indicator_id) desc, reporting_quarter desc limit 1"""
    ).fetchone()
    return found[0] if found else None


def draft_report() -> str | None:
    """The board's dashboard for the quarter in which the most indicators are rated (the latest of those), as a
    draft the reader can open: police.uk runs months past the partner feeds, whose rows would wait there."""
    with db.connect() as conn:
        if not db.one(conn.execute("select to_regclass('marts.fct_kpi')"))[0]:
            return None
        quarter = dashboard_quarter(conn)
    if not quarter:
        return None
    from cspwh.reporting import dashboard

    written = dashboard.render(quarter, publish=False)
    return f"{written['pdf']} (and .html)"


def printable(text: str) -> str:
    """Names and reasons as a terminal shows them safely: control characters as \\xNN escapes."""
    from cspwh.ingest.landing import display_name

    return display_name(text)


def summary() -> str:
    with db.connect() as conn:
        outcomes = conn.execute(
            """select feed, outcome, count(*), coalesce(sum(rows), 0) from landing.file_manifest
                group by feed, outcome order by feed, outcome"""
        ).fetchall()
        quarantined = conn.execute(
            """select outcome, file_id, file_name, split_part(reason, E'\\n', 2), attempts, last_error
                 from landing.file_manifest
                where outcome in ('quarantined', 'held', 'landed') order by file_id"""
        ).fetchall()
        publication = conn.execute(
            "select build_schema, published_at, table_rows from audit.publications order by publication_id desc limit 1"
        ).fetchone()
        lines = ["Summary", "-------"]
        for feed, outcome, files, rows in outcomes:
            lines.append(
                f"{feed}: {files} file(s) {outcome}" + (f", {rows:,} rows in raw" if outcome == "loaded" else "")
            )
        for outcome, file_id, name, first, attempts, error in quarantined:
            name, first = printable(name), printable((first or "").strip())
            if outcome == "quarantined":
                lines.append(f"  quarantined {name}: {first}")
            elif outcome == "held":
                lines.append(f"  held {name} (file {file_id}, until accepted: cspwh accept <feed> {file_id}): {first}")
            else:
                lines.append(
                    f"  not yet decided {name} (file {file_id}, tried {attempts} time(s)"
                    f"{', last: ' + printable(error) if error else ''}): the next run tries it again"
                )
        if not publication:
            lines.append("Nothing published yet.")
            return "\n".join(lines + _not_yet_right(conn))
        build, at, tables = publication
        lines.append(f"Published {build} into marts at {at:%Y-%m-%d %H:%M:%S %Z}:")
        lines += [f"  marts.{t}: {n:,} rows" for t, n in sorted(tables.items())]
        latest = conn.execute(
            """select f.month_start, d.geography_name,
                      max(f.incident_count) filter (where f.crime_category = 'total-crime'),
                      max(f.rate_per_1000) filter (where f.crime_category = 'total-crime'),
                      max(f.incident_count) filter (where f.crime_category = 'anti-social-behaviour'),
                      max(f.rate_per_1000) filter (where f.crime_category = 'anti-social-behaviour')
                 from marts.fct_street_crime_monthly f join marts.dim_district d using (geography_code)
                where f.month_start = (select max(month_start) from marts.fct_street_crime_monthly)
                  and d.geography_level in ('county', 'force_area')
                group by f.month_start, d.geography_name, d.sort_order order by d.sort_order"""
        ).fetchall()
        for month, name, crimes, crime_rate, asb, asb_rate in latest:
            lines.append(
                f"  {month:%Y-%m} {name}: {crimes:,} crimes ({crime_rate} per 1,000), "
                f"{asb:,} ASB incidents ({asb_rate} per 1,000)"
            )
        asb = conn.execute(
            """select to_char(f.month_start, 'YYYY-MM'), d.geography_name, f.storm_incidents, f.sentinel_cases,
                      f.linked_sentinel_cases, f.combined_matters, f.combined_rate_per_1000
                 from marts.fct_asb_monthly f join marts.dim_district d using (geography_code)
                where f.month_start = (select max(month_start) from marts.fct_asb_monthly)
                  and d.geography_level = 'county'"""
        ).fetchall()
        for month, name, storm, sentinel, linked, combined, rate in asb:
            lines.append(
                f"  {month} {name} ASB: {storm:,} police (Storm) + {sentinel:,} Sentinel - {linked:,} linked "
                f"= {combined:,} matters ({rate} per 1,000)"
            )
        alerts_sent = db.one(conn.execute("select count(*) from audit.alerts where resolved_at is null"))[0]
        if alerts_sent:
            lines.append(
                f"Open data-quality alerts: {alerts_sent} (digests in {settings.home() / 'outbox'} "
                "unless CSPWH_SMTP_HOST is set)"
            )
        unallocated = conn.execute(
            "select unallocated_reason, sum(record_count) from marts.fct_street_crime_unallocated group by 1 order by 1"
        ).fetchall()
        if unallocated:
            lines.append(
                "  not placed in any district (reported in marts.fct_street_crime_unallocated): "
                + ", ".join(f"{n:,} {r}" for r, n in unallocated)
            )
        if db.one(conn.execute("select to_regclass('marts.fct_kpi')"))[0]:
            quarter = dashboard_quarter(conn)
            if quarter:
                lines.append(
                    f"Board dashboard: the quarter with most rated rows {quarter}: cspwh report --quarter {quarter}; "
                    f"trace a figure: cspwh explain total_crime_rate --geo <district> --period {quarter}"
                )
        checks = conn.execute(
            """select severity, success, count(*) from audit.check_results
                where gate = 'consistency' and run_id = (select run_id from audit.check_results
                    where gate = 'consistency' order by check_result_id desc limit 1)
                group by 1, 2"""
        ).fetchall()
        passed = sum(n for _, ok, n in checks if ok)
        warned = sum(n for sev, ok, n in checks if not ok and sev == "warning")
        lines.append(f"Consistency gate: {passed} passed, {warned} warning(s)")
        lines += _not_yet_right(conn)
    return "\n".join(lines)


def _not_yet_right(conn) -> list[str]:
    """What the operations side still owes: digests not delivered, a Sentinel cursor held."""
    lines = []
    pending, oldest = conn.execute(
        "select count(*), min(queued_at) from audit.alert_outbox where sent_at is null"
    ).fetchone()
    if pending:
        lines.append(
            f"Alert digests NOT delivered: {pending}, the oldest queued {oldest:%Y-%m-%d %H:%M %Z} "
            "(audit.alert_outbox; every alert task retries them)"
        )
    held = conn.execute(
        "select cursor_after, held from landing.api_pulls where cursor_after is not null order by pull_id desc limit 1"
    ).fetchone()  # the last pull settled
    if held and held[1]:
        lines.append(
            f"Sentinel cursor held at {held[0]}: page {held[1]['page']} ({held[1]['file_name']}) "
            f"was {held[1]['outcome']}; it is asked for again on every pull"
        )
    return lines

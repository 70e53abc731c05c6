"""`cspwh`: the warehouse's command line."""

from __future__ import annotations

import argparse
import sys

# commands that talk to the warehouse: on one machine without WAREHOUSE_URL, the embedded Postgres (started if need
# be); `airflow` decides for itself, as it must remember whether it started the server
WAREHOUSE_COMMANDS = {"up", "demo", "summary", "url", "accept", "report", "ledger", "explain", "docs"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="cspwh", description="Community Safety Partnership data warehouse")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("up", help="start the embedded Postgres (unless WAREHOUSE_URL is set) and create the schemas")
    sub.add_parser("stop", help="stop the embedded Postgres")
    af = sub.add_parser(
        "airflow",
        help="the real Airflow scheduler, DAG processor, api-server and triggerer (up, "
        "down, status) on the embedded Postgres or WAREHOUSE_URL's server",
    )
    af.add_argument("action", choices=["up", "down", "status"])
    af.add_argument(
        "--executor",
        choices=["local", "celery"],
        default="local",
        help="celery needs CSPWH_CELERY_BROKER_URL (e.g. redis://127.0.0.1:6379/0) and starts a worker",
    )
    af.add_argument(
        "--port",
        type=int,
        help="UI and API port (default CSPWH_AIRFLOW_PORT or 8080); the scheduler's "
        "health check and the log servers use the next three",
    )
    af.add_argument("--host", help="address the UI listens on (default CSPWH_AIRFLOW_HOST or 127.0.0.1)")
    sub.add_parser("demo", help="run the nightly job for real on the embedded default and print a summary")
    sub.add_parser("summary", help="what is loaded and published now")
    sub.add_parser("url", help="print the analyst's connection URL")
    acc = sub.add_parser("accept", help="release a held file (a restatement that shrinks its period) and load it now")
    acc.add_argument("feed", help="the feed, e.g. police_uk")
    acc.add_argument("file", help="the held file's name or file_id (landing.file_manifest), as the alert gives it")
    sub.add_parser("dbt-sources", help="regenerate the dbt source YAML from the feed contracts")
    gen = sub.add_parser("generate", help="write every partner feed as its transport delivers it (deterministic)")
    gen.add_argument("--partnership", help="the partnership's id in partnership.yml (default: the configured one)")
    gen.add_argument("--from", dest="start", default="2020-05", help="first month, YYYY-MM")
    gen.add_argument("--to", dest="end", default="2022-10", help="last month, YYYY-MM")
    gen.add_argument("--scale", type=float, default=1.0, help="1 = the county's real volumes; 100 = roughly national")
    gen.add_argument("--seed", type=int, default=42)
    gen.add_argument("--out", required=True, help="output folder (replaced)")
    gen.add_argument("--no-faults", action="store_true", help="plant no faults at all")
    gen.add_argument(
        "--linkage",
        choices=["realistic", "hard"],
        default="realistic",
        help="how hard Storm and Sentinel records are to link: hard adds anonymous callers, unnamed "
        "victims, name variants, 5-6 digit and transposed Storm numbers, 72 h offsets",
    )
    gen.add_argument(
        "--fault",
        action="append",
        default=[],
        metavar="NAME=RATE",
        help="override one fault's rate, e.g. --fault district_aliases=0.2 (repeatable)",
    )
    serve = sub.add_parser("serve-sentinel", help="serve generated Sentinel cases as the case API does")
    serve.add_argument("--data", required=True, help="the generator's output folder")
    serve.add_argument("--port", type=int, default=8765)
    rep = sub.add_parser("report", help="render the board's quarterly performance dashboard as HTML and PDF")
    rep.add_argument("--quarter", required=True, help="financial quarter, e.g. 2021-22Q2")
    rep.add_argument("--out", help="output folder (default <CSPWH_HOME>/reports)")
    rep.add_argument(
        "--draft",
        action="store_true",
        help="do not record the figures in the as-reported ledger (audit.reported_figures)",
    )
    led = sub.add_parser("ledger", help="the as-published ledger: figures the board was shown (audit.reported_figures)")
    led_sub = led.add_subparsers(dest="ledger_command", required=True)
    led_imp = led_sub.add_parser(
        "import",
        help="load published figures from a ledger CSV (ledger/README.md); re-importing the same file changes nothing",
    )
    led_imp.add_argument("file", help="e.g. ledger/board_published_figures.csv")
    led_show = led_sub.add_parser("show", help="the figures published for a quarter, as printed, with their sources")
    led_show.add_argument("--quarter", required=True, help="the reported quarter, e.g. 2018-19Q1")
    exp = sub.add_parser("explain", help="how a published figure was made: numerator, denominator, files, checks")
    exp.add_argument("indicator", help="indicator id from sources/reference/indicators.yml, e.g. asb_rate")
    exp.add_argument("--geo", required=True, help="geography name, alias or ONS code, e.g. Charnwood")
    exp.add_argument(
        "--period",
        required=True,
        help="a quarter (2021-22Q2: the dashboard's rolling 12 months to it), 'R12 to 2021-22Q2' "
        "or a financial year (2021-22)",
    )
    exp.add_argument("--period-type", choices=["rolling_12_months", "quarter", "financial_year", "year_to_date"])
    docs = sub.add_parser("docs", help="build dbt's documentation site for the published warehouse and serve it")
    docs.add_argument("--build-only", action="store_true", help="write the site (index.html, catalog.json) and stop")
    docs.add_argument("--out", help="site folder (default <CSPWH_HOME>/docs)")
    docs.add_argument("--port", type=int, default=8580, help="port to serve on (0: a free one; default 8580)")
    docs.add_argument("--host", default="127.0.0.1", help="address to serve on (default 127.0.0.1)")
    ini = sub.add_parser(
        "init",
        help="configure the warehouse for a CSP, a county or a list of districts in England "
        "and Wales, from the national reference data (sources/national/)",
    )
    ini.add_argument("name", nargs="?", help="a CSP, county or district name or ONS code, e.g. 'South Nottinghamshire'")
    ini.add_argument("--csp", help="a Community Safety Partnership by name or code")
    ini.add_argument("--county", help="a county (upper-tier authority) by name or code")
    ini.add_argument("--districts", help="comma-separated districts (names or codes, 2019 or 2021)")
    ini.add_argument(
        "--peers",
        help="comma-separated police.uk force slugs of the most similar group "
        "(default: the other forces of the region)",
    )
    ini.add_argument(
        "--out", help="where to write the reference files (default CSPWH_REFERENCE_DIR or sources/reference)"
    )
    args = parser.parse_args(argv)
    if args.command in WAREHOUSE_COMMANDS:
        from cspwh.local import embedded_pg

        embedded_pg.use_by_default()

    if args.command == "init":
        from cspwh.catalogue import partnership_init

        return partnership_init.main(args)
    if args.command == "report":
        from pathlib import Path

        from cspwh.reporting import dashboard

        result = dashboard.render(args.quarter, Path(args.out) if args.out else None, publish=not args.draft)
        print(f"wrote {result['html']}")
        print(f"wrote {result['pdf']}")
        if result["report_id"]:
            print(
                f"recorded {result['figures']} figure(s) as report {result['report_id']} in audit.reported_figures "
                f"(build {result['build']})"
            )
        return 0
    if args.command == "ledger":
        return _ledger(args)
    if args.command == "explain":
        from cspwh.reporting import explain

        try:
            print(explain.explain(args.indicator, args.geo, args.period, args.period_type))
        except (KeyError, ValueError) as exc:
            print(f"cspwh explain: {exc}", file=sys.stderr)
            return 2
        return 0

    if args.command == "docs":
        return _docs(args)
    if args.command == "generate":
        return _generate(args)
    if args.command == "accept":
        return _accept(args.feed, args.file)
    if args.command == "serve-sentinel":
        from pathlib import Path

        from cspwh.local.sentinel_api import SentinelAPI

        api = SentinelAPI(Path(args.data) / "api" / "sentinel" / "cases.jsonl", port=args.port)
        print(f"Sentinel API on {api.base_url}/api/v1/cases (Ctrl-C to stop)")
        try:
            api.serve_forever()
        except KeyboardInterrupt:
            pass
        return 0

    if args.command == "airflow":
        return _airflow(args)
    if args.command == "stop":
        from cspwh.local import airflow_service, embedded_pg

        airflow_service.down(stop_postgres=False)  # Airflow's components would lose their metadata database

        print("embedded Postgres stopped" if embedded_pg.stop() else "embedded Postgres was not running")
        return 0
    if args.command == "up":
        from cspwh.db import bootstrap
        from cspwh.local import demo

        bootstrap.ensure()
        print(f"Warehouse: {demo.analyst_url()}")
        return 0
    if args.command == "demo":
        from cspwh.local import demo

        return demo.run()
    if args.command == "summary":
        from cspwh.local import demo

        print(demo.summary())
        print(f"Warehouse: {demo.analyst_url()}")
        return 0
    if args.command == "url":
        from cspwh.local import demo

        print(demo.analyst_url())
        return 0
    if args.command == "dbt-sources":
        from cspwh.warehouse import dbt_sources

        for path in dbt_sources.write_all():
            print(f"wrote {path}")
        return 0
    return 2


def _ledger(args) -> int:
    from pathlib import Path

    from cspwh.reporting import ledger

    if args.ledger_command == "show":
        try:
            print(ledger.show(args.quarter))
        except LookupError as exc:
            print(f"cspwh ledger show: {exc}", file=sys.stderr)
            return 2
        return 0
    try:
        counts = ledger.import_file(Path(args.file))
    except ledger.LedgerError as exc:
        print(f"cspwh ledger import: {exc}", file=sys.stderr)
        return 2
    print(
        f"{args.file}: {counts['figures']} figure(s) from {counts['reports']} report(s): {counts['inserted']} new, "
        f"{counts['updated']} updated, {counts['unchanged']} unchanged; {counts['unkeyed']} unkeyed (kept, with the "
        "reason: `cspwh ledger show --quarter Q`)"
    )
    return 0


def _airflow(args) -> int:
    from cspwh.local import airflow_service

    if args.action == "up":
        try:
            airflow_service.up(port=args.port, executor=args.executor, host=args.host)
        except RuntimeError as exc:
            print(f"cspwh airflow up: {exc}", file=sys.stderr)
            print("components already started keep running: `cspwh airflow down` stops them", file=sys.stderr)
            return 1
        print(airflow_service.status())
        print("Stop with `cspwh airflow down` (or `make airflow-down`).")
    elif args.action == "down":
        if not airflow_service.down():
            print("no Airflow component was running")
    else:
        print(airflow_service.status())
    return 0


def _accept(feed: str, file: str) -> int:
    """A person's decision that a held file is right: it is loaded at once (the marts follow at the next build)."""
    import datetime as dt

    from cspwh import db
    from cspwh.db import bootstrap
    from cspwh.ingest import feed_run
    from cspwh.ingest.landing import display_name

    bootstrap.ensure()
    with db.transaction() as conn:
        row = conn.execute(
            """select file_id, file_name, outcome from landing.file_manifest
                where feed = %s and (file_id::text = %s or file_name = %s) order by file_id desc limit 1""",
            (feed, file, file),
        ).fetchone()
        if row is None:
            print(f"cspwh accept: feed {feed} has no file {display_name(file)!r}", file=sys.stderr)
            return 2
        file_id, name, outcome = row
        if outcome != "held":
            print(f"cspwh accept: {name} (file {file_id}) is {outcome}, not held; nothing to accept", file=sys.stderr)
            return 2
        conn.execute("update landing.file_manifest set accepted_at = now() where file_id = %s", (file_id,))
    run_id = f"accept-{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%S}-{file_id}"
    try:
        result = feed_run.ingest_landed(feed, file_id, run_id)
    except feed_run.FileFailed as exc:
        print(f"cspwh accept: {name} was accepted but not loaded: {exc}; the next run tries it again", file=sys.stderr)
        return 1
    if result.outcome == "loaded":
        then = (
            "it replaces the earlier file from the next warehouse build"
            if result.rows
            else "it is the period's current file from the next warehouse build, so the period's figures become "
            "zero; if that is wrong, ask the partner for the complete file"
        )
        print(f"accepted {name} (file {file_id}): {result.rows:,} rows loaded; {then}")
        return 0
    print(f"accepted {name} (file {file_id}), but the gate {result.outcome} it:\n{result.reason}")
    return 1


def _generate(args) -> int:
    import json
    from pathlib import Path

    from cspwh.generator import generate
    from cspwh.generator.config import DEFAULT_FAULTS, Config

    faults = {k: 0.0 for k in DEFAULT_FAULTS} if args.no_faults else dict(DEFAULT_FAULTS)
    for item in args.fault:
        name, _, rate = item.partition("=")
        if name not in DEFAULT_FAULTS:
            print(f"unknown fault {name!r}; known: {', '.join(DEFAULT_FAULTS)}")
            return 2
        faults[name] = float(rate)
    summary = generate(
        Config(
            out=Path(args.out),
            start=args.start,
            end=args.end,
            scale=args.scale,
            seed=args.seed,
            faults=faults,
            **({"partnership": args.partnership} if args.partnership else {}),
            linkage=args.linkage,
        )
    )
    print(json.dumps(summary, indent=2, sort_keys=True))
    return 0


def _docs(args) -> int:
    from pathlib import Path

    from cspwh.reporting import docs

    try:
        folder = docs.generate(Path(args.out) if args.out else None)
    except docs.DocsFailed as exc:
        print(f"cspwh docs: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {folder / 'index.html'} and {folder / 'catalog.json'}")
    if args.build_only:
        return 0
    httpd = docs.server(folder, args.port, args.host)
    host, port = httpd.server_address[:2]
    assert isinstance(host, str)  # as bound (getsockname); typeshed allows bytes only for the constructor's argument
    print(f"dbt docs on http://{host}:{port}/ (Ctrl-C to stop)", flush=True)
    try:
        httpd.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        httpd.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())

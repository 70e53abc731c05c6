"""`cspwh`: the warehouse's command line."""
from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="cspwh", description="Community Safety Partnership data warehouse")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("up", help="start the embedded Postgres (unless WAREHOUSE_URL is set) and create the schemas")
    sub.add_parser("stop", help="stop the embedded Postgres")
    sub.add_parser("demo", help="run the nightly job for real on the embedded default and print a summary")
    sub.add_parser("summary", help="what is loaded and published now")
    sub.add_parser("url", help="print the analyst's connection URL")
    sub.add_parser("dbt-sources", help="regenerate the dbt source YAML from the feed contracts")
    args = parser.parse_args(argv)

    if args.command == "stop":
        from cspwh import embedded_pg

        print("embedded Postgres stopped" if embedded_pg.stop() else "embedded Postgres was not running")
        return 0
    if args.command == "up":
        from cspwh import bootstrap, demo

        bootstrap.ensure()
        print(f"Warehouse: {demo.analyst_url()}")
        return 0
    if args.command == "demo":
        from cspwh import demo

        return demo.run()
    if args.command == "summary":
        from cspwh import demo

        print(demo.summary())
        print(f"Warehouse: {demo.analyst_url()}")
        return 0
    if args.command == "url":
        from cspwh import demo

        print(demo.analyst_url())
        return 0
    if args.command == "dbt-sources":
        from cspwh import dbt_sources

        for path in dbt_sources.write_all():
            print(f"wrote {path}")
        return 0
    return 2


if __name__ == "__main__":
    sys.exit(main())

"""Raw loading: typed rows of an accepted file into raw.<feed>__<entity> with COPY, lineage on every row."""
from __future__ import annotations

import datetime as dt

import psycopg
from psycopg import sql

from cspwh.contracts import Column, Contract, LINEAGE_COLUMNS
from cspwh.file_gate import ParsedFile
from cspwh.landing import LandedFile


def _converter(col: Column):
    if col.type == "month":
        return lambda v: f"{v}-01" if v else None
    return lambda v: v if v != "" else None


def load(conn: psycopg.Connection, contract: Contract, landed: LandedFile, parsed: ParsedFile) -> int:
    """COPY the file's rows; the caller's transaction makes the load and the manifest update one unit."""
    positions = [parsed.header.index(c.header) for c in contract.columns]
    converters = [_converter(c) for c in contract.columns]
    names = [c.name for c in contract.columns] + [name for name, _ in LINEAGE_COLUMNS]
    stmt = sql.SQL("copy raw.{} ({}) from stdin").format(
        sql.Identifier(contract.raw_table), sql.SQL(", ").join(map(sql.Identifier, names)))
    loaded_at = dt.datetime.now(dt.timezone.utc)
    lineage = (landed.file_id, landed.file_name, None, loaded_at, landed.content_hash)
    with conn.cursor() as cur, cur.copy(stmt) as copy:
        for row, line in zip(parsed.rows, parsed.line_numbers):
            values = [conv(row[p]) for conv, p in zip(converters, positions)]
            copy.write_row(values + [lineage[0], lineage[1], line, lineage[3], lineage[4]])
    conn.execute(
        """update landing.file_manifest set outcome = 'loaded', rows = %s, outcome_at = now(), reason = null
            where file_id = %s""",
        (len(parsed.rows), landed.file_id),
    )
    return len(parsed.rows)

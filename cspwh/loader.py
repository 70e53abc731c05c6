"""Raw loading: typed rows of an accepted file into raw.<feed>__<entity> with COPY, lineage on every row, personal
data pseudonymised, generalised or dropped as the contract says."""
from __future__ import annotations

import datetime as dt

import psycopg
from psycopg import sql

from cspwh import pseudonymise, reference, values
from cspwh.contracts import LINEAGE_COLUMNS, Column, Entity
from cspwh.file_gate import ParsedFile
from cspwh.landing import LandedFile

TRUE = {"true", "yes", "y", "1"}


def _converter(col: Column):
    if col.personal == "hmac":
        return pseudonymise.pseudonym
    if col.personal == "generalise":
        return lambda v: pseudonymise.generalise(v, col.generalise_to)
    if col.type == "month":
        return lambda v: f"{v}-01" if v else None
    if col.type == "date":
        return lambda v: values.parse_date(v)[0] if v else None
    if col.type == "timestamp":
        return lambda v: values.parse_timestamp(v)[0] if v else None
    if col.type == "boolean":
        return lambda v: None if v is None else v.lower() in TRUE
    return lambda v: v


def _district_code(value: str | None) -> str | None:
    resolved = reference.resolve_geography(value) if value else None
    return resolved[0] if resolved else None


def load(conn: psycopg.Connection, entity: Entity, landed: LandedFile, parsed: ParsedFile) -> int:
    """COPY the file's rows; the caller's transaction makes the load and the manifest update one unit."""
    converters, names = [], []
    for i, name in enumerate(parsed.columns):
        col = entity.column(name)
        if col.loaded:
            converters.append((i, _converter(col)))
            names.append(col.name)
        if col.type == "district":
            converters.append((i, _district_code))
            names.append(f"{col.name}_code")
    layout = [parsed.layout.version] if len(entity.layouts) > 1 else []
    names += [n for n, _ in LINEAGE_COLUMNS] + (["_layout_version"] if layout else [])
    stmt = sql.SQL("copy raw.{} ({}) from stdin").format(
        sql.Identifier(entity.raw_table), sql.SQL(", ").join(map(sql.Identifier, names)))
    loaded_at = dt.datetime.now(dt.timezone.utc)
    with conn.cursor() as cur, cur.copy(stmt) as copy:
        for row, line in zip(parsed.rows, parsed.line_numbers):
            copy.write_row([conv(row[i]) for i, conv in converters]
                           + [landed.file_id, landed.file_name, line, loaded_at, landed.content_hash] + layout)
    conn.execute(
        """update landing.file_manifest
              set outcome = 'loaded', rows = %s, layout_version = %s, outcome_at = now(), reason = null
            where file_id = %s""",
        (len(parsed.rows), parsed.layout.version, landed.file_id),
    )
    return len(parsed.rows)

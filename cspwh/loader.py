"""Raw loading: the staged file's rows into raw.<feed>__<entity> with one COPY, converted, district-coded and with
personal data pseudonymised, generalised or dropped as the contract says, lineage on every row.

DuckDB converts the rows (SQL from the contract, see staged_file.py for the macros) and writes them as CSV into a
pipe that Postgres' COPY reads as they come, so conversion and copying overlap and the file is written to Postgres
once. The constant lineage (load id, file name, content hash, layout) comes from column defaults that read this
transaction's settings, so it is not sent a million times.
"""
from __future__ import annotations

import os
import threading

import psycopg
from psycopg import sql

from cspwh.contracts import Column, Entity
from cspwh.landing import LandedFile
from cspwh.staged_file import StagedFile, district_joins, ident

AGE_BANDS_SQL = """case when {age} < 10 then '0-9' when {age} < 18 then '10-17' when {age} < 25 then '18-24'
    when {age} < 35 then '25-34' when {age} < 45 then '35-44' when {age} < 55 then '45-54' when {age} < 65 then '55-64'
    else '65+' end"""


def _converted(col: Column) -> str:
    """The SQL for a column's raw value, with staged_file.py's macros."""
    v = f"src.{ident(col.name)}"
    if col.personal == "hmac":
        return f"pseudonym({v})"
    if col.personal == "generalise":
        born = f"parse_date({v})"
        if col.generalise_to == "year":
            return f"year({born})"
        if col.generalise_to == "month":
            return f"date_trunc('month', {born})::date"
        if col.generalise_to == "age_band":
            age = (f"(year(current_date) - year({born}) - case when strftime(current_date, '%m%d') < "
                   f"strftime({born}, '%m%d') then 1 else 0 end)")
            return AGE_BANDS_SQL.format(age=age)
        if col.generalise_to == "postcode_district":
            return f"upper(split_part(norm_text({v}), ' ', 1))"
        raise ValueError(f"unknown generalisation {col.generalise_to!r}")
    if col.type == "month":
        return f"{v} || '-01'"
    if col.type == "date":
        return f"parse_date({v})"
    if col.type == "timestamp":
        return f"parse_ts({v})"
    if col.type == "boolean":
        return f"lower({v}) in ('true', 'yes', 'y', '1')"
    return v


def transform(entity: Entity, staged: StagedFile) -> tuple[str, list[str]]:
    """The DuckDB query giving raw's rows, and the raw columns it fills in order."""
    exprs, names = [], []
    for name in staged.columns:
        col = entity.column(name)
        if col.loaded:
            exprs.append(_converted(col))
            names.append(col.name)
        if col.type == "district":
            exprs.append(f"g_{name}.code")
            names.append(f"{col.name}_code")
    exprs.append("src._line")
    names.append("_line_number")
    query = f"select {', '.join(exprs)} from src {district_joins(entity, staged.columns)}"
    return query, names


def load(conn: psycopg.Connection, entity: Entity, landed: LandedFile, staged: StagedFile) -> int:
    """COPY the converted rows; the caller's transaction makes the load and the manifest update one unit."""
    query, names = transform(entity, staged)
    for setting, value in (("cspwh.load_id", str(landed.file_id)), ("cspwh.source_file", landed.file_name),
                           ("cspwh.content_hash", landed.content_hash),
                           ("cspwh.layout_version", staged.layout.version if len(entity.layouts) > 1 else "")):
        conn.execute("select set_config(%s, %s, true)", (setting, value))
    stmt = sql.SQL("copy raw.{} ({}) from stdin (format csv)").format(
        sql.Identifier(entity.raw_table), sql.SQL(", ").join(map(sql.Identifier, names)))

    read_end, write_end = os.pipe()
    failed: list[BaseException] = []
    cursor = staged.cursor()

    def produce() -> None:
        try:
            cursor.execute(f"copy ({query}) to '/dev/fd/{write_end}' (format csv, header false, use_tmp_file false)")
        except BaseException as exc:  # reported by the main thread after the COPY, which then rolls back
            failed.append(exc)
        finally:
            os.close(write_end)  # the COPY below sees the end of the rows only now
            cursor.close()

    producer = threading.Thread(target=produce, name=f"convert-{landed.file_id}", daemon=True)
    producer.start()
    try:
        with conn.cursor() as cur:
            with cur.copy(stmt) as copy, os.fdopen(read_end, "rb") as rows:
                while chunk := rows.read(1 << 20):
                    copy.write(chunk)
            copied = cur.rowcount
    finally:
        producer.join()
    if failed:
        raise failed[0]
    conn.execute(
        """update landing.file_manifest
              set outcome = 'loaded', rows = %s, layout_version = %s, outcome_at = now(), reason = null
            where file_id = %s""",
        (copied, staged.layout.version, landed.file_id),
    )
    return copied

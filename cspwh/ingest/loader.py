"""Raw loading: the staged file's rows into raw.<feed>__<entity> with one COPY, converted, district-coded and with
personal data pseudonymised, generalised or dropped as the contract says, lineage on every row.

One DuckDB query (SQL from the contract, see landed_file.py for the macros) converts the rows and, beside them,
evaluates the file gate's per-row checks (file_gate.Tally), on every core. Its Arrow batches stream to this
thread, which hands the check columns to the tally and writes the converted ones into Postgres' COPY (binary, by
pgpq, or CSV), so the file is read once and Postgres copies while DuckDB converts. The constant lineage (load id,
file name, content hash, layout) comes from column defaults that read this transaction's settings, so it is not
sent a million times.
"""

from __future__ import annotations

import io
import queue
import threading
from typing import TYPE_CHECKING

import psycopg
from psycopg import sql

from cspwh.catalogue import contracts
from cspwh.catalogue.contracts import Column, Entity
from cspwh.ingest import linkage_evidence
from cspwh.ingest.file_gate import Tally
from cspwh.ingest.landed_file import BATCH_ROWS, StagedFile, ident
from cspwh.ingest.landing import LandedFile

if TYPE_CHECKING:
    import pyarrow as pa

AGE_BANDS_SQL = """case when {age} < 10 then '0-9' when {age} < 18 then '10-17' when {age} < 25 then '18-24'
    when {age} < 35 then '25-34' when {age} < 45 then '35-44' when {age} < 55 then '45-54' when {age} < 65 then '55-64'
    else '65+' end"""
FIRST_ROW_LINE = 2  # line 1 is the header
DUCKDB_TYPES = {
    "text": "varchar",
    "date": "date",
    "timestamp": "timestamp",
    "bigint": "bigint",
    "integer": "integer",
    "boolean": "boolean",
}  # numeric goes as text, in a CSV COPY (see _binary)


def _converted(col: Column) -> str:
    """The SQL for a column's raw value, with landed_file.py's macros."""
    v = f"src.{ident(col.name)}"
    if col.personal == "hmac":
        return f"pseudonym({v})"
    if col.personal == "generalise":
        born = f"parse_date({v})"
        if col.generalise_to == "year":
            return f"year({born})::integer"
        if col.generalise_to == "month":
            return f"date_trunc('month', {born})::date"
        if col.generalise_to == "age_band":
            age = (
                f"(year(current_date) - year({born}) - case when strftime(current_date, '%m%d') < "
                f"strftime({born}, '%m%d') then 1 else 0 end)"
            )
            return AGE_BANDS_SQL.format(age=age)
        if col.generalise_to == "postcode_district":
            return f"nullif(upper(split_part(norm_text({v}), ' ', 1)), '')"
        raise ValueError(f"unknown generalisation {col.generalise_to!r}")
    if col.type == "month":
        return f"try_cast({v} || '-01' as date)"
    if col.type == "integer":
        return f"try_cast({v} as bigint)"  # the gate's format check blocks what is not a whole number
    if col.type == "date":
        return f"parse_date({v})"
    if col.type == "timestamp":
        return f"parse_ts({v})"
    if col.type == "boolean":
        return f"lower({v}) in ('true', 'yes', 'y', '1')"
    return v


def transform(entity: Entity, staged: StagedFile) -> tuple[list[str], list[str]]:
    """The SQL of raw's converted columns and their names, in order. `_line_number` is among them only when the
    staged file stores its lines (otherwise `load` numbers the rows as they come)."""
    exprs, names = [], []
    _, finals = linkage_evidence.source_with_evidence([entity.column(n) for n in staged.columns])
    evidence_columns: dict[str, list[tuple[str, str]]] = {}
    for name in staged.columns:
        made = {derived for derived, _, _ in contracts.evidence_columns(entity.column(name))}
        evidence_columns[name] = [(d, e) for d, e in finals if d in made]
    for name in staged.columns:
        col = entity.column(name)
        if col.loaded:
            # the raw column's own type, so a binary COPY gets exactly what the table holds (a column that is all
            # null would otherwise have no type at all)
            exprs.append(f"cast({_converted(col)} as {DUCKDB_TYPES.get(col.pg_type, 'varchar')})")
            names.append(col.name)
        if col.type == "district":
            exprs.append(f"district_code(src.{ident(name)})")
            names.append(f"{col.name}_code")
        for derived, expr in evidence_columns.get(name, []):  # linkage evidence (linkage_evidence.py)
            exprs.append(f"cast({expr} as varchar)")
            names.append(derived)
    if not staged.read_by_duckdb:
        exprs.append("src._line::integer")
        names.append("_line_number")
    return exprs, names


def source(entity: Entity, staged: StagedFile) -> str:
    """What the conversion reads: `src`, with the linkage evidence's intermediate steps projected on
    (linkage_evidence.py)."""
    return linkage_evidence.source_with_evidence([entity.column(n) for n in staged.columns])[0]


def _csv(batch: pa.RecordBatch) -> memoryview:
    """A batch as CSV for Postgres' COPY. Unquoted where no value needs quotes: Postgres parses that faster, and
    pyarrow refuses (rather than mis-writes) a value with a comma, quote or line break, which then gets quotes.
    Timestamps are whole seconds by construction (landed_file.py's parse_ts), so they are written without the
    fraction. No value here is an empty string (blank cells are null in `src`), so unquoted empty means null."""
    import pyarrow as pa
    import pyarrow.csv as pa_csv

    columns = []
    for column in batch.columns:
        if pa.types.is_timestamp(column.type):
            try:
                column = column.cast(pa.timestamp("s"))
            except pa.ArrowInvalid:  # a fraction of a second after all: written in full
                pass
        columns.append(column)
    batch = pa.RecordBatch.from_arrays(columns, names=batch.schema.names)
    text = io.BytesIO()
    try:
        pa_csv.write_csv(batch, text, pa_csv.WriteOptions(include_header=False, quoting_style="none"))
    except pa.ArrowInvalid:
        text = io.BytesIO()
        pa_csv.write_csv(batch, text, pa_csv.WriteOptions(include_header=False, quoting_style="needed"))
    return text.getbuffer()


def _binary(entity: Entity, staged: StagedFile) -> bool:
    """Postgres' binary COPY takes values as they are in memory, which costs it about a third less than parsing CSV;
    every raw type has an exact Arrow counterpart except numeric (DuckDB's decimals are bounded), so an entity
    with a numeric column is copied as CSV."""
    return all(entity.column(name).pg_type != "numeric" for name in staged.columns if entity.column(name).loaded)


def load(conn: psycopg.Connection, entity: Entity, landed: LandedFile, staged: StagedFile, tally: Tally) -> int:
    """COPY the converted rows, tallying the checks on the way; the caller's transaction makes the load, the gate's
    verdict and the manifest update one unit."""
    import numpy as np
    import pyarrow as pa
    from pgpq import ArrowToPostgresBinaryEncoder

    exprs, names = transform(entity, staged)
    query = f"select {', '.join(exprs + tally.expressions)} from {source(entity, staged)}"
    numbered, binary = staged.read_by_duckdb, _binary(entity, staged)
    for setting, value in (
        ("cspwh.load_id", str(landed.file_id)),
        ("cspwh.source_file", landed.file_name),
        ("cspwh.content_hash", landed.content_hash),
        ("cspwh.layout_version", staged.layout.version if len(entity.layouts) > 1 else ""),
    ):
        conn.execute("select set_config(%s, %s, true)", (setting, value))
    stmt = sql.SQL("copy raw.{} ({}) from stdin (format {})").format(
        sql.Identifier(entity.raw_table),
        sql.SQL(", ").join(map(sql.Identifier, names + (["_line_number"] if numbered else []))),
        sql.SQL("binary" if binary else "csv"),
    )

    # the schema, the batches, then None or the error; bounds memory: DuckDB runs at most a few batches ahead
    batches: queue.Queue[pa.Schema | pa.RecordBatch | BaseException | None] = queue.Queue(maxsize=4)
    stop = threading.Event()
    cursor = staged.cursor()

    def hand_over(item: pa.Schema | pa.RecordBatch | BaseException | None) -> bool:
        while not stop.is_set():  # the loading thread stops taking when Postgres refuses the rows
            try:
                batches.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            reader = cursor.sql(query).to_arrow_reader(BATCH_ROWS)
            if not hand_over(reader.schema):
                return
            for batch in reader:
                if not hand_over(batch):
                    return
            hand_over(None)
        except BaseException as exc:  # raised again in the loading thread, which rolls back
            hand_over(exc)
        finally:
            cursor.close()

    def rows_of(batch: pa.RecordBatch, first_line: int) -> pa.RecordBatch:
        columns = batch.columns[: len(names)]
        if numbered:
            columns.append(pa.array(np.arange(first_line, first_line + batch.num_rows, dtype=np.int32)))
        return pa.RecordBatch.from_arrays(columns, names=[f"c{i}" for i in range(len(columns))])

    producer = threading.Thread(target=produce, name=f"convert-{landed.file_id}", daemon=True)
    producer.start()
    line = FIRST_ROW_LINE
    try:
        with conn.cursor() as cur:
            with cur.copy(stmt) as copy:
                encoder = None
                while (item := batches.get()) is not None:
                    if isinstance(item, BaseException):
                        raise item
                    if isinstance(item, pa.Schema):  # first: the columns' types, so an empty file still copies
                        empty = rows_of(pa.RecordBatch.from_pylist([], schema=item), line)
                        if binary:
                            encoder = ArrowToPostgresBinaryEncoder(empty.schema)
                            copy.write(encoder.write_header())
                        continue
                    tally.add(item.num_rows, item.columns[len(names) :])
                    rows = rows_of(item, line)
                    line += item.num_rows
                    if binary:
                        assert encoder is not None  # made from the schema, which comes before any batch
                        copy.write(encoder.write_batch(rows))
                    else:
                        copy.write(_csv(rows))
                if binary:
                    assert encoder is not None  # made from the schema, which comes first (or the error is raised)
                    copy.write(encoder.finish())
            copied = cur.rowcount
    finally:
        stop.set()
        producer.join()
    if entity.version_column and copied:
        copied -= _drop_versions_already_loaded(conn, entity, landed.file_id)
    conn.execute(
        """update landing.file_manifest
              set outcome = 'loaded', rows = %s, layout_version = %s, outcome_at = now(), reason = null
            where file_id = %s""",
        (copied, staged.layout.version, landed.file_id),
    )
    return copied


def _drop_versions_already_loaded(conn: psycopg.Connection, entity: Entity, load_id: int) -> int:
    """Remove this load's records whose key and version an earlier load already holds; returns how many."""
    if not entity.version_column:
        raise ValueError(f"{entity.feed}.{entity.name} has no version column: no versions to drop")
    same = sql.SQL(" and ").join(
        sql.SQL("earlier.{0} = this.{0}").format(sql.Identifier(c)) for c in (*entity.key, entity.version_column)
    )
    return conn.execute(
        sql.SQL(
            "delete from raw.{table} as this using raw.{table} as earlier "
            "where this._load_id = %s and earlier._load_id < this._load_id and {same}"
        ).format(table=sql.Identifier(entity.raw_table), same=same),
        (load_id,),
    ).rowcount

"""A landed file as a DuckDB relation `src`: the layout's contract column names, text values (empty is null) and
`_line`, the file's own line (CSV line, sheet row or record position) for every row.

The file gate's checks and the loader's conversions are SQL over `src`, vectorised, evaluated in one pass while
Postgres copies the rows (see loader.py). A plain UTF-8 CSV is read by DuckDB itself; anything else (gzip, another
encoding or a byte order mark, xlsx, a JSON page, or a CSV whose quoted values hold line breaks) is read by
file_reader.py first, so one set of SQL serves every format.

The value rules live here as SQL macros: date shapes (ISO, dd/mm/yyyy, Excel serial), pseudonyms (HMAC-SHA256 under
pseudonymise.py's key: fast_hmac.py's C loop, or a SQL macro where that cannot be built) and district spellings
(reference.py's alias index itself, looked up once per distinct spelling); tests/unit/test_sql_twins.py holds
them to independent Python computations.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import threading
from collections.abc import Callable
from pathlib import Path

import duckdb

from cspwh.catalogue import reference
from cspwh.catalogue.contracts import Entity, Layout
from cspwh.ingest import fast_hmac, pseudonymise
from cspwh.ingest.file_reader import Table

EXCEL_EPOCH = "timestamp '1899-12-30'"
BATCH_ROWS = 50_000  # rows per Arrow batch read from `src`: few enough that Postgres starts copying early

MACROS = [
    # the date shapes partners send: ISO, dd/mm/yyyy and Excel serial (day 0 is 1899-12-30, Excel's leap-year bug)
    r"""create macro ts_shape(v) as case
          when regexp_full_match(v, '\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2})?') then 'iso'
          when regexp_full_match(v, '\d{1,2}/\d{1,2}/\d{4} \d{1,2}:\d{2}(:\d{2})?') then 'dmy'
          when regexp_full_match(v, '\d{5}(\.\d+)?') then 'excel_serial' end""",
    f"""create macro excel_serial(v) as {EXCEL_EPOCH} + to_seconds(floor(round(v::double * 86400e6) / 1e6)::bigint)""",
    """create macro parse_ts(v) as case ts_shape(v)
          when 'iso' then try_cast(v as timestamp)
          when 'dmy' then coalesce(try_strptime(v, '%d/%m/%Y %H:%M:%S'), try_strptime(v, '%d/%m/%Y %H:%M'))
          when 'excel_serial' then excel_serial(v) end""",
    r"""create macro date_shape(v) as case
          when regexp_full_match(v, '\d{4}-\d{2}-\d{2}') then 'iso'
          when regexp_full_match(v, '\d{1,2}/\d{1,2}/\d{4}') then 'dmy'
          when regexp_full_match(v, '\d{5}(\.\d+)?') then 'excel_serial' end""",
    """create macro parse_date(v) as case date_shape(v)
          when 'iso' then try_cast(v as date)
          when 'dmy' then try_strptime(v, '%d/%m/%Y')::date
          when 'excel_serial' then excel_serial(v)::date end""",
    # spacing and case make no other person; most values need no respacing, and the regex replace is the costly part
    r"""create macro norm_text(v) as case
          when contains(v, '  ') or starts_with(v, ' ') or ends_with(v, ' ') or contains(v, chr(9))
               or contains(v, chr(10)) or contains(v, chr(12)) or contains(v, chr(13))
          then lower(trim(regexp_replace(v, '[ \t\n\f\r]+', ' ', 'g'))) else lower(v) end""",
]


@dataclasses.dataclass
class StagedFile:
    con: duckdb.DuckDBPyConnection
    layout: Layout
    columns: list[str]  # contract column name of each position
    path: Path
    read_by_duckdb: bool  # True: row i is the file's line i + 2 (confirmed by lines_match); False: `_line` is stored
    lock: threading.Lock = dataclasses.field(default_factory=threading.Lock)
    newlines: concurrent.futures.Future[int] | None = None  # the file's line count, counted while the rows are read

    def header_of(self, name: str) -> str:
        return self.layout.headers[self.layout.names.index(name)]

    def cursor(self) -> duckdb.DuckDBPyConnection:
        with self.lock:  # a DuckDB connection hands out cursors one thread at a time
            return self.con.cursor()

    def close(self) -> None:
        self.con.close()


def _session() -> duckdb.DuckDBPyConnection:
    # The loader numbers a CSV's rows by the order DuckDB returns them, so nothing may reorder them: insertion order
    # is kept, no query here joins, and long IN lists stay lists (the in_clause rewrite makes them joins).
    con = duckdb.connect(config={"threads": 2, "preserve_insertion_order": True, "disabled_optimizers": "in_clause"})
    for macro in MACROS:
        con.execute(macro)
    inner, outer = pseudonymise.hmac_pads()
    if fast_hmac.register(con, (inner, outer)):
        # plain-ASCII values are normalised and hashed in C; the others take norm_text (coalesce evaluates its
        # second argument only where the first is null), so every non-ASCII case rule stays DuckDB's
        con.execute("create macro pseudonym(v) as coalesce(pseudonym_ascii(v), left(hmac_sha256(norm_text(v)), 32))")
    else:
        # a macro takes no bound parameters, so the padded keys are hex literals in it (the database is in memory)
        con.execute(f"""create macro hmac_sha256(v) as
                          sha256(unhex('{outer.hex()}') || unhex(sha256(unhex('{inner.hex()}') || encode(v))))""")
        con.execute("create macro pseudonym(v) as left(hmac_sha256(norm_text(v)), 32)")
    for name, udf, returns in (
        ("district_code", _district_lookup(0), "VARCHAR"),
        ("district_is_canonical", _district_lookup(1), "BOOLEAN"),
    ):
        fast_hmac.create_arrow_function(con, name, udf, returns, null_handling="special")
    return con


def _district_lookup(position: int) -> Callable[[fast_hmac.ArrowArray], fast_hmac.ArrowArray]:
    """A vectorised function giving, for each district name, its code (position 0) or whether it is the canonical
    spelling (1), through reference.alias_index (spellings keyed by reference.normalise_name: case, punctuation and
    '&' make no other district). A column holds a handful of spellings, so each distinct one is looked up once.
    A function, not a join: a join would let DuckDB return the rows out of the file's order."""
    import pyarrow as pa
    import pyarrow.compute as pc

    index = reference.alias_index()
    kind = pa.string() if position == 0 else pa.bool_()

    def lookup(values: fast_hmac.ArrowArray) -> fast_hmac.ArrowArray:
        if isinstance(values, pa.ChunkedArray):
            values = values.combine_chunks()
        distinct = pc.unique(values)
        found = [index.get(reference.normalise_name(v)) if v is not None else None for v in distinct.to_pylist()]
        answers = pa.array([f[position] if f else None for f in found], kind)
        return pc.take(answers, pc.index_in(values, distinct))

    return lookup


def literal(text: str) -> str:
    return "'" + str(text).replace("'", "''") + "'"


def ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def fast_path(path: Path, entity: Entity) -> bool:
    """A plain CSV in UTF-8 with no byte order mark: DuckDB reads it directly."""
    if entity.format != "csv" or path.name.endswith(".gz") or entity.encoding.lower() not in ("utf-8", "utf8"):
        return False
    with path.open("rb") as fh:
        return not fh.read(3).startswith(b"\xef\xbb\xbf")


def from_csv(path: Path, entity: Entity, layout: Layout) -> StagedFile:
    """DuckDB reads the file. Row i is taken to be line i + 2 (the header is line 1), which the gate confirms
    (lines_match): `src._line` numbers them for the example lines of a finding, and the loader numbers its rows in
    the order DuckDB returns them (order-preserving), so the conversion runs on every core (row_number() over ()
    would serialise it)."""
    con = _session()
    columns = ", ".join(f"{literal(name)}: 'VARCHAR'" for name in layout.names)
    con.execute(f"""create view src as
                      select *, (row_number() over ()) + 1 as _line
                        from read_csv({literal(str(path))}, header = true, columns = {{{columns}}},
                                      delim = {literal(entity.delimiter)}, quote = '"', escape = '"',
                                      strict_mode = true, null_padding = false, encoding = 'utf-8')""")
    counting = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="line-count")
    newlines = counting.submit(_line_count, path)
    counting.shutdown(wait=False)
    return StagedFile(con, layout, list(layout.names), path, True, newlines=newlines)


def from_table(path: Path, table: Table, layout: Layout) -> StagedFile:
    """Rows file_reader.py has read, in the layout's column order, into a DuckDB table."""
    import pandas as pd

    positions = [table.header.index(h) if h in table.header else None for h in layout.headers]
    frame = pd.DataFrame(
        {
            name: pd.Series([row[p] if p is not None else None for row in table.rows], dtype="object")
            for name, p in zip(layout.names, positions)
        }
    )
    frame["_line"] = pd.Series(table.line_numbers, dtype="int64")
    con = _session()
    con.register("rows_read", frame)
    typed = ", ".join(f"{ident(name)}::varchar as {ident(name)}" for name in layout.names)
    con.execute(f"create table src as select {typed}, _line::bigint as _line from rows_read")
    con.unregister("rows_read")
    return StagedFile(con, layout, list(layout.names), path, False)


def _line_count(path: Path) -> int:
    newlines, last = 0, b""
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 22):
            newlines += chunk.count(b"\n")
            last = chunk[-1:]
    return newlines + (0 if last == b"\n" else 1)


def lines_match(staged: StagedFile, rows: int) -> bool:
    """True when the file has exactly one line per row after the header, so row i is the file's line i + 2."""
    if not staged.read_by_duckdb:
        return True
    assert staged.newlines is not None  # from_csv counts the lines of every file DuckDB reads
    return staged.newlines.result() == rows + 1

"""A landed file as a DuckDB relation `src`: the layout's contract column names, text values (empty is null) and
`_line`, the file's own line (CSV line, sheet row or record position) for every row.

The file gate's checks and the loader's conversions are SQL over `src`, vectorised, so a million-row extract is
checked and converted while Postgres is still copying it (see loader.py). A plain UTF-8 CSV is read by DuckDB
itself; anything else (gzip, another encoding or a byte order mark, xlsx, a JSON page, or a CSV whose quoted values
hold line breaks) is read by file_reader.py first, so one set of SQL serves every format.

The value rules live here as SQL macros: date shapes (ISO, dd/mm/yyyy, Excel serial), pseudonyms (HMAC-SHA256 from
pseudonymise.py's padded key) and district spellings (the twin of reference.normalise_name, which the alias table is
keyed by); tests/unit/test_sql_twins.py holds them to independent Python computations.
"""
from __future__ import annotations

import dataclasses
import threading
from pathlib import Path

import duckdb

from cspwh import pseudonymise, reference
from cspwh.contracts import Entity, Layout
from cspwh.file_reader import Table

EXCEL_EPOCH = "timestamp '1899-12-30'"

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
    # spacing and case make no other person (norm_text); case, punctuation and '&' no other district (norm_name)
    # most values need no respacing, and the regex replace is the costly part
    r"""create macro norm_text(v) as case when regexp_matches(v, '[\t\n\f\r]|  |^ | $')
          then lower(trim(regexp_replace(v, '[ \t\n\f\r]+', ' ', 'g'))) else lower(v) end""",
    """create macro norm_name(v) as trim(regexp_replace(
          replace(replace(lower(v), '&', ' and '), '%26', ' and '), '[^a-z0-9]+', ' ', 'g'))""",
]


@dataclasses.dataclass
class StagedFile:
    con: duckdb.DuckDBPyConnection
    layout: Layout
    columns: list[str]  # contract column name of each position
    path: Path
    read_by_duckdb: bool  # False: read by file_reader.py (rows and lines already exact)
    lock: threading.Lock = dataclasses.field(default_factory=threading.Lock)

    def header_of(self, name: str) -> str:
        return self.layout.headers[self.layout.names.index(name)]

    def cursor(self) -> duckdb.DuckDBPyConnection:
        with self.lock:  # a DuckDB connection hands out cursors one thread at a time
            return self.con.cursor()

    def close(self) -> None:
        self.con.close()


def _session() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(config={"threads": 2, "preserve_insertion_order": True})
    for macro in MACROS:
        con.execute(macro)
    inner, outer = pseudonymise.hmac_pads()
    # a macro takes no bound parameters, so the padded keys are hex literals in it (the database is in memory)
    con.execute(f"""create macro pseudonym(v) as left(sha256(unhex('{outer.hex()}')
                      || unhex(sha256(unhex('{inner.hex()}') || encode(norm_text(v))))), 32)""")
    con.execute("create table geo_alias (name_norm varchar primary key, code varchar, canonical boolean)")
    con.executemany("insert into geo_alias values (?, ?, ?)",
                    [(name, code, canonical) for name, (code, canonical) in reference.alias_index().items()])
    return con


def literal(text: str) -> str:
    return "'" + str(text).replace("'", "''") + "'"


def ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def district_joins(entity: Entity, columns: list[str]) -> str:
    """One left join to the alias table per district column (aliased g_<column>); name_norm is unique, so the join
    never adds rows."""
    return " ".join(f"left join geo_alias g_{name} on g_{name}.name_norm = norm_name(src.{ident(name)})"
                    for name in columns if entity.column(name).type == "district")


def fast_path(path: Path, entity: Entity) -> bool:
    """A plain CSV in UTF-8 with no byte order mark: DuckDB reads it directly."""
    if entity.format != "csv" or path.name.endswith(".gz") or entity.encoding.lower() not in ("utf-8", "utf8"):
        return False
    with path.open("rb") as fh:
        return not fh.read(3).startswith(b"\xef\xbb\xbf")


def from_csv(path: Path, entity: Entity, layout: Layout) -> StagedFile:
    """DuckDB reads the file; `_line` assumes one line per row, which the gate confirms (lines_match)."""
    con = _session()
    columns = ", ".join(f"{literal(name)}: 'VARCHAR'" for name in layout.names)
    con.execute(f"""create view src as
                      select *, (row_number() over ()) + 1 as _line
                        from read_csv({literal(str(path))}, header = true, columns = {{{columns}}},
                                      delim = {literal(entity.delimiter)}, quote = '"', escape = '"',
                                      strict_mode = true, null_padding = false, encoding = 'utf-8')""")
    return StagedFile(con, layout, list(layout.names), path, True)


def from_table(path: Path, table: Table, layout: Layout) -> StagedFile:
    """Rows file_reader.py has read, in the layout's column order, into a DuckDB table."""
    import pandas as pd

    positions = [table.header.index(h) if h in table.header else None for h in layout.headers]
    frame = pd.DataFrame({name: pd.Series([row[p] if p is not None else None for row in table.rows], dtype="object")
                          for name, p in zip(layout.names, positions)})
    frame["_line"] = pd.Series(table.line_numbers, dtype="int64")
    con = _session()
    con.register("rows_read", frame)
    con.execute("create table src as select * from rows_read")
    con.unregister("rows_read")
    return StagedFile(con, layout, list(layout.names), path, False)


def lines_match(staged: StagedFile, rows: int) -> bool:
    """True when the file has exactly one line per row after the header, so `_line` is the file's own line."""
    if not staged.read_by_duckdb:
        return True
    newlines, last = 0, b""
    with staged.path.open("rb") as fh:
        while chunk := fh.read(1 << 22):
            newlines += chunk.count(b"\n")
            last = chunk[-1:]
    lines = newlines + (0 if last == b"\n" else 1)
    return lines == rows + 1

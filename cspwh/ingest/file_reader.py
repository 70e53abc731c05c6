"""Reading a received file as a table: CSV (with its encoding), xlsx (first sheet or the named one) or a JSON page.

The result keeps the file's own header and every row's line (CSV line, sheet row, or record position) so findings
can say where. Nothing here judges the values: that is the gate's job.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import gzip
import io
import json
from pathlib import Path

from cspwh.catalogue.contracts import Entity


@dataclasses.dataclass
class Table:
    header: list[str]
    rows: list[list[str | None]]
    line_numbers: list[int]
    encoding_used: str | None = None
    had_bom: bool = False


class Unreadable(Exception):
    def __init__(self, check: str, message: str, what_to_do: str, lines: list[int] | None = None):
        super().__init__(message)
        self.check, self.message, self.what_to_do, self.lines = check, message, what_to_do, lines or []


def _bytes(path: Path) -> bytes:
    try:
        raw = path.read_bytes()
        return gzip.decompress(raw) if path.name.endswith(".gz") else raw
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        # the exception's own text may quote the file's first bytes: only its kind is said
        raise Unreadable(
            "readable",
            f"the file cannot be decompressed or read ({type(exc).__name__})",
            "resend the file; if gzipped, check the upload completed",
        ) from exc


def _decode(raw: bytes, entity: Entity) -> tuple[str, str, bool]:
    bom = raw.startswith(b"\xef\xbb\xbf")
    body = raw[3:] if bom else raw
    first_error: UnicodeDecodeError | None = None
    for encoding in (entity.encoding, *entity.fallback_encodings):
        try:
            return body.decode(encoding), encoding, bom
        except UnicodeDecodeError as exc:
            first_error = first_error or exc
    assert first_error is not None  # the loop tried entity.encoding at least, and returned on any success
    line = body[: first_error.start].count(b"\n") + 1
    raise Unreadable(
        "encoding",
        f"the file is not valid {entity.encoding}: byte {body[first_error.start]:#04x} at byte offset "
        f"{first_error.start}",
        f"export the file as {entity.encoding}",
        [line],
    )


def read_csv(path: Path, entity: Entity) -> Table:
    text, encoding, bom = _decode(_bytes(path), entity)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=entity.delimiter)
    try:
        header = next(reader)
    except StopIteration:
        raise Unreadable("not_empty", "the file is empty (no header row)", "resend the complete extract") from None
    rows, lines, ragged = [], [], []
    try:
        for row in reader:
            if not row:
                continue
            if len(row) != len(header):
                ragged.append(reader.line_num)
            rows.append([v if v != "" else None for v in row])
            lines.append(reader.line_num)
    except csv.Error as exc:
        raise Unreadable(
            "csv", f"the file is not well-formed CSV: {exc}", "re-export the file as CSV", [reader.line_num]
        ) from exc
    if ragged:
        raise Unreadable(
            "row_width",
            f"{len(ragged)} row(s) do not have the header's {len(header)} fields",
            "re-export the file; check for unquoted delimiters in text fields",
            ragged[:5],
        )
    return Table(header, rows, lines, encoding, bom)


def _cell(value: object) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ") if value.time() != dt.time() else value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def read_xlsx(path: Path, entity: Entity) -> Table:
    import openpyxl

    try:
        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds for a file that is not a workbook
        raise Unreadable(
            "readable",
            f"the file cannot be opened as an xlsx workbook ({exc.__class__.__name__})",
            "save the return as an Excel workbook (.xlsx) and resend",
        ) from exc
    try:
        if entity.sheet and entity.sheet not in book.sheetnames:
            raise Unreadable(
                "sheet",
                f"the workbook has no sheet '{entity.sheet}' (it has {len(book.sheetnames)} "
                "other sheet(s), not named here: a sheet name is the file's content)",
                f"keep the return's data on a sheet named '{entity.sheet}'",
            )
        sheet = book[entity.sheet] if entity.sheet else book.worksheets[0]
        header, rows, lines = None, [], []
        for number, values in enumerate(sheet.iter_rows(values_only=True), start=1):
            cells = [_cell(v) for v in values]
            if header is None:
                if any(cells):
                    header = [c or "" for c in cells]
                    while header and header[-1] == "":
                        header.pop()
                continue
            if not any(cells):
                continue
            rows.append((cells + [None] * len(header))[: len(header)])
            lines.append(number)
    finally:
        book.close()
    if header is None:
        raise Unreadable("not_empty", "the sheet is empty (no header row)", "resend the complete return")
    return Table(header, rows, lines)


def read_json(path: Path, entity: Entity) -> Table:
    text, encoding, bom = _decode(_bytes(path), entity)
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise Unreadable("json", f"the page is not valid JSON: {exc.msg}", "resend the page", [exc.lineno]) from exc
    records = doc.get(entity.records_key) if isinstance(doc, dict) and entity.records_key else doc
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        raise Unreadable(
            "json",
            f"the page has no list of records under '{entity.records_key}'",
            "check the API version the extract was taken from",
        )
    keys = list(dict.fromkeys(k for r in records for k in r)) or list(entity.headers)
    rows = [
        [
            None if r.get(k) in (None, "") else (json.dumps(r[k]) if isinstance(r.get(k), (dict, list)) else str(r[k]))
            for k in keys
        ]
        for r in records
    ]
    return Table(keys, rows, list(range(1, len(records) + 1)), encoding, bom)


READERS = {"csv": read_csv, "xlsx": read_xlsx, "json": read_json}


def read(path: Path, entity: Entity) -> Table:
    return READERS[entity.format](path, entity)

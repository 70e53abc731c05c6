"""Feed contracts: `sources/<feed>/contract.yml` read into typed objects that every stage uses.

A feed (police_uk, storm_asb, yos, ...) has one or more entities, each a kind of file or API page it delivers:
its name pattern, format, layouts (header versions), columns, key and raw table.
"""

from __future__ import annotations

import dataclasses
import functools
import re
from pathlib import Path

import yaml

from cspwh import settings

PG_TYPES = {
    "text": "text",
    "month": "date",
    "numeric": "numeric",
    "integer": "bigint",
    "date": "date",
    "timestamp": "timestamp",
    "boolean": "boolean",
    "district": "text",
}
LINEAGE_COLUMNS = [
    ("_load_id", "bigint not null"),
    ("_source_file", "text not null"),
    ("_line_number", "integer not null"),
    ("_loaded_at", "timestamptz not null"),
    ("_content_hash", "text not null"),
]
# The loader sets these per load as transaction settings (loader.py), so COPY need not send them on every row.
LINEAGE_DEFAULTS = {
    "_load_id": "current_setting('cspwh.load_id')::bigint",
    "_source_file": "current_setting('cspwh.source_file')",
    "_loaded_at": "now()",
    "_content_hash": "current_setting('cspwh.content_hash')",
    "_layout_version": "nullif(current_setting('cspwh.layout_version', true), '')",
}
TREATMENTS = ("hmac", "generalise", "drop")


@dataclasses.dataclass(frozen=True)
class Column:
    name: str
    header: str
    type: str = "text"
    required: bool = False
    pattern: str | None = None
    format: str | None = None  # how a person would describe the pattern, e.g. YYYY-MM
    allowed_values: tuple[str, ...] | None = None
    matches_file_period: bool = False  # every value equals the period in the file name
    within_file_period: bool = False  # every date falls inside the period the file name gives
    not_after_now: bool = False  # a date-time later than now (beyond FUTURE_TOLERANCE) is impossible: blocking
    personal: str | None = None  # None, or how it is treated at landing: hmac | generalise | drop
    generalise_to: str | None = None  # for generalise: year | month | age_band | postcode_district
    description: str = ""
    reference_of: str | None = None  # feed.entity.column whose number this column holds as typed (linkage_evidence.py)
    evidence: tuple[str, ...] = ()  # linkage evidence pseudonyms made from it at landing (linkage_evidence.py)

    @property
    def pg_type(self) -> str:
        if self.personal == "hmac":
            return "text"
        if self.personal == "generalise":
            return (
                "text"
                if self.generalise_to in ("age_band", "postcode_district")
                else "integer"
                if self.generalise_to == "year"
                else "date"
            )
        return PG_TYPES[self.type]

    @property
    def loaded(self) -> bool:
        return self.personal != "drop"


@dataclasses.dataclass(frozen=True)
class Layout:
    version: str
    headers: tuple[str, ...]  # in file order
    names: tuple[str, ...]  # the column each header is
    note: str = ""


@dataclasses.dataclass(frozen=True)
class Volume:
    history_files: int = 6
    min_history: int = 3
    min_ratio: float = 0.5
    max_ratio: float = 2.0


@dataclasses.dataclass(frozen=True)
class Entity:
    feed: str
    owner_role: str
    name: str
    title: str
    file_pattern: str
    format: str  # csv | xlsx | json
    encoding: str
    fallback_encodings: tuple[str, ...]
    delimiter: str
    records_key: str | None  # json: the key holding the list of records
    sheet: str | None  # xlsx: the sheet holding the table
    raw_table: str
    key: tuple[str, ...]
    columns: tuple[Column, ...]
    layouts: tuple[Layout, ...]
    volume: Volume | None
    contract_path: Path
    expect_all_districts: str | None = None  # a column in which every partnership district must appear
    # a file restating a loaded period with fewer rows than (1 - this share) of them, or none, is held for a person
    restatement_max_shrink: float = 0.5
    # records versioned by this column (an API's updated_at): a (key, version) already in raw is not loaded again,
    # so a page asked for again (the Sentinel cursor held before it) doubles nothing
    version_column: str | None = None

    @property
    def headers(self) -> list[str]:
        """The current layout's headers."""
        return list(self.layouts[-1].headers)

    def column(self, name: str) -> Column:
        return next(c for c in self.columns if c.name == name)

    def match_file(self, file_name: str) -> re.Match | None:
        # the whole name (`$` alone also matches before a trailing newline) and ASCII digits only (\d alone
        # matches any script's digits, which no date or period parses)
        return re.fullmatch(self.file_pattern, file_name, re.ASCII)

    def raw_columns(self) -> list[tuple[str, str]]:
        """(name, Postgres type) of every column of the raw table, lineage included."""
        cols = []
        for c in self.columns:
            if c.loaded:
                cols.append((c.name, c.pg_type))
            if c.type == "district":  # conformed at load through the one alias table (reference.py)
                cols.append((f"{c.name}_code", "text"))
            cols += [(name, pg_type) for name, pg_type, _ in evidence_columns(c)]
        cols += LINEAGE_COLUMNS
        cols += [("_layout_version", "text")] if len(self.layouts) > 1 else []
        return cols

    def raw_ddl(self, schema: str = "raw") -> list[str]:
        """Create the raw table, and add any column a newer contract has (a contract only adds columns, except that a
        column it now drops at landing, such as free text an earlier contract kept, is dropped with its values)."""
        table = f"{schema}.{self.raw_table}"
        body = ",\n".join(f'    "{name}" {decl}' for name, decl in self.raw_columns())
        kept = {name for name, _ in self.raw_columns()}
        versioned = ", ".join(f'"{c}"' for c in (*self.key, self.version_column or ""))
        return (
            [f"create table if not exists {table} (\n{body}\n)"]
            + [
                # cascade: an old build's staging view of the column goes with it (the next build makes new ones)
                f'alter table {table} drop column if exists "{c.name}" cascade'
                for c in self.columns
                if not c.loaded and c.name not in kept
            ]
            + [
                f'alter table {table} add column if not exists "{name}" {decl.replace(" not null", "")}'
                for name, decl in self.raw_columns()
            ]
            + [
                f'alter table {table} alter column "{name}" set default {LINEAGE_DEFAULTS[name]}'
                for name, _ in self.raw_columns()
                if name in LINEAGE_DEFAULTS
            ]
            # the nightly build reads and tests only the loads new since the published build (incremental_by_load,
            # tested_by_load): without this each of those reads is a scan of every load
            + [f'create index if not exists "{self.raw_table}_load_id" on {table} (_load_id)']
            # a versioned feed's load drops the versions an earlier load holds (ingest.loader): the new load's rows
            # are not in the planner's statistics yet, so it looked each one up by scanning the whole table (90 s a
            # page of Sentinel cases at 340,000 cases) until the key and version had an index
            + (
                [f'create index if not exists "{self.raw_table}_version" on {table} ({versioned})']
                if self.version_column
                else []
            )
        )


@dataclasses.dataclass(frozen=True)
class Contract:
    feed: str
    title: str
    owner_role: str
    cadence: str
    transport: dict
    entities: tuple[Entity, ...]
    path: Path
    indicative: bool = False  # every figure derived from the feed is flagged indicative (e.g. CRC RAT, from nDelius)
    # files the source sends beside the ones loaded ((pattern, what it is)): named as what they are when quarantined
    other_files: tuple[tuple[str, str], ...] = ()

    def entity_for(self, file_name: str) -> tuple[Entity, re.Match] | None:
        for entity in self.entities:
            match = entity.match_file(file_name)
            if match:
                return entity, match
        return None

    def other_file(self, file_name: str) -> str | None:
        """What a file this feed does not load is, when the contract names its kind (an outcomes file beside the
        street files); None for any other name."""
        return next((what for pattern, what in self.other_files if re.match(pattern, file_name)), None)

    def entity(self, name: str) -> Entity:
        return next(e for e in self.entities if e.name == name)


def _columns(spec: list[dict]) -> tuple[Column, ...]:
    out = []
    for c in spec:
        c = dict(c)
        if c.get("allowed_values"):
            c["allowed_values"] = tuple(str(v) for v in c["allowed_values"])
        c.setdefault("header", c["name"])
        c["evidence"] = tuple(c.get("evidence", ()))
        if c.get("personal") not in (None, *TREATMENTS):
            raise ValueError(f"column {c['name']}: personal must be one of {TREATMENTS}")
        out.append(Column(**c))
    return tuple(out)


def _layouts(spec: dict, columns: tuple[Column, ...]) -> tuple[Layout, ...]:
    if not spec.get("layouts"):
        return (Layout("v1", tuple(c.header for c in columns), tuple(c.name for c in columns)),)
    layouts = []
    for layout in spec["layouts"]:
        pairs = [(h, n) for item in layout["columns"] for h, n in item.items()]
        layouts.append(
            Layout(
                str(layout["version"]), tuple(h for h, _ in pairs), tuple(n for _, n in pairs), layout.get("note", "")
            )
        )
    return tuple(layouts)


def _load(path: Path) -> Contract:
    spec = yaml.safe_load(path.read_text())
    entities = []
    for e in spec["entities"]:
        fmt = e.get("format", {})
        columns = _columns(e["columns"])
        entities.append(
            Entity(
                feed=spec["feed"],
                owner_role=spec["owner_role"],
                name=e["name"],
                title=e.get("title", e["name"]),
                file_pattern=e["file_pattern"],
                format=fmt.get("type", "csv"),
                encoding=fmt.get("encoding", "utf-8"),
                fallback_encodings=tuple(fmt.get("fallback_encodings", ())),
                delimiter=fmt.get("delimiter", ","),
                records_key=fmt.get("records_key"),
                sheet=fmt.get("sheet"),
                raw_table=e["raw_table"],
                key=tuple(e.get("key", ())),
                columns=columns,
                layouts=_layouts(e, columns),
                volume=Volume(**e["volume"]) if e.get("volume") else None,
                contract_path=path,
                expect_all_districts=e.get("expect_all_districts"),
                restatement_max_shrink=float((e.get("restatement") or {}).get("max_shrink", 0.5)),
                version_column=e.get("version_column"),
            )
        )
    return Contract(
        feed=spec["feed"],
        title=spec["title"],
        owner_role=spec["owner_role"],
        cadence=spec["cadence"],
        transport=spec.get("transport", {}),
        entities=tuple(entities),
        path=path,
        indicative=bool(spec.get("indicative", False)),
        other_files=tuple((o["pattern"], o["what"]) for o in spec.get("other_files") or ()),
    )


@functools.cache
def load(feed: str) -> Contract:
    path = settings.SOURCES_DIR / feed / "contract.yml"
    if not path.exists():
        raise KeyError(f"no contract for feed {feed!r} (expected {path})")
    return _load(path)


def all_feeds() -> list[str]:
    return sorted(p.parent.name for p in settings.SOURCES_DIR.glob("*/contract.yml"))


# How a typed reference was read (`<name>_form`); cspwh/ingest/linkage_evidence.py decides which.
REFERENCE_FORMS = ("as_issued", "retyped", "day_first", "unreadable")


def evidence_columns(col: Column) -> list[tuple[str, str, str]]:
    """(name, Postgres type, description) of the columns a contract column's linkage evidence adds to raw (made at
    landing by cspwh/ingest/linkage_evidence.py; declared here so every stage agrees on raw's columns)."""
    out = []
    if col.reference_of:
        out += [
            (
                f"{col.name}_key",
                "text",
                f"the {col.reference_of.split('.')[-1]} read from {col.name} by the one "
                "reference parser (built from its contract pattern), as the source system issues it; null when "
                "none could be read",
            ),
            (
                f"{col.name}_form",
                "text",
                f"how {col.name} was typed: {', '.join(REFERENCE_FORMS)}; null when empty (never the text itself)",
            ),
        ]
    for kind in col.evidence:
        out.append(
            (
                f"{col.name}_{kind}",
                "text",
                f"keyed HMAC pseudonym of the {kind.replace('_', ' ')} of "
                f"{col.name} (linkage evidence made at landing; never the value)",
            )
        )
    return out

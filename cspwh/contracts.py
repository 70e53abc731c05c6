"""Feed contracts: `sources/<feed>/contract.yml` read into one typed object that every stage uses."""
from __future__ import annotations

import dataclasses
import functools
import re
from pathlib import Path

import yaml

from cspwh import settings

PG_TYPES = {"text": "text", "month": "date", "numeric": "numeric", "integer": "bigint", "date": "date"}
LINEAGE_COLUMNS = [
    ("_load_id", "bigint not null"),
    ("_source_file", "text not null"),
    ("_line_number", "integer not null"),
    ("_loaded_at", "timestamptz not null"),
    ("_content_hash", "text not null"),
]


@dataclasses.dataclass(frozen=True)
class Column:
    header: str
    name: str
    type: str = "text"
    required: bool = False
    pattern: str | None = None
    allowed_values: tuple[str, ...] | None = None
    matches_file_period: bool = False
    personal: bool = False
    format: str | None = None  # how a person would describe the pattern, e.g. YYYY-MM
    description: str = ""

    @property
    def pg_type(self) -> str:
        return PG_TYPES[self.type]


@dataclasses.dataclass(frozen=True)
class Volume:
    history_files: int = 6
    min_history: int = 3
    min_ratio: float = 0.5
    max_ratio: float = 2.0


@dataclasses.dataclass(frozen=True)
class Contract:
    feed: str
    title: str
    owner_role: str
    cadence: str
    file_pattern: str
    encoding: str
    delimiter: str
    raw_table: str
    columns: tuple[Column, ...]
    volume: Volume
    path: Path

    @property
    def headers(self) -> list[str]:
        return [c.header for c in self.columns]

    def column(self, header: str) -> Column:
        return next(c for c in self.columns if c.header == header)

    def match_file(self, file_name: str) -> re.Match | None:
        return re.match(self.file_pattern, file_name)

    def raw_ddl(self, schema: str = "raw") -> str:
        cols = [f'    "{c.name}" {c.pg_type}' for c in self.columns]
        cols += [f"    {name} {decl}" for name, decl in LINEAGE_COLUMNS]
        return f"create table if not exists {schema}.{self.raw_table} (\n" + ",\n".join(cols) + "\n)"


def _load(path: Path) -> Contract:
    spec = yaml.safe_load(path.read_text())
    columns = tuple(
        Column(**{**c, "allowed_values": tuple(c["allowed_values"]) if c.get("allowed_values") else None})
        for c in spec["columns"]
    )
    return Contract(
        feed=spec["feed"],
        title=spec["title"],
        owner_role=spec["owner_role"],
        cadence=spec["cadence"],
        file_pattern=spec["transport"]["file_pattern"],
        encoding=spec["format"].get("encoding", "utf-8"),
        delimiter=spec["format"].get("delimiter", ","),
        raw_table=spec["raw_table"],
        columns=columns,
        volume=Volume(**spec.get("volume", {})),
        path=path,
    )


@functools.cache
def load(feed: str) -> Contract:
    path = settings.SOURCES_DIR / feed / "contract.yml"
    if not path.exists():
        raise KeyError(f"no contract for feed {feed!r} (expected {path})")
    return _load(path)


def all_feeds() -> list[str]:
    return sorted(p.parent.name for p in settings.SOURCES_DIR.glob("*/contract.yml"))

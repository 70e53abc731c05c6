"""dbt source definitions rendered from the feed contracts, so the raw columns are declared in one place only.

`cspwh dbt-sources` writes `dbt_project/models/staging/<feed>/_<feed>__sources.yml`; a test fails if a committed
file differs from what the contract renders.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from cspwh import settings
from cspwh.catalogue import contracts
from cspwh.catalogue.contracts import LINEAGE_COLUMNS

LINEAGE_DESCRIPTIONS = {
    "_load_id": "the load (landing manifest file_id) that brought this row",
    "_source_file": "the file name as received",
    "_line_number": "the row's line in the received file (the header is line 1)",
    "_loaded_at": "when the row was loaded into raw",
    "_content_hash": "sha256 of the received file",
}


# Source freshness (`dbt source freshness`) from the contract's cadence, on `_loaded_at` (when the rows were loaded:
# a delivery, not the period its records are about). When all is well the latest load is at most one delivery
# interval old: about a day for a nightly feed, 31 days for a monthly one, 92 for a quarterly one. warn_after adds
# about a week's grace to a monthly or quarterly interval (a partner's file a few days late is normal) and a day to a
# nightly one (a late file is caught up the next night); error_after is two deliveries missed, with the same grace
# (the feed has stopped, and its months will read as zeros that are not zeros). An accepted file with no rows does
# not move `_loaded_at`: a feed whose files can be empty would warn although it was delivered.
FRESHNESS_DAYS = {"nightly": (2, 4), "monthly": (40, 70), "quarterly": (100, 190)}


def _freshness(cadence: str) -> dict:
    """dbt 1.10+ source config: `loaded_at_field` and `freshness` under `config:` (top level is deprecated)."""
    kind = next((k for k in FRESHNESS_DAYS if cadence.lower().startswith(k)), None)
    if kind is None:
        raise ValueError(f"cadence {cadence!r} starts with none of {sorted(FRESHNESS_DAYS)}: say how often it arrives")
    warn, error = FRESHNESS_DAYS[kind]
    return {
        "loaded_at_field": "_loaded_at",
        "freshness": {"warn_after": {"count": warn, "period": "day"}, "error_after": {"count": error, "period": "day"}},
    }


def render(feed: str) -> str:
    c = contracts.load(feed)
    tables = []
    for entity in c.entities:
        columns: list[dict[str, object]] = []  # dbt's column entries (data_tests is a list)
        for col in entity.columns:
            if col.loaded:
                columns.append({"name": col.name, "description": _describe(col), "data_type": col.pg_type})
            if col.type == "district":
                columns.append(
                    {
                        "name": f"{col.name}_code",
                        "data_type": "text",
                        "description": f"ONS code of {col.name}, resolved at load through sources/reference/"
                        "geography_aliases.csv; null if it names no known geography",
                    }
                )
            columns += [
                {"name": name, "data_type": pg_type, "description": text}
                for name, pg_type, text in contracts.evidence_columns(col)
            ]
        columns += [
            {"name": name, "description": LINEAGE_DESCRIPTIONS[name], "data_tests": ["not_null"]}
            for name, _ in LINEAGE_COLUMNS
        ]
        if len(entity.layouts) > 1:
            columns.append(
                {
                    "name": "_layout_version",
                    "description": "the file layout the row arrived in "
                    f"({', '.join(lay.version for lay in entity.layouts)}): a change is a series break",
                }
            )
        tables.append(
            {
                "name": entity.name,
                "identifier": entity.raw_table,
                "description": f"{entity.title}: typed rows of every loaded file, with lineage",
                "columns": columns,
            }
        )
    doc = {
        "version": 2,
        "sources": [
            {
                "name": feed,
                "description": f"{c.title}. Owner role: {c.owner_role}. Cadence: {c.cadence}. "
                "Rows of accepted files only.",
                "schema": "raw",
                "config": _freshness(c.cadence),
                "tables": tables,
            }
        ],
    }
    header = f"# Generated from sources/{feed}/contract.yml by `cspwh dbt-sources`; do not edit by hand.\n"
    return header + yaml.safe_dump(doc, sort_keys=False, width=120)


def _describe(col: contracts.Column) -> str:
    text = col.description or col.header
    if col.personal == "hmac":
        text += " (personal data: keyed HMAC pseudonym, never the value)"
    elif col.personal == "generalise":
        text += f" (personal data: generalised to {col.generalise_to})"
    return text


def path_for(feed: str) -> Path:
    return settings.DBT_DIR / "models" / "staging" / feed / f"_{feed}__sources.yml"


def write_all() -> list[Path]:
    written = []
    for feed in contracts.all_feeds():
        target = path_for(feed)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(render(feed))
        written.append(target)
    return written

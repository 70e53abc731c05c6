"""Reference data read by Python (the same seed files dbt loads): geographies and the spellings partners use."""

from __future__ import annotations

import csv
import functools
import re

import yaml

from cspwh import settings


def rows(name: str) -> list[dict]:
    """A reference seed file's rows (the same files dbt loads as seeds)."""
    with (settings.reference_dir() / name).open(newline="") as fh:
        return list(csv.DictReader(fh))


@functools.cache
def partnership() -> dict:
    return yaml.safe_load((settings.reference_dir() / "partnership.yml").read_text())


@functools.cache
def geographies() -> list[dict]:
    return rows("geographies.csv")


def districts() -> list[dict]:
    county = partnership()["county_code"]
    return [g for g in geographies() if g["geography_level"] == "district" and g["parent_code"] == county]


def members(geography_code: str) -> list[str]:
    """The local authorities a geography is made of: a combined footprint's from geography_members.csv, the county's
    districts, or the geography itself."""
    listed = [m["local_authority_code"] for m in rows("geography_members.csv") if m["geography_code"] == geography_code]
    if listed:
        return listed
    if geography_code == partnership()["county_code"]:
        return [d["geography_code"] for d in districts()]
    return [geography_code]


def normalise_name(text: str) -> str:
    """Case, punctuation and '&' do not make a different district: 'N. W. Leics' ~ 'n w leics'."""
    text = text.lower().replace("&", " and ").replace("%26", " and ")
    text = re.sub(r"[^a-z0-9]+", " ", text)
    return re.sub(r"\s+", " ", text).strip()


@functools.cache
def alias_index() -> dict[str, tuple[str, bool]]:
    index: dict[str, tuple[str, bool]] = {}
    for g in geographies():
        index[normalise_name(g["geography_name"])] = (g["geography_code"], True)
        index[normalise_name(g["geography_code"])] = (g["geography_code"], True)
    for a in rows("geography_aliases.csv"):
        index.setdefault(normalise_name(a["alias"]), (a["geography_code"], False))
    return index


def resolve_geography(text: str) -> tuple[str, bool] | None:
    """(ONS code, is the canonical spelling) for any spelling in geography_aliases.csv, else None."""
    return alias_index().get(normalise_name(text))

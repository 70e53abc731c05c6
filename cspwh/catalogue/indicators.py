"""The indicator catalogue (sources/reference/indicators.yml) with the partnership's RAG rule applied.

dbt receives it as the `indicators` var and generates the KPI mart from it; the report and `explain` read it too.
"""

from __future__ import annotations

import re
from typing import SupportsFloat

import yaml

from cspwh import settings
from cspwh.catalogue import reference

UNITS = {
    "per_1000": "per 1,000",
    "per_10000": "per 10,000",
    "per_100000": "per 100,000",
    "percent": "%",
    "count": "count",
    "ratio": "ratio",
}
STATUSES = ("active", "pending", "no_feed")
RAG_COMPARATORS = ("previous_period", "previous_financial_year")
RAG_RULES = ("tolerance", "direction", "band")
# matched_months_min: a previous period only partly covered is still compared, on the calendar months both periods
# cover, when there are at least this many of them (0: never; month-grain sources only)
DEFAULT_RAG = {"rule": "tolerance", "comparator": "previous_period", "tolerance_pct": 5, "matched_months_min": 9}
_IDENT = re.compile(r"^[a-z][a-z0-9_]*$")


def _raw() -> dict:
    return yaml.safe_load((settings.reference_dir() / "indicators.yml").read_text())


def dashboard_config() -> dict:
    config = dict(reference.partnership().get("dashboard") or {})
    config["rag"] = {**DEFAULT_RAG, **(config.get("rag") or {})}
    config.setdefault("rag_overrides", {})
    config.setdefault("exception_threshold_pct", 10)
    config.setdefault("geography", "county")
    return config


def outcomes() -> list[dict]:
    return _raw()["outcomes"]


def catalogue() -> list[dict]:
    """Every indicator, validated, with its effective RAG rule (default < indicators.yml < partnership.yml)."""
    raw = _raw()
    config = dashboard_config()
    outcome_ids = [o["id"] for o in raw["outcomes"]]
    for note in config.get("context_notes") or []:
        unknown = set(note.get("outcomes") or []) - set(outcome_ids)
        if unknown:
            raise ValueError(
                f"partnership.yml: dashboard.context_notes from {note.get('from')}: outcomes {sorted(unknown)} are not "
                f"outcome groups of indicators.yml ({', '.join(outcome_ids)})"
            )
    seen, result = set(), []
    for order, entry in enumerate(raw["indicators"], start=1):
        ind = dict(entry)
        where = f"indicators.yml: {ind.get('id')!r}"
        if not _IDENT.match(str(ind.get("id", ""))) or ind["id"] in seen:
            raise ValueError(f"{where}: id must be a unique lower_snake_case name")
        seen.add(ind["id"])
        if ind.get("outcome") not in outcome_ids:
            raise ValueError(f"{where}: outcome must be one of {outcome_ids}")
        if ind.get("unit") not in UNITS:
            raise ValueError(f"{where}: unit must be one of {list(UNITS)}")
        if ind.get("status") not in STATUSES:
            raise ValueError(f"{where}: status must be one of {STATUSES}")
        if not isinstance(ind.get("up_is_good"), bool):
            raise ValueError(f"{where}: up_is_good must be true or false")
        rag = {**config["rag"], **(ind.get("rag") or {}), **(config["rag_overrides"].get(ind["id"]) or {})}
        ind["rag"] = _rag_rule(rag, where)
        ind["order"] = order
        ind["outcome_order"] = outcome_ids.index(ind["outcome"]) + 1
        ind.setdefault("decimals", 1)
        ind.setdefault("geography", config["geography"])
        ind.setdefault("indicative", False)
        ind.setdefault("suppress_below", 0)
        ind.setdefault("series_breaks", [])
        ind.setdefault("breakdown", [])
        ind.setdefault("lineage", [])
        ind.setdefault("checks", [])
        ind.setdefault("note", "")
        ind.setdefault("dashboard_period", "rolling_12_months")
        ind.setdefault("display", "value")
        ind["unit_label"] = UNITS[ind["unit"]]
        if ind["status"] == "active":
            source = ind.get("source") or {}
            for key in ("model", "numerator", "geography_levels"):
                if not source.get(key):
                    raise ValueError(f"{where}: an active indicator needs source.{key}")
            source.setdefault("multiplier", 1)
            source.setdefault("denominator_aggregation", "last")
            source.setdefault("month_column", "month_start")
            if source.get("grain") == "period":  # a KPI mart: one row per kpi_code, geography and period
                if not source.get("kpi_code"):
                    raise ValueError(f"{where}: a period-grain source needs source.kpi_code")
                source.setdefault("period_types", ["quarter"])
                source.setdefault("breakdown_value", "All")  # the mart's total row, not a breakdown
            ind["source"] = source
        result.append(ind)
    return result


def _rag_rule(rag: dict, where: str) -> dict:
    if rag.get("rule") not in RAG_RULES:
        raise ValueError(f"{where}: rag rule must be one of {RAG_RULES}, not {rag.get('rule')!r}")
    if rag["comparator"] not in RAG_COMPARATORS:
        raise ValueError(f"{where}: rag comparator must be one of {RAG_COMPARATORS}")
    band = rag.get("band")
    if rag["rule"] == "band":
        if not (
            isinstance(band, list)
            and len(band) == 2
            and all(isinstance(b, (int, float)) for b in band)
            and band[0] <= band[1]
        ):
            raise ValueError(f"{where}: a band rule needs band: [low, high] in the indicator's unit, e.g. [28, 40]")
        band = [float(b) for b in band]
    else:
        band = None
    matched = rag.get("matched_months_min", 0)
    if not (isinstance(matched, int) and not isinstance(matched, bool) and 0 <= matched <= 12):
        raise ValueError(f"{where}: rag matched_months_min must be a whole number of months from 0 (never) to 12")
    return {
        "rule": rag["rule"],
        "comparator": rag["comparator"],
        "tolerance_pct": float(rag["tolerance_pct"]),
        "matched_months_min": matched,
        "band": band,
        "board_source": rag.get("board_source"),
    }


def rate(rule: dict, value: SupportsFloat | None, comparator: SupportsFloat | None, up_is_good: bool) -> str | None:
    """The RAG a rule gives a figure against its comparator; None when the rule cannot rate it. fct_kpi computes the
    same in SQL for the marts; this is for figures the marts do not hold (the board's published ones)."""
    if value is None:
        return None
    value = float(value)
    if rule["rule"] == "band":  # a level judged on its own: inside the recommended band is good, whatever the trend
        low, high = rule["band"]
        return "G" if low <= value <= high else "R"
    if comparator is None:
        return None
    comparator = float(comparator)
    better = (value - comparator) * (1 if up_is_good else -1)
    if rule["rule"] == "direction":
        return "G" if better > 0 else ("R" if better < 0 else "A")
    if comparator == 0:
        return None
    change = round(better * 100.0 / comparator, 2)
    tolerance = rule["tolerance_pct"]
    return "G" if change > tolerance else ("R" if change < -tolerance else "A")


def active() -> list[dict]:
    return [i for i in catalogue() if i["status"] == "active"]


def get(indicator_id: str) -> dict:
    for ind in catalogue():
        if ind["id"] == indicator_id:
            return ind
    raise KeyError(f"no indicator {indicator_id!r} in indicators.yml; known: {', '.join(i['id'] for i in catalogue())}")


def dbt_var() -> list[dict]:
    """What the dbt models need of the catalogue (every status: dim_indicator lists the pending ones too)."""
    keys = (
        "id",
        "name",
        "ref",
        "outcome",
        "unit",
        "unit_label",
        "decimals",
        "up_is_good",
        "status",
        "geography",
        "source",
        "peer",
        "series_breaks",
        "indicative",
        "suppress_below",
        "rag",
        "note",
        "order",
        "outcome_order",
        "lineage",
        "dashboard_period",
        "display",
    )
    return [{k: ind.get(k) for k in keys} for ind in catalogue()]

"""The indicator catalogue: valid, its active indicators point at marts that exist, the RAG rule layers apply, and
the domestic-abuse and offending indicators read their KPI marts."""

import pytest

from cspwh import settings
from cspwh.catalogue import indicators


def test_active_indicators_read_existing_marts():
    models = {p.stem for p in (settings.DBT_DIR / "models").rglob("*.sql")}
    active = indicators.active()
    assert len(active) >= 8
    for ind in active:
        assert ind["source"]["model"] in models, ind["id"]
        for lineage in ind["lineage"]:
            assert lineage["relation"] in models, ind["id"]


def test_domestic_abuse_and_offending_indicators_read_their_kpi_marts():
    active = {i["id"]: i for i in indicators.active()}
    for name in (
        "uava_referrals",
        "uava_repeats_rate",
        "marac_repeat_pct",
        "yos_fte_rate",
        "yos_reoffending_rate",
        "yos_ete_pct",
        "crc_reoffending_pct",
    ):
        source = active[name]["source"]
        assert source["grain"] == "period" and source["kpi_code"] and source["period_types"], name
        assert source["model"] in ("fct_domestic_abuse_kpi", "fct_offending_kpi"), name
    assert active["crc_reoffending_pct"]["indicative"] is True


def test_rag_rule_default_catalogue_and_partnership_override():
    assert indicators.get("total_crime_rate")["rag"] == {
        "rule": "tolerance",
        "comparator": "previous_period",
        "tolerance_pct": 5.0,
        "matched_months_min": 9,
        "band": None,
        "board_source": None,
    }
    assert indicators.get("marac_repeat_pct")["rag"]["band"] == [28.0, 40.0]  # indicators.yml
    assert indicators.get("asb_rate")["rag"]["tolerance_pct"] == 10.0  # partnership.yml dashboard.rag_overrides


def test_a_bad_entry_is_refused(monkeypatch):
    raw = indicators._raw()
    raw["indicators"][0]["unit"] = "furlongs"
    monkeypatch.setattr(indicators, "_raw", lambda: raw)
    with pytest.raises(ValueError, match="unit must be one of"):
        indicators.catalogue()


def test_a_matched_months_minimum_beyond_a_year_is_refused(monkeypatch):
    raw = indicators._raw()
    raw["indicators"][0]["rag"] = {"matched_months_min": 13}
    monkeypatch.setattr(indicators, "_raw", lambda: raw)
    with pytest.raises(ValueError, match="matched_months_min must be a whole number of months from 0"):
        indicators.catalogue()


def test_a_context_note_naming_an_unknown_outcome_is_refused(monkeypatch):
    config = indicators.dashboard_config()
    config["context_notes"] = [{"from": "2020-03", "to": "2021-03", "outcomes": ["crime", "weather"], "note": "x"}]
    monkeypatch.setattr(indicators, "dashboard_config", lambda: config)
    with pytest.raises(ValueError, match=r"outcomes \['weather'\] are not outcome groups"):
        indicators.catalogue()

"""The generator: deterministic, grounded in the real police.uk ASB records, every file valid against its contract
with faults off, and every planted fault caught by the check the ground truth names."""

import collections
import csv
import gzip
from pathlib import Path

from conftest import VENDORED

from cspwh.catalogue import contracts
from cspwh.generator import deliveries, generate, police_uk_counts
from cspwh.generator.config import DEFAULT_FAULTS, Config
from cspwh.ingest import feed_run, sentinel_pull
from cspwh.local.sentinel_api import SentinelAPI

FILE_FEEDS = ["storm_asb", "uava_return", "yos", "crc_rat", "marac"]


def tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_same_arguments_give_byte_identical_output(tmp_path):
    a = generate(Config(out=tmp_path / "a", start="2021-05", end="2021-06"))
    b = generate(Config(out=tmp_path / "b", start="2021-05", end="2021-06"))
    assert a["counts"] == b["counts"] and a["counts"]["storm_incidents"] > 1000
    first, second = tree(tmp_path / "a"), tree(tmp_path / "b")
    assert first.keys() == second.keys() and len(first) > 60
    assert [k for k in first if first[k] != second[k]] == []
    other = generate(Config(out=tmp_path / "c", start="2021-05", end="2021-06", seed=7))
    assert other["counts"] != a["counts"] or tree(tmp_path / "c") != first


def test_storm_incidents_per_lsoa_and_month_equal_the_police_uk_asb_records(tmp_path):
    generate(Config.without_faults(tmp_path, start="2021-04", end="2021-06"))
    storm = collections.Counter()
    for path in (tmp_path / "drop" / "storm_asb").glob("*.csv"):
        with path.open(newline="") as fh:
            for row in csv.DictReader(fh):
                storm[(row["LSOA Code"], row["Opened At"][:7])] += 1
    lookup = police_uk_counts.lsoa_lookup()
    expected = collections.Counter()
    for month in ("2021-04", "2021-05", "2021-06"):
        with gzip.open(VENDORED / f"{month}-leicestershire-street.csv.gz", "rt", newline="") as fh:
            for row in csv.DictReader(fh):
                if row["Crime type"] == "Anti-social behaviour" and row["LSOA code"] in lookup:
                    expected[(row["LSOA code"], month)] += 1
    assert storm == expected and sum(expected.values()) > 2000


def _ingest_night(warehouse, generated, files, api=None):
    deliveries.deliver(generated, warehouse.drop, files)
    outcomes = []
    for feed in FILE_FEEDS:
        outcomes += [feed_run.ingest_file(feed, p, "test") for p in feed_run.pending_files(feed, warehouse.drop)]
    if api is not None:
        sentinel_pull.pull(api.base_url, warehouse.drop)
        outcomes += [
            feed_run.ingest_file("sentinel_asb", p, "test")
            for p in feed_run.pending_files("sentinel_asb", warehouse.drop)
        ]
    return outcomes


def test_with_faults_off_every_generated_file_passes_its_contract(warehouse, tmp_path):
    generated = tmp_path / "generated"
    generate(Config.without_faults(generated, start="2021-04", end="2021-06"))
    everything = [f for _, night in deliveries.schedule(generated) for f in night]
    with SentinelAPI(generated / "api" / "sentinel" / "cases.jsonl") as api:
        outcomes = _ingest_night(warehouse, generated, everything, api)
    by_feed = collections.Counter((o.feed, o.outcome) for o in outcomes)
    assert {outcome for _, outcome in by_feed} == {"loaded"}, [o.reason for o in outcomes if o.reason][:3]
    assert {feed for feed, _ in by_feed} == set(FILE_FEEDS) | {"sentinel_asb"}
    assert [o.warnings for o in outcomes if o.warnings] == []
    for feed in contracts.all_feeds():
        for entity in contracts.load(feed).entities:
            if feed != "police_uk":
                assert warehouse.query(f"select count(*) from raw.{entity.raw_table}")[0][0] > 0, entity.raw_table


def test_every_planted_fault_is_caught_by_the_check_the_ground_truth_names(warehouse, tmp_path):
    generated = tmp_path / "generated"
    faults = {**DEFAULT_FAULTS, "dates_outside_period": 0.05, "unknown_codes": 0.05, "windows_1252_bom": 0.05}
    generate(Config(out=generated, start="2022-01", end="2022-06", faults=faults))
    with SentinelAPI(generated / "api" / "sentinel" / "cases.jsonl") as api:
        for _, night in deliveries.schedule(generated):
            _ingest_night(warehouse, generated, night)
        _ingest_night(warehouse, generated, [], api)
    with (generated / "ground_truth" / "faults.csv").open() as fh:
        planted = list(csv.DictReader(fh))
    assert {p["fault"] for p in planted} == set(DEFAULT_FAULTS) - {"cross_system_duplicates"}

    # a corrected resend under the same name passes the check its original failed: keep the failure
    found = {
        (f, c): (sev, ok, msg)
        for f, c, sev, ok, msg in warehouse.query(
            """select m.file_name, r.check_name, r.severity, r.success, r.message
             from audit.check_results r join landing.file_manifest m using (file_id)
             order by r.success desc"""
        )
    }
    sentinel_aliases, expected = 0, collections.defaultdict(lambda: {"lines": set(), "severity": None})
    for p in planted:
        if p["feed"] == "sentinel_asb":
            sentinel_aliases += 1
            continue
        if p["expected_check"] == "already_received":
            assert warehouse.query(
                "select times_received from landing.file_manifest where content_hash = "
                "(select content_hash from landing.file_manifest where file_name = %s)",
                (p["file"].replace("_resend", ""),),
            ) == [(2,)], p
            continue
        # one check can catch two faults (dd/mm/yyyy and Excel serial dates are both 'variant')
        entry = expected[(Path(p["file"]).name, p["expected_check"])]
        entry["lines"] |= set(filter(None, p["lines"].split(";")))
        entry["severity"] = p["severity"]
    for key, want in expected.items():
        assert key in found, f"{key[0]}: not caught by {key[1]}"
        severity, ok, message = found[key]
        assert (severity, ok) == (want["severity"], False), (key, message)
        if want["lines"]:
            assert f"has {len(want['lines'])} " in message, (key, sorted(want["lines"]), message)
            shown = message.split("(lines ")[1].split(")")[0].split(", ")
            assert set(shown) <= want["lines"], (key, message)
    if sentinel_aliases:
        flagged = warehouse.query("""select sum(coalesce((details->>'unexpected_count')::int, 0))
                                       from audit.check_results where feed = 'sentinel_asb'
                                        and check_name = 'alias:district'""")[0][0]
        assert flagged == sentinel_aliases

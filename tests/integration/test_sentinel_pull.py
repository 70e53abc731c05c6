"""Pulling Sentinel's API: paging, retries with backoff on 429 and 5xx, an incremental cursor that only moves once a
pull is complete, and identical pages never loaded twice."""

import pytest

from cspwh.generator import generate
from cspwh.generator.config import Config
from cspwh.ingest import feed_run, sentinel_pull
from cspwh.local.sentinel_api import SentinelAPI


@pytest.fixture(scope="module")
def cases(tmp_path_factory):
    out = tmp_path_factory.mktemp("sentinel")
    generate(Config.without_faults(out, start="2021-06", end="2021-06"))
    return out / "api" / "sentinel" / "cases.jsonl"


def test_pages_retries_and_cursor(warehouse, cases):
    lines = cases.read_text().splitlines()
    with SentinelAPI(cases, failures={2: [429, 503]}) as api:
        result = sentinel_pull.pull(
            api.base_url, warehouse.drop, page_size=100, http=sentinel_pull.session(backoff=0.01)
        )
        assert sorted(r.split("&page=")[1].split("&")[0] for r in api.requests if "page=2&" in r) == ["2", "2", "2"]
    assert result.cases == len(lines) and len(result.pages) == -(-len(lines) // 100)
    outcomes = [feed_run.ingest_file("sentinel_asb", p, "t") for p in result.pages]
    assert {o.outcome for o in outcomes} == {"loaded"}
    assert sentinel_pull.read_cursor("/api/v1/cases") == sentinel_pull.EPOCH  # moved only once the pages loaded
    assert sentinel_pull.settle("t").cursor == result.cursor
    assert warehouse.query("select count(distinct case_id) from raw.sentinel_asb__cases")[0][0] == len(lines)
    # the next pull asks only for what changed since the cursor: nothing
    with SentinelAPI(cases) as api:
        again = sentinel_pull.pull(api.base_url, warehouse.drop)
        assert again.since == result.cursor and again.cases == 0
        assert all(f"updated_since={result.cursor[:10]}" in r for r in api.requests)


def test_a_pull_that_fails_midway_keeps_its_cursor_and_loads_nothing_twice(warehouse, cases):
    with SentinelAPI(cases, failures={3: [500] * 10}) as api:
        with pytest.raises(sentinel_pull.PullFailed, match="HTTP 500 after 3 tries"):
            sentinel_pull.pull(
                api.base_url, warehouse.drop, page_size=100, http=sentinel_pull.session(retries=2, backoff=0.01)
            )
    assert sentinel_pull.read_cursor("/api/v1/cases") == sentinel_pull.EPOCH
    first = [
        feed_run.ingest_file("sentinel_asb", p, "t") for p in feed_run.pending_files("sentinel_asb", warehouse.drop)
    ]
    assert len(first) == 2 and {o.outcome for o in first} == {"loaded"}  # pages 1 and 2 arrived
    with SentinelAPI(cases) as api:
        result = sentinel_pull.pull(api.base_url, warehouse.drop, page_size=100)
    second = [feed_run.ingest_file("sentinel_asb", p, "t") for p in result.pages]
    assert sentinel_pull.settle("t").cursor == result.cursor
    assert [o.outcome for o in second[:2]] == ["already_received"] * 2  # the same pages again, by hash
    assert {o.outcome for o in second[2:]} == {"loaded"}
    assert (
        warehouse.query("select count(*), count(distinct case_id) from raw.sentinel_asb__cases")[0]
        == (len(cases.read_text().splitlines()),) * 2
    )

"""The ASB linker for real (dbt on Postgres) on generated Storm and Sentinel at the default fault rates: its links
against the generator's ground truth pairs, with margins under the targets (precision 0.98, recall 0.95) that
bench/linking.py measures at up to 700,000 records."""
from cspwh import asb_linking
from cspwh.generator import generate
from cspwh.generator.config import Config

BUILD = "lq"


def test_links_against_the_ground_truth_at_default_fault_rates(warehouse, tmp_path):
    generated = tmp_path / "feeds"
    generate(Config(out=generated, start="2021-04", end="2021-06", scale=3))  # default fault rates
    loaded = asb_linking.load_generated(warehouse.url, generated)
    assert loaded["storm_asb"] > 8000 and loaded["sentinel_asb"] > 6000
    asb_linking.build_staging(BUILD)
    asb_linking.run_linker(BUILD)

    found = asb_linking.links(warehouse.url, BUILD)
    measured = asb_linking.quality(found, generated, warehouse.url, BUILD)
    assert measured["true_links"] > 2500
    assert measured["precision"] >= 0.97 and measured["recall"] >= 0.94, measured

    methods = dict(warehouse.query(f"select link_method, count(*) from {BUILD}_intermediate.int_asb_incidents_linked "
                                   "group by 1"))
    assert methods["storm_reference"] > methods["scored_match"] > 0
    assert warehouse.query(f"""select count(*) from {BUILD}_intermediate.int_asb_incidents_linked
                                where link_score is null or link_reason is null or link_reason = ''""") == [(0,)]
    assert warehouse.query(f"""select count(*) from {BUILD}_intermediate.int_asb_incidents_linked
                                where link_method = 'scored_match' and link_reason not like 'same person%'""") == [(0,)]

"""The contract is the one home of a feed's definition: what reads it must agree with it."""

from cspwh.catalogue import contracts
from cspwh.warehouse import dbt_sources, nightly


def test_police_uk_contract_has_the_twelve_published_columns_in_order():
    c = contracts.load("police_uk").entity("street_crimes")
    assert c.headers == [
        "Crime ID",
        "Month",
        "Reported by",
        "Falls within",
        "Longitude",
        "Latitude",
        "Location",
        "LSOA code",
        "LSOA name",
        "Crime type",
        "Last outcome category",
        "Context",
    ]
    assert len(c.column("crime_type").allowed_values) == 14


def test_file_names_give_stream_and_period():
    c = contracts.load("police_uk").entity("street_crimes")
    assert c.match_file("2021-06-leicestershire-street.csv.gz").groupdict() == {
        "period": "2021-06",
        "stream": "leicestershire",
    }
    assert c.match_file("2021-06-street.csv") is None


def test_committed_dbt_sources_are_what_the_contracts_render():
    for feed in contracts.all_feeds():
        assert dbt_sources.path_for(feed).read_text() == dbt_sources.render(feed), (
            f"run `cspwh dbt-sources`: {dbt_sources.path_for(feed)} is out of date with sources/{feed}/contract.yml"
        )


def test_raw_table_carries_every_contract_column_and_the_lineage_columns():
    ddl = contracts.load("police_uk").entity("street_crimes").raw_ddl()[0]
    for name in [
        "crime_id",
        "month",
        "lsoa_code",
        "crime_type",
        "_load_id",
        "_source_file",
        "_line_number",
        "_loaded_at",
        "_content_hash",
    ]:
        assert name in ddl
    assert '"month" date' in ddl


def test_build_schema_names_leave_room_for_layer_suffixes():
    name = nightly.new_build_schema()
    assert name.startswith("build_") and len(name + "_intermediate") <= 63
    assert name != nightly.new_build_schema()


def test_district_columns_get_a_conformed_code_and_personal_columns_their_treatment():
    cols = dict(contracts.load("storm_asb").entity("incidents").raw_columns())
    assert cols["district"] == "text" and cols["district_code"] == "text"
    assert cols["caller_name"] == "text"  # an HMAC pseudonym
    assert "caller_address" not in cols and "log_text" not in cols  # dropped at landing
    assert cols["caller_postcode"] == "text"  # generalised to the postcode district

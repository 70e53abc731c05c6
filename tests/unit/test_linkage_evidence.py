"""The linkage evidence made at landing (cspwh/ingest/linkage_evidence.py), run in a real DuckDB session of the
loader's: the one
Storm-reference parser, built from the Storm contract's pattern, reads every number the contract accepts however
it is typed; name and postcode evidence survives the usual variants and is only ever a pseudonym."""

from __future__ import annotations

import pytest

from cspwh.catalogue import contracts
from cspwh.ingest import landed_file, linkage_evidence

SHAPE = linkage_evidence.reference_shape("storm_asb.incidents.incident_number")


def evaluate(texts: list[str | None], stages) -> list[tuple]:
    """The stages as the loader runs them: projections stacked over `src`, in a loader session."""
    con = landed_file._session()
    con.execute("create table src (i integer, v varchar)")
    con.executemany("insert into src values (?, ?)", list(enumerate(texts)))
    source, finals = linkage_evidence.nest([stages])
    return [
        tuple(r)
        for r in con.execute(f"select {', '.join(sql for _, sql in finals)} from {source} order by i").fetchall()
    ]


def read(texts: list[str | None], shape=SHAPE) -> list[tuple]:
    return evaluate(texts, linkage_evidence.reference_stages("src.v", "v", shape))


def test_the_parser_is_built_from_the_storm_contract_pattern():
    pattern = contracts.load("storm_asb").entity("incidents").column("incident_number").pattern
    assert pattern == r"^LP-\d{8}-\d{4,6}$"
    assert linkage_evidence.ReferenceShape("LP", 4, 6) == SHAPE
    assert (
        contracts.load("sentinel_asb").entity("cases").column("storm_reference").reference_of
        == "storm_asb.incidents.incident_number"
    )


@pytest.mark.parametrize(
    "typed, number, form",
    [
        ("LP-20210601-0345", "LP-20210601-0345", "as_issued"),
        ("lp20210601/345", "LP-20210601-0345", "retyped"),
        ("Storm LP-20210601-0345", "LP-20210601-0345", "retyped"),
        ("ref: LP 20210601 0345", "LP-20210601-0345", "retyped"),
        ("LP-2021-06-01-0345", "LP-20210601-0345", "retyped"),
        ("LP-2O210601-0345", "LP-20210601-0345", "retyped"),
        ("20210601-345", "LP-20210601-0345", "retyped"),
        ("LP-20210601-00345", "LP-20210601-0345", "retyped"),
        ("0345 (01/06/2021)", "LP-20210601-0345", "day_first"),
        ("LP-01062021-0345", "LP-20210601-0345", "day_first"),
        # 5- and 6-digit sequences, which the contract accepts (issue #11: they were silently unread)
        ("LP-20210601-12345", "LP-20210601-12345", "as_issued"),
        ("lp 20210601 123456", "LP-20210601-123456", "retyped"),
        ("20210601/98765", "LP-20210601-98765", "retyped"),
        ("12345 (1/6/2021)", "LP-20210601-12345", "day_first"),
        ("LP-20210601-012345", "LP-20210601-12345", "retyped"),
        # nothing readable: a sequence longer than the contract allows, no sequence, no number
        ("LP-20210601-1234567", None, "unreadable"),
        ("LP20210601", None, "unreadable"),
        ("see police log", None, "unreadable"),
        ("LP-20211301-0345", None, "unreadable"),
        (None, None, None),
        ("   ", None, None),
    ],
)
def test_every_spelling_reads_to_the_number_storm_issued(typed, number, form):
    assert read([typed]) == [(number, form)]


def test_storm_numbers_themselves_read_to_themselves():
    numbers = ["LP-20210601-0001", "LP-20210601-9999", "LP-20210601-10000", "LP-20221231-999999"]
    assert [key for key, _ in read(numbers)] == numbers


def test_a_different_contract_shape_gives_a_different_parser():
    wider = linkage_evidence.ReferenceShape("NT", 3, 7)
    assert read(["nt 20210601 1234567", "20210601-7"], wider) == [
        ("NT-20210601-1234567", "retyped"),
        ("NT-20210601-007", "retyped"),
    ]
    with pytest.raises(ValueError, match="reads patterns like"):
        linkage_evidence.reference_shape.__wrapped__("sentinel_asb.cases.case_id")


def names(texts: list[str | None], kind: str) -> list:
    """The text a name evidence pseudonym is made from (the pseudonym function left out, to read it)."""
    stages = linkage_evidence.name_stages("src.v", "v", (kind,))
    *inner, (final,) = stages
    name, sql = final
    stages = [*inner, [(name, sql.removeprefix("pseudonym(").removesuffix(")"))]]
    return [r[0] for r in evaluate(texts, stages)]


def test_name_evidence_survives_nicknames_initials_order_and_misspellings():
    variants = ["Robert Smith", "Bob Smith", "R. Smith", "SMITH, Robert", "Mr robert  smith", "Robert Smyth"]
    assert names(variants, "surname") == ["surname:smith"] * 5 + ["surname:smyth"]
    assert names(variants, "initial_surname")[:5] == [
        "initial_surname:r smith",
        "initial_surname:b smith",
        "initial_surname:r smith",
        "initial_surname:r smith",
        "initial_surname:r smith",
    ]
    assert len(set(names(variants, "surname_sound"))) == 1  # Smith and Smyth sound alike (S530)
    assert names(["Anonymous", "Withheld", "Not given", "", None, "X"], "surname") == [None] * 6


def addresses(texts: list[str | None]) -> list:
    stages = linkage_evidence.address_stages("src.v", "v", ("address",))
    *inner, (final,) = stages
    name, sql = final
    stages = [*inner, [(name, sql.removeprefix("pseudonym(").removesuffix(")"))]]
    return [r[0] for r in evaluate(texts, stages)]


def test_address_evidence_is_the_house_number_and_street_whatever_the_typing():
    variants = ["181 Ross Valleys", "Flat 2, 181 ROSS VALLEYS", "181 Ross Vlys.", "181, Ross Valleys", "181 Ross"]
    assert addresses(variants) == ["address:181 ross"] * 5
    assert addresses(["12a Smith Road", "12 A Smith Rd", "Flat 3 The Maltings, 4 High Street"]) == [
        "address:12a smith",
        "address:12a smith",
        "address:4 high",
    ]
    assert addresses(["Ross Valleys", "", None]) == [None] * 3  # no house number: no evidence


def test_evidence_columns_are_pseudonyms_in_raw_and_the_typed_text_is_not_loaded():
    storm = contracts.load("storm_asb").entity("incidents")
    sentinel = contracts.load("sentinel_asb").entity("cases")
    raw = dict(sentinel.raw_columns())
    assert "storm_reference" not in raw and {"storm_reference_key", "storm_reference_form"} <= raw.keys()
    assert {
        "victim_name_surname",
        "victim_name_initial_surname",
        "victim_name_surname_sound",
        "victim_postcode_unit",
        "victim_address_address",
    } <= raw.keys()
    assert "victim_address" not in raw
    assert {"incident_number_key", "caller_name_surname", "caller_postcode_unit"} <= dict(storm.raw_columns()).keys()
    con = landed_file._session()
    con.execute("create table src as select 'Robert Smith' as caller_name, 'LE11 3ZZ' as caller_postcode")
    source, finals = linkage_evidence.source_with_evidence(
        [storm.column("caller_name"), storm.column("caller_postcode")]
    )
    values = con.execute(f"select {', '.join(sql for _, sql in finals)} from {source}").fetchone()
    assert [name for name, _ in finals] == [
        "caller_name_surname",
        "caller_name_initial_surname",
        "caller_name_surname_sound",
        "caller_postcode_unit",
    ]
    for value in values:
        assert len(value) == 32 and all(c in "0123456789abcdef" for c in value), values

"""File names and messages that must stay harmless: a name is matched whole and in ASCII digits, stored and shown
as printable text short enough for the file system, and a database message keeps no value it quoted."""

import pytest

from cspwh.catalogue import contracts
from cspwh.ingest import feed_run, landing

ARABIC_INDIC_DATE = "\u0662\u0660\u0662\u0661\u0660\u0666\u0661\u0665"  # 20210615 in Arabic-Indic digits


@pytest.mark.parametrize(
    "name",
    [
        "storm_asb_20210615.csv\n",
        f"storm_asb_{ARABIC_INDIC_DATE}.csv",
        "storm_asb_20210615.csv.bak",
        "xstorm_asb_20210615.csv",
    ],
)
def test_a_pattern_matches_the_whole_name_in_ascii_digits(name):
    assert contracts.load("storm_asb").entity_for(name) is None


def test_a_good_name_still_matches():
    entity, match = contracts.load("storm_asb").entity_for("storm_asb_20210615.csv")
    assert (entity.name, match["period"]) == ("incidents", "20210615")


def test_names_are_shown_printable_and_stored_short():
    assert landing.display_name("a\x1b[31m\nb.csv") == "a\\x1b[31m\\x0ab.csv"
    assert landing.display_name("caf\udce9.csv") == "caf\\xe9.csv"  # a Latin-1 byte in a name, not UTF-8
    assert landing.display_name("Zoë\u202e.csv") == "Zoë\\u202e.csv"  # right-to-left override
    assert landing.stored_name("storm_asb_20210615.csv", "ab" * 32) == "storm_asb_20210615.csv"
    long = "x" * 252
    stored = landing.stored_name(long, "ab" * 32)
    assert len((stored + ".reason.txt").encode()) <= 255 and stored.endswith("~abababab")
    assert landing.stored_name(".hidden", "cd" * 32) == "hidden~cdcdcdcd"  # never hidden from a listing


def test_a_database_message_keeps_no_value_it_quoted():
    message = 'invalid input syntax for type date: "Zebedee Quuxworth"'
    assert feed_run.redact(message) == 'invalid input syntax for type date: "…"'
    assert (
        feed_run.redact('invalid input syntax for type bigint: "Smith"') == 'invalid input syntax for type bigint: "…"'
    )
    assert (
        feed_run.redact('invalid byte sequence for encoding "UTF8": 0x00')
        == 'invalid byte sequence for encoding "UTF8": 0x00'
    )

"""Linkage evidence made at landing, in the loader's DuckDB pass, so nothing after raw needs a value in clear.

A contract column declares it:
- `reference_of: <feed>.<entity>.<column>`: the column holds that column's number as someone typed it (free text).
  The one reference parser, built from the referenced column's `pattern`, reads it into `<name>_key` (the number
  in one canonical spelling) and `<name>_form` (how it was typed: as_issued, retyped, day_first, unreadable; null
  when empty). A Storm incident number is read by the same parser, so both sides meet on the same key.
- `evidence: [surname, initial_surname, surname_sound]` on a name, `[unit]` on a postcode: keyed HMAC pseudonyms
  of parts of the value that survive the ways people vary it (a nickname or an initial keeps the surname; a
  misspelt surname usually keeps its Soundex code; a postcode keeps its unit). `<name>_<kind>` each.
- `evidence: [address]` on a free-text address: a pseudonym of its house number and the first word of its street
  ('Flat 2, 181 ROSS VALLEYS' and '181 Ross Vlys.' are both '181 ross'), which survives case, punctuation, a flat
  or a building before it and the street's suffix abbreviated or left out.

The functions return DuckDB SQL over `src` and the session's `pseudonym` macro (landed_file.py).
"""

from __future__ import annotations

import dataclasses
import functools
import re
from collections.abc import Iterable

from cspwh.catalogue import contracts

NAME_KINDS = ("surname", "initial_surname", "surname_sound")
POSTCODE_KINDS = ("unit",)
ADDRESS_KINDS = ("address",)
TITLES = ("mr", "mrs", "ms", "miss", "mx", "dr", "rev", "sir")
# what call handlers and case officers type for a person they have no name for: no evidence, not a shared name
NO_NAME = (
    "anonymous",
    "anon",
    "unknown",
    "withheld",
    "not given",
    "not known",
    "refused",
    "none",
    "na",
    "nk",
    "caller",
    "victim",
    "resident",
    "member of public",
    "mop",
)
# The shape a reference column's pattern must have for the parser to be built from it: a letter prefix, a date as
# eight digits and a sequence of a given range of digits, e.g. ^LP-\d{8}-\d{4,6}$
_PATTERN = re.compile(r"^\^(?P<prefix>[A-Z]+)-\\d\{8\}-\\d\{(?P<low>\d+),(?P<high>\d+)\}\$$")


@dataclasses.dataclass(frozen=True)
class ReferenceShape:
    prefix: str
    sequence_min: int
    sequence_max: int


@functools.cache
def reference_shape(target: str) -> ReferenceShape:
    """The number's shape read from the referenced contract column's pattern (`feed.entity.column`)."""
    feed, entity, column = target.split(".")
    pattern = contracts.load(feed).entity(entity).column(column).pattern or ""
    match = _PATTERN.match(pattern)
    if not match:
        raise ValueError(
            f"{target}: the reference parser reads patterns like ^LP-\\d{{8}}-\\d{{4,6}}$, not {pattern!r}"
        )
    return ReferenceShape(match["prefix"], int(match["low"]), int(match["high"]))


def _o_as_zero(text: str) -> str:
    # a letter O typed for a zero, next to a digit (twice, for 'OO'); RE2 has no look-around
    for _ in range(2):
        text = rf"regexp_replace(regexp_replace({text}, '(\d)O', '\10', 'g'), 'O(\d)', '0\1', 'g')"
    return text


# The SQL runs as a few stacked projections over `src` (stages), each naming its steps once: written inline, the
# repeated sub-expressions took DuckDB a second and a half to bind per file.
Stages = list[list[tuple[str, str]]]


def reference_stages(value: str, out: str, shape: ReferenceShape) -> Stages:
    """`<out>_key` and `<out>_form` for a typed reference. Read as: the digits in the order typed are the date
    (YYYYMMDD, or DDMMYYYY) and the sequence (leading zeros dropped or added), whatever the case, spaces,
    separators or prefix; or 'sequence (dd/mm/yyyy)'. The key is the number as Storm issues it, the sequence
    zero-padded to the contract's shortest width."""
    p = f"_ev_{out}"
    day_first = r"'^[^0-9]*([0-9]{1,%d})\s*\(\s*([0-9]{1,2})/([0-9]{1,2})/([0-9]{4})\s*\)\s*$'" % (
        shape.sequence_max + 3
    )

    def valid(date: str, seq: str) -> str:
        return (
            f"coalesce(try_strptime({date}, '%Y%m%d') between timestamp '2000-01-01' "
            f"and timestamp '2099-12-31' and length({seq}) between 1 and {shape.sequence_max}, false)"
        )

    def key(date: str, seq: str) -> str:
        # DuckDB's lpad cuts a longer string, so only a shorter sequence is padded
        return (
            f"'{shape.prefix}-' || {date} || '-' || case when length({seq}) >= {shape.sequence_min} "
            f"then {seq} else lpad({seq}, {shape.sequence_min}, '0') end"
        )

    return [
        [(f"{p}_fixed", _o_as_zero(f"upper(trim({value}))")), (f"{p}_empty", f"{value} is null or trim({value}) = ''")],
        [
            (f"{p}_digits", f"regexp_replace({p}_fixed, '[^0-9]', '', 'g')"),
            (f"{p}_paren", f"regexp_matches({p}_fixed, {day_first})"),
            (
                f"{p}_paren_date",
                f"lpad(regexp_extract({p}_fixed, {day_first}, 4), 4, '0') || "
                f"lpad(regexp_extract({p}_fixed, {day_first}, 3), 2, '0') || "
                f"lpad(regexp_extract({p}_fixed, {day_first}, 2), 2, '0')",
            ),
            (f"{p}_paren_seq", f"ltrim(regexp_extract({p}_fixed, {day_first}, 1), '0')"),
        ],
        [
            (f"{p}_ymd", f"left({p}_digits, 8)"),
            (f"{p}_dmy", f"substr({p}_digits, 5, 4) || substr({p}_digits, 3, 2) || left({p}_digits, 2)"),
            (f"{p}_seq", f"ltrim(substr({p}_digits, 9), '0')"),
        ],
        [
            (
                f"{p}_key",
                f"""case
            when {p}_empty then null
            when {p}_paren then case when {valid(f"{p}_paren_date", f"{p}_paren_seq")}
                                     then {key(f"{p}_paren_date", f"{p}_paren_seq")} end
            when {valid(f"{p}_ymd", f"{p}_seq")} then {key(f"{p}_ymd", f"{p}_seq")}
            when {valid(f"{p}_dmy", f"{p}_seq")} then {key(f"{p}_dmy", f"{p}_seq")} end""",
            ),
            (f"{p}_day_first", f"{p}_paren or not {valid(f'{p}_ymd', f'{p}_seq')}"),
        ],
        [
            (f"{out}_key", f"{p}_key"),
            (
                f"{out}_form",
                f"""case
            when {p}_empty then null
            when {p}_key is null then 'unreadable'
            when {value} = {p}_key then 'as_issued'
            when {p}_day_first then 'day_first'
            else 'retyped' end""",
            ),
        ],
    ]


def _soundex(word: str) -> str:
    """American Soundex of a lower-case word (H and W separate like vowels: a small simplification)."""
    codes = f"translate(upper({word}), 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', '01230120022455012623010202')"
    for digit in "123456":
        codes = f"regexp_replace({codes}, '{digit}+', '{digit}', 'g')"
    return f"upper(left({word}, 1)) || rpad(left(replace(substr({codes}, 2), '0', ''), 3), 3, '0')"


def name_stages(value: str, out: str, kinds: tuple[str, ...]) -> Stages:
    """The text each name evidence pseudonym is made from (null when the name gives none): the name's words in
    lower case, letters only ('SMITH, John' is John Smith; hyphens and apostrophes joined; titles dropped)."""
    p = f"_ev_{out}"
    ordered = (
        f"case when contains({value}, ',') then split_part({value}, ',', 2) || ' ' || "
        f"split_part({value}, ',', 1) else {value} end"
    )
    cleaned = f"trim(regexp_replace(regexp_replace(lower({ordered}), '[''’\\-]', '', 'g'), '[^a-z]+', ' ', 'g'))"
    titles = "|".join(TITLES)
    texts = {
        "surname": f"'surname:' || {p}_surname",
        "initial_surname": f"case when {p}_first <> '' then 'initial_surname:' || left({p}_first, 1) || ' ' || "
        f"{p}_surname end",
        "surname_sound": f"'surname_sound:' || {_soundex(f'{p}_surname')}",
    }
    for kind in kinds:
        if kind not in texts:
            raise ValueError(f"unknown name evidence {kind!r}")
    return [
        [(f"{p}_clean", f"regexp_replace({cleaned}, '^(({titles}) )+', '')")],
        [
            (f"{p}_surname", f"regexp_extract({p}_clean, '([a-z]+)$', 1)"),
            (f"{p}_first", f"regexp_extract({p}_clean, '^([a-z]+) ', 1)"),
            (
                f"{p}_none",
                f"{p}_clean in ({', '.join(repr(t) for t in NO_NAME)}) or length({p}_clean) < 2 or {p}_clean is null",
            ),
        ],
        [(f"{p}_usable", f"not {p}_none and length({p}_surname) > 1")],
        [(f"{out}_{kind}", f"pseudonym(case when {p}_usable then {texts[kind]} end)") for kind in kinds],
    ]


def postcode_stages(value: str, out: str, kinds: tuple[str, ...]) -> Stages:
    if set(kinds) - set(POSTCODE_KINDS):
        raise ValueError(f"unknown postcode evidence {kinds!r}")
    return [
        [
            (
                f"{out}_unit",
                f"pseudonym(nullif('unit:' || regexp_replace(upper({value}), '[^A-Z0-9]', '', 'g'), 'unit:'))",
            )
        ]
    ]


def address_stages(value: str, out: str, kinds: tuple[str, ...]) -> Stages:
    """`<out>_address`: the pseudonym of the last house number followed by a word (the street's first word), in
    lower case; null when the address has none ('Flat 2, 181 Ross Valleys' is '181 ross'; a number ending in a
    letter keeps it: '12a ross'). The flat is left out on purpose: it is the part most often dropped."""
    if set(kinds) - set(ADDRESS_KINDS):
        raise ValueError(f"unknown address evidence {kinds!r}")
    p = f"_ev_{out}"
    return [
        [(f"{p}_words", f"trim(regexp_replace(lower({value}), '[^a-z0-9]+', ' ', 'g'))")],
        [
            (
                f"{p}_house",
                f"regexp_extract({p}_words, '^(?:.* )?([0-9]+(?: ?[a-z])?) ([a-z]{{2,}})', ['number', 'street'])",
            )
        ],
        [
            (
                f"{out}_address",
                f"pseudonym(case when {p}_house.street <> '' then 'address:' || "
                f"replace({p}_house.number, ' ', '') || ' ' || {p}_house.street end)",
            )
        ],
    ]


def column_stages(col: contracts.Column) -> list[Stages]:
    """The stacked projections that make a contract column's derived columns; the last stage's names are raw's."""
    v = f'src."{col.name}"'
    parts: list[Stages] = []
    if col.reference_of:
        parts.append(reference_stages(v, col.name, reference_shape(col.reference_of)))
    names = tuple(k for k in col.evidence if k in NAME_KINDS)
    if names:
        parts.append(name_stages(v, col.name, names))
    addresses = tuple(k for k in col.evidence if k in ADDRESS_KINDS)
    if addresses:
        parts.append(address_stages(v, col.name, addresses))
    postcodes = tuple(k for k in col.evidence if k not in NAME_KINDS + ADDRESS_KINDS)
    if postcodes:
        parts.append(postcode_stages(v, col.name, postcodes))
    return parts


def source_with_evidence(columns: Iterable[contracts.Column]) -> tuple[str, list[tuple[str, str]]]:
    """(FROM clause, [(raw column, expression)]) for the derived columns of these contract columns."""
    return nest([part for col in columns for part in column_stages(col)])


def nest(parts: list[Stages]) -> tuple[str, list[tuple[str, str]]]:
    """`src` wrapped in one projection per stage (a projection keeps the file's row order, which the loader's line
    numbers rely on); the outer query reads each part's last stage as it is."""
    stages: list[list[tuple[str, str]]] = []
    finals: list[tuple[str, str]] = []
    for part in parts:
        *inner, last = part
        for depth, stage in enumerate(inner):
            while len(stages) <= depth:
                stages.append([])
            stages[depth] += stage
        finals += last
    source = "src"
    for stage in stages:
        source = f"(select *, {', '.join(f'{sql} as {name}' for name, sql in stage)} from {source}) as src"
    return source, finals

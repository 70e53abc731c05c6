"""Linkage evidence made at landing, in the loader's DuckDB pass, so nothing after raw needs a value in clear.

A contract column declares it:
- `reference_of: <feed>.<entity>.<column>`: the column holds that column's number as someone typed it (free text).
  The one reference parser, built from the referenced column's `pattern`, reads it into `<name>_key` (the number
  in one canonical spelling) and `<name>_form` (how it was typed: as_issued, retyped, day_first, unreadable; null
  when empty). A Storm incident number is read by the same parser, so both sides meet on the same key.
- `evidence: [surname, initial_surname, surname_sound]` on a name, `[unit]` on a postcode: keyed HMAC pseudonyms
  of parts of the value that survive the ways people vary it (a nickname or an initial keeps the surname; a
  misspelt surname usually keeps its Soundex code; a postcode keeps its unit). `<name>_<kind>` each.

The functions return DuckDB SQL over `src` and the session's `pseudonym` macro (staged_file.py).
"""
from __future__ import annotations

import dataclasses
import functools
import re

NAME_KINDS = ("surname", "initial_surname", "surname_sound")
POSTCODE_KINDS = ("unit",)
REFERENCE_FORMS = ("as_issued", "retyped", "day_first", "unreadable")
TITLES = ("mr", "mrs", "ms", "miss", "mx", "dr", "rev", "sir")
# what call handlers and case officers type for a person they have no name for: no evidence, not a shared name
NO_NAME = ("anonymous", "anon", "unknown", "withheld", "not given", "not known", "refused", "none", "na", "nk",
           "caller", "victim", "resident", "member of public", "mop")
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
    from cspwh import contracts

    feed, entity, column = target.split(".")
    pattern = contracts.load(feed).entity(entity).column(column).pattern or ""
    match = _PATTERN.match(pattern)
    if not match:
        raise ValueError(f"{target}: the reference parser reads patterns like ^LP-\\d{{8}}-\\d{{4,6}}$, "
                         f"not {pattern!r}")
    return ReferenceShape(match["prefix"], int(match["low"]), int(match["high"]))


def _o_as_zero(text: str) -> str:
    # a letter O typed for a zero, next to a digit (twice, for 'OO'); RE2 has no look-around
    for _ in range(2):
        text = rf"regexp_replace(regexp_replace({text}, '(\d)O', '\10', 'g'), 'O(\d)', '0\1', 'g')"
    return text


def reference_sql(value: str, shape: ReferenceShape) -> tuple[str, str]:
    """(key, form) SQL for a typed reference. Read as: the digits in the order typed are the date (YYYYMMDD, or
    DDMMYYYY) and the sequence (leading zeros dropped or added), whatever the case, spaces, separators or prefix;
    or 'sequence (dd/mm/yyyy)'. The key is the number as Storm issues it, the sequence zero-padded to the
    contract's shortest width."""
    upper = f"upper(trim({value}))"
    fixed = _o_as_zero(upper)
    day_first = r"'^[^0-9]*([0-9]{1,%d})\s*\(\s*([0-9]{1,2})/([0-9]{1,2})/([0-9]{4})\s*\)\s*$'" % (
        shape.sequence_max + 3)
    digits = f"regexp_replace({fixed}, '[^0-9]', '', 'g')"
    # candidates as (yyyymmdd, sequence): digits in order; digits with a day-first date; 'seq (dd/mm/yyyy)'
    ymd = f"left({digits}, 8)"
    dmy = f"substr({digits}, 5, 4) || substr({digits}, 3, 2) || left({digits}, 2)"
    rest = f"ltrim(substr({digits}, 9), '0')"
    paren = (f"lpad(regexp_extract({fixed}, {day_first}, 4), 4, '0') || "
             f"lpad(regexp_extract({fixed}, {day_first}, 3), 2, '0') || "
             f"lpad(regexp_extract({fixed}, {day_first}, 2), 2, '0')")
    paren_seq = f"ltrim(regexp_extract({fixed}, {day_first}, 1), '0')"

    def valid(date: str, seq: str) -> str:
        return (f"coalesce(try_strptime({date}, '%Y%m%d') between timestamp '2000-01-01' "
                f"and timestamp '2099-12-31' and length({seq}) between 1 and {shape.sequence_max}, false)")

    def key(date: str, seq: str) -> str:
        # DuckDB's lpad cuts a longer string, so only a shorter sequence is padded
        return (f"'{shape.prefix}-' || {date} || '-' || case when length({seq}) >= {shape.sequence_min} then {seq} "
                f"else lpad({seq}, {shape.sequence_min}, '0') end")

    key_sql = f"""case
        when {value} is null or trim({value}) = '' then null
        when regexp_matches({fixed}, {day_first}) then case when {valid(paren, paren_seq)} then {key(paren, paren_seq)} end
        when {valid(ymd, rest)} then {key(ymd, rest)}
        when {valid(dmy, rest)} then {key(dmy, rest)} end"""
    form_sql = f"""case
        when {value} is null or trim({value}) = '' then null
        when ({key_sql}) is null then 'unreadable'
        when {value} = ({key_sql}) then 'as_issued'
        when regexp_matches({fixed}, {day_first}) or not {valid(ymd, rest)} then 'day_first'
        else 'retyped' end"""
    return key_sql, form_sql


def _name_tokens(value: str) -> str:
    """A name's words, lower case, letters only (hyphens and apostrophes joined), titles dropped."""
    # 'SMITH, John' is John Smith
    ordered = f"case when contains({value}, ',') then split_part({value}, ',', 2) || ' ' || split_part({value}, ',', 1) else {value} end"
    cleaned = (f"regexp_replace(regexp_replace(lower(trim({ordered})), '[''’\\-]', '', 'g'), '[^a-z]+', ' ', 'g')")
    return (f"list_filter(string_split(trim({cleaned}), ' '), "
            f"lambda w: w <> '' and w not in ({', '.join(repr(t) for t in TITLES)}))")


def _soundex(word: str) -> str:
    """American Soundex of a lower-case word (H and W separate like vowels: a small simplification)."""
    codes = f"translate(upper({word}), 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', '01230120022455012623010202')"
    for digit in "123456":
        codes = f"regexp_replace({codes}, '{digit}+', '{digit}', 'g')"
    return f"upper(left({word}, 1)) || rpad(left(replace(substr({codes}, 2), '0', ''), 3), 3, '0')"


def name_sql(value: str, kind: str) -> str:
    """The text a name evidence pseudonym is made from (null when the name gives none)."""
    tokens = _name_tokens(value)
    surname = f"{tokens}[-1]"
    if kind == "surname":
        body = surname
    elif kind == "initial_surname":
        body = f"case when len({tokens}) > 1 then left({tokens}[1], 1) || ' ' || {surname} end"
    elif kind == "surname_sound":
        body = _soundex(surname)
    else:
        raise ValueError(f"unknown name evidence {kind!r}")
    nameless = f"array_to_string({tokens}, ' ') in ({', '.join(repr(t) for t in NO_NAME)})"
    return f"case when len({tokens}) > 0 and length({surname}) > 1 and not {nameless} then '{kind}:' || {body} end"


def postcode_sql(value: str, kind: str) -> str:
    if kind != "unit":
        raise ValueError(f"unknown postcode evidence {kind!r}")
    return f"nullif('unit:' || regexp_replace(upper({value}), '[^A-Z0-9]', '', 'g'), 'unit:')"


def derived_columns(col) -> list[tuple[str, str, str]]:
    """(name, Postgres type, description) of the columns a contract column's evidence adds to raw."""
    out = []
    if col.reference_of:
        out += [(f"{col.name}_key", "text", f"the {col.reference_of.split('.')[-1]} read from {col.name} by the one "
                 "reference parser (built from its contract pattern), as the source system issues it; null when "
                 "none could be read"),
                (f"{col.name}_form", "text", f"how {col.name} was typed: {', '.join(REFERENCE_FORMS)}; null when "
                 "empty (never the text itself)")]
    for kind in col.evidence:
        out.append((f"{col.name}_{kind}", "text", f"keyed HMAC pseudonym of the {kind.replace('_', ' ')} of "
                    f"{col.name} (linkage evidence made at landing; never the value)"))
    return out


def derived_sql(col) -> list[tuple[str, str]]:
    """(name, DuckDB SQL) of each derived column, over `src`."""
    v = f'src."{col.name}"'
    out = []
    if col.reference_of:
        key, form = reference_sql(v, reference_shape(col.reference_of))
        out += [(f"{col.name}_key", key), (f"{col.name}_form", form)]
    for kind in col.evidence:
        text = postcode_sql(v, kind) if kind in POSTCODE_KINDS else name_sql(v, kind)
        out.append((f"{col.name}_{kind}", f"pseudonym({text})"))
    return out

"""How hard the generated Storm and Sentinel records are to link: the default `realistic` profile and `hard`, which
is adversarial on purpose (`cspwh generate --linkage hard`). Each rate is what a Sentinel case that duplicates a
Storm incident (or the incident itself) does; the ground truth records the true pairs whatever the profile.

Nothing here knows how the linker works: the rates come from how call handlers and case officers record things.
"""

from __future__ import annotations

import dataclasses
import random

NICKNAMES = {
    "Robert": "Bob",
    "William": "Bill",
    "Elizabeth": "Liz",
    "Margaret": "Maggie",
    "James": "Jim",
    "John": "Jack",
    "Richard": "Rick",
    "Catherine": "Kate",
    "Katherine": "Kate",
    "Thomas": "Tom",
    "Michael": "Mike",
    "Christopher": "Chris",
    "Jennifer": "Jen",
    "Joseph": "Joe",
    "Daniel": "Dan",
    "Matthew": "Matt",
    "Anthony": "Tony",
    "Edward": "Ted",
    "Susan": "Sue",
    "Patricia": "Pat",
    "Rebecca": "Becky",
    "Samuel": "Sam",
    "Alexander": "Alex",
    "Victoria": "Vicky",
    "Deborah": "Debbie",
    "Stephen": "Steve",
    "Nicholas": "Nick",
    "Benjamin": "Ben",
    "Jacqueline": "Jackie",
    "Jonathan": "Jon",
    "Andrew": "Andy",
    "David": "Dave",
}
ANONYMOUS = ["", "", "", "Anonymous", "Withheld", "Not given"]


@dataclasses.dataclass(frozen=True)
class Profile:
    name: str
    reference_kept: float  # police-originated cases that carry the Storm number at all
    reference_transposed: float  # of those, typed with two neighbouring digits swapped
    busy_day: float  # days whose Storm sequence runs into 5 digits (all calls, not only ASB, are numbered)
    very_busy_day: float  # ... into 6 digits
    dense_numbers: float  # days whose ASB incidents have consecutive numbers (a transposition hits another one)
    caller_anonymous: float  # Storm incidents with no caller name
    victim_unnamed: float  # duplicating cases opened without the victim's name
    victim_other_person: float  # the Sentinel victim is not the Storm caller (a witness called)
    name_variant: float  # the victim's name as Sentinel has it differs (nickname, initial, misspelling, order)
    offsets: tuple[tuple[int, float], ...]  # (days between Storm's date and Sentinel's incident date, weight)
    lsoa_same: float
    lsoa_neighbour: float  # otherwise missing
    pen_changed: float
    type_changed: float
    postcode_same: float  # the victim's postcode is the caller's (else another in the district, or none)
    location_variant: float  # Storm's location text is not police.uk's 'On or near ...'
    address_variant: float  # the victim's address as Sentinel has it is typed differently (or without the number)


PROFILES = {
    "realistic": Profile(
        "realistic",
        reference_kept=0.70,
        reference_transposed=0.02,
        busy_day=0.05,
        very_busy_day=0.0,
        dense_numbers=0.1,
        caller_anonymous=0.10,
        victim_unnamed=0.08,
        victim_other_person=0.05,
        name_variant=0.10,
        offsets=((0, 0.70), (1, 0.12), (-1, 0.06), (2, 0.05), (-2, 0.02), (3, 0.03), (-3, 0.02)),
        lsoa_same=0.85,
        lsoa_neighbour=0.05,
        pen_changed=0.15,
        type_changed=0.10,
        postcode_same=0.80,
        location_variant=0.1,
        address_variant=0.10,
    ),
    "hard": Profile(
        "hard",
        reference_kept=0.55,
        reference_transposed=0.08,
        busy_day=0.35,
        very_busy_day=0.15,
        dense_numbers=0.6,
        caller_anonymous=0.30,
        victim_unnamed=0.25,
        victim_other_person=0.15,
        name_variant=0.35,
        offsets=((0, 0.40), (1, 0.18), (-1, 0.12), (2, 0.10), (-2, 0.06), (3, 0.08), (-3, 0.06)),
        lsoa_same=0.65,
        lsoa_neighbour=0.20,
        pen_changed=0.30,
        type_changed=0.30,
        postcode_same=0.55,
        location_variant=0.5,
        address_variant=0.40,
    ),
}


def profile(name: str) -> Profile:
    if name not in PROFILES:
        raise ValueError(f"unknown linkage profile {name!r}; known: {', '.join(PROFILES)}")
    return PROFILES[name]


def sequence_numbers(rng: random.Random, p: Profile, n: int) -> list[int]:
    """The day's ASB incidents' Storm sequence numbers, in order: Storm numbers every call of the day, so ASB
    incidents get a sparse, rising subset, starting in 5 or 6 digits on busy days."""
    roll = rng.random()
    start = (
        rng.randint(100_000, 900_000)
        if roll < p.very_busy_day
        else rng.randint(10_000, 90_000)
        if roll < p.very_busy_day + p.busy_day
        else 1
    )
    if rng.random() < p.dense_numbers:
        return list(range(start, start + n))
    span = max(n * 40, 1500)
    return sorted(rng.sample(range(start, start + span), n))


def transposed(rng: random.Random, text: str) -> str:
    """Two neighbouring digits swapped (where they differ), as a hurried typist does."""
    spots = [i for i in range(len(text) - 1) if text[i].isdigit() and text[i + 1].isdigit() and text[i] != text[i + 1]]
    if not spots:
        return text
    i = rng.choice(spots[-6:])  # mostly in the sequence, sometimes the day
    return text[:i] + text[i + 1] + text[i] + text[i + 2 :]


def name_variant(rng: random.Random, name: str) -> str:
    first, _, last = name.partition(" ")
    roll = rng.random()
    if roll < 0.3 and first in NICKNAMES:
        return f"{NICKNAMES[first]} {last}"
    if roll < 0.5:
        return f"{first[0]}. {last}" if rng.random() < 0.5 else f"{first[0]} {last}"
    if roll < 0.75 and len(last) > 3:
        i = rng.randrange(1, len(last) - 1)
        kind = rng.random()
        if kind < 0.4:  # a doubled or dropped letter
            last = last[:i] + last[i] + last[i:] if rng.random() < 0.5 else last[:i] + last[i + 1 :]
        elif kind < 0.7:  # neighbouring letters swapped
            last = last[:i] + last[i + 1] + last[i] + last[i + 2 :]
        else:  # a vowel for another
            last = last[:i] + rng.choice("aeiouy") + last[i + 1 :]
        return f"{first} {last}"
    if roll < 0.9:
        return f"{last.upper()}, {first}"
    return f"{first} {last}".lower()


def location_variant(rng: random.Random, street: str) -> str:
    bare = street.removeprefix("On or near ").strip()
    return rng.choice([bare, bare.upper(), f"Near {bare}", f"{bare} (outside shops)", f"Junction of {bare}"])


SUFFIXES = {
    "Road": "Rd",
    "Street": "St",
    "Avenue": "Ave",
    "Close": "Cl",
    "Drive": "Dr",
    "Lane": "Ln",
    "Crescent": "Cres",
    "Court": "Ct",
    "Gardens": "Gdns",
    "Place": "Pl",
    "Square": "Sq",
    "Terrace": "Ter",
    "Grove": "Gr",
    "Park": "Pk",
    "Valleys": "Vlys",
    "Mount": "Mt",
    "Hills": "Hls",
    "Heights": "Hts",
}


def address_variant(rng: random.Random, address: str) -> str:
    """The same address as another person types it: a flat before it, the suffix abbreviated or left out, capitals,
    a comma after the number, or (one time in six) no house number at all."""
    number, _, street = address.partition(" ")
    words = street.split(" ")
    roll = rng.random()
    if roll < 0.2:
        return f"Flat {rng.randint(1, 12)}, {address}"
    if roll < 0.4:
        last = words[-1]
        return f"{number} {' '.join(words[:-1] + [SUFFIXES.get(last, last[:3])])}"
    if roll < 0.55:
        return f"{number} {' '.join(words[:-1])}" if len(words) > 1 else address.upper()
    if roll < 0.7:
        return address.upper()
    if roll < 0.83:
        return f"{number}, {street}"
    return street

"""Probation CRC Reoffending Analysis Tool extracts: one CSV a financial quarter listing the cohort whose orders or
licences terminated in it, across the CRC's areas (most in the partnership's force area), each with a predicted
reoffending rate (OGRS) and whether a proven reoffence followed; the actual rate runs a little below the predicted."""

from __future__ import annotations

import collections
import datetime as dt
import functools
import math

from cspwh.catalogue import contracts, reference
from cspwh.generator.common import Output, add_months, csv_bytes, date_text, quarter_label, quarters, rng_for, scaled

FEED = "crc_rat"
COHORT_SIZE = (250, 400)  # terminations a quarter across the CRC's areas
IN_FORCE_SHARE = 0.62  # of the cohort, managed in the partnership's police force area
GENDERS = [("Male", 0.85), ("Female", 0.15)]
AGE_BANDS = [
    ("18-20", 0.08, 0.6),
    ("21-24", 0.14, 0.4),
    ("25-29", 0.20, 0.2),
    ("30-39", 0.32, 0.0),
    ("40-49", 0.17, -0.4),
    ("50+", 0.09, -0.9),
]  # band, share, effect on the predicted rate (log odds)
OFFENCES = [
    ("Violence", 0.28, 0.0),
    ("Acquisitive", 0.22, 0.7),
    ("Drugs", 0.12, 0.2),
    ("Criminal damage", 0.06, 0.3),
    ("Public order", 0.07, 0.2),
    ("Sexual", 0.04, -1.2),
    ("Motoring", 0.13, -0.3),
    ("Other", 0.08, 0.0),
]
NEEDS = [
    ("accommodation", 0.30),
    ("ete", 0.45),
    ("finance", 0.35),
    ("relationships", 0.30),
    ("lifestyle", 0.40),
    ("drugs", 0.35),
    ("alcohol", 0.30),
    ("thinking", 0.55),
]
ACTUAL_TO_PREDICTED = 0.88  # the cohort reoffends a little less than OGRS predicts
UNKNOWN_OFFENCE = "Fraud and forgery"


def _weighted(rng, rows):
    roll, total = rng.random(), 0.0
    for row in rows:
        total += row[1]
        if roll < total:
            return row
    return rows[-1]


@functools.cache
def area_weights() -> list[tuple[str, float, bool]]:
    """(area, share of the cohort, inside the partnership's force area): areas that are geographies of the force
    area share IN_FORCE_SHARE by population, the CRC's other areas the rest equally."""
    areas = contracts.load(FEED).entity("terminated_cohort").column("area").allowed_values
    if areas is None:
        raise ValueError(f"sources/{FEED}/contract.yml gives terminated_cohort.area no allowed_values to draw from")
    force = reference.partnership()["force_area_code"]
    by_code = {g["geography_code"]: g for g in reference.geographies()}
    population: dict[str, int] = {}
    latest: dict[str, int] = {}
    for row in reference.rows("ons_population_mid_year.csv"):
        if int(row["mid_year"]) >= latest.get(row["geography_code"], 0):
            latest[row["geography_code"]] = int(row["mid_year"])
            population[row["geography_code"]] = int(row["population"])
    inside: dict[str, int] = {}
    for area in areas:
        found = reference.resolve_geography(area)
        if found and by_code.get(found[0], {}).get("force_area_code") == force:
            inside[area] = population.get(found[0], 1)
    outside = [a for a in areas if a not in inside]
    in_share = IN_FORCE_SHARE if outside else 1.0
    total = sum(inside.values()) or 1
    return [
        (a, in_share * inside[a] / total, True) if a in inside else (a, (1 - in_share) / len(outside), False)
        for a in areas
    ]


def generate(cfg, out: Output) -> dict[str, int]:
    entity = contracts.load(FEED).entity("terminated_cohort")
    if list(entity.layouts[-1].names) != [
        "offender_crn",
        "area",
        "gender",
        "age_band",
        "offence_type",
        "needs",
        "terminated_on",
        "reoffended",
        "predicted_rate",
    ]:
        raise ValueError(f"{FEED}.{entity.name}: the contract's columns changed; update the generator")
    areas = area_weights()
    counts = {"crc_rat_rows": 0}
    for start in quarters(cfg.months):
        rng = rng_for(cfg.seed, FEED, start)
        label = quarter_label(start)
        name = f"crc_rat_{label}.csv"
        end = add_months(start, 3) - dt.timedelta(days=1)
        size = scaled(rng, rng.randint(*COHORT_SIZE), cfg.scale)
        crns = rng.sample(range(100000, 1000000), size)
        people = []
        for crn in crns:
            area, _, in_force = _weighted(rng, areas)
            gender = _weighted(rng, GENDERS)[0]
            band, _, band_effect = _weighted(rng, AGE_BANDS)
            offence, _, offence_effect = _weighted(rng, OFFENCES)
            needs = [need for need, share in NEEDS if rng.random() < share]
            odds = (
                -1.05
                + band_effect
                + offence_effect
                + 0.12 * len(needs)
                - (0.2 if gender == "Female" else 0)
                + rng.gauss(0, 0.5)
            )
            predicted = round(100 / (1 + math.exp(-odds)), 1)
            people.append(
                {
                    "crn": f"X{crn}",
                    "area": area,
                    "in_force": in_force,
                    "gender": gender,
                    "age_band": band,
                    "offence": offence,
                    "needs": ";".join(needs),
                    "terminated_on": start + dt.timedelta(days=rng.randint(0, (end - start).days)),
                    "reoffended": "Y" if rng.random() < predicted / 100 * ACTUAL_TO_PREDICTED else "N",
                    "predicted": predicted,
                }
            )
        people.sort(key=lambda p: (p["terminated_on"], p["crn"]))
        lines = collections.defaultdict(list)
        rows = []
        for line, p in enumerate(people, start=2):
            terminated, fault = date_text(p["terminated_on"], rng, cfg)
            if fault:
                lines[fault].append(line)
            rows.append(
                [
                    p["crn"],
                    p["area"],
                    p["gender"],
                    p["age_band"],
                    p["offence"],
                    p["needs"],
                    terminated,
                    p["reoffended"],
                    f"{p['predicted']:.1f}",
                ]
            )
            out.truth_row(
                "crc_rat_rows",
                {
                    "period": label,
                    "offender_crn": p["crn"],
                    "area": p["area"],
                    "in_force_area": "Y" if p["in_force"] else "N",
                    "terminated_on": p["terminated_on"].isoformat(),
                    "reoffended": p["reoffended"],
                    "predicted_rate": f"{p['predicted']:.1f}",
                },
            )
        if rows and cfg.rate("unknown_codes") and rng.random() < cfg.rate("unknown_codes"):
            index = rng.randrange(len(rows))
            rows[index][4] = UNKNOWN_OFFENCE
            out.fault(
                "unknown_codes",
                FEED,
                name,
                "allowed_values:Offence Type",
                "blocking",
                [index + 2],
                f"Offence Type '{UNKNOWN_OFFENCE}'",
            )
        for fault, hit in sorted(lines.items()):
            out.fault(fault, FEED, name, "variant:Terminated On", "notice", hit, "")
        delivered = end + dt.timedelta(days=rng.randint(38, 48))
        out.write(FEED, name, csv_bytes(entity.headers, rows), delivered)
        counts["crc_rat_rows"] += len(rows)
    return counts

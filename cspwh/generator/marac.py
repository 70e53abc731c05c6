"""MARAC cases heard, one CSV a month from the MARAC manager. Victims come back: a pool of earlier victims gives the
repeat cases, and the share of cases that are repeats within 12 months of the victim's previous referral rises over
the run (the board papers: 28% to 49%). One month is re-sent later with corrections (a restatement).

Cases are simulated from two years before the run so that the first months written already have repeats."""

from __future__ import annotations

import calendar
import collections
import datetime as dt

from cspwh.catalogue import contracts, reference
from cspwh.generator.common import (
    Output,
    add_months,
    csv_bytes,
    date_text,
    district_name,
    district_population,
    rng_for,
    scaled,
    weighted,
    years_before,
)

FEED = "marac"
CASES_PER_MONTH = 100  # cases heard a month across the partnership's districts
REPEAT_FIRST, REPEAT_LAST = 0.30, 0.47  # share of cases that are repeats within 12 months, first and last month
OLDER_REPEAT = 0.03  # share of cases whose victim was last referred more than 12 months before (not a repeat)
SAME_PERPETRATOR = 0.9  # of returning victims, the same perpetrator as last time
PREHISTORY_MONTHS = 24
GENDERS = [("Female", 0.93), ("Male", 0.06), ("Other", 0.01)]
AGES = [((16, 20), 0.10), ((21, 29), 0.32), ((30, 39), 0.30), ((40, 49), 0.16), ((50, 64), 0.09), ((65, 85), 0.03)]
AGENCIES = [
    ("Police", 0.66),
    ("IDVA", 0.12),
    ("Health", 0.07),
    ("Children's social care", 0.06),
    ("Housing", 0.03),
    ("Probation", 0.02),
    ("Other", 0.04),
]
UNKNOWN_AGENCY = "Education"


def within_12_months(previous: dt.date, conference: dt.date) -> bool:
    return previous >= years_before(conference, 1)


class _Victims:
    """Victims by the month of their latest MARAC case, for drawing the returning ones; ids never reused."""

    def __init__(self) -> None:
        self.by_month: dict[dt.date, list[dict]] = collections.defaultdict(list)
        self.victims = self.perpetrators = 0

    def victim_id(self) -> str:
        self.victims += 1
        return f"V{(self.victims * 7919) % 9000000 + 1000000:07d}"

    def perpetrator_id(self) -> str:
        self.perpetrators += 1
        return f"P{(self.perpetrators * 104729) % 9000000 + 1000000:07d}"

    def draw(self, rng, months: list[dt.date]) -> dict | None:
        sizes = [(m, len(self.by_month.get(m, ()))) for m in months]
        pick = rng.randrange(sum(s for _, s in sizes) or 1)
        for month, size in sizes:
            if pick < size:
                bucket = self.by_month[month]
                bucket[pick], bucket[-1] = bucket[-1], bucket[pick]
                return bucket.pop()
            pick -= size
        return None

    def seen(self, victim: dict, month: dt.date) -> None:
        self.by_month[month].append(victim)

    def forget_before(self, month: dt.date) -> None:
        for old in [m for m in self.by_month if m < month]:
            del self.by_month[old]


def _month_cases(cfg, month: dt.date, repeat_share: float, victims: _Victims) -> list[dict]:
    rng = rng_for(cfg.seed, FEED, month)
    codes, weights = _district_weights()
    days = calendar.monthrange(month.year, month.month)[1]
    weekdays = [d for d in (month.replace(day=i) for i in range(1, days + 1)) if d.weekday() < 5]
    recent = [add_months(month, -i) for i in range(1, 12)]  # any date in these is within 12 months of this month
    older = [add_months(month, -i) for i in range(13, 25)]  # and any date in these is more than 12 months before
    n = scaled(rng, round(CASES_PER_MONTH * rng.uniform(0.82, 1.18)), cfg.scale)
    returning = round(n * repeat_share)
    roles = ["recent"] * returning + ["older"] * min(n - returning, round(n * OLDER_REPEAT))
    roles += ["new"] * (n - len(roles))
    rng.shuffle(roles)
    cases = []
    for role in roles:
        conference = rng.choice(weekdays)
        victim = (
            victims.draw(rng, recent) if role == "recent" else victims.draw(rng, older) if role == "older" else None
        )
        if victim is None:
            low, high = weighted(rng, AGES)
            victim = {
                "victim_id": victims.victim_id(),
                "perpetrator_id": victims.perpetrator_id() if rng.random() < 0.96 else None,
                "dob": years_before(conference, rng.randint(low, high)) - dt.timedelta(days=rng.randint(0, 364)),
                "gender": weighted(rng, GENDERS),
                "district_code": rng.choices(codes, weights)[0],
                "last": None,
            }
        elif rng.random() > SAME_PERPETRATOR:
            victim["perpetrator_id"] = victims.perpetrator_id()
        previous = victim["last"]
        cases.append(
            {
                "victim": victim,
                "conference_date": conference,
                "victim_id": victim["victim_id"],
                "perpetrator_id": victim["perpetrator_id"],
                "victim_dob": victim["dob"] if rng.random() < 0.97 else None,
                "victim_gender": victim["gender"],
                "district_code": victim["district_code"],
                "referring_agency": weighted(rng, AGENCIES),
                "previous_referral_date": previous,
                "repeat_12m": previous is not None and within_12_months(previous, conference),
            }
        )
    cases.sort(key=lambda c: (c["conference_date"], c["victim_id"]))
    for case in cases:
        case["victim"]["last"] = case["conference_date"]
        victims.seen(case.pop("victim"), month)
    victims.forget_before(add_months(month, -24))
    return cases


def generate(cfg, out: Output) -> dict[str, int]:
    entity = contracts.load(FEED).entity("cases")
    if list(entity.layouts[-1].names) != [
        "case_reference",
        "conference_date",
        "victim_id",
        "perpetrator_id",
        "victim_dob",
        "victim_gender",
        "district",
        "referring_agency",
        "previous_referral_date",
        "recorded_repeat",
    ]:
        raise ValueError(f"{FEED}.{entity.name}: the contract's columns changed; update the generator")
    run = cfg.months
    if not run:
        return {"marac_cases": 0}
    corrected = run[len(run) // 2] if cfg.rate("corrected_file") else None
    victims = _Victims()
    reference_number = 100000
    counts = {"marac_cases": 0}
    for offset in range(-PREHISTORY_MONTHS, len(run)):
        month = add_months(run[0], offset)
        share = REPEAT_FIRST + (REPEAT_LAST - REPEAT_FIRST) * max(0, offset) / max(1, len(run) - 1)
        cases = _month_cases(cfg, month, share, victims)
        for case in cases:
            reference_number += 1
            case["case_reference"] = f"MRC-{reference_number:06d}"
        if offset < 0:
            continue
        _write_month(cfg, out, entity, month, cases, month == corrected)
        counts["marac_cases"] += len(cases)
    return counts


def _write_month(cfg, out: Output, entity, month: dt.date, cases: list[dict], corrected: bool) -> None:
    rng = rng_for(cfg.seed, FEED, "file", month)
    name = f"marac_cases_{month:%Y-%m}.csv"
    headers = {c.name: c.header for c in entity.columns}
    lines = collections.defaultdict(list)
    rows, aliased_rows = [], set()
    for line, case in enumerate(cases, start=2):
        plant = not (corrected and line == len(cases) + 1)  # the case the original leaves out is written plainly
        conference, fault = (
            date_text(case["conference_date"], rng, cfg) if plant else (case["conference_date"].isoformat(), None)
        )
        if fault:
            lines[(fault, headers["conference_date"])].append(line)
        previous = ""
        if case["previous_referral_date"]:
            previous, fault = (
                date_text(case["previous_referral_date"], rng, cfg)
                if plant
                else (case["previous_referral_date"].isoformat(), None)
            )
            if fault:
                lines[(fault, headers["previous_referral_date"])].append(line)
        district, aliased = district_name(case["district_code"], rng, cfg.rate("district_aliases") if plant else 0)
        if aliased:
            lines[("district_aliases", headers["district"])].append(line)
            aliased_rows.add(line - 2)
        rows.append(
            [
                case["case_reference"],
                conference,
                case["victim_id"],
                case["perpetrator_id"],
                case["victim_dob"].isoformat() if case["victim_dob"] else None,
                case["victim_gender"],
                district,
                case["referring_agency"],
                previous,
                "Y" if case["repeat_12m"] else "N",
            ]
        )
    notes = [""] * len(cases)
    original = rows
    if corrected and len(rows) >= 3:
        original = [list(row) for row in rows[:-1]]
        notes[-1] = "left out of the original file"
        names = {g["geography_code"]: g["geography_name"] for g in reference.geographies()}
        candidates = [i for i in range(len(original)) if i not in aliased_rows]
        wrong_district = rng.choice(candidates)
        others = sorted(set(_district_weights()[0]) - {cases[wrong_district]["district_code"]})
        original[wrong_district][6] = names[rng.choice(others)]
        notes[wrong_district] = "district corrected"
        named = [i for i in range(len(original)) if original[i][7] != "Other" and i != wrong_district]
        wrong_agency = rng.choice(named)
        original[wrong_agency][7] = "Other"
        notes[wrong_agency] = "referring agency corrected"
    elif rows and cfg.rate("unknown_codes") and rng.random() < cfg.rate("unknown_codes"):
        index = rng.randrange(len(rows))
        rows[index][7] = UNKNOWN_AGENCY
        out.fault(
            "unknown_codes",
            FEED,
            name,
            f"allowed_values:{headers['referring_agency']}",
            "blocking",
            [index + 2],
            f"{headers['referring_agency']} '{UNKNOWN_AGENCY}'",
        )
    for case, note in zip(cases, notes):
        out.truth_row(
            "marac_cases",
            {
                "period": f"{month:%Y-%m}",
                "case_reference": case["case_reference"],
                "conference_date": case["conference_date"].isoformat(),
                "victim_id": case["victim_id"],
                "perpetrator_id": case["perpetrator_id"] or "",
                "district_code": case["district_code"],
                "referring_agency": case["referring_agency"],
                "previous_referral_date": case["previous_referral_date"].isoformat()
                if case["previous_referral_date"]
                else "",
                "is_repeat_12m": "Y" if case["repeat_12m"] else "N",
                "correction": note,
            },
        )
    for (fault, header), hit in sorted(lines.items()):
        check = "alias" if fault == "district_aliases" else "variant"
        out.fault(fault, FEED, name, f"{check}:{header}", "notice", hit, "")
    last_day = month.replace(day=calendar.monthrange(month.year, month.month)[1])
    delivered = last_day + dt.timedelta(days=rng.randint(5, 10))
    out.write(FEED, name, csv_bytes(entity.headers, original), delivered)
    if original is not rows:
        again = delivered + dt.timedelta(days=rng.randint(20, 30))
        out.write(FEED, f"corrections/{name}", csv_bytes(entity.headers, rows), again)
        out.fault(
            "corrected_file",
            FEED,
            name,
            "restatement",
            "warning",
            [],
            f"corrected copy in drop/{FEED}/corrections/, delivered {again}: one district and one referring "
            "agency corrected, one case added",
        )


def _district_weights() -> tuple[list[str], list[int]]:
    population = district_population()
    return list(population), list(population.values())

"""Youth Offending Service exports, three CSVs a month: first-time entrants aged 10 to 17, the reoffending tracking
cohorts (every young person in a cohort that started in the last 12 months, with proven reoffences to date) and ETE
hours at the close of youth justice disposals.

Children are simulated a financial quarter at a time, starting a year before the run so that the first month's
reoffending file already tracks the earlier cohorts; only months inside the run are written."""

from __future__ import annotations

import calendar
import collections
import datetime as dt
import functools

from cspwh.catalogue import contracts, reference
from cspwh.generator.common import (
    POSTCODE_DISTRICTS,
    Output,
    People,
    add_months,
    csv_bytes,
    date_text,
    district_name,
    poisson,
    quarter_label,
    rng_for,
    scaled,
    weighted,
    years_before,
)

FEED = "yos"
FTE_PER_YEAR = 100  # first-time entrants a year across the partnership's districts (board papers: 104 in 2017/18)
COHORT_SIZE = (25, 40)  # young people entering the tracking cohort a quarter
COHORT_FTE_SHARE = 0.45  # of a cohort, first-time entrants of the same quarter (the rest have earlier records)
CLOSURES_PER_MONTH = 20  # ETE: relevant disposals closing a month
ETE_MEETS = 0.68  # share of closures meeting the 25 / 16 hour rule
AGES = [(10, 0.02), (11, 0.03), (12, 0.06), (13, 0.10), (14, 0.16), (15, 0.20), (16, 0.22), (17, 0.21)]
GENDERS = [("Male", 0.80), ("Female", 0.18), ("Other", 0.01), ("Not known", 0.01)]
OUTCOMES = [
    ("Youth Caution", 0.34),
    ("Youth Conditional Caution", 0.24),
    ("Referral Order", 0.26),
    ("Youth Rehabilitation Order", 0.06),
    ("Fine", 0.03),
    ("Conditional Discharge", 0.06),
    ("Custodial Sentence", 0.01),
]
OFFENCES = [
    ("Violence against the person", 0.30),
    ("Theft and handling", 0.17),
    ("Criminal damage", 0.10),
    ("Drugs", 0.14),
    ("Public order", 0.08),
    ("Motoring", 0.07),
    ("Robbery", 0.04),
    ("Sexual offences", 0.03),
    ("Other", 0.07),
]
DISPOSALS = [
    ("Referral Order", 0.55),
    ("Youth Rehabilitation Order", 0.25),
    ("Detention and Training Order", 0.05),
    ("Youth Conditional Caution", 0.15),
]
REOFFENCES = [(0, 0.82), (1, 0.10), (2, 0.04), (3, 0.025), (4, 0.01), (5, 0.005)]  # in the 12 months after entry
UNKNOWN = {
    "first_time_entrants": ("outcome_type", "Community Resolution"),
    "ete_closures": ("disposal_type", "Reparation Order"),
}


def month_end(month: dt.date) -> dt.date:
    return month.replace(day=calendar.monthrange(month.year, month.month)[1])


def quarter_start(month: dt.date) -> dt.date:
    return dt.date(month.year, month.month - (month.month - 1) % 3, 1)


def age_on(dob: dt.date, day: dt.date) -> int:
    return day.year - dob.year - ((day.month, day.day) < (dob.month, dob.day))


def school_age(dob: dt.date, day: dt.date) -> bool:
    """Of statutory school age: under 16 on the 31 August before the day."""
    august = dt.date(day.year if day > dt.date(day.year, 8, 31) else day.year - 1, 8, 31)
    return age_on(dob, august) < 16


def dob_for_age(rng, on: dt.date, age: int) -> dt.date:
    latest = years_before(on, age)
    earliest = years_before(on, age + 1) + dt.timedelta(days=1)
    return earliest + dt.timedelta(days=rng.randint(0, (latest - earliest).days))


@functools.cache
def youth_population() -> dict[str, int]:
    """Population aged 10 to 17 of each local authority the YOS serves (ONS mid-2020), the FTE denominator."""
    codes = set(reference.members(reference.partnership()["kpi"]["yos_footprint"]))
    found = {
        row["code"]: int(row["age_10_17"])
        for row in reference.rows("ons_population_age10to17_mid2020.csv")
        if row["code"] in codes
    }
    return {code: found.get(code, 1) for code in sorted(codes)}


class _Ids:
    """Child and disposal references: a counter spread over 6 digits (a bijection, so never repeated)."""

    def __init__(self):
        self.children = self.disposals = 0

    def child(self) -> str:
        self.children += 1
        return f"YJ{(self.children * 7919) % 900000 + 100000:06d}"

    def disposal(self) -> str:
        self.disposals += 1
        return f"D{(self.disposals * 104729) % 900000 + 100000:06d}"


@functools.cache
def _forenames() -> dict[str, list[str]]:
    from faker.providers.person.en_GB import Provider as Person

    female, male = sorted(set(Person.first_names_female)), sorted(set(Person.first_names_male))
    return {"Female": female, "Male": male, "": sorted(set(female) | set(male))}


def _child(rng, people: People, ids: _Ids, code: str, on: dt.date, age: int) -> dict:
    gender = weighted(rng, GENDERS)
    return {
        "child_id": ids.child(),
        "forename": rng.choice(_forenames().get(gender, _forenames()[""])),
        "surname": rng.choice(people.lasts),
        "dob": dob_for_age(rng, on, age),
        "gender": gender,
        "district_code": code,
        "postcode": people.postcode(rng.choice(POSTCODE_DISTRICTS.get(code, [1]))),
    }


def _fte_month(cfg, month: dt.date, ids: _Ids) -> list[dict]:
    rng = rng_for(cfg.seed, FEED, "fte", month)
    people = People(rng)
    population = youth_population()
    total = sum(population.values())
    days = calendar.monthrange(month.year, month.month)[1]
    children = []
    for code, pop in population.items():
        for _ in range(scaled(rng, poisson(rng, FTE_PER_YEAR / 12 * pop / total), cfg.scale)):
            entry = month.replace(day=rng.randint(1, days))
            child = _child(rng, people, ids, code, entry, weighted(rng, AGES))
            child.update(
                {
                    "entry_date": entry,
                    "outcome_type": weighted(rng, OUTCOMES),
                    "offence_category": weighted(rng, OFFENCES),
                }
            )
            children.append(child)
    return sorted(children, key=lambda c: (c["entry_date"], c["child_id"]))


def _cohort(cfg, start: dt.date, ftes: list[dict], ids: _Ids) -> dict:
    label = quarter_label(start)
    rng = rng_for(cfg.seed, FEED, "cohort", label)
    people = People(rng)
    size = scaled(rng, rng.randint(*COHORT_SIZE), cfg.scale)
    from_fte = rng.sample(ftes, min(len(ftes), round(size * COHORT_FTE_SHARE)))
    members = [
        {"child_id": c["child_id"], "dob": c["dob"], "district_code": c["district_code"], "entry_date": c["entry_date"]}
        for c in from_fte
    ]
    population = youth_population()
    codes, weights = list(population), list(population.values())
    span = (month_end(add_months(start, 2)) - start).days
    while len(members) < size:
        entry = start + dt.timedelta(days=rng.randint(0, span))
        code = rng.choices(codes, weights)[0]
        child = _child(rng, people, ids, code, entry, weighted(rng, AGES))
        members.append({"child_id": child["child_id"], "dob": child["dob"], "district_code": code, "entry_date": entry})
    for member in members:
        member["reoffences"] = sorted(
            member["entry_date"] + dt.timedelta(days=rng.randint(1, 365)) for _ in range(weighted(rng, REOFFENCES))
        )
    members.sort(key=lambda m: m["child_id"])
    return {"label": label, "start": start, "members": members}


def _ete_month(cfg, month: dt.date, cohorts: list[dict], ids: _Ids) -> list[dict]:
    """Disposals closing in the month: about half for young people tracked in a recent cohort, the rest others."""
    rng = rng_for(cfg.seed, FEED, "ete", month)
    people = People(rng)
    population = youth_population()
    codes, weights = list(population), list(population.values())
    days = calendar.monthrange(month.year, month.month)[1]
    earliest, latest = years_before(month, 1), month - dt.timedelta(days=90)
    pool = [m for c in cohorts for m in c["members"] if earliest <= m["entry_date"] <= latest]
    closures = []
    for _ in range(scaled(rng, poisson(rng, CLOSURES_PER_MONTH), cfg.scale)):
        closed = month.replace(day=rng.randint(1, days))
        if pool and rng.random() < 0.5:
            known = rng.choice(pool)
            child = {"child_id": known["child_id"], "dob": known["dob"], "district_code": known["district_code"]}
        else:
            child = _child(
                rng, people, ids, rng.choices(codes, weights)[0], closed, weighted(rng, AGES[2:] + [(18, 0.08)])
            )
        at_school = school_age(child["dob"], closed)
        threshold = 25 if at_school else 16
        if rng.random() < ETE_MEETS:
            hours = threshold + rng.randint(0, 15 if at_school else 43) / 2
        else:
            hours = 0 if rng.random() < 0.35 else rng.randint(1, 2 * threshold - 1) / 2
        closures.append(
            {
                **child,
                "disposal_id": ids.disposal(),
                "closed_on": closed,
                "disposal_type": weighted(rng, DISPOSALS),
                "ete_hours": hours,
                "school_age": at_school,
                "meets": hours >= threshold,
            }
        )
    return sorted(closures, key=lambda c: (c["closed_on"], c["disposal_id"]))


def _hours(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.1f}"


def _write(
    cfg, out: Output, entity, name: str, records: list[dict], cells, dates: dict, rng, delivered: dt.date, bom_row=None
):
    """One CSV: cells(record, district text, {column: date text}) -> row in header order; dates: column -> key of
    the record's date whose shape may be planted (non-personal date columns only)."""
    lines = collections.defaultdict(list)
    rows = []
    for line, record in enumerate(records, start=2):
        district, aliased = district_name(record["district_code"], rng, cfg.rate("district_aliases"))
        if aliased:
            lines[("district_aliases", entity.column("district").header)].append(line)
        written = {}
        for column, key in dates.items():
            written[column], fault = date_text(record[key], rng, cfg)
            if fault:
                lines[(fault, entity.column(column).header)].append(line)
        rows.append(cells(record, district, written))
    if rows and entity.name in UNKNOWN and cfg.rate("unknown_codes") and rng.random() < cfg.rate("unknown_codes"):
        column, value = UNKNOWN[entity.name]
        index = rng.randrange(len(rows))
        position = entity.headers.index(entity.column(column).header)
        rows[index][position] = value
        out.fault(
            "unknown_codes",
            FEED,
            name,
            f"allowed_values:{entity.column(column).header}",
            "blocking",
            [index + 2],
            f"{entity.column(column).header} '{value}'",
        )
    bom = (
        bool(rows)
        and bom_row is not None
        and cfg.rate("windows_1252_bom")
        and rng.random() < cfg.rate("windows_1252_bom")
    )
    if bom:
        bom_row(rows[rng.randrange(len(rows))])
        out.fault(
            "windows_1252_bom",
            FEED,
            name,
            "encoding",
            "notice",
            [],
            "exported as Windows-1252 with a UTF-8 byte order mark",
        )
    for (fault, header), hit in sorted(lines.items()):
        check = "alias" if fault == "district_aliases" else "variant"
        out.fault(fault, FEED, name, f"{check}:{header}", "notice", hit, "")
    out.write(FEED, name, csv_bytes(entity.headers, rows, bom_cp1252=bom), delivered)


def _forename_with_accent(row: list) -> None:
    row[1] = "Zoë"  # Forename: a character Windows-1252 and UTF-8 write differently


def generate(cfg, out: Output) -> dict[str, int]:
    contract = contracts.load(FEED)
    fte_entity, cohort_entity, ete_entity = (
        contract.entity(n) for n in ("first_time_entrants", "reoffending_cohort", "ete_closures")
    )
    for entity, expected in (
        (
            fte_entity,
            [
                "child_id",
                "forename",
                "surname",
                "date_of_birth",
                "gender",
                "district",
                "postcode",
                "entry_date",
                "outcome_type",
                "offence_category",
            ],
        ),
        (cohort_entity, ["cohort", "child_id", "date_of_birth", "district", "cohort_entry_date", "reoffences_to_date"]),
        (
            ete_entity,
            [
                "disposal_id",
                "child_id",
                "date_of_birth",
                "district",
                "disposal_type",
                "disposal_closed_on",
                "ete_hours",
            ],
        ),
    ):
        if list(entity.layouts[-1].names) != expected:
            raise ValueError(f"{FEED}.{entity.name}: the contract's columns changed; update the generator")
    if not cfg.months:
        return {"yos_first_time_entrants": 0, "yos_cohort_members": 0, "yos_ete_closures": 0}
    in_run = set(cfg.months)
    ids = _Ids()
    cohorts: collections.deque = collections.deque()
    counts = {"yos_first_time_entrants": 0, "yos_cohort_members": 0, "yos_ete_closures": 0}
    start = add_months(quarter_start(cfg.months[0]), -12)
    while start <= cfg.months[-1]:
        quarter_months = [add_months(start, i) for i in range(3)]
        ftes = {month: _fte_month(cfg, month, ids) for month in quarter_months}
        cohort = _cohort(cfg, start, [c for month in quarter_months for c in ftes[month]], ids)
        cohorts.append(cohort)
        while cohorts[0]["start"] < add_months(start, -9):
            cohorts.popleft()
        if any(add_months(start, i) in in_run for i in range(12)):  # a cohort is tracked for 12 months
            counts["yos_cohort_members"] += len(cohort["members"])
            for member in cohort["members"]:
                out.truth_row(
                    "yos_reoffending",
                    {
                        "cohort": cohort["label"],
                        "child_id": member["child_id"],
                        "district_code": member["district_code"],
                        "cohort_entry_date": member["entry_date"].isoformat(),
                        "reoffence_dates": ";".join(d.isoformat() for d in member["reoffences"]),
                    },
                )
        for month in quarter_months:
            if month not in in_run:
                continue
            rng = rng_for(cfg.seed, FEED, "files", month)
            delivered = month_end(month) + dt.timedelta(days=rng.randint(5, 10))
            counts["yos_first_time_entrants"] += _write_fte(cfg, out, fte_entity, month, ftes[month], rng, delivered)
            _write_cohorts(cfg, out, cohort_entity, month, list(cohorts), rng, delivered)
            closures = _ete_month(cfg, month, list(cohorts), ids)
            counts["yos_ete_closures"] += len(closures)
            _write_ete(cfg, out, ete_entity, month, closures, rng, delivered)
        start = add_months(start, 3)
    return counts


def _write_fte(cfg, out, entity, month, children, rng, delivered) -> int:
    name = f"yos_fte_{month:%Y-%m}.csv"
    for c in children:
        out.truth_row(
            "yos_fte",
            {
                "period": f"{month:%Y-%m}",
                "child_id": c["child_id"],
                "district_code": c["district_code"],
                "entry_date": c["entry_date"].isoformat(),
                "age_at_entry": age_on(c["dob"], c["entry_date"]),
                "gender": c["gender"],
                "outcome_type": c["outcome_type"],
            },
        )

    def cells(c, district, dates):
        return [
            c["child_id"],
            c["forename"],
            c["surname"],
            c["dob"].isoformat(),
            c["gender"],
            district,
            c["postcode"],
            dates["entry_date"],
            c["outcome_type"],
            c["offence_category"],
        ]

    _write(
        cfg,
        out,
        entity,
        name,
        children,
        cells,
        {"entry_date": "entry_date"},
        rng,
        delivered,
        bom_row=_forename_with_accent,
    )
    return len(children)


def _write_cohorts(cfg, out, entity, month, cohorts, rng, delivered) -> None:
    """Every young person of every cohort that started in the 12 months to the month, offences to its end."""
    end = month_end(month)
    records = []
    for cohort in cohorts:
        if not add_months(month, -11) <= cohort["start"] <= month:
            continue
        for member in cohort["members"]:
            if member["entry_date"] <= end:
                records.append(
                    {**member, "cohort": cohort["label"], "to_date": sum(1 for d in member["reoffences"] if d <= end)}
                )

    def cells(r, district, dates):
        return [r["cohort"], r["child_id"], r["dob"].isoformat(), district, dates["cohort_entry_date"], r["to_date"]]

    _write(
        cfg,
        out,
        entity,
        f"yos_reoffending_{month:%Y-%m}.csv",
        records,
        cells,
        {"cohort_entry_date": "entry_date"},
        rng,
        delivered,
    )


def _write_ete(cfg, out, entity, month, closures, rng, delivered) -> None:
    for c in closures:
        out.truth_row(
            "yos_ete",
            {
                "period": f"{month:%Y-%m}",
                "disposal_id": c["disposal_id"],
                "child_id": c["child_id"],
                "district_code": c["district_code"],
                "closed_on": c["closed_on"].isoformat(),
                "age_at_close": age_on(c["dob"], c["closed_on"]),
                "school_age": "Y" if c["school_age"] else "N",
                "ete_hours": _hours(c["ete_hours"]),
                "meets_rule": "Y" if c["meets"] else "N",
            },
        )

    def cells(c, district, dates):
        return [
            c["disposal_id"],
            c["child_id"],
            c["dob"].isoformat(),
            district,
            c["disposal_type"],
            dates["disposal_closed_on"],
            _hours(c["ete_hours"]),
        ]

    _write(
        cfg,
        out,
        entity,
        f"yos_ete_{month:%Y-%m}.csv",
        closures,
        cells,
        {"disposal_closed_on": "closed_on"},
        rng,
        delivered,
    )

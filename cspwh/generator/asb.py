"""Storm ASB incidents (grounded in the real police.uk ASB records) and Sentinel cases: police-originated cases
that duplicate Storm incidents, with the Storm number typed a dozen ways or not at all, and council-only cases."""

from __future__ import annotations

import bisect
import calendar
import collections
import datetime as dt
import json
import random

from cspwh.catalogue import contracts
from cspwh.generator import linkage, police_uk_counts
from cspwh.generator.common import (
    POSTCODE_DISTRICTS,
    Output,
    People,
    csv_bytes,
    date_text,
    district_name,
    district_population,
    poisson,
    rng_for,
    scaled,
    weighted,
)

PEN = [("Personal", 0.25), ("Environmental", 0.15), ("Nuisance", 0.60)]
TYPES = {
    "Personal": ["Neighbour dispute", "Malicious communications", "Rowdy or inconsiderate behaviour"],
    "Environmental": ["Littering or fly-tipping", "Abandoned vehicle", "Animal problems"],
    "Nuisance": [
        "Rowdy or inconsiderate behaviour",
        "Noise",
        "Vehicle nuisance",
        "Street drinking",
        "Begging",
        "Other ASB",
    ],
}
REFERENCE_STYLES = [
    lambda d, n: f"LP-{d}-{n:04d}",
    lambda d, n: f"LP{d}-{n:04d}",
    lambda d, n: f"lp-{d}-{n:04d}",
    lambda d, n: f"LP/{d}/{n:04d}",
    lambda d, n: f"{d}-{n:04d}",
    lambda d, n: f"{d}/{n}",
    lambda d, n: f"LP-{d}-{n}",
    lambda d, n: f"Storm LP-{d}-{n:04d}",
    lambda d, n: f"ref: LP {d} {n:04d}",
    lambda d, n: f"LP-{d[:4]}-{d[4:6]}-{d[6:]}-{n:04d}",
    lambda d, n: f"{n:04d} ({d[6:]}/{d[4:6]}/{d[:4]})",
    lambda d, n: f"LP-{d}-{n:04d}".replace("0", "O", 1),
]
PLACEHOLDER = "SEN-PENDING"
COUNCIL_SHARE = 0.5  # council-only Sentinel cases per Storm incident, by district and month
HATE_SHARE = 0.04  # of the council's own cases
HATE_PER_1000_A_YEAR = 0.6  # more hate incidents, reported beside ASB


def storm_month(cfg, out: Output, month: dt.date, sentinel_sink) -> dict:
    """Write the month's daily Storm files; hand each incident to Sentinel; returns counts for the ground truth.

    Only a compact (minute, record) slot per incident is held for the month; incidents are built a day at a time,
    so memory does not grow with the scale beyond one day's incidents."""
    rng = rng_for(cfg.seed, "storm", month)
    lookup = police_uk_counts.lsoa_lookup()
    days = calendar.monthrange(month.year, month.month)[1]
    records = police_uk_counts.asb_records(month)
    slots = sorted(
        (rng.randrange(days * 1440), index)
        for index, record in enumerate(records)
        for _ in range(scaled(rng, 1, cfg.scale))
    )
    entity = contracts.load("storm_asb").entity("incidents")
    late_day = (
        dt.date(month.year, month.month, rng.randint(1, days))
        if cfg.rate("late_file") and month == cfg.months[len(cfg.months) // 2]
        else None
    )
    resent_day = (
        dt.date(month.year, month.month, rng.randint(1, days))
        if cfg.rate("resent_file") and month == cfg.months[len(cfg.months) // 3]
        else None
    )
    start = dt.datetime(month.year, month.month, 1)
    profile = linkage.profile(cfg.linkage)
    for day_index in range(days):
        day = month + dt.timedelta(days=day_index)
        day_rng = rng_for(cfg.seed, "storm", day)
        people = People(day_rng)
        first = bisect.bisect_left(slots, (day_index * 1440, -1))
        last = bisect.bisect_left(slots, ((day_index + 1) * 1440, -1))
        incidents = []
        numbers = linkage.sequence_numbers(day_rng, profile, last - first)
        for seq, (minute, index) in zip(numbers, slots[first:last]):
            record = records[index]
            opened = start + dt.timedelta(minutes=minute)
            pen = weighted(day_rng, PEN)
            authority = lookup[record["LSOA code"]]
            anonymous = day_rng.random() < profile.caller_anonymous
            street = record["Location"]
            if day_rng.random() < profile.location_variant:
                street = linkage.location_variant(day_rng, street)
            incidents.append(
                {
                    "number": f"LP-{day:%Y%m%d}-{seq:04d}",
                    "opened_at": opened,
                    "closed_at": opened + dt.timedelta(minutes=day_rng.randint(20, 4320)),
                    "pen": pen,
                    "asb_type": day_rng.choice(TYPES[pen]),
                    "street": street,
                    "lsoa": record["LSOA code"],
                    "authority": authority,
                    "caller": day_rng.choice(linkage.ANONYMOUS) if anonymous else people.name(),
                    "person": people.name() if anonymous else None,  # who the caller is, though Storm has no name
                    "phone": None if anonymous and day_rng.random() < 0.7 else people.phone(),
                    "address": None if anonymous else people.address(),
                    "postcode": None if anonymous else people.postcode(day_rng.choice(POSTCODE_DISTRICTS[authority])),
                }
            )
        _write_storm_day(cfg, out, entity, day, incidents, day_rng, late=(day == late_day), resend=(day == resent_day))
        for incident in incidents:
            sentinel_sink(incident)
    return {"storm_incidents": len(slots)}


def _write_storm_day(cfg, out: Output, entity, day: dt.date, incidents: list[dict], rng, late: bool, resend: bool):
    name = f"storm_asb_{day:%Y%m%d}.csv"
    header = entity.headers
    lines = collections.defaultdict(list)
    rows = []
    for line, incident in enumerate(incidents, start=2):
        opened, opened_fault = date_text(incident["opened_at"], rng, cfg)
        closed, closed_fault = date_text(incident["closed_at"], rng, cfg)
        district, aliased = district_name(incident["authority"], rng, cfg.rate("district_aliases"))
        for fault, column in (
            (opened_fault, "Opened At"),
            (closed_fault, "Closed At"),
            ("district_aliases" if aliased else None, "District"),
        ):
            if fault:
                lines[(fault, column)].append(line)
        rows.append(
            [
                incident["number"],
                opened,
                closed,
                incident["pen"],
                incident["asb_type"],
                incident["street"],
                incident["lsoa"],
                district,
                incident["caller"],
                incident["phone"] or "",
                incident["address"] or "",
                incident["postcode"] or "",
                f"Caller reports {incident['asb_type'].lower()} {incident['street'].lower()}",
            ]
        )
    if rows and cfg.rate("dates_outside_period") and rng.random() < cfg.rate("dates_outside_period"):
        earlier = incidents[0]["opened_at"] - dt.timedelta(days=2)
        rows[0][1] = earlier.isoformat(sep=" ", timespec="minutes")
        for fault in ("dmy_dates", "excel_serial_dates"):  # the overwritten value is ISO now
            if 2 in lines.get((fault, "Opened At"), []):
                lines[(fault, "Opened At")].remove(2)
        out.fault(
            "dates_outside_period",
            "storm_asb",
            name,
            "outside:Opened At",
            "blocking",
            [2],
            f"opened {earlier:%Y-%m-%d} in the extract for {day:%Y-%m-%d}",
        )
    if rows and cfg.rate("unknown_codes") and rng.random() < cfg.rate("unknown_codes"):
        line = rng.randrange(len(rows))
        rows[line][3] = "Unclassified"
        out.fault(
            "unknown_codes",
            "storm_asb",
            name,
            "allowed_values:PEN Category",
            "blocking",
            [line + 2],
            "PEN category 'Unclassified'",
        )
    bom = bool(rows) and cfg.rate("windows_1252_bom") and rng.random() < cfg.rate("windows_1252_bom")
    if bom:
        rows[0][12] = rows[0][12] + " \u2013 caller says it costs them \u00a320 a week"  # en dash and pound sign
        out.fault(
            "windows_1252_bom",
            "storm_asb",
            name,
            "encoding",
            "notice",
            [],
            "exported as Windows-1252 with a UTF-8 byte order mark",
        )
    for (fault, column), hit in sorted((k, v) for k, v in lines.items() if v):
        check = "alias" if fault == "district_aliases" else "variant"
        out.fault(fault, "storm_asb", name, f"{check}:{column}", "notice", hit, "")
    data = csv_bytes(header, rows, bom_cp1252=bom)
    delivered = day + dt.timedelta(days=6 if late else 1)
    out.write("storm_asb", name, data, delivered)
    if late:
        out.fault("late_file", "storm_asb", name, "late", "warning", [], f"delivered {delivered}, after later days")
    if resend:
        again = f"storm_asb_{day:%Y%m%d}_resend.csv"
        out.write("storm_asb", again, data, day + dt.timedelta(days=3))
        out.fault("resent_file", "storm_asb", again, "already_received", "info", [], f"identical to {name}")


class Sentinel:
    """Collects a month's cases (police-originated from Storm, council-only) and appends them to the API's data in
    update order, so the API can page by cursor without holding everything. start_month begins each month, before
    its from_storm calls and finish_month."""

    # the month's state, set by start_month
    month: dt.date
    index: int
    seq: int
    rng: random.Random
    people: People

    def __init__(self, cfg, out: Output):
        self.cfg, self.out = cfg, out
        self.path = out.api / "sentinel" / "cases.jsonl"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.fh = self.path.open("w")
        self.month_cases: list[tuple] = []
        self.storm_by_district: collections.Counter[str] = collections.Counter()
        self.profile = linkage.profile(cfg.linkage)
        self._neighbours: dict[str, list[str]] | None = None  # an LSOA -> its authority's LSOAs, in code order

    def start_month(self, month: dt.date, index: int) -> None:
        self.month, self.index, self.seq = month, index, 0
        self.rng = rng_for(self.cfg.seed, "sentinel", month)
        self.people = People(self.rng)
        self.month_cases, self.storm_by_district = [], collections.Counter()

    def _case_id(self) -> str:
        self.seq += 1
        return f"SEN-{self.index:02d}{self.seq:05d}"

    def _base(self, opened: dt.date, authority: str) -> dict:
        rng = self.rng
        month_end = dt.date(opened.year, opened.month, calendar.monthrange(opened.year, opened.month)[1])
        updated = dt.datetime.combine(opened, dt.time(rng.randint(8, 18), rng.randint(0, 59))) + dt.timedelta(
            days=rng.randint(0, max(0, (month_end - opened).days))
        )
        closed = updated.date() if rng.random() < 0.7 else None
        district, aliased = district_name(authority, rng, self.cfg.rate("district_aliases"))
        return {
            "opened_on": opened.isoformat(),
            "updated_at": updated.isoformat(timespec="seconds"),
            "closed_on": closed.isoformat() if closed else None,
            "status": "Closed" if closed else "Open",
            "district": district,
            "_aliased": aliased,
            "perpetrator_name": self.people.name() if rng.random() < 0.6 else None,
            "perpetrator_dob": self.people.date_of_birth(opened, 14, 70).isoformat() if rng.random() < 0.4 else None,
            "case_notes": "Case opened following report; see partner records.",
        }

    def _neighbour(self, lsoa: str) -> str:
        """Another LSOA of the same authority next to it in code order (codes run roughly by place)."""
        if self._neighbours is None:
            by_authority: collections.defaultdict[str, list[str]] = collections.defaultdict(list)
            for code, authority in sorted(police_uk_counts.lsoa_lookup().items()):
                by_authority[authority].append(code)
            self._neighbours = {code: codes for codes in by_authority.values() for code in codes}
        codes = self._neighbours[lsoa]
        i = codes.index(lsoa)
        return (
            codes[min(len(codes) - 1, i + 1)]
            if (self.rng.random() < 0.5 or i == 0) and i + 1 < len(codes)
            else codes[max(0, i - 1)]
        )

    def from_storm(self, incident: dict) -> None:
        self.storm_by_district[incident["authority"]] += 1
        rng, p = self.rng, self.profile
        if not (self.cfg.rate("cross_system_duplicates") and rng.random() < self.cfg.rate("cross_system_duplicates")):
            return
        month_end = dt.date(
            self.month.year, self.month.month, calendar.monthrange(self.month.year, self.month.month)[1]
        )
        incident_on = incident["opened_at"].date() + dt.timedelta(days=weighted(rng, [(d, w) for d, w in p.offsets]))
        opened = min(
            max(incident_on, incident["opened_at"].date()) + dt.timedelta(days=rng.randint(0, 3)),
            max(month_end, incident_on),
        )
        case = self._base(opened, incident["authority"])
        day, seq = incident["number"][3:11], int(incident["number"][12:])
        typed = None
        if rng.random() < p.reference_kept:
            typed = rng.choice(REFERENCE_STYLES)(day, seq)
            if rng.random() < p.reference_transposed:
                typed = linkage.transposed(rng, typed)
        pen = (
            incident["pen"]
            if rng.random() >= p.pen_changed
            else rng.choice([c for c, _ in PEN if c != incident["pen"]])
        )
        asb_type = incident["asb_type"] if rng.random() >= p.type_changed else rng.choice(TYPES[pen])
        roll = rng.random()
        lsoa = (
            incident["lsoa"]
            if roll < p.lsoa_same
            else self._neighbour(incident["lsoa"])
            if roll < p.lsoa_same + p.lsoa_neighbour
            else None
        )
        person = incident["person"] or incident["caller"]
        address = incident["address"]
        if rng.random() < p.victim_unnamed:
            victim = None
        elif rng.random() < p.victim_other_person:
            victim = self.people.name()
            address = None  # a witness called: the victim lives elsewhere
        else:
            victim = linkage.name_variant(rng, person) if rng.random() < p.name_variant else person
        if address and rng.random() < p.address_variant:
            address = linkage.address_variant(rng, address)
        roll = rng.random()
        postcode = (
            incident["postcode"]
            if roll < p.postcode_same and incident["postcode"]
            else self.people.postcode(rng.choice(POSTCODE_DISTRICTS[incident["authority"]]))
            if roll < 0.9
            else None
        )
        case.update(
            {
                "originating_agency": "Police",
                "storm_reference": typed,
                "case_type": "ASB",
                "pen_category": pen,
                "asb_type": asb_type,
                "incident_on": incident_on.isoformat(),
                "lsoa_code": lsoa,
                "victim_name": victim,
                "victim_dob": self.people.date_of_birth(opened, 18, 85).isoformat(),
                "victim_address": address or self.people.address(),
                "victim_postcode": postcode,
                "_authority": incident["authority"],
                "_storm": incident["number"],
                "_typed": typed,
            }
        )
        self._keep(case)

    def _keep(self, case: dict) -> None:
        """Hold a case as its JSON text (case id filled in at write) and the few fields the month's end needs."""
        record = {k: v for k, v in case.items() if not k.startswith("_")}
        record["case_id"] = PLACEHOLDER
        text = json.dumps(record, sort_keys=True, separators=(",", ":"))
        self.month_cases.append(
            (
                (case["updated_at"], case["opened_on"], case["victim_name"] or ""),
                text,
                case["_authority"],
                case["_storm"],
                case["_typed"],
                case["case_type"],
                case["_aliased"],
            )
        )

    def _council_case(self, authority: str, days: int, lsoas: list[str], hate: bool | None = None) -> dict:
        """A case the council opened itself (no Storm incident): ASB, or a hate incident (HATE_SHARE of them unless
        `hate` says which)."""
        rng = self.rng
        opened = dt.date(self.month.year, self.month.month, rng.randint(1, days))
        case = self._base(opened, authority)
        if hate is None:
            hate = rng.random() < HATE_SHARE
        pen = weighted(rng, PEN)
        case.update(
            {
                "originating_agency": "Council",
                "storm_reference": None,
                "case_type": "Hate incident" if hate else "ASB",
                "pen_category": None if hate else pen,
                "asb_type": "Hate incident" if hate else rng.choice(TYPES[pen]),
                # reported within the month it happened in, so the month's matters are the month's cases
                "incident_on": max(opened - dt.timedelta(days=rng.randint(0, 5)), self.month).isoformat(),
                "lsoa_code": rng.choice(lsoas),
                "victim_name": self.people.name(),
                "victim_dob": self.people.date_of_birth(opened, 18, 85).isoformat(),
                "victim_address": self.people.address(),
                "victim_postcode": self.people.postcode(rng.choice(POSTCODE_DISTRICTS[authority])),
                "_authority": authority,
                "_storm": None,
                "_typed": None,
            }
        )
        return case

    def _write(self, text: str, case_id: str, aliased: bool) -> None:
        if aliased:
            self.out.fault("district_aliases", "sentinel_asb", "api:cases", "alias:district", "notice", [], case_id)
        self.fh.write(text.replace(PLACEHOLDER, case_id, 1) + "\n")

    def finish_month(self) -> dict:
        rng = self.rng
        lookup = police_uk_counts.lsoa_lookup()
        lsoas_by_authority = collections.defaultdict(list)
        for lsoa, authority in sorted(lookup.items()):
            lsoas_by_authority[authority].append(lsoa)
        days = calendar.monthrange(self.month.year, self.month.month)[1]
        for authority in sorted(self.storm_by_district):
            for _ in range(round(self.storm_by_district[authority] * COUNCIL_SHARE * rng.uniform(0.8, 1.2))):
                self._keep(self._council_case(authority, days, lsoas_by_authority[authority]))
        self.month_cases.sort(key=lambda c: c[0])
        counts: collections.Counter[tuple[str, str]] = collections.Counter()
        numbered = []  # (order key, text, case id, aliased): the API serves a month's cases by when they changed
        for key, text, authority, storm, typed, case_type, aliased in self.month_cases:
            case_id = self._case_id()
            if storm:
                self.out.truth_row(
                    "storm_sentinel_links",
                    {
                        "storm_incident_number": storm,
                        "sentinel_case_id": case_id,
                        "storm_reference_as_typed": typed or "",
                    },
                )
                counts[(authority, "linked")] += 1
            if case_type == "ASB":
                counts[(authority, "sentinel_asb")] += 1
            numbered.append((key, text, case_id, aliased))
        # hate incidents reported beside the ASB cases, at the rate the board's papers print for the county (0.58 to
        # 0.94 a year per 1,000 people); drawn and numbered after every ASB case, so they change no ASB record, and
        # served among them in the order they changed
        written, population = len(self.month_cases), district_population()
        for authority in sorted(self.storm_by_district):
            expected = population.get(authority, 0) * HATE_PER_1000_A_YEAR / 1000 / 12  # the partnership's districts
            for _ in range(scaled(rng, poisson(rng, expected), self.cfg.scale)):
                self._keep(self._council_case(authority, days, lsoas_by_authority[authority], hate=True))
        for key, text, _, _, _, _, aliased in self.month_cases[written:]:
            numbered.append((key, text, self._case_id(), aliased))
        for _, text, case_id, aliased in sorted(numbered, key=lambda n: n[0]):
            self._write(text, case_id, aliased)
        for authority in sorted(self.storm_by_district):
            storm, sentinel, linked = (
                self.storm_by_district[authority],
                counts[(authority, "sentinel_asb")],
                counts[(authority, "linked")],
            )
            self.out.truth_row(
                "asb_matters",
                {
                    "month": self.month.strftime("%Y-%m"),
                    "geography_code": authority,
                    "storm_incidents": storm,
                    "sentinel_asb_cases": sentinel,
                    "linked": linked,
                    "matters": storm + sentinel - linked,
                },
            )
        return {"sentinel_cases": len(self.month_cases)}

    def close(self):
        self.fh.close()

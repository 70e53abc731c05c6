"""`cspwh init`: configure the warehouse for any Community Safety Partnership in England and Wales from the national
reference data alone (cspwh/catalogue/national.py), writing the partnership's reference files that dbt loads as seeds.

The geography written keeps the shape the models and checks expect: the partnership's area is the `county` row, its
local authorities are its `district` rows, and the rest of the force area is split into parts (counties with their
districts, unitaries) so that everything adds up to the force area. A county the partnership only partly covers is
kept whole as a `combined` footprint, and its remaining districts under a `<county>_REST` part.
"""

from __future__ import annotations

import argparse
import csv
import difflib
import json
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cspwh import settings
from cspwh.catalogue import national, reference

# written by init; every other reference file (indicators, crime categories, classification changes) is the same
# for every partnership and is copied as it is
GENERATED = (
    "partnership.yml",
    "geographies.csv",
    "geography_members.csv",
    "geography_aliases.csv",
    "ons_lsoa11_to_lad19.csv",
    "ons_population_mid_year.csv",
    "ons_population_age10to17_mid2020.csv",
    "population_adult_female_estimated.csv",
    "ons_population_police_force_areas.csv",
    "peer_forces.csv",
)


class InitError(ValueError):
    """A partnership could not be chosen; the message says why and what to type instead."""


@dataclass
class Unit:
    """One local authority of the partnership: a whole district, or the part of a split one."""

    code: str
    name: str
    district_code: str  # the whole 2021 district it is (part of)
    lsoas: list | None = None  # only for a part
    former: tuple = ()


@dataclass
class Selection:
    name: str
    code: str
    kind: str  # csp, county or districts
    units: list[Unit]
    force_area_code: str
    notes: list[str] = field(default_factory=list)


def _norm(text: str) -> str:
    return reference.normalise_name(text)


def _candidates() -> dict[str, list[tuple[str, str, str]]]:
    """normalised name or code -> [(kind, code, name)] over CSPs, counties and districts (2019 and 2021 codes)."""
    index: dict[str, list[tuple[str, str, str]]] = {}

    def add(kind: str, code: str, name: str) -> None:
        for key in {_norm(name), _norm(code)}:
            entry = (kind, code, name)
            if entry not in index.setdefault(key, []):
                index[key].append(entry)

    for r in national.lad_csp_pfa():
        add("csp", r["CSP19CD"], r["CSP19NM"])
    for la in national.local_authorities().values():
        add("district", la.code, la.name)
        if la.county_code != la.code:
            add("county", la.county_code, la.county_name)
        for code, name in la.former:
            add("district", code, name)
    for r in national.read("geography/ltla19_utla19_ew.csv.gz"):
        if r["UTLA19CD"] != r["LTLA19CD"]:
            add("county", r["UTLA19CD"], r["UTLA19NM"])
    return index


def _close_matches(text: str) -> str:
    names = sorted({name for entries in _candidates().values() for _, _, name in entries})
    close = difflib.get_close_matches(text, names, n=6, cutoff=0.6)
    close += [n for n in names if _norm(text) and _norm(text) in _norm(n) and n not in close][:6]
    return ", ".join(close[:8]) or "none"


def _units_for_district(code: str, notes: list[str]) -> list[Unit]:
    active, active_name = national.active_code()[code]
    if active != code:
        notes.append(
            f"{national_name(code)} ({code}) became part of {active_name} ({active}) in a reorganisation; "
            f"the partnership uses {active_name}, the area ONS now publishes populations for"
        )
    la = national.local_authorities()[active]
    return [Unit(la.code, la.name, la.code, former=la.former)]


def national_name(code: str) -> str:
    for r in national._la_codes_rows():
        if r["LADCD"] == code:
            return r["LADNM"]
    return code


def _units_for_csp(code: str, notes: list[str]) -> list[Unit]:
    units: dict[str, Unit] = {}
    for r in national.lad_csp_pfa():
        if r["CSP19CD"] != code:
            continue
        split = national.split_districts().get(r["LAD19CD"])
        if split:
            for part in split[code]:
                units[part.code] = Unit(part.code, part.name, part.district_code, list(part.lsoas))
                notes.append(
                    f"{part.name} is the part of {national.local_authorities()[part.district_code].name} "
                    f"in this CSP ({len(part.lsoas)} LSOAs named '{part.name} nnnX'); its population is "
                    f"estimated by its share of the district's LSOAs"
                )
        else:
            for unit in _units_for_district(r["LAD19CD"], notes):
                units[unit.code] = unit
    return list(units.values())


def _resolve_one(text: str, kind: str | None) -> tuple[str, str, str]:
    entries = _candidates().get(_norm(text), [])
    if kind:
        entries = [e for e in entries if e[0] == kind]
    if not entries:
        what = {"csp": "CSP", "county": "county", "district": "district"}.get(kind or "", "CSP, county or district")
        raise InitError(
            f"No {what} in England and Wales is called or coded '{text}'. Close matches: "
            f"{_close_matches(text)}. Give a name or ONS code as in sources/national/geography/."
        )
    if any(e[0] == "csp" for e in entries):
        # a former district a CSP is still named after (Waveney) means the CSP, not the merged district
        entries = [e for e in entries if not (e[0] == "district" and national.active_code()[e[1]][0] != e[1])]
    if len(entries) == 1:
        return entries[0]
    # the same name for a CSP and the district(s) it is made of is one area, not a choice
    areas: dict[frozenset[str], list[tuple[str, str, str]]] = {}
    for entry in entries:
        notes: list[str] = []
        units = (
            _units_for_csp(entry[1], notes)
            if entry[0] == "csp"
            else (_units_for_county(entry[1]) if entry[0] == "county" else _units_for_district(entry[1], notes))
        )
        areas.setdefault(frozenset(u.code for u in units), []).append(entry)
    if len(areas) == 1:
        return sorted(entries, key=lambda e: ("csp", "county", "district").index(e[0]))[0]
    listed = "; ".join(f"{k} {n} ({c})" for k, c, n in entries)
    raise InitError(f"'{text}' names different areas: {listed}. Say which with --csp, --county or --districts.")


def _units_for_county(code: str) -> list[Unit]:
    las = [la for la in national.local_authorities().values() if la.county_code == code]
    if not las:  # a county abolished by a reorganisation: its districts' successors
        former = [r["LTLA19CD"] for r in national.read("geography/ltla19_utla19_ew.csv.gz") if r["UTLA19CD"] == code]
        codes = sorted({national.active_code()[c][0] for c in former})
        las = [national.local_authorities()[c] for c in codes]
    return [Unit(la.code, la.name, la.code, former=la.former) for la in las]


def select(
    csp: str | None = None, county: str | None = None, districts: list[str] | None = None, name: str | None = None
) -> Selection:
    """Choose the partnership's area from a CSP, a county or a list of districts (names or ONS codes, either
    vintage); `name` alone is looked up among all three."""
    notes: list[str] = []
    if districts:
        units: dict[str, Unit] = {}
        for text in districts:
            _, code, _ = _resolve_one(text, "district")
            for unit in _units_for_district(code, notes):
                units[unit.code] = unit
        picked = list(units.values())
        kind, area_name, area_code = "districts", name or " and ".join(u.name for u in picked), None
    else:
        given, wanted = (csp, "csp") if csp else (county, "county") if county else (name, None)
        if not given:
            raise InitError("Say which partnership: a CSP name or code, --county NAME or --districts A,B,...")
        kind, area_code, area_name = _resolve_one(given, wanted)
        if kind == "csp":
            picked = _units_for_csp(area_code, notes)
        elif kind == "county":
            picked = _units_for_county(area_code)
        else:
            picked = _units_for_district(area_code, notes)
            kind, area_code, area_name = "districts", None, picked[0].name
    forces = {national.local_authorities()[u.district_code].force_area_code for u in picked}
    if len(forces) > 1:
        names = ", ".join(sorted(national.force_areas()[f]["force_area_name"] for f in forces))
        raise InitError(
            f"These districts lie in more than one police force area ({names}); a partnership is "
            f"served by one force. Configure one partnership per force area."
        )
    codes = {u.code for u in picked}
    if area_code is None or area_code in codes:
        area_code = re.sub(r"[^A-Z0-9]+", "_", area_name.upper()).strip("_") + "_CSP"
    return Selection(area_name, area_code, kind, sorted(picked, key=lambda u: u.name), forces.pop(), notes)


def _short_codes(names: list[str]) -> dict[str, str]:
    result, used = {}, set()
    for name in names:
        words = [w for w in re.split(r"[^A-Za-z]+", name) if w and w.lower() not in ("and", "of", "the")]
        code = "".join(w[0] for w in words).upper() or name[:2].upper()
        base, i = code, 1
        while code in used:
            i += 1
            code = base + (words[-1][1 : i + 1].upper() if len(words[-1]) > i else str(i))
        used.add(code)
        result[name] = code
    return result


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")


def write(selection: Selection, out: Path, peers: list[str] | None = None, template: Path | None = None) -> dict:
    """Write the partnership's reference files into `out` (the seeds dbt loads); returns what was written."""
    out.mkdir(parents=True, exist_ok=True)
    template = template or settings.SOURCES_DIR / "reference"
    if out.resolve() != template.resolve():
        for f in template.iterdir():
            if f.is_file() and f.name not in GENERATED:
                shutil.copy2(f, out / f.name)
    las = national.local_authorities()
    force = selection.force_area_code
    force_info = national.force_areas()[force]
    region_code, region_name = (
        las[selection.units[0].district_code].region_code,
        las[selection.units[0].district_code].region_name,
    )
    units = {u.code: u for u in selection.units}
    covered = {u.district_code for u in selection.units}
    split_parts = {u.district_code for u in selection.units if u.lsoas is not None}

    geographies: list[list[Any]] = []  # the CSV rows written below
    members: list[list[str]] = []
    shorts = _short_codes([u.name for u in selection.units])
    for i, u in enumerate(selection.units, 1):
        geographies.append([u.code, u.name, shorts[u.name], "district", selection.code, force, i])
    geographies.append([selection.code, selection.name, "P", "county", force, force, 10])

    # the rest of the force area, as parts that add up to it with the partnership
    order = 20
    rest: list[national.LocalAuthority | national.Part] = [
        la for la in las.values() if la.force_area_code == force and la.code not in covered
    ]
    for split_code in sorted(split_parts):
        for csp_parts in national.split_districts()[split_code].values():
            for part in csp_parts:
                if part.code not in units:
                    rest.append(national.Part(part.code, part.name, split_code, part.lsoas))
    by_county: dict[str, list] = {}
    for la in rest:
        county = las[la.district_code].county_code if isinstance(la, national.Part) else la.county_code
        by_county.setdefault(county, []).append(la)
    partial = {las[u.district_code].county_code for u in selection.units}
    for county, parts in sorted(by_county.items()):
        county_name = (
            las[county].name
            if county in las
            else las[parts[0].code].county_name
            if not isinstance(parts[0], national.Part)
            else las[parts[0].district_code].county_name
        )
        whole_county = (
            county not in partial
            and not any(isinstance(p, national.Part) for p in parts)
            and not (len(parts) == 1 and parts[0].code == county)
        )
        if len(parts) == 1 and parts[0].code == county:
            la = parts[0]
            geographies.append([la.code, la.name, "", "unitary", force, force, order])
            order += 1
            continue
        if whole_county:
            parent = county
            geographies.append([county, county_name, "", "county", force, force, order])
        else:
            parent = f"{county}_REST"
            geographies.append([parent, f"{county_name} outside the partnership", "", "county", force, force, order])
        order += 1
        for la in sorted(parts, key=lambda p: p.name):
            geographies.append([la.code, la.name, "", "district", parent, force, order])
            order += 1
    # a county the partnership covers only in part is still reported whole, as a combined footprint
    for county in sorted(partial):
        county_las = [la.code for la in las.values() if la.county_code == county]
        if county in units or (set(county_las) <= covered and len(covered) == len(county_las)):
            continue
        if county not in las:
            geographies.append([county, las[county_las[0]].county_name, "", "combined", "", force, 25])
            for code in county_las:
                split = national.split_districts().get(code)
                parts = [p.code for ps in split.values() for p in ps] if split else [code]
                members += [[county, c] for c in parts]
    geographies.append(
        [force, f"{force_info['force_area_name']} police force area", "PFA", "force_area", "", force, 900]
    )

    local = [g for g in geographies if g[3] in ("district", "unitary")]
    lsoa_rows, part_of = [], {}
    for g in local:
        code = g[0]
        if code not in las:  # a part of a split district
            part = next(
                p
                for parts in national.split_districts().values()
                for ps in parts.values()
                for p in ps
                if p.code == code
            )
            part_of[code] = part
    for lsoa, (lsoa_name, district) in sorted(national.lsoas().items()):
        if las[district].force_area_code != force:
            continue
        if district in national.split_districts():
            code = next(c for c, p in part_of.items() if lsoa in p.lsoas)
        else:
            code = district
        lsoa_rows.append([lsoa, lsoa_name, code, next(g[1] for g in local if g[0] == code), "", ""])

    pop_rows, youth_rows, female_rows = [], [], []
    years = list(national.MYE5_YEARS) + [national.CENSUS_2021_YEAR]
    for g in local:
        code, name = g[0], g[1]
        for year in years:
            if code in part_of:
                value = national.part_population(part_of[code], year)
            else:
                value = national.population()[code][year]
            pop_rows.append(
                [code, name, "Part of a district (estimated)" if code in part_of else "Local authority", year, value]
            )
        if code in part_of:
            continue
        row = national.single_year_of_age("persons", 2020)[code]
        youth_rows.append(
            [code, name, "Local authority", row["all_ages"]]
            + [row[f"age_{a}"] for a in range(10, 18)]
            + [national.ages(row, 10, 17)]
        )
        for year in (2020, 2021):
            female_rows.append(
                [
                    code,
                    year,
                    national.adult_females(code, year),
                    "false",
                    "ONS MYE2 females, all ages less ages 0 to 17",
                ]
            )
    force_rows, peer_rows, region_forces = force_comparisons(force, peers, years)

    aliases = []
    seen = set()
    for g in geographies:
        if g[3] not in ("district", "unitary", "county", "combined"):
            continue
        variants = [
            f"{g[1]} Council",
            f"{g[1]} District Council",
            f"{g[1]} Borough Council",
            f"{g[1]} City Council",
            f"{g[1]} County Council",
        ]
        unit = units.get(g[0])
        variants += [n for _, n in (unit.former if unit else ())]
        for v in variants:
            if _norm(v) not in seen:
                seen.add(_norm(v))
                aliases.append([v, g[0], "generated by cspwh init (council names; former districts)"])

    def dump(name: str, header: list[str], rows: list[list[Any]]) -> None:
        with (out / name).open("w", newline="") as fh:
            w = csv.writer(fh, lineterminator="\n")
            w.writerow(header)
            w.writerows(rows)

    dump(
        "geographies.csv",
        [
            "geography_code",
            "geography_name",
            "short_code",
            "geography_level",
            "parent_code",
            "force_area_code",
            "sort_order",
        ],
        geographies,
    )
    dump("geography_members.csv", ["geography_code", "local_authority_code"], members)
    dump("geography_aliases.csv", ["alias", "geography_code", "seen_in"], aliases)
    dump(
        "ons_lsoa11_to_lad19.csv",
        ["lsoa11cd", "lsoa11nm", "lad19cd", "lad19nm", "imd2019_rank", "imd2019_decile"],
        lsoa_rows,
    )
    dump(
        "ons_population_mid_year.csv",
        ["geography_code", "geography_name", "ons_geography_type", "mid_year", "population"],
        pop_rows,
    )
    dump(
        "ons_population_age10to17_mid2020.csv",
        ["code", "name", "geography", "all_ages"] + [f"age_{a}" for a in range(10, 18)] + ["age_10_17"],
        youth_rows,
    )
    dump(
        "population_adult_female_estimated.csv",
        ["geography_code", "mid_year", "adult_female_population", "is_estimate", "method"],
        female_rows,
    )
    dump("ons_population_police_force_areas.csv", ["force_name", "mid_year", "population"], force_rows)
    dump(
        "peer_forces.csv",
        ["force_slug", "force_name", "is_partnership_force", "in_comparison_group", "note", "in_region"],
        peer_rows,
    )
    _write_partnership_yml(
        out / "partnership.yml", template / "partnership.yml", selection, force_info, region_code, region_name
    )
    return {
        "geographies": len(geographies),
        "lsoas": len(lsoa_rows),
        "peers": [r[0] for r in peer_rows[1:] if r[3] == "true"],
        "region_forces": sorted(national.force_areas()[f]["police_uk_force"] for f in region_forces),
    }


def force_comparisons(force: str, peers: list[str] | None, years: list[int]) -> tuple[list, list, set]:
    """Every force area's population summed from its districts, and the forces the partnership's is compared with:
    the configured most-similar group (`peers`, police.uk slugs; by default the region's other forces) and the
    region's forces, whose pooled rate is the regional average."""
    las = national.local_authorities()
    forces = national.force_areas()
    region_code = next(la.region_code for la in las.values() if la.force_area_code == force)
    region_name = next(la.region_name for la in las.values() if la.force_area_code == force)
    region_forces = {la.force_area_code for la in las.values() if la.region_code == region_code}
    force_rows = [
        [info["force_area_name"], year, national.force_area_population(code, year)]
        for code, info in sorted(forces.items())
        for year in years
    ]
    slug_to_force = {v["police_uk_force"]: v for v in forces.values()}
    peer_slugs = (
        peers if peers is not None else [forces[f]["police_uk_force"] for f in sorted(region_forces) if f != force]
    )
    unknown = [s for s in peer_slugs if s not in slug_to_force]
    if unknown:
        raise InitError(
            f"Unknown police.uk force slug(s) {', '.join(unknown)}; the slugs are in "
            f"sources/national/police_uk_forces.csv (e.g. {', '.join(sorted(slug_to_force)[:4])})."
        )
    own = forces[force]
    peer_rows = [
        [own["police_uk_force"], own["force_area_name"], "true", "true", "the partnership's own force", "true"]
    ]
    for slug in dict.fromkeys(peer_slugs + [forces[f]["police_uk_force"] for f in sorted(region_forces)]):
        if slug == own["police_uk_force"]:
            continue
        info = slug_to_force[slug]
        peer_rows.append(
            [
                slug,
                info["force_area_name"],
                "false",
                str(slug in peer_slugs).lower(),
                "most similar group" if slug in peer_slugs else f"{region_name} region",
                str(info["force_area_code"] in region_forces).lower(),
            ]
        )
    return force_rows, peer_rows, region_forces


def _write_partnership_yml(
    path: Path, template: Path, selection: Selection, force_info: dict, region_code: str, region_name: str
) -> None:
    """The template's settings (night, dashboard, KPIs) with this partnership's identity; comments kept."""
    text = template.read_text()
    identity = {
        "partnership": _slug(selection.name),
        "board": json.dumps(f"{selection.name} Community Safety Partnership"),
        "county_code": selection.code,
        "force_area_code": force_info["force_area_code"],
        "police_uk_force": force_info["police_uk_force"],
        "region_code": region_code,
        "region_name": json.dumps(region_name),
    }
    for key, value in identity.items():
        text, n = re.subn(rf"^{key}:[^\n#]*?(\s*#|$)", rf"{key}: {value}\1", text, count=1, flags=re.M)
        if not n:
            text = f"{key}: {value}\n" + text
    # a service footprint is the partnership's own choice; by default the YOS reports for the partnership's area
    text = re.sub(r"^(\s*yos_footprint:)[^\n#]*", rf"\1 {selection.code} ", text, count=1, flags=re.M)
    header = (
        f"# Written by `cspwh init` ({selection.kind}: {selection.name}) from the national reference data in\n"
        f"# sources/national/. Edit freely; run init again to regenerate the geography.\n"
        f"partnership_name: {json.dumps(selection.name)}\n"
        f"local_authorities: [{', '.join(u.code for u in selection.units)}]\n"
    )
    path.write_text(header + text)


def main(args: argparse.Namespace) -> int:
    """The `cspwh init` command: choose, write, say what was written and what to do next."""
    import sys

    try:
        selection = select(
            csp=args.csp,
            county=args.county,
            districts=[d.strip() for d in args.districts.split(",")] if args.districts else None,
            name=args.name,
        )
        out = Path(args.out) if args.out else settings.reference_dir()
        written = write(selection, out, peers=[p.strip() for p in args.peers.split(",")] if args.peers else None)
    except InitError as error:
        print(f"cspwh init: {error}", file=sys.stderr)
        return 2
    force = national.force_areas()[selection.force_area_code]
    print(
        f"{selection.name} ({selection.code}, {selection.kind}): "
        f"{', '.join(f'{u.name} ({u.code})' for u in selection.units)}"
    )
    print(
        f"Force: {force['force_area_name']} ({force['force_area_code']}), police.uk slug '{force['police_uk_force']}'; "
        f"{written['lsoas']} LSOAs; peers: {', '.join(written['peers']) or 'none'}; "
        f"region's forces: {', '.join(written['region_forces'])}"
    )
    for note in selection.notes:
        print(f"Note: {note}")
    print(f"Wrote {out}/ ({', '.join(GENERATED)}).")
    if out.resolve() != (settings.SOURCES_DIR / "reference").resolve():
        print(
            f"Set CSPWH_REFERENCE_DIR={out.resolve()} for the nightly run, and drop the force's monthly files "
            f"(YYYY-MM-{force['police_uk_force']}-street.csv) in the police_uk drop folder."
        )
    return 0

"""`cspwh init`: any CSP, county or list of districts in England and Wales configured from the national reference
data; each written file checked against the national files read independently here (csv and gzip, no cspwh code)."""

import collections
import csv
import gzip
import io
import re
import tokenize
from pathlib import Path

import pytest

from cspwh import cli, settings
from cspwh.catalogue import national

NATIONAL = settings.SOURCES_DIR / "national"


def national_rows(name: str) -> list[dict]:
    with gzip.open(NATIONAL / name, "rt", newline="") as fh:
        return [{k.strip(): (v or "").strip() for k, v in r.items()} for r in csv.DictReader(fh)]


def written(folder: Path, name: str) -> list[dict]:
    with (folder / name).open(newline="") as fh:
        return list(csv.DictReader(fh))


def init(tmp_path, *argv) -> Path:
    out = tmp_path / "reference"
    assert cli.main(["init", *argv, "--out", str(out)]) == 0
    return out


def lsoas_of_force(force_code: str) -> set[str]:
    bridge = {r["LADCD"]: r["LADCD_ACTIVE"] for r in national_rows("geography/la_all_codes_2021-05_ew.csv.gz")}
    force_lads = {
        bridge[r["LAD19CD"]]
        for r in national_rows("geography/lad19_csp19_pfa19_ew.csv.gz")
        if r["PFA19CD"] == force_code
    }
    return {
        r["LSOA11CD"]
        for r in national_rows("geography/lsoa11_wd19_lad19_ew.csv.gz")
        if bridge[r["LAD19CD"]] in force_lads
    }


def check_adds_up(folder: Path, force_code: str) -> dict[str, dict]:
    """The written geography partitions the force area: every LSOA of the force in exactly one local authority, and
    each part's parent chain reaching the force area."""
    geographies = {g["geography_code"]: g for g in written(folder, "geographies.csv")}
    lookup = written(folder, "ons_lsoa11_to_lad19.csv")
    assert {r["lsoa11cd"] for r in lookup} == lsoas_of_force(force_code)
    assert len(lookup) == len({r["lsoa11cd"] for r in lookup})
    local = {c for c, g in geographies.items() if g["geography_level"] in ("district", "unitary")}
    assert {r["lad19cd"] for r in lookup} == local
    for code in local:
        g = geographies[code]
        parent = geographies[g["parent_code"]]
        top = parent if g["geography_level"] == "district" else g
        assert top["geography_level"] in ("county", "unitary") and top["parent_code"] == force_code
    population = collections.defaultdict(int)
    for r in written(folder, "ons_population_mid_year.csv"):
        if r["mid_year"] == "2020":
            population[r["geography_code"]] += int(r["population"])
    assert set(population) == local
    forces = {
        (r["force_name"], r["mid_year"]): int(r["population"])
        for r in written(folder, "ons_population_police_force_areas.csv")
    }
    name = {r["PFA19CD"]: r["PFA19NM"] for r in national_rows("geography/pfa19_names_codes_uk.csv.gz")}[force_code]
    assert sum(population.values()) == pytest.approx(forces[(name, "2020")], abs=3)
    return geographies


def test_a_multi_district_csp_inside_a_county(tmp_path):
    out = init(tmp_path, "South Nottinghamshire")
    geographies = check_adds_up(out, "E23000019")
    csp = [r for r in national_rows("geography/lad19_csp19_pfa19_ew.csv.gz") if r["CSP19NM"] == "South Nottinghamshire"]
    districts = {
        c
        for c, g in geographies.items()
        if g["geography_level"] == "district" and g["parent_code"] == csp[0]["CSP19CD"]
    }
    assert districts == {r["LAD19CD"] for r in csp} and len(districts) == 3
    # the county is still reported whole, from all seven of its districts
    members = {
        m["local_authority_code"] for m in written(out, "geography_members.csv") if m["geography_code"] == "E10000024"
    }
    assert members == {
        r["LTLA19CD"] for r in national_rows("geography/ltla19_utla19_ew.csv.gz") if r["UTLA19CD"] == "E10000024"
    }
    yml = (out / "partnership.yml").read_text()
    assert re.search(r"^county_code: E22000366\b", yml, re.M) and re.search(
        r"^police_uk_force: nottinghamshire\b", yml, re.M
    )
    peers = written(out, "peer_forces.csv")
    assert {p["force_slug"] for p in peers if p["in_region"] == "true"} == {
        "nottinghamshire",
        "derbyshire",
        "leicestershire",
        "lincolnshire",
        "northamptonshire",
    }
    # the copied files the partnership does not change are there for dbt
    assert (out / "indicators.yml").exists() and (out / "police_uk_crime_categories.csv").exists()


def test_a_welsh_csp_of_two_unitaries(tmp_path):
    out = init(tmp_path, "Cwm Taf")
    geographies = check_adds_up(out, "W15000003")
    assert sorted(g["geography_name"] for g in geographies.values() if g["geography_level"] == "district") == [
        "Merthyr Tydfil",
        "Rhondda Cynon Taf",
    ]
    forces = {
        (r["force_name"], r["mid_year"]): int(r["population"])
        for r in written(out, "ons_population_police_force_areas.csv")
    }
    assert {"North Wales", "Gwent", "South Wales", "Dyfed-Powys"} <= {f for f, _ in forces}
    assert "police_uk_force: south-wales" in (out / "partnership.yml").read_text()


def test_districts_whose_codes_changed(tmp_path, capsys):
    out = init(tmp_path, "--csp", "Daventry and South Northamptonshire")
    assert "became part of West Northamptonshire (E06000062)" in capsys.readouterr().out
    geographies = check_adds_up(out, "E23000022")
    assert [c for c, g in geographies.items() if g["geography_level"] == "district"] == ["E06000062"]
    aliases = {a["alias"]: a["geography_code"] for a in written(out, "geography_aliases.csv")}
    assert aliases["Daventry"] == aliases["Northampton"] == "E06000062"
    out = init(tmp_path / "bucks", "--districts", "E07000004,Wycombe")
    check_adds_up(out, "E23000029")


def test_a_csp_that_holds_part_of_a_split_district(tmp_path):
    out = init(tmp_path, "Waveney")
    geographies = check_adds_up(out, "E23000025")
    lookup = written(out, "ons_lsoa11_to_lad19.csv")
    waveney = [r for r in lookup if r["lad19cd"] == "E07000206"]
    assert waveney and all(r["lsoa11nm"].startswith("Waveney ") for r in waveney)
    assert geographies["E07000206"]["parent_code"] == "E22000278"
    assert geographies["E07000205"]["parent_code"] == "E10000029_REST"  # Suffolk Coastal, the other half


def test_a_whole_county(tmp_path):
    out = init(tmp_path, "--county", "Leicestershire")
    geographies = check_adds_up(out, "E23000021")
    repo = {g["geography_code"]: g for g in written(settings.SOURCES_DIR / "reference", "geographies.csv")}
    # the same districts, county and unitaries as the hand-built Leicestershire files
    for code, g in repo.items():
        if g["geography_level"] in ("district", "county", "unitary"):
            assert geographies[code]["geography_level"] == g["geography_level"]
            assert geographies[code]["parent_code"] == g["parent_code"]


@pytest.mark.parametrize(
    "argv, words",
    [
        (["Nottinghamshre"], ["No CSP, county or district", "Nottinghamshire"]),
        (["Dorset"], ["names different areas", "csp Dorset", "district Dorset", "--csp"]),
        (["--districts", "Blaby,Rushcliffe"], ["more than one police force area", "Leicestershire", "Nottinghamshire"]),
        (["Charnwood", "--peers", "not-a-force"], ["Unknown police.uk force slug", "not-a-force"]),
    ],
)
def test_unclear_names_get_a_clear_error(tmp_path, capsys, argv, words):
    assert cli.main(["init", *argv, "--out", str(tmp_path / "x")]) == 2
    error = capsys.readouterr().err
    for word in words:
        assert word in error


def _code_strings(path: Path):
    """The code of a .py or .sql file without its comments and docstrings (they may give examples)."""
    text = path.read_text()
    if path.suffix == ".py":
        previous = None
        for token in tokenize.generate_tokens(io.StringIO(text).readline):
            docstring = token.type == tokenize.STRING and (
                previous is None or previous.type in (tokenize.INDENT, tokenize.DEDENT, tokenize.NEWLINE, tokenize.NL)
            )
            if token.type in (tokenize.STRING, tokenize.NAME) and not docstring and "e.g." not in token.string:
                yield token.start[0], token.string
            previous = token if token.type != tokenize.COMMENT else previous
        return
    text = re.sub(r"\{#.*?#\}", lambda m: "\n" * m.group(0).count("\n"), text, flags=re.S)
    for number, line in enumerate(text.splitlines(), 1):
        yield number, re.sub(r"--.*", "", line)


def test_nothing_in_code_names_a_place():
    names = {la.name for la in national.local_authorities().values()}
    names |= {la.county_name for la in national.local_authorities().values()}
    names |= {f["force_area_name"] for f in national.force_areas().values()}
    slugs = {f["police_uk_force"] for f in national.force_areas().values()}
    pattern = re.compile(r"\b(" + "|".join(sorted(map(re.escape, names), key=len, reverse=True)) + r")\b")
    slug_pattern = re.compile(r"""^['"]""" + "(" + "|".join(map(re.escape, slugs)) + r""")['"]$""")
    found = []
    for folder in ("cspwh", "dags", "dbt_project/models", "dbt_project/macros"):
        for path in sorted((settings.PROJECT_ROOT / folder).rglob("*")):
            if path.suffix not in (".py", ".sql"):
                continue
            for number, text in _code_strings(path):
                if pattern.search(text) or slug_pattern.search(text):
                    found.append(f"{path.relative_to(settings.PROJECT_ROOT)}:{number}: {text[:80]}")
    assert found == []

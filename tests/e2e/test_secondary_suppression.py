"""Secondary suppression, tested by trying: the domestic abuse and offending KPI marts published by a real night
(generated UAVA, MARAC, YOS and probation feeds through their DAGs, dbt, the gate and publish), then every withheld
small number attacked with everything published beside it.

The attack knows nothing of the dbt macro. Every published count is a sum of unknown atoms (one per local
authority, month and breakdown cell), read from the reference seeds: a geography is its local authorities
(geographies.csv, geography_members.csv), a period its months, a breakdown value a slice of the cross-classification.
A withheld number can be recovered exactly when its atoms' indicator vector lies in the span of the published
numbers' vectors (any combination of sums and differences, not only the one-step subtractions the marts guard)."""

import csv
import datetime as dt

import numpy as np
import pytest

from cspwh import settings
from cspwh.catalogue import reference
from cspwh.generator import deliveries, generate
from cspwh.generator.config import DEFAULT_FAULTS, Config
from cspwh.local import dag_runs
from cspwh.reporting import dashboard

FEEDS = ["uava_return", "marac", "yos", "crc_rat"]
TOTALS = {"All", "All services", "All cases"}
# Needs are not a partition of the cohort (a person may have several or none): no sum relates them to the total.
NOT_ADDITIVE = {"need"}
# The same count published by two indicators is one unknown (what the indicators are, from the README's KPI table).
SAME_COUNT = {
    ("uava_engagement_rate", "denominator"): ("uava_referrals", "numerator"),
    ("uava_average_wait_days", "numerator"): ("uava_waiting_total_days", "numerator"),
    ("uava_average_wait_days", "denominator"): ("uava_waiting_numbers", "numerator"),
    ("uava_helpline_calls_per_10k_adult_females", "numerator"): ("uava_helpline_calls", "numerator"),
    ("marac_repeat_rate", "denominator"): ("marac_cases_heard", "numerator"),
    ("yos_fte_rate_per_100k", "numerator"): ("yos_fte_count", "numerator"),
    ("crc_predicted_reoffending_rate", "denominator"): ("crc_reoffending_rate", "denominator"),
}


def state(run) -> str:
    return str(run.state).rsplit(".", 1)[-1].lower()


@pytest.fixture(scope="module")
def night(module_warehouse, airflow_ready, mailbox, tmp_path_factory):
    generated = tmp_path_factory.mktemp("feeds")
    generate(Config(out=generated, start="2022-01", end="2022-06", faults={k: 0 for k in DEFAULT_FAULTS}))
    files = [f for _, nightly in deliveries.schedule(generated) for f in nightly if f[0] in FEEDS]
    deliveries.deliver(generated, module_warehouse.drop, files)
    module_warehouse.stage(*[f"2022-0{m}-leicestershire-street.csv.gz" for m in range(1, 7)])
    assert [state(dag_runs.run(d)) for d in ["police_uk", *FEEDS, "nightly_warehouse"]] == ["success"] * 6
    module_warehouse.generated = generated
    return module_warehouse


def local_authorities() -> dict[str, frozenset[str]]:
    """Each geography's local authorities, from the reference seeds alone."""
    rows = list(csv.DictReader((settings.SOURCES_DIR / "reference" / "geographies.csv").open()))
    members = list(csv.DictReader((settings.SOURCES_DIR / "reference" / "geography_members.csv").open()))
    las = [r for r in rows if r["geography_level"] in ("district", "unitary")]
    out = {}
    for r in rows:
        code, level = r["geography_code"], r["geography_level"]
        if level in ("district", "unitary"):
            out[code] = frozenset([code])
        elif level == "county":
            out[code] = frozenset(la["geography_code"] for la in las if la["parent_code"] == code)
        elif level == "force_area":
            out[code] = frozenset(la["geography_code"] for la in las if la["force_area_code"] == code)
        else:
            out[code] = frozenset(m["local_authority_code"] for m in members if m["geography_code"] == code)
    return out


def months(start: dt.date, end: dt.date) -> list[tuple[int, int]]:
    out, y, m = [], start.year, start.month
    while (y, m) <= (end.year, end.month):
        out.append((y, m))
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return out


def published_cells(warehouse, mart: str) -> list[dict]:
    """One cell per published count: (quantity, geography, period, breakdown), known or withheld."""
    cur_rows = warehouse.query(
        f"""select kpi_code, geography_code, period_type, period_label, period_start, period_end, breakdown_type,
                   breakdown_value, numerator, denominator, denominator_kind, is_suppressed,
                   coalesce(suppression_reason like 'fewer than%%', false) as is_primary
              from marts.{mart}"""
    )
    cells = []
    for code, geo, ptype, plabel, start, end, btype, bvalue, num, den, den_kind, suppressed, primary in cur_rows:
        if btype in NOT_ADDITIVE:
            continue
        measures = [("numerator", num)] + ([("denominator", den)] if den_kind == "count" else [])
        for measure, value in measures:
            quantity = SAME_COUNT.get((code, measure), (code, measure))
            cells.append(
                dict(
                    quantity=quantity,
                    geo=geo,
                    months=tuple(months(start, end)),
                    slice=None if bvalue in TOTALS else (btype, bvalue),
                    known=value is not None,
                    primary=primary and measure == "numerator",
                    secondary=suppressed and not primary,
                    name=f"{code} {measure} {geo} {plabel} {bvalue}",
                )
            )
    return cells


def dashboard_cells(warehouse) -> list[dict]:
    """fct_kpi: each indicator's numerator by geography and period (quarter, rolling 12 months, financial year)."""
    rows = warehouse.query(
        """select indicator_id, geography_code, period_type, period_label, period_start, period_end, numerator,
                  is_suppressed, is_secondary_suppression, previous_value, previous_period_label
             from marts.fct_kpi"""
    )
    withheld = {(r[0], r[1], r[3]) for r in rows if r[7]}
    for code, geo, _, _, _, _, _, _, _, previous, previous_label in rows:
        # a comparator never shows what its own row withholds
        assert previous is None or (code, geo, previous_label) not in withheld, (code, geo, previous_label)
    return [
        dict(
            quantity=code,
            geo=geo,
            months=tuple(months(start, end)),
            slice=None,
            known=num is not None,
            primary=suppressed and not secondary,
            secondary=secondary,
            name=f"{code} {geo} {label}",
        )
        for code, geo, _, label, start, end, num, suppressed, secondary, _, _ in rows
    ]


def recoverable(cells: list[dict], known) -> list[str]:
    """The primary-withheld cells whose value follows from the cells `known` says are published."""
    las = local_authorities()
    found = []
    for quantity in {c["quantity"] for c in cells}:
        group = [c for c in cells if c["quantity"] == quantity]
        dims = sorted({c["slice"][0] for c in group if c["slice"]})
        values = {d: sorted({c["slice"][1] for c in group if c["slice"] and c["slice"][0] == d}) for d in dims}
        geos = sorted({la for c in group for la in las[c["geo"]]})
        all_months = sorted({m for c in group for m in c["months"]})
        shape = [len(geos), len(all_months)] + [len(values[d]) for d in dims]

        def vector(cell):
            mask = np.zeros(shape, dtype=bool)
            index = [[geos.index(la) for la in las[cell["geo"]]], [all_months.index(m) for m in cell["months"]]]
            for d in dims:
                index.append(
                    [values[d].index(cell["slice"][1])]
                    if cell["slice"] and cell["slice"][0] == d
                    else list(range(len(values[d])))
                )
            mask[np.ix_(*index)] = True
            return mask.ravel().astype(float)

        published = [vector(c) for c in group if known(c)]
        attacked = [c for c in group if c["primary"] and not c["known"]]
        if not attacked:
            continue
        if published:
            _, sv, vt = np.linalg.svd(np.array(published), full_matrices=False)
            basis = vt[sv > 1e-9 * sv[0]]
        else:
            basis = np.zeros((0, int(np.prod(shape))))
        for cell in attacked:
            v = vector(cell)
            if np.linalg.norm(v - basis.T @ (basis @ v)) < 1e-6:
                found.append(cell["name"])
    return sorted(set(found))


@pytest.mark.parametrize("mart", ["fct_domestic_abuse_kpi", "fct_offending_kpi"])
def test_no_withheld_number_can_be_solved_for(night, mart):
    cells = published_cells(night, mart)
    assert any(c["primary"] and not c["known"] for c in cells), "the generated feeds hold small numbers to protect"
    assert recoverable(cells, known=lambda c: c["known"]) == []


@pytest.mark.parametrize("mart", ["fct_domestic_abuse_kpi", "fct_offending_kpi"])
def test_primary_suppression_alone_would_give_them_away(night, mart):
    """The attack finds what it should: publishing the secondary cells again makes small numbers recoverable."""
    cells = published_cells(night, mart)
    assert any(c["secondary"] for c in cells)
    assert recoverable(cells, known=lambda c: c["known"] or c["secondary"])


def test_the_dashboard_mart_gives_no_withheld_number_away(night):
    cells = dashboard_cells(night)
    assert any(c["primary"] and not c["known"] for c in cells)
    assert recoverable(cells, known=lambda c: c["known"]) == []


def test_secondary_suppression_says_why(night):
    rows = night.query(
        """select suppression_reason, is_secondary_suppression, count(*) from marts.fct_offending_kpi
            where is_suppressed group by 1, 2
           union all
           select suppression_reason, is_secondary_suppression, count(*) from marts.fct_domestic_abuse_kpi
            where is_suppressed group by 1, 2"""
    )
    reasons = {(reason, secondary) for reason, secondary, _ in rows}
    assert (
        "withheld to protect another small number (it could be recovered from the figures beside it)",
        True,
    ) in reasons
    assert all(reason.startswith("fewer than") != secondary for reason, secondary in reasons)
    # county and the YOS footprint figures the board reads are withheld only when nothing smaller can be
    published = night.query(
        """select count(*) from marts.fct_domestic_abuse_kpi
            where geography_level = 'county' and is_suppressed"""
    )
    assert published == [(0,)]


def test_the_dashboard_shows_first_time_entrants_to_date_for_the_yos_footprint(night, tmp_path):
    """The board reports the YOS's yearly cumulative count for Leicestershire and Rutland, with the rate beside it;
    publishing it beside the county's count would give away Rutland's small number, so the county's is withheld."""
    from cspwh import cli

    footprint = reference.partnership()["kpi"]["yos_footprint"]
    authorities = local_authorities()[footprint]
    with (night.generated / "ground_truth" / "yos_fte.csv").open() as fh:
        entrants = [
            r
            for r in csv.DictReader(fh)
            if 10 <= int(r["age_at_entry"]) <= 17
            and r["district_code"] in authorities
            and "2022-04-01" <= r["entry_date"] <= "2022-06-30"
        ]
    with (settings.SOURCES_DIR / "reference" / "ons_population_age10to17_mid2020.csv").open() as fh:
        youth = {r["code"]: int(r["age_10_17"]) for r in csv.DictReader(fh)}
    population = sum(youth[code] for code in authorities)  # the footprint's 10-17s: its authorities' own
    rate = len(entrants) * 100000 / population
    assert cli.main(["report", "--quarter", "2022-23Q1", "--out", str(tmp_path), "--draft"]) == 0
    page = (tmp_path / "dashboard_2022-23Q1.html").read_text()
    label = dashboard.period_words("YTD to 2022-23Q1")  # April to June 2022, year to date
    assert f'>{len(entrants):,}<span class="label">{label} · {rate:,.1f} per 100,000' in page
    [(shown, rutland_small, county_withheld)] = night.query(
        """select bool_and(not is_suppressed) filter (where geography_level = 'combined'),
                  bool_or(is_suppressed and not is_secondary_suppression) filter (where geography_level = 'unitary'),
                  bool_or(is_suppressed) filter (where geography_level = 'county')
             from marts.fct_kpi where indicator_id = 'yos_fte_rate' and period_type = 'year_to_date'"""
    )
    assert shown is True and (county_withheld or not rutland_small)


def test_the_analyst_explains_the_footprints_first_time_entrants(night, capsys, monkeypatch):
    from cspwh import cli
    from cspwh.local import demo

    monkeypatch.setenv("WAREHOUSE_URL", demo.analyst_url())
    assert cli.main(["explain", "yos_fte_rate", "--geo", "Leicestershire and Rutland", "--period", "2022-23Q1"]) == 0
    text = capsys.readouterr().out
    [(numerator,)] = night.query("""select numerator from marts.fct_kpi where indicator_id = 'yos_fte_rate'
                                     and geography_code = 'LEICS_RUTLAND' and period_label = 'YTD to 2022-23Q1'""")
    assert f"numerator {int(numerator):,}" in text and "YTD to 2022-23Q1" in text
    files = night.query("""select file_id, file_name from landing.file_manifest where feed = 'yos' and outcome =
    'loaded'
                            and file_name like 'yos_fte_2022-0%%' and file_name >= 'yos_fte_2022-04'""")
    assert files and all(f"load {file_id}  {name}" in text for file_id, name in files)
    # Rutland's few children make the county's count a figure withheld to protect another: explain says so
    [(code, label, kind)] = night.query("""select geography_code, period_label, period_type from marts.fct_kpi
                                            where is_secondary_suppression and indicator_id = 'yos_fte_rate'
                                            order by period_end desc, geography_code limit 1""")
    assert cli.main(["explain", "yos_fte_rate", "--geo", code, "--period", label, "--period-type", kind]) == 0
    assert "withheld to protect another small number" in capsys.readouterr().out

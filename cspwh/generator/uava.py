"""UAVA quarterly performance returns: one workbook a financial quarter, a row per district and service, with
referrals, repeats, engagement, helpline calls (on the IDVA row) and waiting lists. The provider change of April 2022
brings a new layout (renamed, reordered columns); one quarter's return leaves a district out, and the provider resends
it complete under corrections/ a week or three later."""

from __future__ import annotations

import calendar
import datetime as dt

from cspwh.catalogue import contracts, reference
from cspwh.generator.common import (
    Output,
    binomial,
    district_name,
    district_population,
    poisson,
    quarter_label,
    quarters,
    rng_for,
    scaled,
    xlsx_bytes,
)

FEED = "uava_return"
# service -> (share of referrals, repeat share, engagement share, waiting list per referral, average days waited)
SERVICES = {
    "IDVA": (0.40, (0.24, 0.32), (0.65, 0.80), 0.06, (18, 30)),
    "ISVA": (0.15, (0.15, 0.22), (0.60, 0.75), 0.20, (35, 60)),
    "Outreach": (0.25, (0.20, 0.28), (0.60, 0.78), 0.10, (20, 35)),
    "Group work": (0.10, (0.15, 0.25), (0.55, 0.70), 0.25, (30, 50)),
    "Counselling": (0.10, (0.18, 0.26), (0.62, 0.80), 0.35, (40, 60)),
}
ANNUAL_REFERRALS_2020 = 1400  # adult referrals a year across the county in 2020/21, growing gently
GROWTH = 0.04  # a year
HELPLINE_PER_QUARTER = 380  # helpline calls a quarter across the county in 2020/21
NEW_LAYOUT_FROM = dt.date(2022, 4, 1)  # the new provider's contract (board papers: new DSVA services from April 2022)
ESTIMATE_SHARE = 0.25  # quarters in which one district's figures are the provider's estimate


def quarter_end(start: dt.date) -> dt.date:
    return dt.date(start.year, start.month + 2, calendar.monthrange(start.year, start.month + 2)[1])


def generate(cfg, out: Output) -> dict[str, int]:
    entity = contracts.load(FEED).entity("district_services")
    layouts = {layout.version: layout for layout in entity.layouts}
    districts = sorted(reference.districts(), key=lambda d: int(d["sort_order"]))
    population = district_population()
    total_population = sum(population.values())
    starts = quarters(cfg.months)
    estimating = rng_for(cfg.seed, "uava", "estimating_district").choice(districts)["geography_code"]
    missing_quarter = starts[-1] if starts and cfg.rate("district_missing") else None
    wrote_v1 = layout_change_recorded = False
    counts = {"uava_rows": 0}
    for start in starts:
        rng = rng_for(cfg.seed, "uava", start)
        label = quarter_label(start)
        name = f"UAVA_return_{label}.xlsx"
        version = "v2" if cfg.rate("layout_change") and start >= NEW_LAYOUT_FROM else "v1"
        layout = layouts[version]
        years = (start - dt.date(2020, 4, 1)).days / 365.25
        quarter_referrals = ANNUAL_REFERRALS_2020 / 4 * (1 + GROWTH) ** years * rng.uniform(0.9, 1.1)
        quarter_calls = HELPLINE_PER_QUARTER * (1 + GROWTH) ** years * rng.uniform(0.85, 1.15)
        estimated_district = estimating if rng.random() < ESTIMATE_SHARE else None
        left_out = rng.choice(districts) if start == missing_quarter else None
        rows, complete, aliased_lines = [], [], []
        for district in districts:
            code = district["geography_code"]
            share = population[code] / total_population
            calls = scaled(rng, poisson(rng, quarter_calls * share), cfg.scale)
            text, aliased = district_name(code, rng, cfg.rate("district_aliases"))
            for service, (service_share, repeat, engage, waiting_rate, days) in SERVICES.items():
                referrals = scaled(rng, poisson(rng, quarter_referrals * share * service_share), cfg.scale)
                waiting = scaled(rng, poisson(rng, quarter_referrals * share * service_share * waiting_rate), cfg.scale)
                average = rng.uniform(*days)
                record = {
                    "district": text,
                    "service": service,
                    "referrals": referrals,
                    "repeat_referrals": binomial(rng, referrals, rng.uniform(*repeat)),
                    "engaged": binomial(rng, referrals, rng.uniform(*engage)),
                    "helpline_calls": calls if service == "IDVA" else 0,
                    "waiting_numbers": waiting,
                    "waiting_total_days": round(waiting * average * rng.uniform(0.8, 1.2)),
                    "estimated": "Y" if code == estimated_district or rng.random() < 0.01 else "N",
                }
                in_file = left_out is None or code != left_out["geography_code"]
                out.truth_row(
                    "uava_rows",
                    {
                        "period": label,
                        "district_code": code,
                        "service": service,
                        **{
                            k: record[k]
                            for k in (
                                "referrals",
                                "repeat_referrals",
                                "engaged",
                                "helpline_calls",
                                "waiting_numbers",
                                "waiting_total_days",
                                "estimated",
                            )
                        },
                        "layout": version,
                        "in_file": "Y" if in_file else "N",
                    },
                )
                complete.append([record[column] for column in layout.names])
                if not in_file:
                    continue
                rows.append(complete[-1])
                if aliased:
                    aliased_lines.append(len(rows) + 1)  # the sheet's row: the header is row 1
        district_header = layout.headers[layout.names.index("district")]
        if aliased_lines:
            out.fault("district_aliases", FEED, name, f"alias:{district_header}", "notice", aliased_lines, "")
        delivered = quarter_end(start) + dt.timedelta(days=rng.randint(38, 48))
        if left_out is not None:
            # the provider resends the whole return once told (the quarantine alert's advice)
            again = delivered + dt.timedelta(days=rng.randint(7, 21))
            out.write(
                FEED,
                f"corrections/{name}",
                xlsx_bytes("Return", list(layout.headers), complete, f"UAVA performance return {label}"),
                again,
            )
            out.fault(
                "district_missing",
                FEED,
                name,
                f"all_districts:{district_header}",
                "blocking",
                [],
                f"{left_out['geography_name']} missing; the complete return is resent to "
                f"drop/{FEED}/corrections/, delivered {again}",
            )
        if version == "v2" and wrote_v1 and not layout_change_recorded:
            out.fault(
                "layout_change",
                FEED,
                name,
                "layout_change",
                "warning",
                [],
                "new provider's return: columns renamed and reordered (layout v2)",
            )
            layout_change_recorded = True
        wrote_v1 = wrote_v1 or version == "v1"
        data = xlsx_bytes("Return", list(layout.headers), rows, f"UAVA performance return {label}")
        out.write(FEED, name, data, delivered)
        counts["uava_rows"] += len(rows)
    return counts

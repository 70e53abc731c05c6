"""`cspwh explain`: how one published figure was made, from the KPI mart back to the files it came from."""

from __future__ import annotations

from decimal import Decimal

from psycopg import sql

from cspwh import db
from cspwh.catalogue import indicators, reference
from cspwh.reporting import ledger
from cspwh.reporting.dashboard import QUARTER


def resolve_geography(text: str) -> str:
    if text.upper().startswith("E") and len(text) == 9 and text[1:].isdigit():
        return text.upper()
    resolved = reference.resolve_geography(text)
    if not resolved:
        raise ValueError(f"unknown geography {text!r}: use a name, a spelling in geography_aliases.csv or an ONS code")
    return resolved[0]


def resolve_period(period: str, period_type: str | None) -> tuple[str, str]:
    """A quarter label means the rolling 12 months to it unless a period type is given."""
    if QUARTER.match(period):
        kind = period_type or "rolling_12_months"
        prefix = {"rolling_12_months": "R12 to ", "year_to_date": "YTD to "}.get(kind)
        return kind, f"{prefix}{period}" if prefix else period
    if period.startswith("R12 to "):
        return "rolling_12_months", period
    if period.startswith("YTD to "):
        return "year_to_date", period
    return period_type or "financial_year", period


def _publication(conn) -> tuple[str, str, object]:
    # from marts, not audit: the analyst role reads marts and nothing else
    row = conn.execute(
        "select build_schema, run_id, published_at from marts.dim_publication order by publication_id desc limit 1"
    ).fetchone()
    if not row:
        raise RuntimeError("nothing is published yet: run the nightly job first (make demo)")
    return row


def _n(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, Decimal) and value == value.to_integral_value():
        return f"{int(value):,}"
    return f"{value:,}"


def explain(indicator_id: str, geo: str, period: str, period_type: str | None = None) -> str:
    ind = indicators.get(indicator_id)
    if ind["status"] != "active":
        return (
            f"{ind['id']}: {ind['name']} is {ind['status']} in sources/reference/indicators.yml "
            "(no figures are computed until its mart lands and it is switched to active)."
        )
    code = resolve_geography(geo)
    # a quarter means the figure the dashboard shows for it (the rolling 12 months, or the year to date)
    kind, label = resolve_period(
        period, period_type or (ind.get("dashboard_period") if QUARTER.match(period) else None)
    )
    source = ind["source"]
    with db.connect() as conn:
        build, run_id, published_at = _publication(conn)
        cur = conn.execute(
            """select k.*, d.geography_name from marts.fct_kpi k join marts.dim_district d using (geography_code)
                where k.indicator_id = %s and k.geography_code = %s and k.period_type = %s and k.period_label = %s""",
            (ind["id"], code, kind, label),
        )
        row = cur.fetchone()
        if row is None:
            raise ValueError(f"no published figure for {ind['id']} in {geo} ({code}) for {label} ({kind})")
        k = dict(zip(db.column_names(cur), row))
        lines = [
            f"{ind['id']}: {ind['name']}",
            f"  geography  {k['geography_name']} ({code}, {k['geography_level']})",
            f"  period     {label} ({k['period_start']} to {k['period_end']}), "
            f"data for {k['months_covered']} of {k['period_months']} months",
        ]
        if k["is_suppressed"] and k.get("is_secondary_suppression"):
            lines.append(
                "  value      withheld to protect another small number (published beside the others, it "
                "would give a withheld figure away by subtraction)"
            )
        elif k["is_suppressed"]:
            lines.append(
                "  value      suppressed (numerator below the small-number threshold "
                f"{ind['suppress_below']}, or withheld by its source)"
            )
        else:
            how = f"numerator {_n(k['numerator'])}"
            if k["denominator"] is not None:
                how += f" x {_n(k['multiplier'])} / denominator {_n(k['denominator'])}"
            lines.append(f"  value      {k['value']} {ind['unit_label']} = {how}")
        lines.append(
            f"  numerator  sum of {source['numerator']} in marts.{source['model']}"
            + (f" where {source['filter']}" if source.get("filter") else "")
            + " over the period's months"
        )
        if source.get("denominator"):
            at = "at the period's last month" if source["denominator_aggregation"] == "last" else "summed"
            lines.append(f"  denominator {source['denominator']} {at}")
        lines.append(f"  flags      {', '.join(k['flags']) if k['flags'] else 'none'}")
        if k.get("files_note"):
            short = "short: " if k.get("is_files_complete") is False else ""
            lines.append(f"  files      {short}{k['files_note']}")
        lines.append(
            f"  comparator {k['comparator_label'] or '-'}: "
            f"{k['comparator_value'] if k['comparator_value'] is not None else '-'}"
            f"; previous financial year {k['previous_fy_label'] or '-'}: "
            f"{k['previous_fy_value'] if k['previous_fy_value'] is not None else '-'}"
        )
        rag = k["rag"] or f"not rated ({k['not_rated_reason']})"
        lines.append(
            f"  change     {k['change_pct'] if k['change_pct'] is not None else '-'}% "
            f"{k['direction_of_travel'] or ''}; RAG {rag} (rule: {k['rag_comparator']}, "
            f"amber within +/-{k['rag_tolerance_pct']}%, up is {'good' if ind['up_is_good'] else 'bad'})"
        )
        if k["district_rank"]:
            lines.append(f"  district rank {k['district_rank']} of {k['districts_ranked']} (1 = best)")

        breakdown = ind.get("breakdown") or []
        if breakdown:
            query = sql.SQL("select {} from marts.{} where geography_code = %s and {} between %s and %s").format(
                sql.SQL(", ").join(sql.SQL("sum({})").format(sql.Identifier(c)) for c in breakdown),
                sql.Identifier(source["model"]),
                sql.SQL(source["month_column"]),
            )
            sums = db.one(conn.execute(query, (code, k["period_start"], k["period_end"])))
            lines.append("  breakdown  " + ", ".join(f"{c} {_n(v)}" for c, v in zip(breakdown, sums)))
            parts = dict(zip(breakdown, sums))
            if {"storm_incidents", "sentinel_cases", "linked_sentinel_cases"} <= parts.keys():
                lines.append(
                    f"             records linked across Storm and Sentinel: "
                    f"{_n(parts['linked_sentinel_cases'])} Sentinel case(s) duplicated a Storm incident, "
                    f"so combined = {_n(parts['storm_incidents'])} + {_n(parts['sentinel_cases'])} - "
                    f"{_n(parts['linked_sentinel_cases'])}"
                )

        load_ids: list[int] = []
        lines.append(f"Source files (published build {build}, published {published_at:%Y-%m-%d %H:%M} UTC):")
        for lineage in ind.get("lineage") or []:
            files = conn.execute(
                """select r.load_id, r.source_file, sum(r.records)::bigint, f.feed, f.received_at, f.content_hash
                     from marts.fct_kpi_source_records r left join marts.dim_source_file f using (load_id)
                    where r.indicator_id = %s and r.relation = %s and r.geography_code = %s
                      and r.record_date between %s and %s
                    group by 1, 2, 4, 5, 6 order by 2""",
                (ind["id"], lineage["relation"], code, k["period_start"], k["period_end"]),
            ).fetchall()
            total = sum(f[2] for f in files)
            lines.append(f"  {lineage['relation']}: {total:,} record(s) from {len(files)} file(s)")
            for load_id, name, records, feed, received, content_hash in files:
                load_ids.append(load_id)
                lines.append(
                    f"    load {load_id}  {name}  {records:,} record(s)  feed {feed}, received "
                    f"{received:%Y-%m-%d %H:%M}, sha256 {content_hash[:12]}"
                )

        lines.append(f"Checks passed in the publishing run ({run_id}):")
        families = set(ind.get("checks") or []) | {"dashboard"}
        for name, severity, success in conn.execute(
            """select check_name, severity, success from marts.fct_check_result
                    where gate = 'consistency' and run_id = %s order by check_result_id""",
            (run_id,),
        ).fetchall():
            if name.split(".", 1)[0] in families:
                lines.append(f"  {'passed' if success else 'FAILED'}  {name} ({severity})")
        if load_ids:
            checked = conn.execute(
                """select count(distinct load_id) filter (where success),
                          count(*) filter (where not success and severity = 'warning')
                     from marts.fct_check_result where gate = 'file' and load_id = any(%s)""",
                (load_ids,),
            )
            passed, warned = db.one(checked)
            lines.append(
                f"  file gate: {len(set(load_ids))} file(s) loaded after passing their contract checks "
                f"({warned} warning(s) recorded on them)"
            )
        reported = conn.execute(
            """select f.report_id, f.quarter, f.reported_on, f.value, f.decimals, f.source_document, f.source_line
                 from marts.fct_reported_figure f
                where f.indicator_id = %s and f.geography_code = %s and f.period_type = %s and f.period_label = %s
                order by 3, f.report_id""",
            (ind["id"], code, kind, label),
        ).fetchall()
        for report_id, quarter, at, value, decimals, document, line in reported:
            # compared as printed: a figure entered at its printed precision is not restated by the finer value
            restated = ledger.differs({"value": value, "decimals": decimals}, k["value"])
            same = f"RESTATED: now {k['value']}" if restated else "same as now"
            where = f", {document}:{line}" if document else ""
            lines.append(f"As reported: report {report_id} ({quarter}, {at:%Y-%m-%d}{where}) showed {value} ({same})")
    return "\n".join(lines)

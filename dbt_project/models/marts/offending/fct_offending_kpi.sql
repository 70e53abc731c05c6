{#- The offending KPIs, one row per indicator, geography, period and breakdown, with value, numerator and
    denominator and the same flags as the domestic abuse KPIs.

    YOS (its footprint, var('yos_footprint'): Leicestershire and Rutland, with the county's districts, the county and
    Rutland): first-time entrants aged 10 to 17, count and rate per 100,000 of
    the 10 to 17 population, year to date (to each loaded month) and by financial year; reoffending as offences per
    offender for each tracking cohort, as of the latest extract that tracks it, and year to date (the financial
    year's cohorts so far as tracked by each quarter's last extract); ETE at disposal close (25 hours at
    school age, 16 above, age judged at closure) by quarter and financial year.
    Probation RAT (county, Leicester, Rutland and the force area, LLR): reoffending % actual against predicted by
    gender, age band, offence type and need; every figure indicative (nDelius, not the PNC). -#}
with

geographies as (

    {{ partnership_kpi_geographies(var('yos_footprint')) }}

),

entrants as (

    select * from {{ ref('int_yos_first_time_entrants_aged') }} where is_aged_in_scope

),

fte_months as (

    select distinct to_date(month_label, 'YYYY-MM') as month_start
    from {{ ref('stg_yos__first_time_entrants') }}

),

fte_periods as (

    select
        'year_to_date' as period_type,
        'YTD to ' || dim_date.month_label as period_label,
        make_date(dim_date.financial_year_start, 4, 1) as period_start,
        dim_date.month_end as period_end,
        (dim_date.month_of_year + 8) % 12 + 1 as period_months
    from {{ ref('dim_date') }} as dim_date
    where dim_date.month_start in (select month_start from fte_months)
    union all
    select distinct
        'financial_year', dim_date.financial_year, make_date(dim_date.financial_year_start, 4, 1),
        make_date(dim_date.financial_year_start + 1, 3, 31), 12
    from {{ ref('dim_date') }} as dim_date
    where dim_date.month_start in (select month_start from fte_months)

),

fte_counts as (

    select
        geographies.geography_code,
        fte_periods.period_type,
        fte_periods.period_label,
        fte_periods.period_start,
        fte_periods.period_end,
        (select count(*) from fte_months as m
          where m.month_start between fte_periods.period_start and fte_periods.period_end)
            = fte_periods.period_months as is_complete,
        count(entrants.child_pseudonym) as entrants,
        coalesce(bool_or(entrants.is_restated), false) as is_restated
    from fte_periods
    cross join geographies
    left join entrants
        on entrants.district_code = geographies.local_authority_code
        and entrants.entry_date between fte_periods.period_start and fte_periods.period_end
    group by geographies.geography_code, fte_periods.period_type, fte_periods.period_label, fte_periods.period_start,
        fte_periods.period_end, fte_periods.period_months

),

fte as (

    select fte_counts.*, population.population_10_to_17, population.is_carried_forward
    from fte_counts
    inner join {{ ref('int_youth_population_by_geography_year') }} as population
        on population.geography_code = fte_counts.geography_code
        and population.year = extract(year from fte_counts.period_end)::int

),

reoffending as (

    select
        geographies.geography_code,
        cohorts.cohort_quarter_label,
        cohorts.cohort_start,
        cohorts.cohort_end,
        cohorts.as_of_date,
        cohorts.is_tracking_complete,
        count(*) as offenders,
        sum(cohorts.reoffences_to_date) as reoffences,
        bool_or(cohorts.is_restated) as is_restated
    from {{ ref('int_yos_reoffending_cohorts_latest') }} as cohorts
    inner join geographies on geographies.local_authority_code = cohorts.district_code
    group by geographies.geography_code, cohorts.cohort_quarter_label, cohorts.cohort_start, cohorts.cohort_end,
        cohorts.as_of_date, cohorts.is_tracking_complete

),

reoffending_year_to_date as (

    -- the board's "year to date tracking" (board-papers digest 3.4): the financial year's cohorts so far, each as
    -- tracked by the quarter's last extract, so a year earlier is the same cohorts' quarters as tracked then (the
    -- "same period last year", not last year's cohorts tracked for longer)
    select
        geographies.geography_code,
        'YTD to ' || extract_month.month_label as period_label,
        make_date(extract_month.financial_year_start, 4, 1) as period_start,
        extract_month.month_end as period_end,
        extract_month.month_end as as_of_date,
        count(*) as offenders,
        sum(cohorts.reoffences_to_date) as reoffences,
        bool_or(cohorts.is_restated) as is_restated
    from {{ ref('stg_yos__reoffending_cohort') }} as cohorts
    inner join {{ ref('dim_date') }} as extract_month
        on extract_month.month_start = cohorts.extract_month_start
        and extract_month.month_end = extract_month.quarter_end
    inner join {{ ref('dim_date') }} as cohort_quarter
        on cohort_quarter.financial_quarter_label = cohorts.cohort_quarter_label
        and cohort_quarter.month_start = cohort_quarter.quarter_start
    inner join geographies on geographies.local_authority_code = cohorts.district_code
    where cohort_quarter.financial_year_start = extract_month.financial_year_start
    group by geographies.geography_code, extract_month.month_label, extract_month.financial_year_start,
        extract_month.month_end

),

closures as (

    select * from {{ ref('int_yos_ete_closures_judged') }}

),

ete_months as (

    select distinct to_date(month_label, 'YYYY-MM') as month_start from closures

),

ete_periods as (

    select period_type, period_label, period_start, period_end, period_months
    from {{ ref('int_reporting_periods') }} as periods
    where period_type in ('quarter', 'financial_year')
      and exists (select 1 from ete_months
                  where ete_months.month_start between periods.period_start and periods.period_end)

),

ete as (

    select
        geographies.geography_code,
        ete_periods.period_type,
        ete_periods.period_label,
        ete_periods.period_start,
        ete_periods.period_end,
        (select count(*) from ete_months as m
          where m.month_start between ete_periods.period_start and ete_periods.period_end)
            = ete_periods.period_months as is_complete,
        count(*) as closures,
        count(*) filter (where closures.is_engaged) as engaged,
        bool_or(closures.is_restated) as is_restated
    from ete_periods
    inner join closures on closures.disposal_closed_on between ete_periods.period_start and ete_periods.period_end
    inner join geographies on geographies.local_authority_code = closures.district_code
    group by geographies.geography_code, ete_periods.period_type, ete_periods.period_label, ete_periods.period_start,
        ete_periods.period_end, ete_periods.period_months

),

rat as (

    select * from {{ ref('int_crc_rat_cohort_located') }} where geography_code is not null

),

rat_breakdowns as (

    select rat.*, 'all' as breakdown_type, 'All' as breakdown_value from rat
    union all
    select rat.*, 'gender', gender from rat
    union all
    select rat.*, 'age_band', age_band from rat
    union all
    select rat.*, 'offence_type', offence_type from rat
    union all
    select rat.*, 'need', need
    from rat
    cross join lateral unnest(string_to_array(nullif(rat.needs, ''), ';')) as need

),

rat_geographies as (

    select geography_code as area_code, geography_code from rat_breakdowns
    union
    select geography_code, '{{ var("force_area_code") }}' from rat_breakdowns

),

rat_rates as (

    select
        rat_geographies.geography_code,
        rat_breakdowns.financial_quarter_label,
        rat_breakdowns.quarter_start,
        rat_breakdowns.quarter_end,
        rat_breakdowns.breakdown_type,
        rat_breakdowns.breakdown_value,
        count(*) as cohort,
        count(*) filter (where rat_breakdowns.has_reoffended) as reoffenders,
        sum(rat_breakdowns.predicted_rate_pct) as predicted_rate_sum,
        bool_or(rat_breakdowns.is_restated) as is_restated
    from rat_breakdowns
    inner join rat_geographies on rat_geographies.area_code = rat_breakdowns.geography_code
    group by rat_geographies.geography_code, rat_breakdowns.financial_quarter_label, rat_breakdowns.quarter_start,
        rat_breakdowns.quarter_end, rat_breakdowns.breakdown_type, rat_breakdowns.breakdown_value

),

kpis as (

    select
        'yos_fte_count'::text as kpi_code, 'First-time entrants to the criminal justice system aged 10-17'::text
            as kpi_name, 'yos'::text as source_feed, 'count'::text as unit, geography_code, period_type::text,
        period_label::text, period_start, period_end, 'all'::text as breakdown_type, 'All'::text as breakdown_value,
        entrants::numeric as numerator, null::numeric as denominator, null::text as denominator_kind,
        entrants::numeric as value, null::numeric as comparator_value, null::text as comparator_label,
        null::numeric as band_lower, null::numeric as band_upper, null::date as as_of_date, is_complete,
        false as is_estimated, false as is_indicative, false as series_break, null::text as provider_period,
        null::text as layout_version, null::text as definition_version, is_restated,
        entrants::numeric as suppress_on
    from fte
    union all
    select
        'yos_fte_rate_per_100k', 'First-time entrants aged 10-17 per 100,000 of the 10-17 population', 'yos',
        'per 100,000 aged 10-17', geography_code, period_type, period_label, period_start, period_end, 'all', 'All',
        entrants::numeric, population_10_to_17::numeric, 'population',
        round(entrants * 100000.0 / population_10_to_17, 4), null, null, null, null, null, is_complete, false,
        false, false, null, null,
        case when is_carried_forward then 'population: ONS mid-2020 aged 10-17, carried to this year' end,
        is_restated, entrants::numeric
    from fte
    union all
    select
        'yos_reoffending_offences_per_offender', 'Reoffending by young offenders: offences per offender', 'yos',
        'offences per offender', geography_code, 'tracking_cohort', cohort_quarter_label, cohort_start, cohort_end,
        'all', 'All', reoffences::numeric, offenders::numeric, 'count', round(reoffences::numeric / offenders, 4),
        null, null, null, null, as_of_date, is_tracking_complete, false, false, false, null, null, null, is_restated,
        offenders::numeric
    from reoffending
    union all
    select
        'yos_reoffending_offences_per_offender', 'Reoffending by young offenders: offences per offender', 'yos',
        'offences per offender', geography_code, 'year_to_date', period_label, period_start, period_end, 'all', 'All',
        reoffences::numeric, offenders::numeric, 'count', round(reoffences::numeric / offenders, 4), null, null,
        null, null, as_of_date, true, false, false, false, null, null, null, is_restated, offenders::numeric
    from reoffending_year_to_date
    union all
    select
        'yos_ete_engaged_rate', '% of young people in suitable ETE when their disposal closes', 'yos', 'percent',
        geography_code, period_type, period_label, period_start, period_end, 'all', 'All', engaged::numeric,
        closures::numeric, 'count', round(100.0 * engaged / closures, 2), null, null, null, null, null, is_complete,
        false, false, false, null, null,
        '{{ var("ete_hours_school_age") }}h school age, {{ var("ete_hours_above_school_age") }}h above; age at closure',
        is_restated, least(engaged, closures)::numeric
    from ete
    union all
    select
        'crc_reoffending_rate', 'Probation (CRC RAT) reoffending rate, actual against predicted', 'crc_rat',
        'percent', geography_code, 'quarter', financial_quarter_label, quarter_start, quarter_end, breakdown_type,
        breakdown_value, reoffenders::numeric, cohort::numeric, 'count', round(100.0 * reoffenders / cohort, 2),
        round(predicted_rate_sum / cohort, 2), 'predicted (OGRS)', null, null, null, true, false, true, false, null,
        null, null, is_restated, least(reoffenders, cohort)::numeric
    from rat_rates
    union all
    select
        'crc_predicted_reoffending_rate', 'Probation (CRC RAT) predicted reoffending rate (mean OGRS)', 'crc_rat',
        'percent', geography_code, 'quarter', financial_quarter_label, quarter_start, quarter_end, breakdown_type,
        breakdown_value, round(predicted_rate_sum / 100.0, 4), cohort::numeric, 'count',
        round(predicted_rate_sum / cohort, 2), null, null, null, null, null, true, false, true, false, null, null,
        null, is_restated, cohort::numeric
    from rat_rates

)

{#- First-time entrants are published as a count and as a rate; the RAT's actual and predicted rates share their
    cohort. Needs are not a partition (a person may have several or none), so they give no equation. -#}
{{ suppress_small_counts('kpis',
    families={'yos_fte_rate_per_100k': 'yos_fte_count', 'crc_predicted_reoffending_rate': 'crc_reoffending_rate'},
    totals=['All'], partitions=['gender', 'age_band', 'offence_type']) }}

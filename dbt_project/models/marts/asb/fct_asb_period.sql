{#- The monthly ASB measures over the board's periods: financial quarter, financial year, and the rolling 12 months
    to each quarter end. A period only partly covered by the data says so (months_covered). Rates use the mid-year
    population of the year the period ends in. -#}
with

monthly as (

    select * from {{ ref('fct_asb_monthly') }}

),

quarter_ends as (

    select distinct quarter_end, financial_quarter_label
    from {{ ref('dim_date') }}
    where month_start between (select min(month_start) from monthly) and (select max(month_start) from monthly)

),

periods as (

    select distinct 'quarter' as period_type, financial_quarter_label as period_label,
        quarter_start as period_start, quarter_end as period_end, 3 as period_months
    from {{ ref('dim_date') }}
    where financial_quarter_label in (select financial_quarter_label from quarter_ends)
    union all
    select distinct 'financial_year', financial_year, make_date(financial_year_start, 4, 1),
        make_date(financial_year_start + 1, 3, 31), 12
    from {{ ref('dim_date') }}
    where month_start between (select min(month_start) from monthly) and (select max(month_start) from monthly)
    union all
    select 'rolling_12_months', 'R12 to ' || financial_quarter_label,
        (quarter_end - interval '12 months' + interval '1 day')::date, quarter_end, 12
    from quarter_ends

),

aggregated as (

    select
        periods.period_type, periods.period_label, periods.period_start, periods.period_end, periods.period_months,
        monthly.geography_code,
        monthly.geography_level,
        count(*) as months_covered,
        sum(storm_incidents) as storm_incidents,
        sum(storm_personal) as storm_personal,
        sum(storm_environmental) as storm_environmental,
        sum(storm_nuisance) as storm_nuisance,
        sum(sentinel_cases) as sentinel_cases,
        sum(linked_sentinel_cases) as linked_sentinel_cases,
        sum(combined_matters) as combined_matters
    from periods
    inner join monthly on monthly.month_start between periods.period_start and periods.period_end
    group by 1, 2, 3, 4, 5, 6, 7

)

select
    aggregated.*,
    aggregated.months_covered = aggregated.period_months as is_complete,
    population.population_mid_year,
    round(storm_incidents * 1000.0 / population.population_mid_year, 4) as storm_rate_per_1000,
    round(sentinel_cases * 1000.0 / population.population_mid_year, 4) as sentinel_rate_per_1000,
    round(combined_matters * 1000.0 / population.population_mid_year, 4) as combined_rate_per_1000
from aggregated
inner join {{ ref('int_population_by_geography_year') }} as population
    on population.geography_code = aggregated.geography_code
    and population.year = extract(year from aggregated.period_end)::int

{#- The monthly ASB measures over the board's periods: financial quarter, financial year, and the rolling 12 months
    to each quarter end. A period only partly covered by the data says so (months_covered). Rates use the mid-year
    population of the year the period ends in. -#}
with

monthly as (

    select * from {{ ref('fct_asb_monthly') }}

),

periods as (

    -- the periods the data reach: a quarter or a financial year with a month of data, a rolling 12 months whose
    -- closing quarter has one
    select period_type, period_label, period_start, period_end, period_months
    from {{ ref('int_reporting_periods') }}
    where period_end >= (select min(month_start) from monthly)
      and case when period_type = 'rolling_12_months' then (period_end + 1 - interval '3 months')::date
               else period_start end <= (select max(month_start) from monthly)

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

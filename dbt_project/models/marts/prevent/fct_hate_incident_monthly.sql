{#- Hate incidents the partnership case-manages on Sentinel (case_type 'Hate incident'), per district and for the
    county, by month, with the rate per 1,000 population the board reports (K14). Dense over Sentinel's months, so a
    month with none is a zero; Sentinel holds the county's districts only, so there is no Leicester, Rutland or
    force-area figure. -#}
with

cases as (

    select district_code, date_trunc('month', incident_on)::date as month_start
    from {{ ref('stg_sentinel_asb__cases') }}
    where case_type = 'Hate incident'

),

sentinel_months as (

    select date_trunc('month', incident_on)::date as month_start
    from {{ ref('stg_sentinel_asb__cases') }}

),

months as (

    {{ months_spanned('sentinel_months') }}

),

geographies as (

    select dim_district.*
    from {{ ref('dim_district') }} as dim_district
    where dim_district.is_partnership_district or dim_district.geography_code = '{{ var("county_code") }}'

),

counts as (

    select rolled_up.geography_code, cases.month_start, count(*) as hate_incidents
    from cases
    inner join {{ ref('int_geographies_rolled_up') }} as rolled_up
        on rolled_up.local_authority_code = cases.district_code
    group by rolled_up.geography_code, cases.month_start

)

select
    geographies.geography_code,
    geographies.geography_level,
    months.month_start,
    months.financial_year,
    months.financial_quarter_label,
    coalesce(counts.hate_incidents, 0)::bigint as hate_incidents,
    population.population_mid_year,
    round(coalesce(counts.hate_incidents, 0) * 1000.0 / population.population_mid_year, 4) as hate_rate_per_1000
from geographies
cross join months
left join counts
    on counts.geography_code = geographies.geography_code and counts.month_start = months.month_start
inner join {{ ref('int_population_by_geography_year') }} as population
    on population.geography_code = geographies.geography_code and population.year = months.calendar_year

{#- Monthly police.uk crime and ASB counts and rates per 1,000 population for every geography and category, dense:
    a geography-month-category with no records is a row with 0, so gaps are visible rather than absent. -#}
with

located as (

    select * from {{ ref('int_street_crimes_located') }}
    where unallocated_reason is null

),

months as (

    {{ months_spanned('located') }}

),

categories as (

    select crime_category, crime_type, counts_as_crime from {{ ref('police_uk_crime_categories') }}
    union all
    select 'total-crime', 'Total crime (all types except anti-social behaviour)', true

),

local_authority_counts as (

    select local_authority_code, month_start, crime_category, count(*) as incident_count
    from located
    group by local_authority_code, month_start, crime_category
    union all
    select local_authority_code, month_start, 'total-crime', count(*)
    from located
    where counts_as_crime
    group by local_authority_code, month_start

),

geography_counts as (

    select
        rolled_up.geography_code,
        local_authority_counts.month_start,
        local_authority_counts.crime_category,
        sum(local_authority_counts.incident_count) as incident_count
    from {{ ref('int_geographies_rolled_up') }} as rolled_up
    inner join local_authority_counts using (local_authority_code)
    group by rolled_up.geography_code, local_authority_counts.month_start, local_authority_counts.crime_category

),

grid as (

    select
        geographies.geography_code,
        geographies.geography_level,
        months.month_start,
        months.financial_year,
        months.financial_quarter_label,
        months.calendar_year,
        categories.crime_category,
        categories.crime_type
    from {{ ref('dim_district') }} as geographies
    cross join months
    cross join categories

)

select
    grid.geography_code,
    grid.geography_level,
    grid.month_start,
    grid.financial_year,
    grid.financial_quarter_label,
    grid.crime_category,
    grid.crime_type,
    coalesce(geography_counts.incident_count, 0)::bigint as incident_count,
    population.population_mid_year,
    population.population_year,
    population.is_carried_forward as population_is_carried_forward,
    round(coalesce(geography_counts.incident_count, 0) * 1000.0 / population.population_mid_year, 4)
        as rate_per_1000,
    files.is_files_complete,
    files.files_note

from grid
left join geography_counts using (geography_code, month_start, crime_category)
inner join {{ ref('int_population_by_geography_year') }} as population
    on population.geography_code = grid.geography_code
    and population.year = grid.calendar_year
{{ files_assessed(feeds_array([model.name]), 'grid.month_start', 'grid.month_start') }}

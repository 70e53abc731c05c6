{#- The conformed geography dimension: the partnership's districts, its county, the unitaries and the force area. -#}
with

geographies as (

    select * from {{ ref('geographies') }}

),

latest_population as (

    select distinct on (geography_code) geography_code, population_year, population_mid_year
    from {{ ref('int_population_by_geography_year') }}
    where not is_carried_forward
    order by geography_code asc, population_year desc

)

select
    geographies.geography_code,
    geographies.geography_name,
    geographies.short_code,
    geographies.geography_level,
    geographies.parent_code,
    geographies.force_area_code,
    geographies.geography_level = 'district'
        and geographies.parent_code = '{{ var("county_code") }}' as is_partnership_district,
    latest_population.population_mid_year as latest_population_mid_year,
    latest_population.population_year as latest_population_year,
    geographies.sort_order

from geographies
left join latest_population using (geography_code)

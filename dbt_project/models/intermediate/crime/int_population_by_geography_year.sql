{#- Mid-year population of every geography, summed from its local authorities so that districts always add up to
    the county. Years after the latest estimate carry the latest one forward (see sources/reference/README.md). -#}
with

population as (

    select * from {{ ref('ons_population_mid_year') }}

),

rolled_up as (

    select
        geographies.geography_code,
        population.mid_year,
        sum(population.population)::bigint as population_mid_year
    from {{ ref('int_geographies_rolled_up') }} as geographies
    inner join population on population.geography_code = geographies.local_authority_code
    group by geographies.geography_code, population.mid_year

),

years as (

    select generate_series(min(mid_year), extract(year from '{{ var("calendar_end") }}'::date)::int) as year
    from rolled_up

)

select
    rolled_up.geography_code,
    years.year,
    rolled_up.mid_year as population_year,
    rolled_up.population_mid_year,
    years.year > rolled_up.mid_year as is_carried_forward
from years
inner join rolled_up
    on rolled_up.mid_year = (
        select max(r.mid_year) from rolled_up as r
        where r.geography_code = rolled_up.geography_code and r.mid_year <= years.year
    )

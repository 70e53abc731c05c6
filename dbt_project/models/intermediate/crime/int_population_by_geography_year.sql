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

{{ carried_forward_by_year('rolled_up', ['population_mid_year']) }}

{#- Population aged 10 to 17 of every geography (the first-time entrant denominator), summed from its local
    authorities. ONS mid-2020 is the only year vendored: it stands for every year, flagged is_carried_forward for
    the others (sources/reference/README.md). -#}
with

population as (

    select * from {{ ref('ons_population_age10to17_mid2020') }}

),

rolled_up as (

    select
        geographies.geography_code,
        sum(population.age_10_17)::bigint as population_10_to_17
    from {{ ref('int_geographies_rolled_up') }} as geographies
    inner join population on population.code = geographies.local_authority_code
    group by geographies.geography_code

),

years as (

    select generate_series(2015, extract(year from '{{ var("calendar_end") }}'::date)::int) as year

)

select
    rolled_up.geography_code,
    years.year,
    2020 as population_year,
    rolled_up.population_10_to_17,
    years.year <> 2020 as is_carried_forward
from rolled_up
cross join years

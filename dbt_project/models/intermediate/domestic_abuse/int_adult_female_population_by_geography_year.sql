{#- Adult (18+) female population of every geography and year, the UAVA denominator ("per 10,000 adult females"),
    summed from its local authorities so districts add up to the county. The seed is an estimate (40% of all ages,
    flagged is_estimate) until ONS female 18+ rows are vendored; the flag is carried to every rate using it. Years
    after the latest estimate carry it forward. -#}
with

population as (

    select * from {{ ref('population_adult_female_estimated') }}

),

rolled_up as (

    select
        geographies.geography_code,
        population.mid_year,
        sum(population.adult_female_population)::bigint as adult_female_population,
        bool_or(population.is_estimate::text in ('true', 't', 'True')) as is_estimate
    from {{ ref('int_geographies_rolled_up') }} as geographies
    inner join population on population.geography_code = geographies.local_authority_code
    group by geographies.geography_code, population.mid_year

),

{{ carried_forward_by_year('rolled_up', ['adult_female_population', 'is_estimate']) }}

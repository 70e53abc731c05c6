{#- The probation RAT cohort with each CRC area resolved to the partnership's geography (Leicestershire = the
    county, Leicester and Rutland = the unitaries), by name or any alias; areas outside the force area (the CRC's
    Nottinghamshire and Derbyshire) resolve to nothing and are left out of the partnership's figures. -#}
with

cohort as (

    select * from {{ ref('stg_crc_rat__terminated_cohort') }}

),

spellings as (

    select lower(geography_name) as name, geography_code, 1 as priority from {{ ref('geographies') }}
    union all
    select lower(alias), geography_code, 2 from {{ ref('geography_aliases') }}

),

names as (

    select distinct on (name) name, geography_code from spellings order by name, priority

)

select
    cohort.*,
    geographies.geography_code,
    dim_date.quarter_start,
    dim_date.quarter_end
from cohort
inner join {{ ref('dim_date') }} as dim_date
    on dim_date.financial_quarter_label = cohort.financial_quarter_label
    and dim_date.month_start = dim_date.quarter_start
left join names on names.name = lower(cohort.crc_area)
left join {{ ref('geographies') }} as geographies
    on geographies.geography_code = names.geography_code
    and geographies.force_area_code = '{{ var("force_area_code") }}'
    and geographies.geography_level in ('county', 'unitary')

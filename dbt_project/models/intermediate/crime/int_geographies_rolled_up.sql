{#- Which local authorities make up each geography: a district or unitary is itself, the county is its districts,
    the force area is every district and unitary in it, a combined footprint (Leicestershire and Rutland) is the
    members geography_members lists. Counts and populations roll up through this one map. -#}
with

geographies as (

    select * from {{ ref('geographies') }}

),

local_authorities as (

    select * from geographies where geography_level in ('district', 'unitary')

)

select geographies.geography_code, local_authorities.geography_code as local_authority_code
from geographies
inner join local_authorities
    on local_authorities.geography_code = geographies.geography_code
    or (geographies.geography_level = 'county' and local_authorities.parent_code = geographies.geography_code)
    or (geographies.geography_level = 'force_area'
        and local_authorities.force_area_code = geographies.geography_code)
union all
select members.geography_code, members.local_authority_code
from {{ ref('geography_members') }} as members
inner join geographies using (geography_code)
where geographies.geography_level = 'combined'

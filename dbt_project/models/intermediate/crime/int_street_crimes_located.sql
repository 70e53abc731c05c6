{#- The current records of the partnership's force, each placed in its local authority by LSOA. A later file for
    the same force and month restates it, so only the current file of each force-month counts. Records that cannot
    be placed keep a reason instead of being dropped.

    Incremental by load (macros/incremental_by_load.sql): at national volume this reads one force among every force's
    records, so carrying forward the loads already placed by the published build and placing only the new ones saves
    a scan of all of raw. -#}
{%- set plan = incremental_by_load_plan('police_uk', 'street_crimes',
        seeds=['ons_lsoa11_to_lad19', 'geographies', 'police_uk_crime_categories'], vars_read=['police_uk_force'],
        stream=var('police_uk_force')) -%}
{%- do record_load_state(plan) -%}
{%- set computed = plan.fresh if plan.incremental else plan.current %}
with

crimes as (

    select * from {{ ref('stg_police_uk__street_crimes') }}
    where force_slug = '{{ var("police_uk_force") }}'
        and _load_id = any({{ load_id_array(computed) }})

),

-- the current file of each force-month, from the manifest (read once by the plan): an accepted restatement with no
-- rows empties its month
current_files as (

    select load_id as _load_id from {{ ref('stg_landing__loaded_files') }}
    where feed = 'police_uk' and entity = 'street_crimes' and load_id = any({{ load_id_array(computed) }})

),

current_crimes as (

    select crimes.*
    from crimes
    inner join current_files using (_load_id)

),

lsoas as (

    select * from {{ ref('ons_lsoa11_to_lad19') }}

),

local_authorities as (

    select geography_code from {{ ref('geographies') }}
    where geography_level in ('district', 'unitary')

),

categories as (

    select * from {{ ref('police_uk_crime_categories') }}

)

select
    current_crimes.street_crime_record_id,
    current_crimes.month_start,
    current_crimes.force_slug,
    current_crimes.lsoa_code,
    categories.crime_category,
    current_crimes.crime_type,
    categories.counts_as_crime,
    local_authorities.geography_code as local_authority_code,
    case
        when current_crimes.lsoa_code is null then 'no_location'
        when local_authorities.geography_code is null then 'outside_area'
    end as unallocated_reason,
    current_crimes._load_id,
    current_crimes._source_file,
    current_crimes._line_number

from current_crimes
inner join categories on categories.crime_type = current_crimes.crime_type
left join lsoas on lsoas.lsoa11cd = current_crimes.lsoa_code
left join local_authorities on local_authorities.geography_code = lsoas.lad19cd
{%- if plan.incremental %}

union all

-- the loads the published build already placed and that are still current (same code, same reference data)
select * from {{ plan.previous }}
where _load_id = any({{ load_id_array(plan.kept) }})
{%- endif %}

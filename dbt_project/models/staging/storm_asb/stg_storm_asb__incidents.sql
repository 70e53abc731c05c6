{#- One row per Storm incident: a re-sent or corrected extract restates an incident, so its latest load wins. -#}
{{ config(materialized='table', post_hook='analyze {{ this }}') }}
{#- a table, analysed: the linker and the ASB marts read it, deduplicated and normalised once, and the linker's plan
    needs its statistics -#}
with

source as (

    select * from {{ source('storm_asb', 'incidents') }}

),

latest as (

    select *, row_number() over (partition by incident_number order by _load_id desc, _line_number desc) as version
    from source

)

select
    incident_number,
    opened_at,
    opened_at::date as incident_date,
    closed_at,
    pen_category,
    asb_type,
    location_street,
    lsoa_code,
    district as district_as_sent,
    district_code,
    caller_name as caller_pseudonym,
    caller_phone as caller_phone_pseudonym,
    caller_postcode as caller_postcode_district,
    _load_id,
    _source_file,
    _line_number
from latest
where version = 1

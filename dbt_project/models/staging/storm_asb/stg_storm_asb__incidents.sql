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
    incident_number_key as incident_key,
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
    caller_name_surname as caller_surname_pseudonym,
    caller_name_initial_surname as caller_initial_surname_pseudonym,
    caller_name_surname_sound as caller_surname_sound_pseudonym,
    caller_postcode_unit as caller_postcode_unit_pseudonym,
    caller_address_address as caller_address_pseudonym,
    _load_id,
    _source_file,
    _line_number
from latest
where version = 1

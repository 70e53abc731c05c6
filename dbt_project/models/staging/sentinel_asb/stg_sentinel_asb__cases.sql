{#- One row per Sentinel case, its latest version (the API sends a case again each time it changes), with the Storm
    number normalised however it was typed. -#}
{{ config(materialized='table', post_hook='analyze {{ this }}') }}
{#- a table, analysed: the linker and the ASB marts read it, deduplicated and normalised once, and the linker's plan
    needs its statistics -#}
with

source as (

    select * from {{ source('sentinel_asb', 'cases') }}

),

latest as (

    select *, row_number() over (partition by case_id order by updated_at desc, _load_id desc) as version
    from source

)

select
    case_id,
    opened_on,
    updated_at,
    closed_on,
    status,
    originating_agency,
    storm_reference as storm_reference_as_typed,
    {{ normalise_storm_reference('storm_reference') }} as storm_incident_number,
    case_type,
    pen_category,
    asb_type,
    incident_on,
    lsoa_code,
    district as district_as_recorded,
    district_code,
    victim_name as victim_pseudonym,
    victim_postcode as victim_postcode_district,
    perpetrator_name as perpetrator_pseudonym,
    _load_id,
    _source_file,
    _line_number
from latest
where version = 1

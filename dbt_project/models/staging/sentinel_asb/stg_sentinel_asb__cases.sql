{#- One row per Sentinel case, its latest version (the API sends a case again each time it changes). The Storm number
    the case officer typed was read at landing (cspwh/ingest/linkage_evidence.py) into the number and how it was typed; the typed
    text never left landing. -#}
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
    storm_reference_key as storm_incident_number,
    storm_reference_form,
    case_type,
    pen_category,
    asb_type,
    incident_on,
    lsoa_code,
    district as district_as_recorded,
    district_code,
    victim_name as victim_pseudonym,
    victim_postcode as victim_postcode_district,
    victim_name_surname as victim_surname_pseudonym,
    victim_name_initial_surname as victim_initial_surname_pseudonym,
    victim_name_surname_sound as victim_surname_sound_pseudonym,
    victim_postcode_unit as victim_postcode_unit_pseudonym,
    victim_address_address as victim_address_pseudonym,
    perpetrator_name as perpetrator_pseudonym,
    _load_id,
    _source_file,
    _line_number
from latest
where version = 1

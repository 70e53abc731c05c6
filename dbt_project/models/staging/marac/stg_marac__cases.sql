{#- One row per MARAC case heard; a corrected month replaces the month's earlier file. Victim and perpetrator only
    as pseudonyms, the victim's date of birth only as a year. -#}
with

source as (

    {{ latest_file_per_period(source('marac', 'cases'), 'marac', 'cases') }}

),

renamed as (

    select
        case_reference,
        file_period as month_label,
        conference_date,
        date_trunc('month', conference_date)::date as month_start,
        victim_id as victim_pseudonym,
        perpetrator_id as perpetrator_pseudonym,
        victim_dob as victim_birth_year,
        victim_gender,
        district as district_as_sent,
        district_code,
        referring_agency,
        previous_referral_date,
        recorded_repeat as is_recorded_repeat,
        latest_load_id <> first_load_id as is_restated,
        _load_id,
        _source_file,
        _line_number
    from source

)

select * from renamed

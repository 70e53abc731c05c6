{#- One row per first-time entrant; a resent month replaces the month's earlier file. Names never reach raw; the
    date of birth arrives generalised to its month. -#}
with

source as (

    {{ latest_file_per_period(source('yos', 'first_time_entrants'), 'yos', 'first_time_entrants') }}

),

renamed as (

    select
        child_id as child_pseudonym,
        file_period as month_label,
        date_of_birth as birth_month,
        gender,
        district as district_as_sent,
        district_code,
        postcode as postcode_district,
        entry_date,
        date_trunc('month', entry_date)::date as month_start,
        outcome_type,
        offence_category,
        latest_load_id <> first_load_id as is_restated,
        _load_id,
        _source_file,
        _line_number
    from source

)

select * from renamed

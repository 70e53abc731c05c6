{#- One row per person in a quarter's terminated cohort (nDelius, not the PNC: indicative); a resent quarter
    replaces the earlier file. Needs arrive as one ';'-separated text. -#}
with

source as (

    {{ latest_file_per_period(source('crc_rat', 'terminated_cohort'), 'crc_rat', 'terminated_cohort') }}

),

renamed as (

    select
        offender_crn as offender_pseudonym,
        file_period as financial_quarter_label,
        area as crc_area,
        gender,
        age_band,
        offence_type,
        needs,
        terminated_on,
        reoffended as has_reoffended,
        predicted_rate as predicted_rate_pct,
        latest_load_id <> first_load_id as is_restated,
        _load_id,
        _source_file,
        _line_number
    from source

)

select * from renamed

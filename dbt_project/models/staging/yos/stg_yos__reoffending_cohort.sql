{#- One row per young person, tracking cohort and monthly extract: each extract restates every cohort of the last 12
    months with proven reoffences to the extract month's end. -#}
with

source as (

    {{ latest_file_per_period(source('yos', 'reoffending_cohort'), 'yos', 'reoffending_cohort') }}

),

renamed as (

    select
        cohort as cohort_quarter_label,
        child_id as child_pseudonym,
        file_period as extract_month_label,
        -- guarded: the planner may evaluate this before the manifest join drops other feeds' periods ('2021-22Q4')
        case when file_period ~ '^\d{4}-\d{2}$' then to_date(file_period, 'YYYY-MM') end as extract_month_start,
        date_of_birth as birth_month,
        district as district_as_sent,
        district_code,
        cohort_entry_date,
        reoffences_to_date,
        latest_load_id <> first_load_id as is_restated,
        _load_id,
        _source_file,
        _line_number
    from source

)

select * from renamed

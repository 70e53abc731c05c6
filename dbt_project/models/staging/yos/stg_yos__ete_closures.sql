{#- One row per youth justice disposal closed, with the weekly ETE hours at closure; a resent month replaces the
    month's earlier file. -#}
with

source as (

    {{ latest_file_per_period(source('yos', 'ete_closures'), 'yos', 'ete_closures') }}

),

renamed as (

    select
        disposal_id,
        child_id as child_pseudonym,
        file_period as month_label,
        date_of_birth as birth_month,
        district as district_as_sent,
        district_code,
        disposal_type,
        disposal_closed_on,
        date_trunc('month', disposal_closed_on)::date as month_start,
        ete_hours,
        latest_load_id <> first_load_id as is_restated,
        _load_id,
        _source_file,
        _line_number
    from source

)

select * from renamed

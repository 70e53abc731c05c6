{#- One row per financial quarter, district and service of the UAVA return, whichever layout (v1, v2) it arrived
    in; a resent quarter replaces the earlier file. -#}
with

source as (

    {{ latest_file_per_period(source('uava_return', 'district_services'), 'uava_return', 'district_services') }}

),

renamed as (

    select
        file_period as financial_quarter_label,
        district as district_as_sent,
        district_code,
        service,
        referrals,
        repeat_referrals,
        engaged,
        helpline_calls,
        waiting_numbers,
        waiting_total_days,
        coalesce(estimated, false) as is_estimated,
        _layout_version as layout_version,
        latest_load_id <> first_load_id as is_restated,
        _load_id,
        _source_file,
        _line_number
    from source

)

select * from renamed

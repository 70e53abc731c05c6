{#- Each closed disposal judged against the ETE rule: school age (under the configured school leaving age on the
    31 August before closure) needs 25 or more weekly hours, above school age 16 or more (configurable). Age on a
    31 August is exact from a birth month, since every August birthday has passed by then. -#}
with

closures as (

    select * from {{ ref('stg_yos__ete_closures') }}

),

judged as (

    select
        *,
        extract(year from age(
            make_date(extract(year from disposal_closed_on)::int
                      - case when disposal_closed_on > make_date(extract(year from disposal_closed_on)::int, 8, 31)
                             then 0 else 1 end, 8, 31),
            birth_month))::int < {{ var('ete_school_leaving_age') }} as is_school_age
    from closures

)

select
    *,
    case when is_school_age then {{ var('ete_hours_school_age') }} else {{ var('ete_hours_above_school_age') }} end
        as hours_required,
    ete_hours >= case when is_school_age then {{ var('ete_hours_school_age') }}
                      else {{ var('ete_hours_above_school_age') }} end as is_engaged
from judged

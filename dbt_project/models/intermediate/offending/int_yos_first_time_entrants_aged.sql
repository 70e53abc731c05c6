{#- First-time entrants with their age at entry. The date of birth arrives generalised to its month, so the age is
    a range (born on the month's last day .. its first day); a child is counted as aged 10 to 17 (configurable) when
    the range meets those ages. -#}
with

entrants as (

    select * from {{ ref('stg_yos__first_time_entrants') }}

),

aged as (

    select
        *,
        extract(year from age(entry_date, (birth_month + interval '1 month - 1 day')::date))::int as age_at_entry_low,
        extract(year from age(entry_date, birth_month))::int as age_at_entry_high
    from entrants

)

select
    *,
    age_at_entry_high >= {{ var('fte_min_age') }} and age_at_entry_low <= {{ var('fte_max_age') }}
        as is_aged_in_scope
from aged

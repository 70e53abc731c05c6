{#- police.uk records counted per load (landed file), force, month and crime type: the one scan of every force's
    records that int_police_uk_force_monthly needs. Incremental by load (macros/incremental_by_load.sql): at national
    volume this is the biggest read of the build (every force, every month), and a load's counts never change, so the
    published build's counts of the loads still current are carried forward and only new loads are counted. It joins
    no reference data, so peers, populations and categories are applied downstream on every build. -#}
{%- set plan = incremental_by_load_plan('police_uk', 'street_crimes') -%}
{%- do record_load_state(plan) -%}
select
    _load_id,
    force_slug,
    month_start,
    crime_type,
    count(*)::bigint as incident_count
from {{ ref('stg_police_uk__street_crimes') }}
where _load_id = any({{ load_id_array(plan.fresh if plan.incremental else plan.current) }})
group by _load_id, force_slug, month_start, crime_type
{%- if plan.incremental %}

union all

select * from {{ plan.previous }}
where _load_id = any({{ load_id_array(plan.kept) }})
{%- endif %}

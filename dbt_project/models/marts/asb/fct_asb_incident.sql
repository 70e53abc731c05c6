{#- One row per real-world ASB matter: a Storm incident with the Sentinel cases that duplicate it, or a Sentinel case
    no Storm incident matches. Combined ASB counts these rows, so a matter reported to both counts once. -#}
with

storm as (

    select * from {{ ref('stg_storm_asb__incidents') }}

),

sentinel as (

    select * from {{ ref('stg_sentinel_asb__cases') }}
    where case_type = 'ASB'

),

links as (

    select
        incident_number,
        array_agg(case_id order by case_id) as sentinel_case_ids,
        min(link_method) as link_method,
        max(link_score) as link_score,
        string_agg(link_reason, '; ' order by case_id) as link_reason
    from {{ ref('int_asb_incidents_linked') }}
    group by incident_number

)

select
    storm.incident_number as asb_matter_id,
    storm.incident_number as storm_incident_number,
    links.sentinel_case_ids,
    coalesce(cardinality(links.sentinel_case_ids), 0) as sentinel_cases,
    case when links.incident_number is null then 'storm_only' else 'both' end as recorded_in,
    storm.incident_date,
    date_trunc('month', storm.incident_date)::date as month_start,
    storm.district_code as geography_code,
    storm.lsoa_code,
    storm.pen_category,
    links.link_method,
    links.link_score,
    links.link_reason,
    storm._load_id,
    storm._source_file,
    storm._line_number
from storm
left join links using (incident_number)

union all

select
    sentinel.case_id,
    null,
    array[sentinel.case_id],
    1,
    'sentinel_only',
    sentinel.incident_on,
    date_trunc('month', sentinel.incident_on)::date,
    sentinel.district_code,
    sentinel.lsoa_code,
    sentinel.pen_category,
    null,
    null,
    null,
    sentinel._load_id,
    sentinel._source_file,
    sentinel._line_number
from sentinel
where not exists (  -- an anti-join: `not in` a large subquery degrades to a nested loop beyond work_mem
    select from {{ ref('int_asb_incidents_linked') }} as linked where linked.case_id = sentinel.case_id
)

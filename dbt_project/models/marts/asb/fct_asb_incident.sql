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

-- what each case's typed Storm number (read at landing) says: the ASB lead hears of numbers no incident has and of
-- numbers whose incident is more than three days and an LSOA away (often a transposed digit)
checked as (

    select
        sentinel.*,
        case
            when sentinel.storm_reference_form is null then 'none'
            when sentinel.storm_incident_number is null then 'unreadable'
            when storm.incident_number is null then 'matches_no_incident'
            when abs(storm.incident_date - sentinel.incident_on) > 3
                and (storm.lsoa_code is distinct from sentinel.lsoa_code) then 'implausible'
            else 'plausible'
        end as reference_check
    from sentinel
    left join (  -- one incident per number, however Storm padded it
        select distinct on (incident_key) incident_key, incident_number, incident_date, lsoa_code
        from storm
        where incident_key is not null
        order by incident_key, incident_number
    ) as storm on storm.incident_key = sentinel.storm_incident_number

),

links as (

    select
        linked.incident_number,
        array_agg(linked.case_id order by linked.case_id) as sentinel_case_ids,
        min(linked.link_method) as link_method,
        max(linked.link_score) as link_score,
        string_agg(linked.link_reason, '; ' order by linked.case_id) as link_reason,
        count(*) filter (where linked.link_method = 'storm_reference') as linked_by_reference,
        count(*) filter (where linked.link_method = 'scored_match') as linked_by_score,
        count(*) filter (where checked.reference_check = 'unreadable') as references_unreadable,
        count(*) filter (where checked.reference_check = 'matches_no_incident') as references_matching_no_incident,
        count(*) filter (where checked.reference_check = 'implausible') as references_implausible
    from {{ ref('int_asb_incidents_linked') }} as linked
    inner join checked using (case_id)
    group by linked.incident_number

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
    coalesce(links.linked_by_reference, 0) as linked_by_reference,
    coalesce(links.linked_by_score, 0) as linked_by_score,
    null::text as unlinked_evidence,
    coalesce(links.references_unreadable, 0) as references_unreadable,
    coalesce(links.references_matching_no_incident, 0) as references_matching_no_incident,
    coalesce(links.references_implausible, 0) as references_implausible,
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
    0,
    0,
    case
        when sentinel.storm_incident_number is not null then 'storm_number'
        when sentinel.victim_surname_pseudonym is not null then 'person_only'
        else 'neither'
    end,
    (sentinel.reference_check = 'unreadable')::int,
    (sentinel.reference_check = 'matches_no_incident')::int,
    (sentinel.reference_check = 'implausible')::int,
    sentinel._load_id,
    sentinel._source_file,
    sentinel._line_number
from checked as sentinel
where not exists (  -- an anti-join: `not in` a large subquery degrades to a nested loop beyond work_mem
    select from {{ ref('int_asb_incidents_linked') }} as linked where linked.case_id = sentinel.case_id
)

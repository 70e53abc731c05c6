{#- Links between Sentinel ASB cases and the Storm incidents they duplicate, each with its method, score and reason.
    Deterministic first: the Storm number however the case officer typed it. Then, for what is left, a scored match
    inside the same district and three days: the same person (keyed pseudonyms of the caller and the victim), the
    same date, the same LSOA, PEN category and ASB type. A pair links when it scores at least
    var('asb_link_threshold') and is each side's best candidate.

    Candidates come from equi-join blocks, so Postgres hash-joins them however many records there are instead of
    comparing every case with every incident of its district and week:
      - same district and person pseudonym, dates within three days. Without the same person a pair scores at most
        8, so at a threshold above 8 (the default is 9) every pair that can link is in this block and it loses none;
      - same district, date and LSOA, added only when the threshold is 8 or less (a pair without the person can then
        link); it is a wide block, hundreds of thousands of pairs at national volume.
    The inputs are inlined (not materialized) so the planner sees the staging tables' statistics; the sorts and hashes
    of a few hundred thousand narrow rows get 64MB for this model's transaction only (set local). -#}
{%- set threshold = var('asb_link_threshold', 9) -%}
{{ config(pre_hook="set local work_mem = '64MB'") }}
with

storm as not materialized (

    select incident_number, incident_date, district_code, lsoa_code, pen_category, asb_type, caller_pseudonym
    from {{ ref('stg_storm_asb__incidents') }}

),

sentinel as not materialized (

    select
        case_id, storm_incident_number, storm_reference_as_typed, incident_on, district_code, lsoa_code,
        pen_category, asb_type, victim_pseudonym
    from {{ ref('stg_sentinel_asb__cases') }}
    where case_type = 'ASB'

),

deterministic as (

    select
        sentinel.case_id,
        storm.incident_number,
        'storm_reference' as link_method,
        1.0::numeric as link_score,
        'Storm number typed as ''' || sentinel.storm_reference_as_typed || '''' as link_reason
    from sentinel
    inner join storm on storm.incident_number = sentinel.storm_incident_number

),

-- what the Storm number did not link (anti-joins: `not in` a large subquery degrades to a nested loop)
open_sentinel as not materialized (

    select * from sentinel
    where not exists (select from storm where storm.incident_number = sentinel.storm_incident_number)

),

open_storm as not materialized (

    select * from storm
    where not exists (select from sentinel where sentinel.storm_incident_number = storm.incident_number)

),

candidates as (

    {%- set blocks = [
        "open_storm.caller_pseudonym = open_sentinel.victim_pseudonym
        and open_storm.incident_date between open_sentinel.incident_on - 3 and open_sentinel.incident_on + 3",
    ] + (["open_storm.incident_date = open_sentinel.incident_on
        and open_storm.lsoa_code = open_sentinel.lsoa_code"] if threshold <= 8 else []) %}
    {%- for block in blocks %}
    {% if not loop.first %}union{% endif %}
    select
        open_sentinel.case_id,
        open_storm.incident_number,
        coalesce(open_sentinel.victim_pseudonym = open_storm.caller_pseudonym, false) as same_person,
        coalesce(open_sentinel.incident_on = open_storm.incident_date, false) as same_date,
        coalesce(open_sentinel.lsoa_code = open_storm.lsoa_code, false) as same_lsoa,
        coalesce(open_sentinel.pen_category = open_storm.pen_category, false) as same_pen,
        coalesce(open_sentinel.asb_type = open_storm.asb_type, false) as same_type
    from open_sentinel
    inner join open_storm
        on open_storm.district_code = open_sentinel.district_code
        and {{ block }}
    {%- endfor %}

),

scored as (

    select
        case_id,
        incident_number,
        (case when same_person then 6 else 0 end) + (case when same_date then 3 else 1 end)
            + (case when same_lsoa then 3 else 0 end) + (case when same_pen then 1 else 0 end)
            + (case when same_type then 1 else 0 end) as points,
        concat_ws(', ',
            case when same_person then 'same person (pseudonym)' end,
            case when same_date then 'same date' else 'within 3 days' end,
            case when same_lsoa then 'same LSOA' end,
            case when same_pen then 'same PEN category' end,
            case when same_type then 'same ASB type' end) as link_reason
    from candidates

),

ranked as (

    select
        scored.*,
        row_number() over (partition by case_id order by points desc, incident_number) as rank_for_case,
        row_number() over (partition by incident_number order by points desc, case_id) as rank_for_incident
    from scored
    where points >= {{ threshold }}

),

probabilistic as (

    select
        case_id,
        incident_number,
        'scored_match' as link_method,
        round(points / 14.0, 3) as link_score,
        link_reason
    from ranked
    where rank_for_case = 1 and rank_for_incident = 1

)

select * from deterministic
union all
select * from probabilistic

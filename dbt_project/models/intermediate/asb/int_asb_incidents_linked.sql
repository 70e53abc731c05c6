{#- Links between Sentinel ASB cases and the Storm incidents they duplicate, each with its method, score and reason.
    Deterministic first: the Storm number however the case officer typed it. Then, for what is left, a scored match
    inside the same district and a few days: the same person (keyed pseudonyms of the caller and the victim), the
    same date, the same LSOA, PEN category and ASB type. A pair links when it scores at least
    var('asb_link_threshold') and is each side's best candidate. -#}
with

storm as (

    select * from {{ ref('stg_storm_asb__incidents') }}

),

sentinel as (

    select * from {{ ref('stg_sentinel_asb__cases') }}
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

open_sentinel as (

    select * from sentinel where case_id not in (select case_id from deterministic)

),

open_storm as (

    select * from storm where incident_number not in (select incident_number from deterministic)

),

candidates as (

    select
        open_sentinel.case_id,
        open_storm.incident_number,
        open_sentinel.victim_pseudonym = open_storm.caller_pseudonym as same_person,
        open_sentinel.incident_on = open_storm.incident_date as same_date,
        open_sentinel.lsoa_code = open_storm.lsoa_code as same_lsoa,
        open_sentinel.pen_category = open_storm.pen_category as same_pen,
        open_sentinel.asb_type = open_storm.asb_type as same_type
    from open_sentinel
    inner join open_storm
        on open_storm.district_code = open_sentinel.district_code
        and open_storm.incident_date between open_sentinel.incident_on - 3 and open_sentinel.incident_on + 3

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
    where points >= {{ var('asb_link_threshold', 9) }}

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

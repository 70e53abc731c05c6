{#- Each MARAC case with whether it is a repeat under the definition in force when it was heard. From the
    configured change date a repeat is ANY instance of abuse between the same victim and perpetrator(s) within 12
    months of the last MARAC referral (computed from the previous referral date); before it, the older definition
    (further violence or threat of violence) cannot be recomputed from the extract, so MARAC's own recording stands. -#}
with

cases as (

    select * from {{ ref('stg_marac__cases') }}

)

select
    case_reference,
    conference_date,
    month_start,
    district_code,
    referring_agency,
    previous_referral_date,
    is_recorded_repeat,
    previous_referral_date is not null
        and previous_referral_date >= (conference_date - interval '12 months')::date as is_within_12_months,
    case when conference_date >= '{{ var("marac_definition_changed_on") }}'::date
         then 'any_instance_within_12_months' else 'violence_or_threat_as_recorded' end as definition_version,
    case when conference_date >= '{{ var("marac_definition_changed_on") }}'::date
         then previous_referral_date is not null
              and previous_referral_date >= (conference_date - interval '12 months')::date
         else is_recorded_repeat end as is_repeat,
    is_restated
from cases

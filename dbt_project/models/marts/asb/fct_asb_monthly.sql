{#- Police (Storm) ASB with its PEN split, Sentinel ASB, and combined deduplicated ASB per geography and month, as
    counts and rates per 1,000. Dense: a geography-month with nothing is a row of zeros, so a gap is visible. -#}
with

matters as (

    select * from {{ ref('fct_asb_incident') }}

),

months as (

    {{ months_spanned('matters') }}

),

source_months as (

    -- each source's own span of months: a month after a source's last is awaiting that source, not a zero
    select
        min(month_start) filter (where storm_incident_number is not null) as storm_first_month,
        max(month_start) filter (where storm_incident_number is not null) as storm_last_month,
        min(month_start) filter (where sentinel_cases > 0) as sentinel_first_month,
        max(month_start) filter (where sentinel_cases > 0) as sentinel_last_month
    from matters

),

by_authority as (

    select
        geography_code as local_authority_code,
        month_start,
        count(*) filter (where storm_incident_number is not null) as storm_incidents,
        count(*) filter (where storm_incident_number is not null and pen_category = 'Personal') as storm_personal,
        count(*) filter (where storm_incident_number is not null and pen_category = 'Environmental')
            as storm_environmental,
        count(*) filter (where storm_incident_number is not null and pen_category = 'Nuisance') as storm_nuisance,
        sum(sentinel_cases) as sentinel_cases,
        sum(sentinel_cases) filter (where recorded_in = 'both') as linked_sentinel_cases,
        count(*) as combined_matters,
        sum(linked_by_reference) as linked_by_reference,
        sum(linked_by_score) as linked_by_score,
        count(*) filter (where recorded_in = 'sentinel_only') as unlinked_sentinel_cases,
        count(*) filter (where unlinked_evidence = 'storm_number') as unlinked_with_storm_number,
        count(*) filter (where unlinked_evidence = 'person_only') as unlinked_with_person_only,
        count(*) filter (where unlinked_evidence = 'neither') as unlinked_with_neither,
        sum(references_unreadable) as references_unreadable,
        sum(references_matching_no_incident) as references_matching_no_incident,
        sum(references_implausible) as references_implausible
    from matters
    group by geography_code, month_start

),

by_geography as (

    select
        rolled_up.geography_code,
        by_authority.month_start,
        sum(storm_incidents) as storm_incidents,
        sum(storm_personal) as storm_personal,
        sum(storm_environmental) as storm_environmental,
        sum(storm_nuisance) as storm_nuisance,
        sum(sentinel_cases) as sentinel_cases,
        sum(coalesce(linked_sentinel_cases, 0)) as linked_sentinel_cases,
        sum(combined_matters) as combined_matters,
        sum(linked_by_reference) as linked_by_reference,
        sum(linked_by_score) as linked_by_score,
        sum(unlinked_sentinel_cases) as unlinked_sentinel_cases,
        sum(unlinked_with_storm_number) as unlinked_with_storm_number,
        sum(unlinked_with_person_only) as unlinked_with_person_only,
        sum(unlinked_with_neither) as unlinked_with_neither,
        sum(references_unreadable) as references_unreadable,
        sum(references_matching_no_incident) as references_matching_no_incident,
        sum(references_implausible) as references_implausible
    from {{ ref('int_geographies_rolled_up') }} as rolled_up
    inner join by_authority using (local_authority_code)
    group by rolled_up.geography_code, by_authority.month_start

)

select
    geographies.geography_code,
    geographies.geography_level,
    months.month_start,
    months.financial_year,
    months.financial_quarter_label,
    coalesce(g.storm_incidents, 0)::bigint as storm_incidents,
    coalesce(g.storm_personal, 0)::bigint as storm_personal,
    coalesce(g.storm_environmental, 0)::bigint as storm_environmental,
    coalesce(g.storm_nuisance, 0)::bigint as storm_nuisance,
    coalesce(g.sentinel_cases, 0)::bigint as sentinel_cases,
    coalesce(g.linked_sentinel_cases, 0)::bigint as linked_sentinel_cases,
    coalesce(g.combined_matters, 0)::bigint as combined_matters,
    coalesce(g.linked_by_reference, 0)::bigint as linked_by_reference,
    coalesce(g.linked_by_score, 0)::bigint as linked_by_score,
    coalesce(g.unlinked_sentinel_cases, 0)::bigint as unlinked_sentinel_cases,
    coalesce(g.unlinked_with_storm_number, 0)::bigint as unlinked_with_storm_number,
    coalesce(g.unlinked_with_person_only, 0)::bigint as unlinked_with_person_only,
    coalesce(g.unlinked_with_neither, 0)::bigint as unlinked_with_neither,
    coalesce(g.references_unreadable, 0)::bigint as references_unreadable,
    coalesce(g.references_matching_no_incident, 0)::bigint as references_matching_no_incident,
    coalesce(g.references_implausible, 0)::bigint as references_implausible,
    population.population_mid_year,
    round(coalesce(g.storm_incidents, 0) * 1000.0 / population.population_mid_year, 4) as storm_rate_per_1000,
    round(coalesce(g.sentinel_cases, 0) * 1000.0 / population.population_mid_year, 4) as sentinel_rate_per_1000,
    round(coalesce(g.combined_matters, 0) * 1000.0 / population.population_mid_year, 4) as combined_rate_per_1000,
    {{ source_month_status('months.month_start', 'source_months.storm_first_month', 'source_months.storm_last_month') }}
        as storm_month_status,
    {{ source_month_status('months.month_start', 'source_months.sentinel_first_month',
                           'source_months.sentinel_last_month') }} as sentinel_month_status,
    months.month_start between source_months.storm_first_month and source_months.storm_last_month
        and months.month_start between source_months.sentinel_first_month and source_months.sentinel_last_month
        as combined_is_complete,
    files.is_files_complete,
    files.files_note
from {{ ref('dim_district') }} as geographies
cross join months
cross join source_months
left join by_geography as g
    on g.geography_code = geographies.geography_code and g.month_start = months.month_start
inner join {{ ref('int_population_by_geography_year') }} as population
    on population.geography_code = geographies.geography_code and population.year = months.calendar_year
{{ files_assessed(feeds_array([model.name]), 'months.month_start', 'months.month_start') }}

{#- Whole-force police.uk counts per month and category for the partnership's force, its configured peers and the
    forces of its region (peer_forces.csv: in_comparison_group ranks, in_region makes the regional average), with the force area's ONS population: the like-for-like basis of the peer rank. Every record a
    force published counts, located or not, so forces compare on the same terms. A force whose files are not loaded
    has no rows, and the dashboard says the rank is not available. -#}
with

peers as (

    select force_slug, force_name, in_comparison_group or is_partnership_force as in_comparison_group, in_region
    from {{ ref('peer_forces') }}
    where in_comparison_group or is_partnership_force or in_region

),

-- counted once per load by int_police_uk_load_counts (incremental), which holds exactly the current file of each
-- force-month as its build read the manifest: no second manifest read here, which a file landing mid-build could
-- make disagree with it
counted as (

    select counts.force_slug, counts.month_start, categories.crime_category, categories.counts_as_crime,
        sum(counts.incident_count) as incident_count
    from {{ ref('int_police_uk_load_counts') }} as counts
    inner join {{ ref('police_uk_crime_categories') }} as categories on categories.crime_type = counts.crime_type
    group by counts.force_slug, counts.month_start, categories.crime_category, categories.counts_as_crime

),

with_total as (

    select force_slug, month_start, crime_category, incident_count from counted
    union all
    select force_slug, month_start, 'total-crime', sum(incident_count) from counted
    where counts_as_crime
    group by force_slug, month_start

),

population as (

    select force_name, mid_year, population from {{ ref('ons_population_police_force_areas') }}

)

select
    peers.force_slug,
    peers.force_name,
    with_total.month_start,
    with_total.crime_category,
    with_total.incident_count::bigint as incident_count,
    population.population::bigint as population_mid_year,
    population.mid_year as population_year,
    population.mid_year < extract(year from with_total.month_start)::int as population_is_carried_forward,
    peers.in_comparison_group,
    peers.in_region
from with_total
inner join peers using (force_slug)
inner join population
    on population.force_name = peers.force_name
    and population.mid_year = (
        select max(p.mid_year) from population as p
        where p.force_name = peers.force_name and p.mid_year <= extract(year from with_total.month_start)::int
    )

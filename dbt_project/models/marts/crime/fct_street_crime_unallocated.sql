{#- Records of the partnership's force that no geography counts: no location, or an LSOA outside the area.
    Reported here so the gap between the force's files and the geography totals is explained, never silent. -#}
select
    month_start,
    force_slug,
    unallocated_reason,
    crime_category,
    crime_type,
    count(*) as record_count
from {{ ref('int_street_crimes_located') }}
where unallocated_reason is not null
group by month_start, force_slug, unallocated_reason, crime_category, crime_type

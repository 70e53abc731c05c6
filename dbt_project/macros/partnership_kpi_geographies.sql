{#- The geographies the partnership's own feeds (UAVA, MARAC, YOS) cover in full: each of the county's districts
    and the county as their sum, with the local authorities each is made of. These feeds hold no Leicester or
    Rutland rows, so nothing is reported for the unitaries or the force area from them. -#}
{% macro partnership_kpi_geographies() -%}
    select rolled_up.geography_code, rolled_up.local_authority_code
    from {{ ref('int_geographies_rolled_up') }} as rolled_up
    inner join {{ ref('geographies') }} as geographies using (geography_code)
    where geographies.geography_code = '{{ var("county_code") }}'
       or (geographies.geography_level = 'district' and geographies.parent_code = '{{ var("county_code") }}')
{%- endmacro %}

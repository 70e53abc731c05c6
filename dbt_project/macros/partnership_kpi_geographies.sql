{#- The geographies a partner feed covers in full, with the local authorities each is made of. By default (UAVA,
    MARAC) the feed covers the county: each of its districts, and the county as their sum. A feed that serves a wider
    footprint (the YOS: Leicestershire and Rutland) also reports each other local authority in the footprint and the
    footprint itself. Nothing is reported for a geography the feed does not cover whole (Leicester, the force area). -#}
{% macro partnership_kpi_geographies(footprint=none) -%}
    {%- set county = var("county_code") -%}
    select rolled_up.geography_code, rolled_up.local_authority_code
    from {{ ref('int_geographies_rolled_up') }} as rolled_up
    inner join {{ ref('geographies') }} as geographies using (geography_code)
    where geographies.geography_code = '{{ county }}'
       or (geographies.geography_level = 'district' and geographies.parent_code = '{{ county }}')
    {%- if footprint %}
       or geographies.geography_code = '{{ footprint }}'
       or (geographies.geography_level in ('district', 'unitary') and geographies.geography_code in (
           select local_authority_code from {{ ref('int_geographies_rolled_up') }}
           where geography_code = '{{ footprint }}'))
    {%- endif %}
{%- endmacro %}
